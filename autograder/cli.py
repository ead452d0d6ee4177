"""``python -m autograder``: grade, grade-all, grade-submission, validate, release, calibrate, export, gradescope, report, list.

Exit status: 0 when the command did its job (``grade`` exits 0 whatever the
score), 1 when ``validate`` finds problems or nbgrader itself fails, 2 on
input that cannot be graded (unknown assignment, missing file, not a
notebook, no sandbox without ``--unsafe``), with a one-line reason on stderr.
"""
import argparse
import json
import os
import sys

from autograder.assignments import GradingError

GiB = 1024 ** 3


def _table(result):
    """``grade``'s table. Messages quote the learner's lines and values, and the notebook's name is the
    learner's: all pass through :func:`~autograder.classroom.students.printable`, so no escape sequence reaches the
    terminal (as in ``grades.csv``)."""
    from autograder.classroom.students import printable

    rows = [(printable(t["id"]), f"{t['points']:g}/{t['max_points']:g}", "pass" if t["passed"] else "FAIL",
             printable(t["message"])) for t in result["tests"]]
    w = max([len(r[0]) for r in rows] + [4])
    lines = [f"{printable(result['assignment'])}: {printable(str(result['notebook']))}",
             f"{'test':{w}s}  points  result  message"]
    lines += [f"{i:{w}s}  {p:>6s}  {s:6s}  {m}".rstrip() for i, p, s, m in rows]
    lines.append(f"score {result['score']:g} / {result['max_score']:g}")
    return "\n".join(lines)


def _memory(text):
    """``4G``, ``512M`` or a number of bytes."""
    text = str(text).strip().upper()
    for suffix, mult in (("G", GiB), ("M", 2 ** 20), ("K", 2 ** 10)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * mult)
    return int(text)


def _limit_args(p):
    from autograder.sandbox.limits import Limits
    d = Limits()
    p.add_argument("--cell-timeout", type=int, default=d.cell_timeout, help=f"seconds one cell may run (default {d.cell_timeout})")
    p.add_argument("--notebook-timeout", type=int, default=d.notebook_timeout,
                   help=f"seconds all cells may run (default {d.notebook_timeout})")
    p.add_argument("--memory", type=_memory, default=d.memory, help="memory of a whole submission, e.g. 4G (default 4G)")
    p.add_argument("--processes", type=int, default=d.processes, help=f"processes at once (default {d.processes})")
    p.add_argument("--cpu-seconds", type=int, default=d.cpu_seconds, help=f"CPU time in all (default {d.cpu_seconds})")
    p.add_argument("--disk", type=_memory, default=d.disk, help="bytes a submission may write (default 256M)")
    p.add_argument("--max-output", type=int, default=d.max_output_bytes,
                   help=f"bytes of output per cell (default {d.max_output_bytes:.0e})")
    p.add_argument("--notebook-output", type=int, default=d.notebook_output_bytes,
                   help=f"bytes of output of all cells together (default {d.notebook_output_bytes:.0e})")
    p.add_argument("--unsafe", action="store_true",
                   help="grade without a sandbox where none is possible (only for notebooks you trust)")


def _limits(args):
    from autograder.sandbox.limits import Limits
    return Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory=int(args.memory),
                  processes=args.processes, cpu_seconds=args.cpu_seconds, disk=int(args.disk),
                  max_output_bytes=args.max_output, notebook_output_bytes=args.notebook_output)


def cmd_grade(args):
    from autograder.assignments import Assignment, read_notebook
    assignment = Assignment(args.assignment)  # reject bad input before loading nbgrader (seconds)
    read_notebook(args.notebook)
    from autograder.notebook.grade import grade_notebook
    from autograder.sandbox.isolate import hold_memory
    _say_gaps(args)
    hold_memory()
    result = grade_notebook(assignment, args.notebook, keep=args.keep, feedback=args.feedback,
                            limits=_limits(args), unsafe=args.unsafe).to_json()
    print(json.dumps(result) if args.json else _table(result))
    return 0


def cmd_validate(args):
    from autograder.assignments import read_notebook
    from wavenet.checks.validate import report, validate
    read_notebook(args.notebook)  # a clear error for a missing file or a non-notebook
    problems = validate(args.notebook, timeout=args.timeout)
    print(report(problems))
    return 1 if problems else 0


def cmd_release(args):
    from autograder.authoring.release import release
    release(args.assignments or None)
    return 0


def cmd_calibrate(args):
    from autograder.assignments import Assignment
    from autograder.authoring.calibrate import SEEDS, calibrate
    record = calibrate(Assignment(args.assignment), seeds=tuple(args.seeds or SEEDS))
    print(f"threshold {record['threshold']} (mean {record['mean']}, std {record['std']})")
    return 0


def cmd_list(args):
    from autograder.assignments import names
    print("\n".join(names()))
    return 0


def cmd_grade_submission(args):
    from autograder.records import save
    from autograder.notebook.submission import grade_submission
    rec = grade_submission(args.assignment, args.notebook, student=args.student, feedback=args.feedback,
                           limits=_limits(args), unsafe=args.unsafe)
    if args.out:
        save(args.out, rec)
    else:
        print(json.dumps(rec.to_json(), indent=1))
    return 0


def cmd_grade_all(args):
    from pathlib import Path

    from autograder.classroom.batch import grade_all
    from wavenet.cluster import Insecure, from_arguments
    try:
        scheduler, security = from_arguments(args)
    except Insecure as e:  # before anything is read or written
        raise GradingError(str(e)) from None
    if scheduler is None:  # the local cluster's workers are this machine
        _say_gaps(args)
    records = grade_all(args.assignment, args.folder, out=args.out, workers=args.workers, force=args.force,
                        limits=_limits(args), students=args.student, unsafe=args.unsafe,
                        quiet=args.json and not sys.stderr.isatty(), scheduler=scheduler, security=security)
    if args.json:
        print(json.dumps([{k: getattr(r, k) for k in ("student", "status", "score", "max_score", "reason")}
                          for r in records], indent=1))
    else:
        from autograder.assignments import ROOT
        from autograder.classroom.batch import grades_dir
        from autograder.export.report import page

        out = Path(args.out or ROOT)
        graded = sum(r.status == "graded" for r in records)
        waiting = sum(r.needs_manual_grade for r in records)
        print(f"{graded} graded, {len(records) - graded} not graded (see the reasons)"
              + (f", {waiting} with answers to grade by hand (formgrader)" if waiting else "") +
              f"; {grades_dir(out, args.assignment) / 'grades.csv'}, feedback in {out / 'feedback'}, the class "
              f"report in {page(out)}")
    return 0


def _canvas_id(text):
    """``ASSIGNMENT=ID``: an nbgrader assignment and its Canvas assignment id."""
    name, sep, cid = text.partition("=")
    if not (sep and name and cid):
        raise argparse.ArgumentTypeError(f"expected ASSIGNMENT=CANVAS_ID, got {text!r}")
    return name, cid


def cmd_export(args):
    from autograder.assignments import ROOT
    from autograder.export.lms import export
    course = args.course or ROOT
    print(export(args.format, args.to, course, roster=args.roster, canvas_ids=dict(args.canvas_id or [])))
    return 0


def cmd_gradescope(args):
    from pathlib import Path

    from autograder.assignments import source_path
    from autograder.export.gradescope import build
    source_path(args.assignment)
    members = build(args.assignment, args.to, wheel=args.wheel)
    print(f"{args.to}: Gradescope autograder for {args.assignment} ({len(members)} files"
          + (f", {Path(args.wheel).name}" if args.wheel else ", no wheel") + ")")
    return 0


def cmd_report(args):
    from autograder.assignments import ROOT
    from autograder.export.report import report
    print(report(args.assignments or None, args.course or ROOT, args.to))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade one notebook, sandboxed (nbgrader autograde, judged by the grader)")
    g.add_argument("assignment", help="e.g. 01_layers (a folder of solutions/)")
    g.add_argument("notebook", help="the submitted .ipynb")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    g.add_argument("--feedback", metavar="HTML", help="also write the feedback page (hidden tests removed)")
    g.add_argument("--keep", action="store_true", help="keep the scratch course directory")
    _limit_args(g)
    g.set_defaults(fn=cmd_grade)

    a = sub.add_parser("grade-all", help="grade every submission in a folder on Dask (this machine or a cluster), "
                                         "sandboxed")
    a.add_argument("assignment")
    a.add_argument("folder", nargs="?", help="DIR/<student>.ipynb, or nbgrader's DIR/submitted/<student>/<assignment>/ "
                                             "(default: the course directory's submitted/)")
    a.add_argument("--out", help="the nbgrader course directory the grades go into: its gradebook, autograded/, "
                                 "feedback/ and grades/<assignment>/ (default: this repository's, git-ignored)")
    from wavenet.cluster import add_arguments
    add_arguments(a, "grade (default: on a local cluster of --workers processes)")
    a.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)),
                   help="parallel gradings on this machine without --scheduler (default: one per core)")
    a.add_argument("--json", action="store_true", help="print the results as a JSON list")
    a.add_argument("--force", action="store_true", help="regrade students who already have a result")
    a.add_argument("--student", action="append", metavar="STUDENT", help="grade only these students")
    _limit_args(a)
    a.set_defaults(fn=cmd_grade_all)

    s = sub.add_parser("grade-submission", help="grade one submission into one JSON record (what grade-all runs)")
    s.add_argument("assignment")
    s.add_argument("notebook")
    s.add_argument("--student", help="default: the file name up to its first dot")
    s.add_argument("--out", metavar="JSON", help="write the record here (default: print it)")
    s.add_argument("--feedback", metavar="HTML", help="write the student's feedback here")
    _limit_args(s)
    s.set_defaults(fn=cmd_grade_submission)

    v = sub.add_parser("validate", help="a learner's check before submitting: run every cell, report problems")
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

    e = sub.add_parser("export", help="the class's grades from the gradebook as an LMS's import file "
                                      "(every assignment; late penalties and manual grades included)")
    e.add_argument("format", choices=("canvas", "moodle", "csv"), help="csv: nbgrader's own columns")
    e.add_argument("--to", required=True, metavar="FILE", help="the file to write")
    e.add_argument("--course", help="the nbgrader course directory (default: this repository's)")
    e.add_argument("--roster", metavar="CSV", help="student_id,name,email,lms_user_id,sis_user_id,sis_login_id,"
                                                  "section,id_number (any of them): imported into the gradebook's "
                                                  "students first")
    e.add_argument("--canvas-id", action="append", type=_canvas_id, metavar="ASSIGNMENT=ID",
                   help="the Canvas assignment id of an assignment (its column becomes 'ASSIGNMENT (ID)')")
    e.set_defaults(fn=cmd_export)

    gs = sub.add_parser("gradescope", help="a Gradescope autograder zip for one assignment (setup.sh, run_autograder, "
                                           "the grader; results.json in Gradescope's schema)")
    gs.add_argument("assignment")
    gs.add_argument("--to", required=True, metavar="ZIP", help="the zip to write (keep it private: hidden tests)")
    gs.add_argument("--wheel", help="the learner package's wheel (make dist) for setup.sh to install")
    gs.set_defaults(fn=cmd_gradescope)

    rp = sub.add_parser("report", help="the class report: one self-contained HTML page from the gradebook")
    rp.add_argument("assignments", nargs="*", help="default: every assignment of the gradebook")
    rp.add_argument("--course", help="the nbgrader course directory (default: this repository's)")
    rp.add_argument("--to", metavar="HTML", help="the page to write (default: grades/report.html in the course)")
    rp.set_defaults(fn=cmd_report)

    sub.add_parser("list", help="list the assignments").set_defaults(fn=cmd_list)

    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except GradingError as e:
        print(f"error: {_lines(e)}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {_lines(e)}", file=sys.stderr)
        return 1


def _say_gaps(args):
    """On stderr, before grading: the limits of the threat model that do not hold on this machine."""
    from autograder.sandbox.bwrap import gaps
    if args.unsafe:
        return
    for line in gaps():
        print(f"note: on this machine {line}", file=sys.stderr)


def _lines(error):
    """An error's text, line by line through :func:`~autograder.classroom.students.printable`: it may quote a
    submission (a file name, nbformat's complaint, nbgrader's log of a kernel's traceback)."""
    from autograder.classroom.students import printable
    return "\n".join(printable(line) for line in str(error).splitlines())
