"""Grade one notebook with the real nbgrader pipeline, in its own scratch course.

:func:`grade_notebook` is the unit of work: one submission in, one result dict
out, nothing shared with other calls but the read-only ``solutions/``. Each
call builds a course directory of its own under ``.nbgrader_work/``::

    <tmp>/source/<assignment>/<assignment>.ipynb            the solution (with hidden tests)
    <tmp>/submitted/learner/<assignment>/<assignment>.ipynb the submission
    <tmp>/gradebook.db                                      its own gradebook

then runs ``generate_assignment`` (fills the gradebook with the test cells,
hidden tests included) and ``autograde`` (restores the test and read-only
cells from the gradebook, executes the notebook in a fresh kernel with
``NBGRADER_EXECUTION=autograde``), and reads the scores from the gradebook and
the messages from the autograded notebook. The folder is removed afterwards.
"""
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

from autograder.assignments import (WORK, GradingError, ensure_tools_on_path, graded_cells, nbgrader_config, nbgrader_meta,
                                    read_notebook, source_path)

STUDENT = "learner"
CELL_TIMEOUT = 300  # seconds per cell; the val-loss test trains for about 15-25 s


def _config(root, timeout):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    from autograder.feedback import OneLineTestErrors

    c = nbgrader_config(root)
    c.Execute.timeout = timeout
    # feedback: no hidden test source, no tracebacks of test cells
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, OneLineTestErrors, CSSHTMLHeaderPreprocessor]
    return c


def _message(cell):
    """One line saying why a test cell failed ('' if it has no error output)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if ename == "CheckFailed":
                return evalue
            if ename == "NameError":
                return (f"NameError: {evalue} (the cell that defines it did not run, "
                        "or raised an error)")
            if ename == "CellTimeoutError":
                return "the test timed out"
            return f"{ename}: {evalue}"
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return f"the test cell wrote to stderr: {out.get('text', '').strip()[:200]}"
    return ""


def _run(api_call, what, root):
    result = api_call()
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed in {root}:\n{result.get('error') or result.get('log')}")
    return result


def grade_notebook(assignment, notebook, workdir=None, keep=False, feedback=None, timeout=CELL_TIMEOUT,
                   limits=None):
    """Grade ``notebook`` as a submission of ``assignment`` with nbgrader.

    Args:
        assignment: name of a folder in ``solutions/``.
        notebook: path of the submitted ``.ipynb`` (any file name).
        workdir: where to make the scratch course directory (default ``.nbgrader_work/``).
        keep: leave the scratch directory in place (its path is in the result).
        feedback: if given, write nbgrader's HTML feedback there (hidden tests removed).
        timeout: seconds each cell may run.
        limits: an :class:`autograder.sandbox.Limits` (overrides ``timeout``): run the kernel
            sandboxed, with a time budget for the whole notebook, memory and output caps.

    Returns:
        ``{"assignment", "notebook", "score", "max_score", "tests": [{"id",
        "points", "max_points", "passed", "message"}], "seconds"}``.

    Raises:
        GradingError: unknown assignment, missing file, or not a notebook.
        RuntimeError: nbgrader itself failed.
    """
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    ensure_tools_on_path()

    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter from nbgrader's gradebook
    t0 = time.time()
    src = source_path(assignment)
    submission = read_notebook(notebook)
    base = Path(workdir or WORK)
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{assignment}-", dir=base))
    try:
        (root / "source" / assignment).mkdir(parents=True)
        shutil.copy(src, root / "source" / assignment / f"{assignment}.ipynb")
        sub_dir = root / "submitted" / STUDENT / assignment
        sub_dir.mkdir(parents=True)
        nbformat.write(submission, str(sub_dir / f"{assignment}.ipynb"))

        config = _config(root, timeout)
        if limits is not None:  # sandboxed kernel, notebook time budget, memory and output caps (autograder/sandbox.py)
            from autograder.sandbox import configure
            configure(config, limits, root)
        api = NbGraderAPI(config=config)
        _run(lambda: api.generate_assignment(assignment, force=True, create=True), "generate_assignment", root)
        _run(lambda: api.autograde(assignment, STUDENT, force=True, create=True), "autograde", root)

        graded = nbformat.read(str(root / "autograded" / STUDENT / assignment / f"{assignment}.ipynb"), as_version=4)
        messages = {nbgrader_meta(c).get("grade_id"): _message(c) for c in graded.cells}
        with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            sub = gb.find_submission_notebook(assignment, assignment, STUDENT)
            grades = {g.name: (float(g.score or 0.0), float(g.max_score)) for g in sub.grades}
        tests = []
        for cell in graded_cells(read_notebook(src)):  # the solution's order
            tid = cell.metadata.nbgrader.grade_id
            score, max_score = grades[tid]
            msg = messages.get(tid, "")
            if score < max_score and not msg:
                msg = "the test cell was missing from the submission" if tid not in messages else "no credit"
            tests.append({"id": tid, "points": score, "max_points": max_score,
                          "passed": score >= max_score, "message": "" if score >= max_score else msg})
        result = {"assignment": assignment, "notebook": str(notebook),
                  "score": sum(t["points"] for t in tests), "max_score": sum(t["max_points"] for t in tests),
                  "tests": tests}
        if feedback:
            _run(lambda: api.generate_feedback(assignment, STUDENT, force=True), "generate_feedback", root)
            html = root / "feedback" / STUDENT / assignment / f"{assignment}.html"
            Path(feedback).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(html, feedback)
            result["feedback"] = str(feedback)
        if keep:
            result["workdir"] = str(root)
        result["seconds"] = round(time.time() - t0, 1)
        return result
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
