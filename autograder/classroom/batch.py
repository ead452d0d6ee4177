"""Grade a whole class: ``python -m autograder grade-all ASSIGNMENT [DIR] [--scheduler ADDRESS]``.

``grade-all`` finds the students in ``DIR`` (:mod:`autograder.classroom.students`;
default: the course's ``submitted/``) and grades each on Dask
(:mod:`autograder.classroom.cluster`): on the cluster whose scheduler is at
``--scheduler``, or on a local cluster of ``--workers`` processes made for the
batch. Each worker grades one student per thread, in a process of its own,
sandboxed, with the course's nbgrader pipeline, and sends back the record and
the judged notebook. Only this process writes, into the nbgrader course
directory ``--out`` (default: the repository's; :mod:`autograder.course`)::

    submitted/<student>/<a>/<a>.ipynb     a submission from a folder elsewhere, copied in (timestamp.txt too)
    autograded/<student>/<a>/<a>.ipynb    the judged notebook, filed by nbgrader's own steps
    feedback/<student>/<a>/<a>.html       nbgrader's generate_feedback, the course's page
    gradebook.db                          nbgrader's gradebook: formgrader, export and release_feedback read it
    grades/<a>/results/<student>.json     one record per student: what a re-run skips
    grades/<a>/grades.csv                 one row per student, one column per graded cell, from the gradebook
    grades/report.html                    the class report, every assignment of the gradebook (autograder.export.report)

Records are written atomically when a student is finished, so a batch killed
half-way and run again grades only the students without a record (or whose
file changed since), and ends with the same grades as one clean run.
``--force`` regrades everyone. Nothing is written before the cluster is
reached and its workers are found fit to grade.
"""
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

from autograder.classroom import gradebook
from autograder.assignments import ROOT, Assignment, GradingError
from autograder.classroom.progress import Progress
from autograder.records import Record, load, save
from autograder.safe_io import read_bytes, read_regular, write_bytes
from autograder.classroom.students import discover, printable
from autograder.notebook.submission import MAX_BYTES, grade_submission, sha256


@contextmanager
def _cluster(scheduler, workers, out, security=None):
    """The batch's Dask client; an unreachable scheduler, or one that would be reached without TLS
    unasked, is a :class:`GradingError`."""
    from autograder.classroom.cluster import LOCAL
    from wavenet.cluster import Insecure, Unreachable, connect

    os.environ["AUTOGRADER_BATCH"] = str(out)  # marks every process of a local batch (not the kernels)
    try:
        with connect(scheduler, workers=workers, config=LOCAL, security=security) as client:
            yield client
    except (Unreachable, Insecure) as e:
        raise GradingError(f"{e} (nothing was graded)") from None


def grades_dir(out, assignment):
    """``out/grades/<assignment>``: the records and ``grades.csv`` of one assignment."""
    return Path(out) / "grades" / assignment


def _file_in(out, assignment, student, path, data):
    """Copy a submission found outside the course into ``out/submitted/<student>/<assignment>/`` (with an
    nbgrader ``timestamp.txt`` next to it, when it had one), where nbgrader expects it."""
    dest = Path(out) / "submitted" / student / assignment
    if path.parent.resolve() == dest.resolve():
        return
    dest.mkdir(parents=True, exist_ok=True)
    write_bytes(dest / f"{assignment}.ipynb", data)
    # a timestamp.txt belongs to one submission only in nbgrader's layout (<student>/<assignment>/, one notebook);
    # one lying in a flat class folder would give every student its date
    stamp = path.parent / "timestamp.txt"
    own_folder = path.parent.name == str(assignment) and len(list(path.parent.glob("*.ipynb"))) == 1
    if own_folder and stamp.is_file() and not stamp.is_symlink():
        write_bytes(dest / "timestamp.txt", read_bytes(stamp)[:200])


def grade_all(assignment, folder=None, out=None, workers=2, force=False, limits=None, students=None, unsafe=False,
              quiet=False, scheduler=None, security=None):
    """Grade every submission in ``folder`` (default ``out/submitted``) into the course directory ``out``
    (default: the repository's); return the records (one per student, sorted).

    ``scheduler``: the address of a running Dask scheduler, reached with ``security``
    (:func:`wavenet.cluster.client_security`); ``None`` grades on a local cluster of ``workers``
    processes (TLS with its own certificate).
    """
    from autograder.notebook.kernel_input import key
    from autograder.sandbox.limits import Limits
    from autograder.sandbox.bwrap import mode

    assignment = Assignment(assignment)  # resolved once (an unknown one: GradingError now, not 200 times)
    if scheduler is None and not unsafe and mode()[0] is None:  # the workers would say so too, seconds later
        raise GradingError(f"no sandbox on this machine ({mode()[1]}); grading untrusted work without one lets it "
                           "read and change anything you can: pass --unsafe only for notebooks you trust")
    limits = limits or Limits()
    out = Path(out or ROOT).resolve()
    folder = Path(folder).resolve() if folder else out / "submitted"
    if folder != out and folder != out / "submitted" and (out == folder or folder in out.parents):
        raise GradingError(f"--out {out} is inside the submissions folder {folder}: choose another folder")
    entries = discover(assignment, folder)
    if students:
        entries = [e for e in entries if e[0] in set(students)]
    full = assignment.max_score
    grades = grades_dir(out, assignment)
    missing, old, todo, big, notes = [], [], [], [], {}
    for student, path, note in entries:
        notes[student] = note
        if path is None:
            missing.append(Record(student, assignment, reason=note, max_score=full))
            continue
        try:
            data = read_regular(path, MAX_BYTES)
        except OSError as e:  # swapped for a link or a FIFO since it was found, or unreadable: the next run tries
            missing.append(Record(student, assignment, file=str(path), max_score=full, final=False,
                                  reason=f"the grader could not read {printable(path.name)} ({e.strerror or e})"))
            continue
        rec = load(grades / "results" / f"{student}.json")
        sha = sha256(data) if len(data) <= MAX_BYTES else None
        if (rec and not force and rec.final and rec.assignment == assignment
                and rec.sha256 == sha):  # same file (a result from another machine counts too)
            old.append(rec)
        elif sha is None:
            big.append((student, path, data))  # refused here, never sent over the network
        else:
            todo.append((student, path))
        del data  # only the window of tasks in flight holds notebooks
    progress = Progress(len(todo) + len(big), quiet=quiet)

    with ExitStack() as stack:
        if todo:  # reach the cluster and check its workers before writing anything
            from autograder.classroom import cluster
            client = stack.enter_context(_cluster(scheduler, workers, out, security))
            plugin, reports = cluster.check_workers(client, unsafe)
            stack.callback(cluster.remove_plugin, client, plugin)
            slots, failures, _ = cluster.settings(client)
            progress.say(f"grading {len(todo)} of {len(entries)} students on {len(reports)} worker(s), {slots} at a "
                         f"time ({scheduler or 'a local cluster'}); a notebook whose worker dies {failures + 1} "
                         "times is given up")
        (grades / "results").mkdir(parents=True, exist_ok=True)
        root = gradebook.course(out, assignment)
        records = {}
        for rec in missing:
            if rec.final:
                gradebook.file_ungraded(root, rec)
            save(grades / "results" / f"{rec.student}.json", rec)
        for rec in old:  # a record from another machine (grade-submission) joins the gradebook too
            gradebook.file_record(root, rec)
        for rec in missing + old:
            records[rec.student] = rec

        def finish(student, path, rec, judged, in_flight):
            if notes[student]:
                rec.notes = [notes[student]] + rec.notes
                rec.reason = "; ".join(x for x in (notes[student], rec.reason) if x)
            if rec.status == "graded" and judged:
                try:
                    _file_in(out, assignment, student, path, read_regular(path, MAX_BYTES))
                    gradebook.file_graded(root, assignment, student, judged)
                    gradebook.derive(root, rec)
                except (OSError, RuntimeError) as e:  # the next run files it again
                    rec.status, rec.final, rec.score = "error", False, None
                    rec.reason = (f"graded, but the grade could not be filed in the course's gradebook "
                                  f"({type(e).__name__}: {printable(str(e))[-300:]}): run grade-all again")
            elif rec.final:
                gradebook.file_ungraded(root, rec)
            save(grades / "results" / f"{student}.json", rec)  # last: a record means "done"
            records[student] = rec
            progress.update(rec, in_flight)

        paths = dict(todo)
        for student, path, data in big:
            finish(student, path, grade_submission(assignment, path, student=student, limits=limits, unsafe=unsafe,
                                                   data=data), None, 0)
        if todo:
            for student, rec, judged, in_flight in cluster.grade(client, plugin, assignment, todo, limits, unsafe,
                                                                 key(), full):
                finish(student, paths[student], rec, judged, in_flight)

    final = [records[s] for s in sorted(records)]
    write_grades(out, assignment)
    write_report(out)
    return final


def write_report(out):
    """The class report of the whole gradebook in ``grades/report.html``. The grades are filed already: a report
    that cannot be drawn is said, with its cause, and does not fail the run."""
    import sys

    from autograder.export.report import report
    try:
        report(None, out)
    except Exception as e:  # noqa: BLE001 (any cause is reported; the grading itself succeeded)
        print(f"the class report was not written ({type(e).__name__}: {e}); try `python -m autograder report "
              f"--course {out}`", file=sys.stderr)


def write_grades(out, assignment):
    """``grades/<a>/grades.csv`` and the records' scores, from the gradebook as it is now (after formgrader's
    manual grades too); earlier runs' and other machines' students included."""
    grades = grades_dir(out, assignment)
    every = []
    for p in sorted((grades / "results").glob("*.json")):
        rec = load(p)
        if rec is None:
            continue
        before = rec.to_json()
        gradebook.derive(out, rec)
        if rec.to_json() != before:
            save(p, rec)
        every.append(rec)
    gradebook.write_csv(grades / "grades.csv", every, Assignment(assignment).test_ids)
    return every
