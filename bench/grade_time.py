"""How long grading takes on this machine, per assignment (a benchmark, not a test).

For each assignment: the real nbgrader grade (``grade_notebook``, a fresh
kernel, hidden tests and the validation-loss training included) of the
solution and of the untouched release, and the in-process runner on the
solution for comparison. Times print as seconds and as a fraction of the
90 s per-assignment budget. Usage::

    python bench/grade_time.py [ASSIGNMENT ...] [--json bench/out/grade_time.json]
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.assignments import names, release_path, source_path  # noqa: E402
from autograder.grade import grade_notebook  # noqa: E402
from autograder.runner import run_notebook  # noqa: E402

BUDGET_S = 90.0


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: all")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "grade_time.json")
    args = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'assignment':24s} {'solution':>9s} {'score':>7s} {'release':>9s} {'score':>7s} {'in-proc':>8s}"
          f" {'solution / 90 s budget':>23s}")
    rows = []
    for name in args.assignments or names():
        sol_s, sol = timed(lambda: grade_notebook(name, source_path(name)))
        rel_s, rel = timed(lambda: grade_notebook(name, release_path(name)))
        run_s, _ = timed(lambda: run_notebook(source_path(name), name))
        rows.append({"assignment": name, "solution_s": round(sol_s, 1), "solution_score": sol["score"],
                     "max_score": sol["max_score"], "release_s": round(rel_s, 1), "release_score": rel["score"],
                     "in_process_s": round(run_s, 1), "budget_ratio": round(sol_s / BUDGET_S, 2)})
        print(f"{name:24s} {sol_s:8.1f}s {sol['score']:3g}/{sol['max_score']:<3g} {rel_s:8.1f}s "
              f"{rel['score']:3g}/{rel['max_score']:<3g} {run_s:7.1f}s {sol_s / BUDGET_S:22.2f}x")
    worst = max(rows, key=lambda r: r["solution_s"])
    print(f"slowest: {worst['assignment']} at {worst['budget_ratio']:.2f}x the {BUDGET_S:.0f} s budget; "
          f"nbgrader over in-process runner on the solutions: "
          f"{sum(r['solution_s'] for r in rows) / sum(r['in_process_s'] for r in rows):.1f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")


if __name__ == "__main__":
    main()
