"""Grade one notebook with the real nbgrader pipeline, in a scratch course of its own.

:func:`grade_notebook` is the unit of work: one notebook in, one
:class:`autograder.records.Graded` out. Each call makes a private folder
(mode 0700, never mounted into a kernel)::

    <tmp>/source/<a>/<a>.ipynb                 the solution (hidden tests included)
    <tmp>/submitted/learner/<a>/<a>.ipynb      the submission
    <tmp>/gradebook.db                         nbgrader's gradebook
    <tmp>/grader-input/                        the kernel's input: seed, training data (read-only at /grader)
    <tmp>/course/                              the course code the kernel may import (read-only at /course)
    <tmp>/run/                                 the kernel's socket folder

then runs nbgrader's ``generate_assignment`` (the gradebook learns the test
cells) and ``autograde``, whose pipeline here is::

    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata   (nbgrader: sanitize)
    SandboxedExecute      run every cell in the sandboxed kernel, under the limits  (autograder.execute)
    LimitOutput           nbgrader: cap outputs
    Judge                 decide every test cell from its probe data, in this process  (autograder.judge)
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata   (nbgrader: the gradebook)

and reads the scores from the gradebook and the messages from the autograded
notebook. ``generate_feedback`` renders the feedback (autograder.feedback).
"""
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

from autograder import course_view, kernel_input
from autograder.assignments import (WORK, GradingError, ensure_tools_on_path, graded_cells, nbgrader_config,
                                    nbgrader_meta, read_notebook, source_path)
from autograder.limits import Limits
from autograder.records import Graded, TestResult
from autograder.safe_io import read_bytes, read_text

STUDENT = "learner"


def tests_called(assignment):
    """The tests the assignment's test cells run (their ``check("name", ...)`` calls)."""
    from autograder.judge import probe_call
    calls = [probe_call(c.source) for c in graded_cells(read_notebook(source_path(assignment)))]
    return [c[0] for c in calls if c]


def _config(root, assignment, limits, seed, unsafe):
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, LimitOutput

    from autograder import feedback
    from autograder.execute import SandboxedExecute
    from autograder.judge import Judge

    c = nbgrader_config(root)
    c.Execute.timeout = limits.cell_timeout
    c.SandboxedExecute.notebook_timeout = limits.notebook_timeout
    c.SandboxedExecute.max_output_bytes = limits.max_output_bytes
    c.SandboxedExecute.cpu_seconds = limits.cpu_seconds
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    km = c.SandboxKernelManager
    km.course = str(root / "course")
    km.grader_input = str(root / "grader-input")
    km.runtime = str(root / "run")
    km.unsafe = bool(unsafe)
    km.limit_values = {k: getattr(limits, k) for k in limits.__dataclass_fields__}
    c.Judge.seed = seed
    c.Judge.assignment = assignment
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert Execute in steps and LimitOutput in steps, "nbgrader's autograde pipeline changed"
    i = steps.index(LimitOutput)
    steps = [SandboxedExecute if s is Execute else s for s in steps[:i + 1]] + [Judge] + steps[i + 1:]
    c.Autograde.autograde_preprocessors = steps
    feedback.configure(c)
    return c


def _run(api_call, what, root):
    result = api_call()
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed in {root}:\n{result.get('error') or result.get('log')}")
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
                   unsafe=False, course=None, data=None):
    """Grade ``notebook`` as a submission of ``assignment``.

    Args:
        assignment: name of a folder in ``solutions/``.
        notebook: path of the ``.ipynb`` (any file name), or its bytes with ``data``.
        workdir: where to make the scratch course (default ``.nbgrader_work/``).
        keep: leave the scratch course in place (its path is printed in ``notes``).
        feedback: if given, write the HTML feedback there.
        limits: a :class:`autograder.limits.Limits`.
        seed: the probes' seed; default: :func:`autograder.kernel_input.seed` of the notebook's bytes.
        unsafe: run the kernel without the sandbox (a trusted notebook on a machine that has none).
        course: a course view to reuse (:func:`autograder.course_view.build`), else one is built.
        data: the notebook's bytes, when ``notebook`` is only its name.

    Raises:
        GradingError: unknown assignment, missing file, not a notebook, or no sandbox without ``unsafe``.
        RuntimeError: nbgrader itself failed.
    """
    from autograder.sandbox import mode
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    src = source_path(assignment)
    if not unsafe and mode()[0] is None:
        raise GradingError(f"no sandbox on this machine ({mode()[1]}); grading untrusted work without one lets it "
                           "read and change anything you can: pass --unsafe only for notebooks you trust")
    from autograder.gradebook import fast_gradebooks

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
        kernel_input.write(root / "grader-input", seed, assignment, tests_called(assignment))
        if course is None:
            course_view.build(assignment, root / "course")
        else:
            shutil.copytree(course, root / "course")
        api = NbGraderAPI(config=_config(root, assignment, limits, seed, unsafe))
        _run(lambda: api.generate_assignment(assignment, force=True, create=True), "generate_assignment", root)
        _run(lambda: api.autograde(assignment, STUDENT, force=True, create=True), "autograde", root)

        graded = nbformat.reads(read_text(root / "autograded" / STUDENT / assignment / f"{assignment}.ipynb"),
                                as_version=4)
        verdicts = graded.metadata.get("autograder", {}).get("tests", {})
        with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            sub = gb.find_submission_notebook(assignment, assignment, STUDENT)
            grades = {g.name: (float(g.score or 0.0), float(g.max_score)) for g in sub.grades}
        tests = []
        for cell in graded_cells(read_notebook(src)):  # the solution's order
            tid = cell.metadata.nbgrader.grade_id
            score, max_score = grades[tid]
            v = verdicts.get(tid, {"passed": False, "message": "the test cell did not run"})
            passed = bool(v["passed"]) and score >= max_score
            tests.append(TestResult(tid, score, max_score, passed, "" if passed else v["message"]))
        result = Graded(assignment, str(notebook), sum(t.points for t in tests), sum(t.max_points for t in tests),
                        tests, notes=_notes(graded, limits), sandboxed=not unsafe)
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
