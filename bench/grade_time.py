"""How long grading takes on this machine (a benchmark, not a test).

1. For each assignment: the real pipeline (:func:`autograder.notebook.grade.grade_notebook`: a
   sandboxed kernel, hidden tests and the validation-loss training included) on
   the solution and on the untouched release, and the in-process runner on the
   solution for comparison; as seconds and as a fraction of the 90 s budget.
2. Per-submission cost before and after the grading-integrity rebuild, measured
   in this run: ``grade-submission`` of the same notebooks by the commit before it
   (``BASELINE``, checked out into a temporary git worktree) and by this checkout,
   as a ratio (the aim is at most 1.5x).

Usage::

    python bench/grade_time.py [ASSIGNMENT ...] [--repeat 3] [--json bench/out/grade_time.json]
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.assignments import names, release_path, source_path  # noqa: E402
from autograder.notebook.grade import grade_notebook  # noqa: E402
from autograder.authoring.runner import run_notebook  # noqa: E402

BUDGET_S = 90.0
BASELINE = "62b24b2"  # the last commit whose test cells judged themselves inside the kernel


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def per_assignment(assignments):
    print(f"{'assignment':24s} {'solution':>9s} {'score':>7s} {'release':>9s} {'score':>7s} {'in-proc':>8s}"
          f" {'solution / 90 s budget':>23s}")
    rows = []
    for name in assignments:
        sol_s, sol = timed(lambda: grade_notebook(name, source_path(name)))
        rel_s, rel = timed(lambda: grade_notebook(name, release_path(name)))
        run_s, _ = timed(lambda: run_notebook(source_path(name), name))
        rows.append({"assignment": name, "solution_s": round(sol_s, 1), "solution_score": sol.score,
                     "max_score": sol.max_score, "release_s": round(rel_s, 1), "release_score": rel.score,
                     "in_process_s": round(run_s, 1), "budget_ratio": round(sol_s / BUDGET_S, 2)})
        print(f"{name:24s} {sol_s:8.1f}s {sol.score:3g}/{sol.max_score:<3g} {rel_s:8.1f}s "
              f"{rel.score:3g}/{rel.max_score:<3g} {run_s:7.1f}s {sol_s / BUDGET_S:22.2f}x")
    worst = max(rows, key=lambda r: r["solution_s"])
    print(f"slowest: {worst['assignment']} at {worst['budget_ratio']:.2f}x the {BUDGET_S:.0f} s budget")
    return rows


def grade_submission_seconds(checkout, notebook, out):
    """Wall time of one ``python -m autograder grade-submission 01_layers NOTEBOOK`` run from ``checkout``."""
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-submission", "01_layers", str(notebook),
                           "--out", str(out / "record.json")], cwd=checkout, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"grade-submission failed in {checkout}: {proc.stderr[-500:]}")
    return time.perf_counter() - t0


def before_after(repeat):
    """Per-submission grading cost of the baseline commit and of this checkout, measured now, interleaved
    (one before, one after, and again), so a machine that gets busier hurts both alike."""
    tmp = Path(tempfile.mkdtemp(prefix="grade-cost-"))
    old = tmp / "baseline"
    times = {"before": [], "after": []}
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), BASELINE], cwd=ROOT, check=True,
                       capture_output=True)
        pairs = [(old / "solutions" / "01_layers" / "01_layers.ipynb", source_path("01_layers")),
                 (old / "exercises" / "01_layers" / "01_layers.ipynb", release_path("01_layers"))]
        for _ in range(repeat):
            for then, now in pairs:  # each side grades its own solution and its own release
                times["before"].append(grade_submission_seconds(old, then, tmp))
                times["after"].append(grade_submission_seconds(ROOT, now, tmp))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    before, after = (sum(v) / len(v) for v in (times["before"], times["after"]))
    print(f"per submission (grade-submission of 01_layers' solution and release, {repeat} times each, "
          f"interleaved): before {before:.1f} s ({BASELINE}), after {after:.1f} s: {after / before:.2f}x")
    return {"before_s": round(before, 2), "after_s": round(after, 2), "ratio": round(after / before, 2),
            "baseline": BASELINE}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: all")
    p.add_argument("--repeat", type=int, default=3, help="runs of each notebook for the before/after ratio")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "grade_time.json")
    args = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    result = {"assignments": per_assignment(args.assignments or names()), "cost": before_after(args.repeat)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")


if __name__ == "__main__":
    main()
