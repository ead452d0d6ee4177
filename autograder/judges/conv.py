"""Hidden test of exercise 8 (its probe: :mod:`wavenet.checks.conv`)."""
from autograder.judges import judge
from autograder.judges.models import loss_of
from wavenet.checks.models import below_target
from wavenet.checks.probe import PROBES


@judge("conv_val_loss")
def _(inp, d, assignment):
    loss = loss_of(d.tensor("logits"), "names")
    spec = PROBES["conv_val_loss"].val_loss
    below_target(loss, assignment, spec["recipe"], spec["run"], spec["hint"])
