"""Grade one notebook with the course's nbgrader pipeline, in a scratch course of its own.

:func:`grade_notebook` is the unit of work: one notebook in, one
:class:`autograder.records.Graded` out (the judged notebook included, which
``grade-all`` files into the class's course directory). Each call makes a
private folder (mode 0700, never mounted into a kernel)::

    <tmp>/source/<a>/<a>.ipynb                 the solution (hidden tests included)
    <tmp>/submitted/learner/<a>/<a>.ipynb      the submission
    <tmp>/gradebook.db                         nbgrader's gradebook

then runs nbgrader's ``generate_assignment`` (the gradebook learns the test
cells) and ``autograde`` with the course's configuration
(:mod:`autograder.notebook.pipeline`: the same as ``nbgrader autograde`` in the course
directory), reads the scores from the gradebook and the messages from the
autograded notebook. ``generate_feedback`` renders the feedback
(:mod:`autograder.notebook.feedback`).
"""
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

from autograder.notebook import kernel_input
from autograder.assignments import WORK, Assignment, GradingError, ensure_tools_on_path, nbgrader_meta, read_notebook
from autograder.sandbox.limits import Limits
from autograder.records import Graded, TestResult
from autograder.safe_io import read_bytes, read_text

STUDENT = "learner"


def _config(root, limits, seed, unsafe, course, kernel_uid=None):
    """The course's configuration (:mod:`autograder.notebook.pipeline`) for the scratch course at ``root``, with this
    run's seed, when given a course view built beforehand, and the uid an unsandboxed kernel runs as."""
    from autograder.course import config

    c = config(root, limits=limits, unsafe=unsafe)
    c.CourseDirectory.source_directory = "source"
    c.SandboxedExecute.seed = seed
    if course is not None:
        c.SandboxedExecute.course_view = str(course)
    if kernel_uid is not None:
        c.SandboxKernelManager.run_as = kernel_uid
    return c


EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)$")
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')


def cause(log):
    """The exception under nbgrader's "see the above traceback" in ``log``: its type and message, and the last
    line of our code or nbgrader's that raised it, as one short line (``None`` if the log holds none)."""
    lines = (log or "").splitlines()
    found = [(i, m) for i, line in enumerate(lines) if (m := EXCEPTION.match(line.strip()))
             and "NbGraderException" not in m.group(1)]
    if not found:
        return None
    i, m = found[-1]
    frames = [f for line in lines[:i] if (f := FRAME.match(line))]
    ours = [f for f in frames if "/autograder/" in f.group(1) or "/nbgrader/" in f.group(1)] or frames
    where = f" (raised at {Path(ours[-1].group(1)).name}:{ours[-1].group(2)})" if ours else ""
    return f"{m.group(1).split('.')[-1]}: {m.group(2)[:300]}{where}"


def _run(api_call, what, root):
    """Run one nbgrader step; on failure raise with the underlying exception named, the full log in a file."""
    result = api_call()
    if not result.get("success"):
        log = "\n".join(x for x in (result.get("log"), result.get("error")) if x)
        path = WORK / "logs" / f"{Path(root).name}-{what}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(log)
        raise RuntimeError(f"nbgrader {what} failed: {cause(log) or 'no exception in its log'}; full log: {path}")
    return result


def _notes(nb, limits):
    """What the run hit (limits, a dead kernel), from the grader's own events, in a student's words."""
    meta = nb.metadata.get("autograder", {})
    labels = {i: nbgrader_meta(c).get("grade_id") or f"cell {i + 1}" for i, c in enumerate(nb.cells)}
    notes, not_run = [], []
    for i, kind, text in meta.get("events", []):
        if kind == "not run":
            not_run.append(text)
        elif kind == "kernel died" and meta.get("oom"):
            notes.append(f"{labels.get(i)}: ran out of memory (the limit is {limits.memory / 2**30:g} GB for the "
                         "whole submission)")
        elif kind == "output cut":
            notes.append(f"{labels.get(i)}: printed too much; the output was cut")
        else:
            notes.append(f"{labels.get(i)}: {text}")
    if not_run:
        notes.append(f"{len(not_run)} later cell(s) were not run: {not_run[0]}")
    if meta.get("limits_note"):  # for the teacher: which limits held
        notes.append(f"memory, processes and CPU were limited per process only ({meta['limits_note']})")
    return list(dict.fromkeys(notes))


def grade_notebook(assignment, notebook, workdir=None, keep=False, feedback=None, limits=None, seed=None,
                   unsafe=False, course=None, data=None, kernel_uid=None):
    """Grade ``notebook`` as a submission of ``assignment``.

    Args:
        assignment: name of a folder in ``solutions/``.
        notebook: path of the ``.ipynb`` (any file name), or its bytes with ``data``.
        workdir: where to make the scratch course (default ``.nbgrader_work/``).
        keep: leave the scratch course in place (its path is printed in ``notes``).
        feedback: if given, write the HTML feedback there.
        limits: a :class:`autograder.sandbox.limits.Limits`.
        seed: the probes' seed; default: :func:`autograder.notebook.kernel_input.seed` of the notebook's bytes.
        unsafe: run the kernel without the sandbox (a trusted notebook on a machine that has none).
        course: a course view to reuse (:func:`autograder.notebook.course_view.build`), else one is built.
        data: the notebook's bytes, when ``notebook`` is only its name.
        kernel_uid: with ``unsafe``, as root: the uid the kernel runs as (:func:`autograder.sandbox.bwrap.open_to_kernel`).

    Raises:
        GradingError: unknown assignment, missing file, not a notebook, or no sandbox without ``unsafe``.
        RuntimeError: nbgrader itself failed.
    """
    from autograder.sandbox.bwrap import mode
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    assignment = Assignment(assignment)  # resolved once; passed down from here
    src = assignment.source
    if not unsafe and mode()[0] is None:
        raise GradingError(f"no sandbox on this machine ({mode()[1]}); grading untrusted work without one lets it "
                           "read and change anything you can: pass --unsafe only for notebooks you trust")
    from autograder.classroom.gradebook import fast_gradebooks

    ensure_tools_on_path()
    fast_gradebooks()
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter from nbgrader's gradebook
    t0 = time.time()
    limits = limits or Limits()
    raw = data if data is not None else read_bytes(notebook)
    submission = read_notebook(notebook) if data is None else nbformat.reads(raw.decode("utf-8"), as_version=4)
    seed = kernel_input.seed(assignment, raw) if seed is None else seed
    base = Path(workdir or WORK)
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"{assignment}-", dir=base))  # mode 0700
    try:
        (root / "source" / assignment).mkdir(parents=True)
        shutil.copy(src, root / "source" / assignment / f"{assignment}.ipynb")
        sub_dir = root / "submitted" / STUDENT / assignment
        sub_dir.mkdir(parents=True)
        nbformat.write(submission, str(sub_dir / f"{assignment}.ipynb"))
        api = NbGraderAPI(config=_config(root, limits, seed, unsafe, course, kernel_uid))
        _run(lambda: api.generate_assignment(assignment, force=True, create=True), "generate_assignment", root)
        _run(lambda: api.autograde(assignment, STUDENT, force=True, create=True), "autograde", root)

        judged = read_text(root / "autograded" / STUDENT / assignment / f"{assignment}.ipynb")
        graded = nbformat.reads(judged, as_version=4)
        verdicts = graded.metadata.get("autograder", {}).get("tests", {})
        with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            sub = gb.find_submission_notebook(assignment, assignment, STUDENT)
            grades = {g.name: (float(g.score or 0.0), float(g.max_score)) for g in sub.grades}
        tests = []
        for cell in assignment.tests:  # the solution's order
            tid = cell.metadata.nbgrader.grade_id
            score, max_score = grades[tid]
            v = verdicts.get(tid, {"passed": False, "message": "the test cell did not run"})
            passed = bool(v["passed"]) and score >= max_score
            tests.append(TestResult(tid, score, max_score, passed, "" if passed else v["message"]))
        result = Graded(assignment, str(notebook), sum(t.points for t in tests), sum(t.max_points for t in tests),
                        tests, notes=_notes(graded, limits), sandboxed=not unsafe, judged=judged)
        if feedback:
            _run(lambda: api.generate_feedback(assignment, STUDENT, force=True), "generate_feedback", root)
            html = read_bytes(root / "feedback" / STUDENT / assignment / f"{assignment}.html")
            from autograder.safe_io import write_bytes
            Path(feedback).parent.mkdir(parents=True, exist_ok=True)
            write_bytes(feedback, html)
            result.feedback = str(feedback)
        if keep:
            result.notes.append(f"scratch course kept in {root}")
        result.seconds = round(time.time() - t0, 1)
        return result
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
