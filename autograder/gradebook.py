"""The class's grades: a real nbgrader gradebook and ``grades.csv``, written by the grader alone.

``out/course`` is an nbgrader course whose gradebook holds one submission per
student with the points of each test (``nbgrader export`` reads it);
``grades.csv`` has one row per student and one column per test.
"""
import csv
import io
import os
import shutil
import warnings
from pathlib import Path

from autograder.assignments import ensure_tools_on_path, nbgrader_config, source_path
from autograder.safe_io import write_text
from autograder.students import printable


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


def course(out, assignment):
    """``out/course``: an nbgrader course whose gradebook holds the class's grades (made once)."""
    from nbgrader.apps import NbGraderAPI

    fast_gradebooks()
    root = Path(out) / "course"
    db = root / "gradebook.db"
    src = root / "source" / assignment / f"{assignment}.ipynb"
    if src.is_file() and db.is_file():
        return root
    ensure_tools_on_path()
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_path(assignment), src)
    result = NbGraderAPI(config=nbgrader_config(root)).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise RuntimeError(f"nbgrader generate_assignment failed for the class gradebook: {result.get('error')}")
    return root


def record(root, rec):
    """Put one final record into the class gradebook (idempotent)."""
    from nbgrader.api import Gradebook

    if not rec.final:
        return
    points = {t["id"]: t["points"] for t in rec.tests}
    graded = rec.status == "graded"
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy chatter about nbgrader's autoflush
        gb.update_or_create_student(rec.student)
        gb.update_or_create_submission(rec.assignment, rec.student)
        nb = gb.find_submission_notebook(rec.assignment, rec.assignment, rec.student)
        for g in nb.grades:
            g.auto_score = float(points.get(g.name, 0.0)) if graded else 0.0
            g.needs_manual_grade = False
        gb.db.commit()


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
    """``grades.csv``: student, status, score, max_score, reason, file, sha256, seconds, then one column per test."""
    cols = ["student", "status", "score", "max_score", "reason", "file", "sha256", "seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols + test_ids)
    for r in records:
        points = {t["id"]: t["points"] for t in r.tests}
        row = ([getattr(r, c) for c in cols[:-2]] + [(r.sha256 or "")[:12], r.seconds] +
               [points.get(t, "") if r.status == "graded" else "" for t in test_ids])
        w.writerow([cell(v) for v in row])
    write_text(path, buf.getvalue())
