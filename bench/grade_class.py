"""Wall time to grade a class of 100 submissions with ``grade-all`` (a benchmark, not a test).

The class is made from the released exercise of one assignment, the way a
real one looks: 60 correct notebooks, 20 with one answer left undone, 10
untouched, 4 whose nbgrader metadata an editor stripped, 2 that are not
notebooks, 2 that import the course's reference code (not in the graded
kernel: zero) and 2 with an infinite loop (each costs one cell timeout). It is graded by the real command
line, sandboxed, ``--workers`` at a time, into a fresh folder. Printed: total
wall time, wall time per submission, the mean time one grading process took,
how many of each outcome, and the machine's load average (other jobs on a
shared machine slow everything down). Usage::

    python bench/grade_class.py [--assignment 01_layers] [--n 100] [--workers 2] [--cell-timeout 20]
"""
import argparse
import copy
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
sys.path.insert(0, str(ROOT / "tests"))

from autograder.assignments import answer_cells, nbgrader_meta  # noqa: E402
import submissions as S  # noqa: E402


def make_class(assignment, n, folder):
    """Write ``n`` submissions to ``folder``; return {kind: count}."""
    good, blank = S.solved(assignment), S.exercise(assignment)
    first_answer = nbgrader_meta(answer_cells(good)[0])["grade_id"]
    last_answer = nbgrader_meta(answer_cells(good)[-1])["grade_id"]
    stubs = {nbgrader_meta(c)["grade_id"]: c.source for c in answer_cells(blank)}
    kinds = [("correct", 60), ("one_undone", 20), ("untouched", 10), ("stripped", 4), ("not_notebook", 2),
             ("course_import", 2), ("loop", 2)]
    plan = [k for k, c in kinds for _ in range(round(c * n / 100))][:n]
    plan += ["correct"] * (n - len(plan))
    for i, kind in enumerate(plan):
        nb = copy.deepcopy(good)
        if kind == "one_undone":
            nb = S.with_answer(nb, last_answer, stubs[last_answer])
        elif kind == "untouched":
            nb = copy.deepcopy(blank)
        elif kind == "stripped":
            nb = S.strip_metadata(nb)
        elif kind == "course_import":
            nb = S.with_answer(nb, first_answer, "from wavenet.nn import *  # the course's own layers\n")
        elif kind == "loop":
            nb.cells.append(nbformat_code("while True:\n    pass\n"))
        data = S.dumps(nb)[:500] if kind == "not_notebook" else S.dumps(nb)  # cut short: invalid JSON
        (folder / f"student{i:03d}.ipynb").write_bytes(data)
    return {k: plan.count(k) for k, _ in kinds}


def nbformat_code(source):
    from nbformat.v4 import new_code_cell
    return new_code_cell(source)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", default="01_layers")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cell-timeout", type=int, default=20)
    p.add_argument("--notebook-timeout", type=int, default=300)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "grade_class.json")
    p.add_argument("--keep", action="store_true", help="keep the class and its grades (path printed)")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="grade-class-"))
    folder, out = tmp / "submissions", tmp / "grades"
    folder.mkdir()
    kinds = make_class(args.assignment, args.n, folder)
    load0 = os.getloadavg()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load0[0]:.1f}; "
          f"{args.n} submissions of {args.assignment}: {kinds}")
    cmd = [sys.executable, "-m", "autograder", "grade-all", args.assignment, str(folder), "--out", str(out),
           "--workers", str(args.workers), "--json", "--cell-timeout", str(args.cell_timeout),
           "--notebook-timeout", str(args.notebook_timeout)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    if proc.returncode:
        sys.exit(f"grade-all failed:\n{proc.stderr[-2000:]}")
    records = json.loads(proc.stdout)
    full = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    graded = [r for r in full if r["status"] == "graded"]
    per_process = sum(r["seconds"] for r in graded) / max(len(graded), 1)
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    row = {"assignment": args.assignment, "n": args.n, "workers": args.workers, "cores": os.cpu_count(),
           "wall_s": round(wall, 1), "per_submission_s": round(wall / args.n, 2),
           "mean_grading_process_s": round(per_process, 1), "statuses": counts, "kinds": kinds,
           "cell_timeout": args.cell_timeout, "load_before": round(load0[0], 1), "load_after": round(load1[0], 1)}
    print(f"total {wall:.0f} s for {args.n} submissions with {args.workers} workers: {wall / args.n:.2f} s per "
          f"submission; one graded notebook takes {per_process:.1f} s in its own process "
          f"({per_process / (wall / args.n):.1f}x the per-submission wall time); statuses {counts}; "
          f"load average {load0[0]:.1f} -> {load1[0]:.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(row, indent=1) + "\n")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
