"""Grade one submitted file into one :class:`autograder.records.Record`, whatever the file holds.

:func:`grade_submission` never raises: a file that is missing, empty, huge or
not a notebook gets a record saying why, in words the student can act on; a
notebook is repaired (:mod:`autograder.notebook.repair`), read for notes to a reviewer
(:mod:`autograder.notebook.notes`), and graded in the sandbox
(:func:`autograder.notebook.grade.grade_notebook`). If the grader itself fails, the
record is not final (``final: False``) and a re-run grades the student again.
"""
import hashlib
import html
import time
from pathlib import Path

from autograder.assignments import Assignment, GradingError
from autograder.bounded_json import TooComplex
from autograder.bounded_json import check as check_json
from autograder.records import Record
from autograder.safe_io import write_text

MAX_BYTES = 50 * 1024 * 1024  # bigger than any honest notebook of this course


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def simple_feedback(path, rec):
    """An HTML page for a student whose notebook could not be graded."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in rec.notes)
    score = rec.score if rec.score is not None else "-"
    write_text(path, f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(rec.assignment)}: "
                     f"{html.escape(rec.student)}</title></head><body>"
                     f"<h1>{html.escape(rec.assignment)}: not graded</h1>"
                     f"<p><b>Status:</b> {html.escape(rec.status)}</p><p><b>Why:</b> {html.escape(rec.reason)}</p>"
                     f"{'<ul>' + notes + '</ul>' if notes else ''}"
                     f"<p>Score: {score} / {rec.max_score}</p></body></html>")


def summary(notes, tests):
    """The record's one-line reason: what happened, and the first failing test."""
    failed = [t for t in tests if not t.passed]
    parts = list(notes)
    if failed:
        parts.append(f"{len(failed)} of {len(tests)} tests failed, first {failed[0].id}: {failed[0].message}")
    return "; ".join(parts)


def grade_submission(assignment, path, student=None, feedback=None, limits=None, unsafe=False, workdir=None,
                     data=None, course=None, grader_key=None, judged=None):
    """Grade one submitted file; always return a :class:`Record`, never raise.

    ``data``: the file's bytes (when they came over the network, not from ``path``).
    ``judged``: where to write the judged notebook (what ``grade-all`` files into the course directory).
    """
    import nbformat

    from autograder.notebook import kernel_input
    from autograder.notebook.grade import grade_notebook
    from autograder.notebook.notes import review
    from autograder.notebook.repair import repair

    t0 = time.time()
    path = Path(path)
    student = student or path.name.split(".")[0]
    rec = Record(student, assignment, file=str(path), sandboxed=not unsafe)

    def done(**fields):
        for k, v in fields.items():
            setattr(rec, k, v)
        rec.seconds = round(time.time() - t0, 1)
        if rec.status != "graded":
            simple_feedback(feedback, rec)
        return rec

    try:
        assignment = Assignment(assignment)
        rec.max_score = assignment.max_score
    except GradingError as e:
        return done(reason=str(e), score=None)
    try:
        if data is None:
            if not path.is_file():
                return done(reason=f"no file: {path}")
            if path.stat().st_size > MAX_BYTES:
                data = b"x" * (MAX_BYTES + 1)
            else:
                data = path.read_bytes()
        if len(data) > MAX_BYTES:
            return done(reason=f"{path.name} is {len(data) / 2**20:.0f} MB, far more than a notebook of this course: "
                               "clear the outputs (Kernel > Restart & Clear Output) and hand it in again")
        rec.sha256 = sha256(data)
        if not data.strip():
            return done(reason=f"{path.name} is empty: hand in the .ipynb file you worked in (File > Save first)")
        try:
            check_json(data, "it")  # before the parser builds an object per value
        except TooComplex as e:
            return done(reason=f"{path.name} was not read: {e}, where a notebook of this course has about 500 "
                               "nested about 10 deep (each printed line is one): clear its outputs (Kernel > "
                               "Restart & Clear Output), check its metadata (Edit > Edit Notebook Metadata) and "
                               "hand it in again")
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
        except Exception as e:  # JSON errors, schema errors, binary junk
            return done(reason=f"{path.name} is not a valid Jupyter notebook ({type(e).__name__}: {str(e)[:160]}): "
                               "open it in Jupyter to check it, and hand in the .ipynb file itself")
        if path.suffix != ".ipynb":
            rec.notes.append(f"the file was named {path.name}, not {student}.ipynb; it was graded as a notebook")
        nb, notes = repair(nb, assignment)
        rec.notes += notes
        rec.review = review(nb, assignment)
        seed = kernel_input.seed(assignment, data, grader_key)
        result = grade_notebook(assignment, path.name, workdir=workdir, feedback=feedback, limits=limits, seed=seed,
                                unsafe=unsafe, course=course, data=nbformat.writes(nb).encode())
        rec.notes += result.notes
        rec.tests = [t.__dict__ for t in result.tests]
        if judged:
            write_text(judged, result.judged)
        return done(status="graded", score=result.score, max_score=result.max_score,
                    reason=summary(rec.notes, result.tests))
    except MemoryError:  # past the grading process's own limit (isolate.hold_memory): what the notebook sent
        return done(status="error", score=None,
                    reason="grading this notebook needed more memory than the grader allows itself (the kernel "
                           "sent or the notebook holds far more than any notebook of this course): not graded")
    except Exception as e:  # the grader itself failed: not the student's fault, try again later
        return done(status="error", score=None, final=False,
                    reason=f"the grader failed ({type(e).__name__}: {str(e)[-300:]}); this is not the "
                           "student's fault: run grade-all again")
