"""Hidden tests of whole models (their probes: :mod:`wavenet.checks.models`).

The validation-loss judge never uses a logit the kernel computed on the
evaluation inputs: the kernel described its layers and proved the
description; here the grader builds those layers, trains them from its own
seed with its fixed recipe and scores them on labels only it holds
(:func:`wavenet.checks.reference.score`), then compares the loss with the
assignment's calibrated target.
"""
from autograder.judges import judge
from wavenet.checks.models import GRADING_SEED, below_target, model_eval_single
from wavenet.checks.probe import PROBES


def grader_loss(test, inp, d):
    """The loss of the described layers after the grader's own run (fails when they are not the learner's)."""
    from wavenet.checks.reference import score
    return score(test, inp, d, GRADING_SEED)


judge("model_eval_mode")(model_eval_single)


@judge("val_loss")
def _(inp, d, assignment):
    loss = grader_loss("val_loss", inp, d)
    spec = PROBES["val_loss"].val_loss
    below_target(loss, assignment, spec["recipe"], spec["run"], spec["hint"])
