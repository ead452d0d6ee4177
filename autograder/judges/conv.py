"""Hidden test of exercise 8 (its probe: :mod:`wavenet.checks.conv`)."""
from autograder.judges import judge
from autograder.judges.models import grader_loss
from wavenet.checks.models import below_target
from wavenet.checks.probe import PROBES


@judge("conv_val_loss")
def _(inp, d, assignment):
    loss = grader_loss("conv_val_loss", inp, d)
    spec = PROBES["conv_val_loss"].val_loss
    below_target(loss, assignment, spec["recipe"], spec["run"], spec["hint"])
