"""Cold full-book build times, measured in one run: one chapter after another vs ``make book``'s parallel waves.

Both builds start from an empty cache in folders of their own under
``_build/time/``: the sequential one is a plain ``jupyter-book build`` (Jupyter
Book executes the chapters in book order, as ``make book`` did before
``book/execute.py``), the parallel one is what ``make book`` runs now. Prints
each build's wall time, each chapter's execution time, the machine's load
average around each build (a shared machine slows both), and the ratio
parallel / sequential; writes ``bench/out/book_time.json``. Takes about as
long as the two builds (~1 h 15 min on the 2-core course machine). Usage::

    python bench/book_time.py [--fast] [--only sequential|parallel]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JB = Path(sys.executable).with_name("jupyter-book")


def chapter_seconds(out):
    """Execution seconds of every chapter in the build's jupyter-cache: ``{file name: seconds}``."""
    from jupyter_cache import get_cache
    cache = get_cache(str(out / "_build" / ".jupyter_cache"))
    return {Path(r.uri).name: round(r.data.get("execution_seconds", 0.0), 1) for r in cache.list_cache_records()}


def build(kind, out):
    """Time one cold build of ``kind`` ("sequential" or "parallel") into ``out``; its record."""
    shutil.rmtree(out, ignore_errors=True)
    flags = ["-W", "--keep-going", "--path-output", str(out)]
    steps = [[str(JB), "build", str(ROOT), *flags]]
    if kind == "parallel":
        steps.insert(0, [sys.executable, str(ROOT / "book" / "execute.py"), "--path-output", str(out)])
    load_before = os.getloadavg()
    t0 = time.time()
    for cmd in steps:
        with open(out.parent / f"{kind}.log", "a") as log:
            subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.time() - t0
    rec = {"wall_s": round(wall, 1), "load_before": load_before, "load_after": os.getloadavg(),
           "chapters_s": chapter_seconds(out)}
    print(f"{kind:10s} {wall / 60:6.1f} min  load avg before {load_before[0]:.1f}, after (1/5/15 min) "
          + "/".join(f"{x:.1f}" for x in rec["load_after"]), flush=True)
    print("           chapters: " + ", ".join(f"{k[:2]} {v:.0f} s" for k, v in sorted(rec["chapters_s"].items())),
          flush=True)
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="COURSE_FAST=1 builds (minutes, for trying the script)")
    ap.add_argument("--only", choices=("sequential", "parallel"))
    args = ap.parse_args(argv)
    if args.fast:
        os.environ["COURSE_FAST"] = "1"
    base = ROOT / "_build" / "time"
    base.mkdir(parents=True, exist_ok=True)
    print(f"{'fast' if args.fast else 'full'} book, cold, {os.cpu_count()} cores; logs in {base.relative_to(ROOT)}/",
          flush=True)
    out = {kind: build(kind, base / kind) for kind in ("sequential", "parallel") if args.only in (None, kind)}
    if len(out) == 2:
        ratio = out["parallel"]["wall_s"] / out["sequential"]["wall_s"]
        out["ratio"] = round(ratio, 3)
        print(f"parallel / sequential: {ratio:.2f}")
    path = ROOT / "bench" / "out" / f"book_time{'_fast' if args.fast else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
