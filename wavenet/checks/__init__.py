"""The exercises' tests, as a learner runs them: ``check("linear_shapes", Linear)``.

Every test has two halves. Its *probe* (:mod:`wavenet.checks.probe`) runs the
learner's objects on inputs drawn from a seed and returns plain data. Its
*judge* compares that data with torch on the same inputs
(:mod:`wavenet.checks.verdict`).

- In a learner's own notebook, :func:`check` runs both and raises
  :class:`CheckFailed` with a message naming the likely mistake. This package
  holds the judges of the visible tests; hidden tests run when graded.
- When the grader runs the notebook, :func:`check` only probes: the record
  leaves the kernel as plain data and the grader judges it in its own process
  with its own copy of the judges (``autograder/judges`` for the hidden ones).
  Whatever the notebook does to this module changes nothing there.
- A hidden test run anywhere else (a learner's kernel, plain nbgrader without
  the course's configuration) raises :class:`HiddenTest`: it scores nothing.

Topics: :mod:`~wavenet.checks.layers` (exercises 1 and 4),
:mod:`~wavenet.checks.modules` (2), :mod:`~wavenet.checks.flatten` (3),
:mod:`~wavenet.checks.models` (2, 4, 5), :mod:`~wavenet.checks.conv` (8).
"""
from wavenet.checks import conv, flatten, layers, models, modules  # noqa: F401  (registers probes and judges)
from wavenet.checks import context, probe, verdict, wire
from wavenet.checks.models import load_target

__all__ = ["check", "check_val_loss", "CheckFailed", "load_target", "val_loss"]

# the tests that train a model: their spec's val_loss (the data the grader trains the described layers on,
# how it trains and scores them: wavenet/checks/reference.py; the object calibration trains; the verdict's
# words: wavenet.checks.models and .conv)
VAL_LOSS_TESTS = probe.View(lambda s: s.val_loss)


class CheckFailed(AssertionError):
    """A test failed; the message says what to fix."""

    def _render_traceback_(self):
        # IPython shows this one line instead of a traceback into the course's code
        return [f"{type(self).__name__}: {self}"]


class HiddenTest(CheckFailed):
    """A hidden test run outside a judged grading run: it scores nothing here."""


HIDDEN = ("{test} is a hidden test: only the course's grader decides it, from a sandboxed run of the whole "
          "notebook (`nbgrader autograde` in the course directory, or `python -m autograder grade`). Run "
          "anywhere else, it fails on purpose, so that no setup can give its points away.")


def check(test, *objects, **options):
    """Run test ``test`` on the learner's ``objects``.

    Args:
        test: the test's name, e.g. ``"linear_shapes"``.
        objects: the learner's classes or functions it exercises, e.g. ``Linear``.
        options: what the test cell passes on, e.g. ``ndim=3``.

    Raises:
        CheckFailed: in a learner's notebook, when the test fails.
    """
    if test not in probe.PROBES:
        raise KeyError(f"no test named {test!r}")
    run = context.current()
    course = probe.course_stop(test, objects)  # the course's own class, imported where yours is asked for
    if run is not None:  # graded: hand the data over, decide nothing here
        context.emit(course or probe.run(test, objects, options, seed=run.seed))
        return
    if probe.PROBES[test].hidden:  # its judge is the grader's alone (fail closed, whatever the setup)
        raise HiddenTest(HIDDEN.format(test=test))
    record = wire.loads(wire.dumps(course or probe.run(test, objects, options, seed=context.LEARNER_SEED)))
    v = verdict.verdict(test, options, context.LEARNER_SEED, record, verdict.JUDGES)
    if not v.passed:
        raise CheckFailed(v.message) from None
    print(f"passed: {test}")


def val_loss(test, make_model, seed=models.GRADING_SEED):
    """The grader's own validation-loss run, on this machine: describe ``make_model()``'s layers and check the
    description as the grader does, then train those layers with the grader's fixed recipe from ``seed`` and
    return their loss on the evaluation inputs (labels are at hand here).

    ``test`` is ``"val_loss"`` (exercises 4 and 5) or ``"conv_val_loss"`` (exercise 8).
    """
    from wavenet.checks import reference

    record = wire.loads(wire.dumps(probe.run(test, (make_model,), {}, seed=context.LEARNER_SEED)))
    if "stop" in record:
        raise CheckFailed(verdict.stop_message(record["stop"], words=verdict.words_of(test))[0])
    try:
        return reference.score(test, probe.inputs(test, context.LEARNER_SEED), wire.Data(record["data"]), seed)
    except verdict.Fail as e:
        raise CheckFailed(str(e)) from None


def check_val_loss(test, make_model, assignment):
    """The grader's validation-loss test, run on this machine: :func:`val_loss`, printed, then the grader's
    verdict on it (above ``assignment``'s calibrated target: :class:`CheckFailed` with the grader's hint).

    Returns the loss."""
    loss = val_loss(test, make_model)
    print(f"val loss after the grader's fast run: {loss:.4f}")
    spec = VAL_LOSS_TESTS[test]
    try:
        models.below_target(loss, assignment, spec["recipe"], spec["run"], spec["hint"])
    except verdict.Fail as e:
        raise CheckFailed(str(e)) from None
    print(f"passed: {test} (the target is {load_target(assignment)['threshold']:.3f})")
    return loss
