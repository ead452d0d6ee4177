"""The wrong-implementation library: each mutant loses exactly the points it should.

Mutants run through the light in-process runner (``autograder.authoring.runner``), which
executes the solution notebook with the mutant's answer cells swapped in, the
hidden tests included. The real nbgrader path is proven on the solutions,
releases and some mutants in ``test_grading_nbgrader.py``. The 12-25 s
validation-loss training runs only for the mutants it concerns.
"""
import pytest

from autograder.assignments import graded_cells, names, nbgrader_meta, read_notebook, source_path
from autograder.authoring.runner import run_notebook
from mutants import all_mutants

MUTANTS = all_mutants()
VAL_LOSS = "test_val_loss"
TESTS = {a: {nbgrader_meta(c).get("grade_id") for c in graded_cells(read_notebook(source_path(a)))} for a in names()}


def run_mutant(mutant):
    # train for the val-loss test only where it is the point: a mutant aimed at
    # it, or a correct alternative of an assignment that has it
    train = VAL_LOSS in mutant.fails or mutant.correct
    return run_notebook(mutant.notebook(), mutant.assignment, skip=() if train else (VAL_LOSS,))


def trains(mutant):
    """Does run_mutant train (10-25 s) for this mutant?"""
    return VAL_LOSS in mutant.fails or mutant.correct and VAL_LOSS in TESTS[mutant.assignment]


def cases(correct):
    """The mutants, those that train (10-25 s each) marked slow: `make test` runs them, `make test-fast` not."""
    return [pytest.param(m, marks=pytest.mark.slow) if trains(m) else m for m in MUTANTS if m.correct == correct]


@pytest.mark.parametrize("mutant", cases(correct=False), ids=lambda m: f"{m.assignment}/{m.name}")
def test_wrong_implementation_loses_the_expected_points(mutant):
    """A wrong implementation fails exactly the tests listed for it, each with the expected message."""
    result = run_mutant(mutant)
    failed = {t["id"]: t["message"] for t in result["tests"] if t["passed"] is False}
    assert not mutant.unexpected(failed) and not mutant.missing(failed), (
        f"{mutant.name} ({mutant.why}): unexpected failures {sorted(mutant.unexpected(failed))} (a check is too "
        f"strict), missing or unnamed {sorted(mutant.missing(failed))} (a check misses the mistake or its message "
        f"does not name it; expected pieces {mutant.fails}); messages: {failed}")
    assert result["score"] < result["max_score"]


@pytest.mark.parametrize("mutant", cases(correct=True), ids=lambda m: f"{m.assignment}/{m.name}")
def test_correct_alternative_earns_full_marks(mutant):
    """A correct implementation written differently from the solution passes every test."""
    result = run_mutant(mutant)
    failed = {t["id"]: t["message"] for t in result["tests"] if t["passed"] is False}
    assert not failed, f"{mutant.name} ({mutant.why}) is correct but lost points: {failed} (a check is too strict)"
    assert all(t["passed"] for t in result["tests"]), "a correct alternative should run every test, none skipped"


@pytest.mark.parametrize("assignment", names())
def test_every_assignment_has_wrong_and_correct_variants(assignment):
    """Each assignment has at least one wrong implementation and one correct alternative in the library."""
    mine = [m for m in MUTANTS if m.assignment == assignment]
    assert any(not m.correct for m in mine), f"no wrong implementations for {assignment} in tests/mutants"
    assert any(m.correct for m in mine), f"no correct alternative for {assignment} in tests/mutants"


def test_required_mistakes_are_covered():
    """The mistakes the course promises to catch each have a mutant, and it fails the expected test."""
    by_name = {(m.assignment, m.name): m for m in MUTANTS}
    required = {
        ("04_hierarchical", "bn_dim0_only"): "test_bn_3d_stats_count",        # the lecture's 3-D bug
        ("01_layers", "bn_stats_never_updated"): "test_batchnorm_running_stats",
        ("01_layers", "bn_eval_uses_batch_stats"): "test_batchnorm_eval",
        ("02_modules", "sequential_first_layer_params"): "test_sequential_parameters",  # incomplete parameters()
        ("02_modules", "flatten_transposed"): "test_flatten_values",          # a permuted flatten
        ("03_flatten_consecutive", "fc_no_squeeze"): "test_fc_full",
        ("03_flatten_consecutive", "fc_squeeze_all"): "test_fc_batch_of_one",
        ("05_scaled_up", "no_tanh"): "test_val_loss",
    }
    for key, test_id in required.items():
        assert key in by_name, f"mutant {key} is missing from tests/mutants"
        assert test_id in by_name[key].fails, f"mutant {key} should be expected to fail {test_id}"
