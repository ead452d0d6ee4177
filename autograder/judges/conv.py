"""Hidden test of exercise 8 (its probe: :mod:`wavenet.checks.conv`)."""
from autograder.judges import judge
from autograder.judges.models import loss_of
from wavenet.checks.conv import CONV_RECIPE, conv_run
from wavenet.checks.models import HINTS, below_target


@judge("conv_val_loss")
def _(inp, d, assignment):
    loss = loss_of(d.tensor("logits"), "names")
    below_target(loss, assignment, CONV_RECIPE, conv_run(), HINTS["conv_val_loss"])
