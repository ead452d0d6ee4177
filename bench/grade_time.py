"""How long grading takes on this machine (a benchmark, not a test).

1. For each assignment: the real pipeline (:func:`autograder.notebook.grade.grade_notebook`: a
   sandboxed kernel, hidden tests and the validation-loss training included) on
   the solution and on the untouched release, and the in-process runner on the
   solution for comparison; as seconds and as a fraction of the 90 s budget.
2. Per-submission cost of this checkout against an earlier commit, measured in
   this run: ``grade-submission`` of the same assignment's solution and release by
   ``--baseline`` (default ``BASELINE``, the commit before the grading-integrity
   rebuild; checked out into a temporary git worktree) and by this checkout, as
   ratios of wall time and of CPU time (the grader's and its kernels' together,
   which a busy machine disturbs less).

Usage::

    python bench/grade_time.py [ASSIGNMENT ...] [--repeat 3] [--baseline REV] [--cost-of 01_layers]
                               [--json bench/out/grade_time.json]
"""
import argparse
import json
import os
import platform
import resource
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


def grade_submission_seconds(checkout, assignment, notebook, out):
    """``(wall, cpu, score, max_score)`` of one ``python -m autograder grade-submission ASSIGNMENT NOTEBOOK`` run
    from ``checkout``; CPU time is the grader's and everything it waited for (its sandboxed kernels)."""
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1")
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-submission", assignment, str(notebook),
                           "--out", str(out / "record.json")], cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"grade-submission failed in {checkout}: {proc.stderr[-500:]}")
    rec = json.loads((out / "record.json").read_text())
    return wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime), rec["score"], rec["max_score"]


def before_after(repeat, baseline=BASELINE, assignment="01_layers"):
    """Per-submission grading cost of the baseline commit and of this checkout, measured now, interleaved
    (one before, one after, and again), so a machine that gets busier hurts both alike."""
    tmp = Path(tempfile.mkdtemp(prefix="grade-cost-"))
    old = tmp / "baseline"
    times = {"before": [], "after": []}
    a = assignment
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), baseline], cwd=ROOT, check=True,
                       capture_output=True)
        # names.txt is not committed: without it the baseline's kernel cannot train, and its val-loss test
        # fails in seconds (a grading of a failure, not a grading)
        shutil.copy(ROOT / "data" / "names.txt", old / "data" / "names.txt")
        pairs = [(old / "solutions" / a / f"{a}.ipynb", source_path(a)),
                 (old / "exercises" / a / f"{a}.ipynb", release_path(a))]
        for _ in range(repeat):
            for i, (then, now) in enumerate(pairs):  # each side grades its own solution and its own release
                for side, checkout, nb in (("before", old, then), ("after", ROOT, now)):
                    wall, cpu, score, max_score = grade_submission_seconds(checkout, a, nb, tmp)
                    if i == 0 and score != max_score:
                        raise RuntimeError(f"the {side} side's solution of {a} scored {score}/{max_score}: "
                                           "its time would be that of a failure")
                    times[side].append((wall, cpu))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    (before, before_cpu), (after, after_cpu) = ([sum(x) / len(x) for x in zip(*v)]
                                                for v in (times["before"], times["after"]))
    print(f"per submission (grade-submission of {a}'s solution and release, {repeat} times each, interleaved): "
          f"before {before:.1f} s wall, {before_cpu:.1f} s CPU ({baseline}); after {after:.1f} s wall, "
          f"{after_cpu:.1f} s CPU: {after / before:.2f}x by wall, {after_cpu / before_cpu:.2f}x by CPU")
    return {"assignment": a, "before_s": round(before, 2), "after_s": round(after, 2),
            "ratio": round(after / before, 2), "before_cpu_s": round(before_cpu, 2), "after_cpu_s": round(after_cpu, 2),
            "cpu_ratio": round(after_cpu / before_cpu, 2), "baseline": baseline}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: all")
    p.add_argument("--repeat", type=int, default=3, help="runs of each notebook for the before/after ratio")
    p.add_argument("--baseline", default=BASELINE, help=f"the commit to compare with (default {BASELINE})")
    p.add_argument("--cost-of", default="01_layers", help="the assignment of the before/after ratio")
    p.add_argument("--only-cost", action="store_true", help="skip the per-assignment table")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "grade_time.json")
    args = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    result = {"assignments": {} if args.only_cost else per_assignment(args.assignments or names()),
              "cost": before_after(args.repeat, args.baseline, args.cost_of)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")


if __name__ == "__main__":
    main()
