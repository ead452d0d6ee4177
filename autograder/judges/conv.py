"""Hidden test of exercise 8 (its probe: :mod:`wavenet.checks.conv`)."""
from autograder.judges import judge
from autograder.judges.models import below_target, grader_loss
from wavenet.checks.conv import CONV_RECIPE


@judge("conv_val_loss")
def _(inp, d, assignment):
    loss = grader_loss("conv_val_loss", inp, d)
    below_target(loss, assignment, CONV_RECIPE,
                 f"{CONV_RECIPE['steps']} AdamW steps of {CONV_RECIPE['batch_size']} names",
                 "compare your levels with the tree's (a Tanh after every BatchNorm1d, dilations 1, 2, 4)")
