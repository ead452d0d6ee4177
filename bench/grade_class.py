"""Wall time to grade a class of 100 submissions: ``grade-all`` on Dask against the pool it replaced.

The class is made from the released exercise of one assignment, the way a
real one looks: 60 correct notebooks, 20 with one answer left undone, 10
untouched, 4 whose nbgrader metadata an editor stripped, 2 that are not
notebooks, 2 that import the course's reference code (not in the graded
kernel: zero) and 2 with an infinite loop (each costs one cell timeout). It is
graded twice by the real command line, sandboxed, ``--workers`` at a time, each
time into a fresh folder: by this checkout (a local Dask cluster), and by the
commit ``--baseline`` (default 8479682, the last with the home-made pool of
forked processes), checked out into a temporary git worktree and sharing this
checkout's grader key. Each side grades the same class made from its own
solutions and exercise (a notebook of one commit's exercise need not be a
correct answer for the other's probes), so both give the same statuses and
fractions of the points. Printed: the wall time of each, their
ratio, and the scheduling overhead per submission: the slots' time not spent
in a grading process (``wall * workers - sum of the records' seconds``), per
submission, for each engine and the difference; then whether every student got
the same grade from both. Both runs' load averages are printed too (other jobs
on a shared machine slow everything down). A benchmark, not a test. Usage::

    python bench/grade_class.py [--assignment 01_layers] [--n 100] [--workers 2] [--cell-timeout 20] [--no-baseline]
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

HERE = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("GRADE_CLASS_ROOT") or HERE)  # the checkout whose solutions make the class (--write-class)
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


def baseline_checkout(ref, folder):
    """A temporary ``git worktree`` of ``ref`` in ``folder``, with this checkout's ``data/names.txt``."""
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(folder), ref], cwd=HERE, check=True,
                   capture_output=True)
    (folder / "data" / "names.txt").symlink_to(HERE / "data" / "names.txt")
    return folder


def write_class(code, folder, args):
    """The class made from the solutions and exercise of the checkout ``code`` (each side grades its own: a
    notebook of one commit's exercise is not a correct answer for another's probes)."""
    env = dict(os.environ, GRADE_CLASS_ROOT=str(code), PYTHONPATH=str(code))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--assignment", args.assignment, "--n",
                          str(args.n), "--write-class", str(folder)], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout)


def grade(code, folder, out, args):
    """Run ``grade-all`` of the checkout ``code`` on ``folder``; return (wall seconds, records, load before/after)."""
    from autograder.assignments import WORK

    env = dict(os.environ, PYTHONPATH=str(code), AUTOGRADER_WORK=str(WORK))  # one grader key: the same seeds
    cmd = [sys.executable, "-m", "autograder", "grade-all", args.assignment, str(folder), "--out", str(out),
           "--workers", str(args.workers), "--json", "--cell-timeout", str(args.cell_timeout),
           "--notebook-timeout", str(args.notebook_timeout)]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"grade-all of {code} failed:\n{proc.stderr[-2000:]}")
    # the records: grades/<assignment>/results/ of a course directory, or results/ (the pool's commit)
    found = sorted((out / "grades" / args.assignment / "results").glob("*.json")) or sorted((out / "results").glob("*.json"))
    full = {p.stem: json.loads(p.read_text()) for p in found}
    return wall, full, (round(load0, 1), round(os.getloadavg()[0], 1))


def fractions(records):
    """{student: (status, fraction of the points)}: the two commits' assignments may differ in points."""
    return {s: (r["status"], round((r["score"] or 0) / (r["max_score"] or 1), 3)) for s, r in records.items()}


def summary(name, wall, records, args):
    counts = {}
    for r in records.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    busy = sum(r["seconds"] for r in records.values())
    idle = (wall * args.workers - busy) / args.n
    return {"engine": name, "wall_s": round(wall, 1), "per_submission_s": round(wall / args.n, 2),
            "mean_grading_process_s": round(busy / max(len(records), 1), 1), "idle_slot_s_per_submission":
            round(idle, 2), "statuses": counts}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", default="01_layers")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cell-timeout", type=int, default=20)
    p.add_argument("--notebook-timeout", type=int, default=300)
    p.add_argument("--baseline", default="8479682", help="the commit whose grade-all is the pool (default 8479682)")
    p.add_argument("--no-baseline", action="store_true", help="time this checkout only")
    p.add_argument("--json", type=Path, default=HERE / "bench" / "out" / "grade_class.json")
    p.add_argument("--keep", action="store_true", help="keep the class and its grades (path printed)")
    p.add_argument("--write-class", type=Path, help=argparse.SUPPRESS)  # used by write_class
    args = p.parse_args()
    if args.write_class:
        args.write_class.mkdir(parents=True)
        print(json.dumps(make_class(args.assignment, args.n, args.write_class)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="grade-class-"))
    kinds = write_class(HERE, tmp / "submissions", args)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.n} submissions of "
          f"{args.assignment} with {args.workers} workers: {kinds}")
    runs = {}
    try:
        if not args.no_baseline:
            code = baseline_checkout(args.baseline, tmp / "baseline")
            write_class(code, tmp / "submissions-pool", args)
            wall, recs, load = grade(code, tmp / "submissions-pool", tmp / "grades-pool", args)
            runs["pool"] = (wall, recs, load)
        wall, recs, load = grade(HERE, tmp / "submissions", tmp / "grades-dask", args)
        runs["dask"] = (wall, recs, load)
    finally:
        if not args.no_baseline:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "baseline")], cwd=HERE,
                           capture_output=True)
    rows = {}
    for name, (wall, recs, load) in runs.items():
        row = rows[name] = {**summary(name, wall, recs, args), "load_before": load[0], "load_after": load[1]}
        print(f"{name:5s} {row['wall_s']:7.1f} s, {row['per_submission_s']:.2f} s per submission; a grading process "
              f"takes {row['mean_grading_process_s']:.1f} s; slots idle {row['idle_slot_s_per_submission']:.2f} s per "
              f"submission; statuses {row['statuses']}; load average {load[0]} -> {load[1]}")
    result = {"assignment": args.assignment, "n": args.n, "workers": args.workers, "cores": os.cpu_count(),
              "cell_timeout": args.cell_timeout, "kinds": kinds, "runs": rows}
    if "pool" in rows:
        d, p_ = rows["dask"], rows["pool"]
        same = fractions(runs["dask"][1]) == fractions(runs["pool"][1])
        result.update(ratio=round(d["wall_s"] / p_["wall_s"], 3), overhead_s_per_submission=round(
            d["idle_slot_s_per_submission"] - p_["idle_slot_s_per_submission"], 2), same_grades=same)
        print(f"Dask / pool wall time: {result['ratio']:.3f}; Dask's scheduling overhead "
              f"{result['overhead_s_per_submission']:+.2f} s of a slot per submission "
              f"({(d['wall_s'] - p_['wall_s']) / args.n:+.2f} s of wall time); same status and fraction of the points "
              f"for every student: {same}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
