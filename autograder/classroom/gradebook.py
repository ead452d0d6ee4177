"""The class's grades live in nbgrader's gradebook of the course directory; ``grades.csv`` is derived from it.

``grade-all`` files each judged notebook with nbgrader's own steps
(:func:`file_graded`: ``SaveAutoGrades``, ``AssignLatePenalties``, then
``generate_feedback``), so manual grades, written answers and late penalties
work as nbgrader defines them, and formgrader, ``nbgrader export`` and
``release_feedback`` see the class as graded. The records and ``grades.csv``
take their scores from the gradebook (:func:`derive`).
"""
import csv
import io
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder.assignments import ROOT, ensure_tools_on_path
from autograder.safe_io import write_text
from autograder.classroom.students import printable


def fast_gradebooks():
    """Make nbgrader's new gradebooks cheap: it asks ``alembic heads`` (a subprocess, ~5 s) for the schema
    version of every new gradebook. The answer only changes with nbgrader, so it is kept in
    ``.nbgrader_work/alembic-<nbgrader version>`` and reused."""
    import nbgrader
    import nbgrader.api

    from autograder.assignments import WORK

    cache = WORK / f"alembic-{nbgrader.__version__}"
    head = os.environ.get("AUTOGRADER_ALEMBIC_HEAD")
    if not head:
        try:
            head = cache.read_text().strip()
        except OSError:
            ensure_tools_on_path()
            head = nbgrader.api.get_alembic_version()
            WORK.mkdir(exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            tmp.write_text(head)
            tmp.replace(cache)  # atomic: a grader starting at the same moment never reads half of it
    nbgrader.api.get_alembic_version = lambda: head
    return head


def course(root, assignment):
    """``root`` as an nbgrader course of this course (:mod:`autograder.course`) whose gradebook knows
    ``assignment`` (``generate_assignment`` once: it records the test cells and their points)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps import NbGraderAPI

    from autograder.course import load, write_config

    fast_gradebooks()
    ensure_tools_on_path()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if root.resolve() != ROOT:
        write_config(root)
    try:
        with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            if gb.find_assignment(assignment).notebooks:
                return root
    except MissingEntry:
        pass
    result = NbGraderAPI(config=load(root)).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise RuntimeError(f"nbgrader generate_assignment failed in {root}: {result.get('error')}")
    return root


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy chatter about nbgrader's autoflush
        yield


class UseJudged(NbGraderPreprocessor):
    """``grade-all``'s step in place of nbgrader's sanitize steps: the notebook is the one a worker already
    ran and judged with the course's pipeline (the same steps, on the same file)."""

    path = Unicode(help="the judged notebook").tag(config=True)

    def preprocess(self, nb, resources):
        return nbformat.read(self.path, as_version=4), resources


def file_graded(root, assignment, student, judged):
    """Put a notebook a worker judged into the course as nbgrader's ``autograde`` would: the gradebook (scores
    kept apart from manual ones, late penalty from ``timestamp.txt``, written answers flagged for grading),
    ``autograded/<student>/<assignment>/``, then the feedback page of ``generate_feedback``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, SaveAutoGrades

    from autograder.course import load

    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter from nbgrader's gradebook
    with tempfile.NamedTemporaryFile("w", suffix=".ipynb", delete=False) as f:
        f.write(judged)
    try:
        c = load(root)  # the course's own settings (late policy) apply
        c.Autograde.sanitize_preprocessors = [UseJudged]
        c.Autograde.autograde_preprocessors = [SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
        c.UseJudged.path = f.name
        api = NbGraderAPI(config=c)
        for step, call in (("autograde", api.autograde), ("generate_feedback", api.generate_feedback)):
            result = call(assignment, student, force=True) if step == "generate_feedback" else \
                call(assignment, student, force=True, create=True)
            if not result.get("success"):
                raise RuntimeError(f"nbgrader {step} failed for {student}: {result.get('error') or result.get('log')}")
    finally:
        os.unlink(f.name)


def file_ungraded(root, rec):
    """A student whose file could not be graded (not a notebook, a link...): every test 0 in the gradebook,
    as nbgrader does for a missing notebook, and the page saying why in ``feedback/``."""
    from nbgrader.api import Gradebook

    from autograder.notebook.submission import simple_feedback

    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        gb.update_or_create_student(rec.student)
        gb.update_or_create_submission(rec.assignment, rec.student)
        for nb in gb.find_submission(rec.assignment, rec.student).notebooks:
            for g in nb.grades:
                g.auto_score = 0.0
                g.needs_manual_grade = False
        gb.db.commit()
    simple_feedback(feedback_path(root, rec.student, rec.assignment), rec)


def has_submission(root, rec):
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            gb.find_submission(rec.assignment, rec.student)
            return True
    except MissingEntry:
        return False


def file_record(root, rec):
    """A final record made elsewhere (``grade-submission`` on another machine) that this course's gradebook
    lacks: its points as autograded scores (no judged notebook came with it), or zeros if it was not graded."""
    from nbgrader.api import Gradebook

    if not rec.final or has_submission(root, rec):
        return
    if rec.status != "graded":
        return file_ungraded(root, rec)
    points = {t["id"]: t["points"] for t in rec.tests}
    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        gb.update_or_create_student(rec.student)
        gb.update_or_create_submission(rec.assignment, rec.student)
        for nb in gb.find_submission(rec.assignment, rec.student).notebooks:
            for g in nb.grades:
                g.auto_score = float(points.get(g.name, 0.0))
                g.needs_manual_grade = g.name not in points
        gb.db.commit()


def feedback_path(root, student, assignment):
    return Path(root) / "feedback" / student / assignment / f"{assignment}.html"


def derive(root, rec):
    """``rec`` with its scores as the gradebook holds them now: manual grades, written answers and the late
    penalty included, so ``grades.csv`` and the records never disagree with formgrader or ``nbgrader export``."""
    from nbgrader.api import Gradebook, MissingEntry

    if rec.status != "graded" or not rec.final:
        return rec
    try:
        with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            sub = gb.find_submission(rec.assignment, rec.student)
            grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
            rec.late_penalty = float(sub.late_submission_penalty or 0.0)
            rec.max_score = float(sub.max_score)
            rec.score = max(0.0, float(sub.score) - rec.late_penalty)
            rec.needs_manual_grade = bool(sub.needs_manual_grade)
            judged = {t["id"] for t in rec.tests}
            for t in rec.tests:
                if t["id"] in grades:
                    t["points"] = float(grades[t["id"]].score or 0.0)
            rec.tests += [{"id": name, "points": float(g.score or 0.0), "max_points": float(g.max_score),
                           "passed": None, "message": "graded by hand" if g.manual_score is not None else
                           "to be graded by hand"} for name, g in grades.items() if name not in judged]
    except MissingEntry:
        pass
    return rec


FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def cell(value):
    """A CSV cell that a spreadsheet shows as text: a string starting like a formula gets a leading ``'``
    (a student's name and the reason quoting it are the student's words: ``=HYPERLINK(...).ipynb``), and
    control characters become ``?``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    return ("'" if value.startswith(FORMULA) else "") + printable(value)  # and no escape sequence for a terminal


def write_csv(path, records, test_ids):
    """``grades.csv``: student, status, score, max_score, late_penalty, reason, file, sha256, seconds, then one
    column per graded cell (a column for a cell graded by hand too)."""
    cols = ["student", "status", "score", "max_score", "late_penalty", "reason", "file", "sha256", "seconds"]
    test_ids = list(test_ids) + sorted({t["id"] for r in records for t in r.tests} - set(test_ids))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols + test_ids)
    for r in records:
        points = {t["id"]: t["points"] for t in r.tests}
        row = ([getattr(r, c) for c in cols[:-2]] + [(r.sha256 or "")[:12], r.seconds] +
               [points.get(t, "") if r.status == "graded" else "" for t in test_ids])
        w.writerow([cell(v) for v in row])
    write_text(path, buf.getvalue())
