"""Exercise 3's ``FlattenConsecutive``: probes and the judges of the visible tests.

``flatten_consecutive_order`` and ``hierarchical_levels`` are the visible twins
of the grader's hidden ``flatten_consecutive_values`` and ``hierarchical_shapes``
(same probe and judge, the grader's own draw). Contexts are the lecture's 8 characters; batch sizes and channels come
from the seed.
"""
import torch
import torch.nn.functional as F

from wavenet.checks.layers import call_name
from wavenet.checks.oracle import VOCAB, hierarchical_count
from wavenet.checks.probe import bind, probe, randint, randn, twin
from wavenet.checks.verdict import fail, judge


def _fc_inputs(gen):
    B, C, C2 = randint(3, 400, gen), randint(3, 24, gen), randint(20, 80, gen)
    return {
        "pairs": [(2, (B, 8, C)), (4, (B, 8, C)), (2, (B, 4, C2))],
        "full": [(8, (B, 8, C)), (2, (B, 2, C2))],
        "one": [(8, (1, 8, randint(3, 5000, gen))), (2, (1, 8, randint(3, 5000, gen)))],
        "x": randn(B, 8, C, gen=gen),
        "counts": {"n_embd": randint(2, 200, gen), "n_hidden": randint(2, 1000, gen)},
        "hier": {"B": B, "n_embd": randint(4, 12, gen), "n_hidden": randint(20, 80, gen), "seed": randint(0, 2**30, gen),
                 "x": torch.randint(0, VOCAB, (B, 8), generator=gen)},
    }


def _run(learner, FlattenConsecutive, n, x):
    fc = learner.call(call_name("FlattenConsecutive", n), FlattenConsecutive, n)
    return learner.output(f"FlattenConsecutive({n}) on a {tuple(x.shape)} input", fc, x)


def _shapes(learner, FlattenConsecutive, cases):
    return [list(_run(learner, FlattenConsecutive, n, torch.zeros(shape)).shape) for n, shape in cases]


@probe("flatten_consecutive_pairs", inputs=_fc_inputs, words="FlattenConsecutive")
def _(learner, inp, FlattenConsecutive):
    return {"shapes": _shapes(learner, FlattenConsecutive, inp["pairs"])}


@judge("flatten_consecutive_pairs")
def _(inp, d):
    for (n, (B, T, C)), got in zip(inp["pairs"], d.shapes("shapes", len(inp["pairs"]))):
        want = (B, T // n, C * n)
        if tuple(got) != want:
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(got)}, not {want}: "
                 "view it as (B, T // n, C * n)")


# the cause of every failure that comes from not squeezing the size-1 middle dim when n == T: the tests after
# the first that fails from it say so ("the same error as in ...") instead of a new mistake
NO_SQUEEZE = ("shape", "no_squeeze")
# the one way that mistake is named, whichever test meets it first
SQUEEZE_HINT = "when T == n the middle dim has size 1, squeeze it (x.squeeze(1)) so the output is (B, C*n)"


@probe("flatten_consecutive_full", inputs=_fc_inputs, words="FlattenConsecutive")
def _(learner, inp, FlattenConsecutive):
    return {"shapes": _shapes(learner, FlattenConsecutive, inp["full"])}


@judge("flatten_consecutive_full")
def _(inp, d):
    for (n, (B, T, C)), got in zip(inp["full"], d.shapes("shapes", len(inp["full"]))):
        if tuple(got) == (B, 1, T * C):
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(got)}: {SQUEEZE_HINT}", cause=NO_SQUEEZE)
        if tuple(got) != (B, T * C):
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(got)}, not {(B, T * C)}")


@probe("flatten_consecutive_batch_of_one", inputs=_fc_inputs, words="FlattenConsecutive")
def _(learner, inp, FlattenConsecutive):
    return {"shapes": _shapes(learner, FlattenConsecutive, inp["one"])}


@judge("flatten_consecutive_batch_of_one")
def _(inp, d):
    for (n, (B, T, C)), got in zip(inp["one"], d.shapes("shapes", len(inp["one"]))):
        want = (1, T * C) if n == T else (1, T // n, C * n)
        if tuple(got) != want:
            hint = (": squeeze only dim 1 (x.squeeze(1)); x.squeeze() also drops a batch of one"
                    if len(got) < len(want) else "")
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(got)}, not {want}{hint}",
                 cause=NO_SQUEEZE if n == T and tuple(got) == (B, 1, T * C) else None)


@probe("flatten_consecutive_values", hidden=True, inputs=_fc_inputs, words="FlattenConsecutive")
def _(learner, inp, FlattenConsecutive):
    return {"outs": [_run(learner, FlattenConsecutive, n, inp["x"]) for n in (2, 4, 8)]}


@probe("flatten_consecutive_parameters", inputs=_fc_inputs, words="FlattenConsecutive")
def _(learner, inp, FlattenConsecutive):
    # the lecture's model from the grader's layers and the learner's FlattenConsecutive: its parameter count
    # (sizes drawn from the seed) is the reference's exactly when FlattenConsecutive adds none
    h = inp["counts"]
    fcs = [learner.call("FlattenConsecutive(2)", FlattenConsecutive, 2) for _ in range(3)]
    own = [p for fc in fcs for p in learner.parameters(fc, "FlattenConsecutive(2)")]
    fan_in, count = h["n_embd"], VOCAB * h["n_embd"]
    for _ in range(3):
        count += 2 * fan_in * h["n_hidden"] + 2 * h["n_hidden"]  # Linear(2 fan_in, n_hidden, bias=False), BatchNorm1d
        fan_in = h["n_hidden"]
    count += h["n_hidden"] * VOCAB + VOCAB
    return {"n": len(own), "model_count": count + sum(p.numel() for p in own)}


@judge("flatten_consecutive_parameters")
def _(inp, d):
    if d.int("n"):
        fail("FlattenConsecutive(2).parameters() is not empty: return []")
    h = inp["counts"]
    want = hierarchical_count(8, h["n_embd"], h["n_hidden"])
    if d.int("model_count") != want:
        fail(f"the hierarchical model (n_embd={h['n_embd']}, n_hidden={h['n_hidden']}) with your FlattenConsecutive "
             f"has {d.int('model_count'):,} parameters, not {want:,}: FlattenConsecutive must add none")


# The grader's own layers (torch ops), to run the learner's FlattenConsecutive inside the lecture's model.

class RefLinear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        return F.linear(x, self.weight.T, self.bias)


class RefBatchNorm1d:
    def __init__(self, dim):
        self.bn = torch.nn.BatchNorm1d(dim)

    def __call__(self, x):
        return self.bn(x) if x.ndim == 2 else self.bn(x.permute(0, 2, 1)).permute(0, 2, 1).contiguous()


@probe("hierarchical_shapes", hidden=True, inputs=_fc_inputs,
       words="FlattenConsecutive hierarchical model level")
def _(learner, inp, FlattenConsecutive):
    h = inp["hier"]
    torch.manual_seed(h["seed"])
    x = F.embedding(h["x"], torch.randn(VOCAB, h["n_embd"]))     # (B, 8, n_embd)
    shapes, fan_in = [], h["n_embd"]
    for level in range(3):
        fc = learner.call("FlattenConsecutive(2)", FlattenConsecutive, 2)
        x = learner.output(f"the level {level + 1} FlattenConsecutive(2) of the hierarchical model", fc, x)
        shapes.append(list(x.shape))
        if x.shape[-1] != 2 * fan_in:
            return {"shapes": shapes}                           # the grader's next Linear cannot take it
        x = torch.tanh(RefBatchNorm1d(h["n_hidden"])(RefLinear(2 * fan_in, h["n_hidden"], bias=False)(x)))
        fan_in = h["n_hidden"]
    logits = RefLinear(fan_in, VOCAB)(x)
    return {"shapes": shapes, "logits": list(logits.shape)}



def flatten_consecutive_order(inp, d):
    """Each output vector is n consecutive positions, one after another (tests flatten_consecutive_order,
    flatten_consecutive_values)."""
    x = inp["x"]
    B, T, C = x.shape
    for n, out in zip((2, 4, 8), d.tensors("outs", 3)):
        want = x.reshape(B, T // n, C * n)
        if n == T:
            want = want.squeeze(1)
        if out.shape != want.shape:
            unsqueezed = n == T and tuple(out.shape) == (B, 1, C * n)
            fail(f"FlattenConsecutive({n}) on a {(B, T, C)} input gave {tuple(out.shape)}, not {tuple(want.shape)}"
                 + (f": {SQUEEZE_HINT}" if unsqueezed else ""),
                 cause=NO_SQUEEZE if unsqueezed else None)
        if torch.equal(out, want):
            continue
        mixed = x.reshape(B, T // n, n, C).transpose(2, 3).reshape(want.shape)
        if torch.equal(out, mixed):
            fail(f"FlattenConsecutive({n}) interleaves the channels of the {n} positions (a transpose/permute "
                 "before reshaping): keep each position's C values together, x.view(B, T // n, C * n)")
        fail(f"FlattenConsecutive({n})'s output does not hold positions i*n ... i*n+n-1 one after another: "
             "use x.view(B, T // n, C * n) on the (B, T, C) input")


def hierarchical_levels(inp, d):
    """The learner's FlattenConsecutive(2) at each level of the lecture's model (tests hierarchical_levels,
    hierarchical_shapes)."""
    h = inp["hier"]
    B, e, hid = h["B"], h["n_embd"], h["n_hidden"]
    wants = [(B, 4, 2 * e), (B, 2, 2 * hid), (B, 2 * hid)]
    shapes = d.shapes("shapes")
    for level, (want, got) in enumerate(zip(wants, shapes), start=1):
        if tuple(got) != want:
            fail(f"in the hierarchical model the level-{level} FlattenConsecutive(2) gave {tuple(got)}, not {want}",
                 cause=NO_SQUEEZE if level == 3 and tuple(got) == (B, 1, 2 * hid) else None)
    if len(shapes) != 3 or d.shape("logits") != (B, VOCAB):
        fail(f"the hierarchical model's logits for a ({B}, 8) batch are not ({B}, {VOCAB})")


twin("flatten_consecutive_order", "flatten_consecutive_values")
twin("hierarchical_levels", "hierarchical_shapes")
judge("flatten_consecutive_order")(flatten_consecutive_order)
judge("hierarchical_levels")(hierarchical_levels)

# every test of FlattenConsecutive also checks the values it computes (probe.bind)
for test in ("flatten_consecutive_pairs", "flatten_consecutive_full", "flatten_consecutive_batch_of_one",
             "flatten_consecutive_parameters", "hierarchical_shapes", "hierarchical_levels"):
    bind(test, "flatten_consecutive_order")
