"""Hidden tests of ``FlattenConsecutive`` (their probes: :mod:`wavenet.checks.flatten`)."""
import torch

from autograder.judges import judge
from wavenet.checks.oracle import VOCAB
from wavenet.checks.verdict import fail


@judge("flatten_consecutive_values")
def _(inp, d):
    x = inp["x"]
    B, T, C = x.shape
    for n, out in zip((2, 4, 8), d.tensors("outs", 3)):
        want = x.reshape(B, T // n, C * n)
        if n == T:
            want = want.squeeze(1)
        if out.shape != want.shape:
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(out.shape)}, not {tuple(want.shape)}")
        if torch.equal(out, want):
            continue
        mixed = x.reshape(B, T // n, n, C).transpose(2, 3).reshape(want.shape)
        if torch.equal(out, mixed):
            fail(f"FlattenConsecutive({n}) interleaves the channels of the {n} positions (a transpose/permute "
                 "before reshaping): keep each position's C values together, x.view(B, T // n, C * n)")
        fail(f"FlattenConsecutive({n})'s output does not hold positions i*n ... i*n+n-1 one after another: "
             "use x.view(B, T // n, C * n) on the (B, T, C) input")


@judge("hierarchical_shapes")
def _(inp, d):
    h = inp["hier"]
    B, e, hid = h["B"], h["n_embd"], h["n_hidden"]
    wants = [(B, 4, 2 * e), (B, 2, 2 * hid), (B, 2 * hid)]
    shapes = d.shapes("shapes")
    for level, (want, got) in enumerate(zip(wants, shapes), start=1):
        if tuple(got) != want:
            fail(f"in the hierarchical model the level-{level} FlattenConsecutive(2) gave {tuple(got)}, not {want}")
    if len(shapes) != 3 or d.shape("logits") != (B, VOCAB):
        fail(f"the hierarchical model's logits for a ({B}, 8) batch are not ({B}, {VOCAB})")
