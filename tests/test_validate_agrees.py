"""The learner's verdict and the grader's agree on the whole mutant library (issue 16, item 1).

For every mutant of ``tests/mutants`` (and every solution), the learner's ``validate``
(:mod:`wavenet.checks.validate`: every cell run as in the learner's own kernel, hidden tests failing closed
and not counted, the val-loss try-it cell checking the grader's run against the target) says "Success"
exactly when the grader (:mod:`autograder.runner`, the same ``Judge`` as ``grade``) gives full marks.

The learner's side runs in-process here, as the runner does, and is read by validate's own
:func:`~wavenet.checks.validate.problems_of`. The val-loss training (10-25 s each side) runs only where
``test_grading_mutants`` trains; those cases are marked slow.
"""
import contextlib
import io
import json
import linecache
import os
import traceback

import nbformat
import pytest
from nbformat.v4 import new_output

from autograder.assignments import names, read_notebook, source_path
from mutants import all_mutants, twins
from test_grading_mutants import VAL_LOSS, run_mutant, trains
from wavenet.checks import context
from wavenet.checks.validate import problems_of, report

VAL_LOSS_TRY = "check_val_loss("  # the try-it cell that runs the grader's val-loss run on the learner's machine


def learner_run(nb, train=True):
    """Run ``nb``'s cells in one namespace as the learner's own kernel would under ``validate`` (no grading run,
    ``NBGRADER_EXECUTION=validate``); each cell's error becomes an error output. Returns validate's problems."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    assert context.current() is None
    ns = {"__name__": "__main__"}
    old = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            if VAL_LOSS_TRY in cell.source and not train:
                continue  # the grader's side skips the val-loss test here too
            name = f"<cell {i}>"
            linecache.cache[name] = (len(cell.source), None, cell.source.splitlines(True), name)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                    exec(compile(cell.source, name, "exec"), ns)
            except Exception as e:
                cell.outputs = [new_output("error", ename=type(e).__name__, evalue=str(e),
                                           traceback=traceback.format_exception(e))]
            cell.outputs.insert(0, new_output("stream", name="stdout", text=printed.getvalue()))
    finally:
        if old is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old
    return problems_of(nb)


def cases():
    return [pytest.param(m, marks=pytest.mark.slow) if trains(m) else m for m in all_mutants()]


@pytest.mark.parametrize("mutant", cases(), ids=lambda m: f"{m.assignment}/{m.name}")
def test_validate_says_success_exactly_when_the_grader_gives_full_marks(mutant):
    graded = run_mutant(mutant)
    train = not any(t["id"] == VAL_LOSS and t["passed"] is None for t in graded["tests"])
    problems = learner_run(mutant.notebook(), train=train)
    full = graded["score"] == graded["max_score"]
    assert full == (not problems), (
        f"{mutant.name} ({mutant.why}): the grader gives {graded['score']}/{graded['max_score']} but validate says\n"
        f"{report(problems)}\n(failed when graded: "
        f"{ {t['id']: t['message'] for t in graded['tests'] if t['passed'] is False} })")
    failed = {t["id"]: t["message"] for t in graded["tests"] if t["passed"] is False}
    for hidden, visible in twins(mutant.assignment).items():  # a hidden test failing from its twin's error says so
        if hidden in failed and visible in failed:
            assert "(the same error as in " in failed[hidden], (hidden, failed[hidden], visible, failed[visible])
    if not full:  # every test the grader fails has a visible test that validate names
        failed = {t["id"] for t in graded["tests"] if t["passed"] is False}
        assert any(f"cell '{gid}'" in p for p in problems for gid in failed) or any(
            "raised" in p or "val loss" in p or "validation loss" in p for p in problems), (problems, failed)


@pytest.mark.parametrize("assignment", names())
def test_the_solution_validates(assignment):
    """The solution: no problem for validate (its hidden tests fail closed, uncounted), full marks when graded."""
    assert learner_run(read_notebook(source_path(assignment)), train=False) == []


def test_every_hidden_test_has_a_visible_twin():
    """Each hidden test cell has a visible test cell of the same concept (its probe's twin, same options)."""
    from autograder.assignments import graded_cells, nbgrader_meta
    from autograder.notebook.judge import HIDDEN
    from mutants import twins

    for a in names():
        hidden = {nbgrader_meta(c)["grade_id"] for c in graded_cells(read_notebook(source_path(a)))
                  if HIDDEN in c.source}
        val_loss = {h for h in hidden if h == VAL_LOSS}
        assert hidden - val_loss <= set(twins(a)), (a, sorted(hidden - val_loss - set(twins(a))))
        if val_loss:  # the val-loss test's visible side is the try-it cell that checks the grader's run
            assert any(VAL_LOSS_TRY in c.source for c in read_notebook(source_path(a)).cells), a
