"""``python -m autograder``: grade, validate, release, calibrate, list.

Exit status: 0 when the command did its job (``grade`` exits 0 whatever the
score), 1 when ``validate`` finds failing tests or nbgrader itself fails, 2 on
input that cannot be graded (unknown assignment, missing file, not a notebook).
"""
import argparse
import json
import sys

from autograder.assignments import GradingError


def _table(result):
    rows = [(t["id"], f"{t['points']:g}/{t['max_points']:g}", "pass" if t["passed"] else "FAIL", t["message"])
            for t in result["tests"]]
    w = max([len(r[0]) for r in rows] + [4])
    lines = [f"{result['assignment']}: {result['notebook']}",
             f"{'test':{w}s}  points  result  message"]
    lines += [f"{i:{w}s}  {p:>6s}  {s:6s}  {m}".rstrip() for i, p, s, m in rows]
    lines.append(f"score {result['score']:g} / {result['max_score']:g}")
    return "\n".join(lines)


def cmd_grade(args):
    from autograder.assignments import read_notebook, source_path
    source_path(args.assignment)  # reject bad input before loading nbgrader (seconds)
    read_notebook(args.notebook)
    from autograder.grade import grade_notebook
    result = grade_notebook(args.assignment, args.notebook, keep=args.keep, feedback=args.feedback,
                            timeout=args.timeout)
    print(json.dumps(result) if args.json else _table(result))
    return 0


def cmd_validate(args):
    """nbgrader's Validator: run the notebook, report the test cells that fail."""
    from pathlib import Path

    from nbgrader.validator import Validator
    from traitlets.config import Config

    from autograder.assignments import KERNEL_ARGS, ensure_tools_on_path, read_notebook

    read_notebook(args.notebook)  # a clear error for a missing file or a non-notebook
    ensure_tools_on_path()
    c = Config()
    c.Execute.timeout = args.timeout
    c.Execute.extra_arguments = KERNEL_ARGS
    results = Validator(config=c).validate(str(Path(args.notebook).resolve()))
    problems = 0
    for key, title in (("type_changed", "a cell's type was changed"),
                       ("changed", "a read-only or test cell was edited (the grader restores it)"),
                       ("failed", "test failed")):
        for cell in results.get(key, []):
            problems += 1
            first = cell["source"].splitlines()[0] if cell["source"] else ""
            print(f"{title}: {first}")
            if cell.get("raw_error"):
                print("    " + cell["raw_error"].strip().splitlines()[-1])
    if problems:
        print(f"{problems} problem(s): if you submit now you will not get full marks")
        return 1
    print("Success: every visible test passes (hidden tests run when graded)")
    return 0


def cmd_release(args):
    from autograder.release import release
    release(args.assignments or None)
    return 0


def cmd_calibrate(args):
    from autograder.assignments import source_path
    from autograder.calibrate import SEEDS, calibrate
    source_path(args.assignment)
    record = calibrate(args.assignment, seeds=tuple(args.seeds or SEEDS))
    print(f"threshold {record['threshold']} (mean {record['mean']}, std {record['std']})")
    return 0


def cmd_list(args):
    from autograder.assignments import names
    print("\n".join(names()))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade one notebook with nbgrader autograde")
    g.add_argument("assignment", help="e.g. 01_layers (a folder of solutions/)")
    g.add_argument("notebook", help="the submitted .ipynb")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    g.add_argument("--feedback", metavar="HTML", help="also write nbgrader's feedback (hidden tests removed)")
    g.add_argument("--keep", action="store_true", help="keep the scratch course directory")
    g.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    g.set_defaults(fn=cmd_grade)

    v = sub.add_parser("validate", help="run a notebook's visible tests (nbgrader Validator)")
    v.add_argument("notebook")
    v.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    v.set_defaults(fn=cmd_validate)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    r.add_argument("assignments", nargs="*", help="default: all")
    r.set_defaults(fn=cmd_release)

    c = sub.add_parser("calibrate", help="calibrate an assignment's val-loss target from its solution")
    c.add_argument("assignment")
    c.add_argument("--seeds", type=int, nargs="+", help="default: 1 2 3 4 5")
    c.set_defaults(fn=cmd_calibrate)

    sub.add_parser("list", help="list the assignments").set_defaults(fn=cmd_list)

    from autograder.batch import add_parsers  # grade-all, grade-submission: a whole class, sandboxed
    add_parsers(sub)

    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except GradingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
