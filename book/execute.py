"""Run the book's chapters in parallel into Jupyter Book's execution cache (``make book`` does this first).

Jupyter Book 1 executes a build's chapters one after another, and each trains
on one thread, so on a 2-core machine one core sits idle for the whole build.
This script hands the chapters to jupyter-cache, the cache Jupyter Book reads
(``execute_notebooks: cache``), and runs its ``local-parallel`` executor: one
process per core, one chapter per process. The ``jupyter-book build`` that
follows then finds every chapter executed and only renders. A chapter whose
code has not changed since it was cached is not run again.

Two waves, because some chapters read what others record: chapter 7 prints
the numbers chapters 1, 4, 5 and 6 record, and chapter 9 the ones chapter 8
records. Those two run after the rest. Every kernel gets ``OMP_NUM_THREADS=1``
(the chapters set one thread for training anyway), so two chapters on two
cores do not oversubscribe them.

Usage::

    python book/execute.py [--path-output _build/fast]   # the same folder as jupyter-book's --path-output
"""
import argparse
import os
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LATER = ("book/07_scaling_up", "book/09_experiments")  # they read the records of the other chapters
READER = {"type": "plugin", "name": "myst_nb_md"}      # myst-nb's reader, as Jupyter Book registers chapters


def chapters():
    """Every page of ``_toc.yml`` that is a notebook (MyST with a kernel), in book order, as paths."""
    from myst_nb.core.read import is_myst_markdown_notebook
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            pages.extend([entry["file"]] if "file" in entry else [])
            walk(entry.get("sections", []))
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        walk(part.get("chapters", []))
    paths = [ROOT / f"{page}.md" for page in pages]
    return [p for p in paths if is_myst_markdown_notebook(p.read_text())]


def cache_path(path_output):
    """Where ``jupyter-book build --path-output path_output`` looks for executed notebooks.

    myst-nb's default: ``.jupyter_cache`` beside the ``html`` folder, unless
    ``_config.yml`` names one (``execute: cache``).
    """
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    return Path(cfg.get("cache") or Path(path_output) / "_build" / ".jupyter_cache").resolve()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path-output", default=str(ROOT), help="jupyter-book's --path-output (default: the repo)")
    args = ap.parse_args(argv)
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by every chapter's kernel
    timeout = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"].get("timeout", 30)
    cache = get_cache(str(cache_path(args.path_output)))
    records = {p: cache.add_nb_to_project(str(p), read_data=READER) for p in chapters()}  # book order: pk order
    todo = {r.pk for r in cache.list_unexecuted()}
    later = [ROOT / f"{page}.md" for page in LATER]
    waves = [[r.pk for p, r in records.items() if p not in later and r.pk in todo],
             [r.pk for p, r in records.items() if p in later and r.pk in todo]]
    print(f"book/execute.py: {len(todo)} of {len(records)} chapters to run ({os.cpu_count()} at a time), "
          f"cache {cache_path(args.path_output)}", flush=True)
    failed, t0 = [], time.time()
    executor = load_executor("local-parallel", cache)
    for wave in waves:
        if wave:
            result = executor.run_and_cache(filter_pks=wave, timeout=timeout, allow_errors=False)
            failed += result.excepted + result.errored
    for uri in failed:
        print(f"FAILED: {uri}\n{cache.get_project_record(uri).traceback or ''}", file=sys.stderr)
    print(f"book/execute.py: ran {len(todo)} chapters in {time.time() - t0:.0f} s"
          + (f", {len(failed)} failed" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
