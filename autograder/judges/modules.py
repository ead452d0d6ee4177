"""Hidden tests of exercise 2's modules (their probes: :mod:`wavenet.checks.modules`)."""
from autograder.judges import judge
from wavenet.checks.oracle import close
from wavenet.checks.verdict import fail


@judge("flatten_values")
def _(inp, d):
    x = inp["xs"][0]
    B = x.shape[0]
    out = d.tensor("out")
    if close(out, x.reshape(B, -1), rtol=0, atol=0):
        return
    if close(out, x.transpose(1, 2).reshape(B, -1), rtol=0, atol=0):
        fail("Flatten() interleaves the positions channel by channel (a transpose/permute before reshaping): "
             "keep each position's C values together, x.view(B, -1)")
    fail("Flatten()(x) does not put each position's C values one after another: use x.view(x.shape[0], -1)")
