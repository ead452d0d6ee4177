"""Exercise 2's modules: ``Embedding``, ``Flatten``, ``Sequential`` and ``set_training``.

Probes and the judges of the visible tests (``flatten_values`` is judged by
the grader). ``Sequential`` is probed with stand-in layers whose factors and
parameters come from the seed, so its output and its parameter order are
fixed by the seed alone.
"""
import torch
import torch.nn.functional as F

from wavenet.checks.layers import bump, call_name, deltas, set_mode, which
from wavenet.checks.oracle import VOCAB, bn_train, close
from wavenet.checks.probe import bind, probe, randint, randn, twin
from wavenet.checks.verdict import fail, judge

# ---------------------------------------------------------------- Embedding


def _embedding_inputs(gen):
    dim = randint(5, 16, gen)
    B, T = randint(2, 400, gen), randint(2, 9, gen)
    return {"dim": dim, "W": randn(VOCAB, dim, gen=gen),
            "ixs": [torch.randint(0, VOCAB, s, generator=gen) for s in ((B, T), (B,), (1, T))],
            "offsets": deltas(gen)}


@probe("embedding", inputs=_embedding_inputs, words="Embedding weight")
def _(learner, inp, Embedding):
    what = call_name("Embedding", VOCAB, inp["dim"])
    emb = learner.call(what, Embedding, VOCAB, inp["dim"])
    learner.tensor(emb, "weight", what, shape=(VOCAB, inp["dim"]), hint="embedding_layout")
    learner.assign(emb, "weight", inp["W"], what)
    outs = [learner.output(f"{what} on {tuple(ix.shape)} indices", emb, ix) for ix in inp["ixs"]]
    ps = learner.parameters(emb, what)
    bump(ps, inp["offsets"])
    return {"outs": outs, "n": len(ps), "weight": learner.tensor(emb, "weight", what)}


@judge("embedding")
def _(inp, d):
    what = call_name("Embedding", VOCAB, inp["dim"])
    for ix, out in zip(inp["ixs"], d.tensors("outs", len(inp["ixs"]))):
        want = tuple(ix.shape) + (inp["dim"],)
        if tuple(out.shape) != want:
            fail(f"{what} on {tuple(ix.shape)} indices has shape {tuple(out.shape)}, not {want}")
        if not close(out, F.embedding(ix, inp["W"])):
            fail(f"{what}(ix) is not the rows weight[ix] of the table")
    if d.int("n") != 1 or which(inp["W"], d.tensor("weight"), inp["offsets"]) != 0:
        fail(f"{what}.parameters() must be [weight] (the table itself), got {d.int('n')} tensors")


# ---------------------------------------------------------------- Flatten

def _flatten_inputs(gen):
    shapes = [(randint(2, 40, gen), randint(2, 9, gen), randint(2, 24, gen)) for _ in range(2)]
    shapes.append((1, randint(2, 9, gen), randint(2, 24, gen)))
    return {"xs": [randn(*s, gen=gen) for s in shapes]}


@probe("flatten_shapes", inputs=_flatten_inputs, words="Flatten")
def _(learner, inp, Flatten):
    fl = learner.call("Flatten()", Flatten)
    outs = [learner.output(f"Flatten() on a {tuple(x.shape)} input", fl, x) for x in inp["xs"]]
    return {"shapes": [list(o.shape) for o in outs], "n": len(learner.parameters(fl, "Flatten()"))}


@judge("flatten_shapes")
def _(inp, d):
    for x, got in zip(inp["xs"], d.shapes("shapes", len(inp["xs"]))):
        B, T, C = x.shape
        if tuple(got) != (B, T * C):
            fail(f"Flatten() on a {tuple(x.shape)} input has shape {tuple(got)}, not {(B, T * C)}")
    if d.int("n"):
        fail("Flatten().parameters() is not empty: return []")


@probe("flatten_values", hidden=True, inputs=_flatten_inputs, words="Flatten")
def _(learner, inp, Flatten):
    fl = learner.call("Flatten()", Flatten)
    x = inp["xs"][0]
    return {"out": learner.output(f"Flatten() on a {tuple(x.shape)} input", fl, x)}


def flatten_order(inp, d):
    """Each row holds position 0's C values, then position 1's, ... (tests flatten_order, flatten_values)."""
    x = inp["xs"][0]
    B = x.shape[0]
    out = d.tensor("out")
    if close(out, x.reshape(B, -1), rtol=0, atol=0):
        return
    if close(out, x.transpose(1, 2).reshape(B, -1), rtol=0, atol=0):
        fail("Flatten() interleaves the positions channel by channel (a transpose/permute before reshaping): "
             "keep each position's C values together, x.view(B, -1)")
    fail("Flatten()(x) does not put each position's C values one after another: use x.view(x.shape[0], -1)")


twin("flatten_order", "flatten_values")
judge("flatten_order")(flatten_order)


# ---------------------------------------------------------------- Sequential

class Scale:
    """A stand-in layer: multiplies by ``k``, holds ``n`` one-value parameters."""

    def __init__(self, k, values=()):
        self.k = k
        self.params = [torch.full((1,), float(v)) for v in values]

    def __call__(self, x):
        return x * self.k

    def parameters(self):
        return list(self.params)


class Shift(Scale):
    """A stand-in layer: adds ``k``."""

    def __call__(self, x):
        return x + self.k


def _sequential_inputs(gen):
    ks = [1.5 + float(torch.rand((), generator=gen)) for _ in range(3)]
    counts = [randint(1, 3, gen), 0, randint(1, 3, gen), 1]
    values = [[float(v) for v in randn(n, gen=gen)] for n in counts]
    return {"ks": ks, "values": values, "x": randn(randint(3, 9, gen), gen=gen)}


def _stand_ins(inp, with_params=False):
    k1, k2, k3 = inp["ks"]
    if not with_params:
        return [Scale(k1), Shift(k2), Scale(k3)]
    v = inp["values"]
    return [Scale(k1, v[0]), Shift(k2, v[1]), Scale(k3, v[2]), Shift(1.0, v[3])]


@probe("sequential_forward", inputs=_sequential_inputs, words="Sequential layers")
def _(learner, inp, Sequential):
    layers = _stand_ins(inp)
    seq = learner.call("Sequential(layers)", Sequential, layers)
    got = learner.attr(seq, "layers", "Sequential(layers)")
    same = isinstance(got, (list, tuple)) and len(got) == 3 and all(a is b for a, b in zip(got, layers))
    x = inp["x"]
    return {"same_layers": same, "out": learner.output(f"Sequential(layers) on a {tuple(x.shape)} input", seq, x)}


@judge("sequential_forward")
def _(inp, d):
    if not d.bool("same_layers"):
        fail("Sequential(layers).layers should be the list of layers it was given, in order")
    (k1, k2, k3), x, out = inp["ks"], inp["x"], d.tensor("out")
    if close(out, (x * k1 + k2) * k3):
        return
    if close(out, (x * k3 + k2) * k1):
        fail("Sequential calls its layers last-to-first: call layers[0] first and feed each output to the next")
    fail("Sequential(layers)(x) is not layers[-1](...layers[1](layers[0](x))): feed each layer's output to the next")


@probe("sequential_parameters", inputs=_sequential_inputs, words="Sequential layers")
def _(learner, inp, Sequential):
    seq = learner.call("Sequential(layers)", Sequential, _stand_ins(inp, with_params=True))
    return {"values": [float(p.reshape(-1)[0]) for p in learner.parameters(seq, "Sequential(layers)")]}


@judge("sequential_parameters")
def _(inp, d):
    want = [v for vs in inp["values"] for v in vs]
    got = d.list("values")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in got):
        fail("the test's data was malformed (parameter values): the notebook's code interfered with the test")
    if len(got) == len(want) and all(abs(a - b) < 1e-6 for a, b in zip(got, want)):
        return
    if sorted(got) == sorted(want):
        fail("Sequential.parameters() has every tensor but out of order: go through self.layers in order")
    fail(f"Sequential.parameters() returned {len(got)} of the {len(want)} tensors its layers hold: "
         "gather every layer's parameters(), [p for layer in self.layers for p in layer.parameters()]")


# ---------------------------------------------------------------- set_training

class Plain:
    """A stand-in layer without a training flag."""


class Holder:
    def __init__(self, layers):
        self.layers = layers


def _set_training_inputs(gen):
    flags = [bool(torch.rand((), generator=gen) < 0.5) for _ in range(20)]  # a sequence no other run shares
    return {"flags": [False, True] + flags, "start": [True, True, False],
            "x": randn(randint(8, 200, gen), 4, gen=gen, std=2.0, mean=1.0)}  # drawn last: the draws above stay


@probe("set_training", inputs=_set_training_inputs, words="set_training model training BatchNorm1d layers")
def _(learner, inp, set_training, BatchNorm1d):
    bns = [learner.call("BatchNorm1d(4)", BatchNorm1d, 4) for _ in range(3)]
    for bn, start in zip(bns, inp["start"]):
        set_mode(learner, bn, start, "BatchNorm1d(4)")
    model = Holder([Plain(), bns[0], Plain(), bns[1], bns[2]])
    seen, outs = [], []
    x = inp["x"]
    for k, flag in enumerate(inp["flags"]):
        learner.call(f"set_training(model, {flag})", set_training, model, flag)
        seen.append([getattr(bn, "training", None) for bn in bns])
        if k < 2:  # what the first layer then computes: eval mode (fresh running statistics), then training mode
            outs.append(learner.output(f"BatchNorm1d(4) on a {tuple(x.shape)} input", bns[0], x))
    return {"flags": seen, "outs": outs}


@judge("set_training")
def _(inp, d):
    for flag, got in zip(inp["flags"], d.list("flags", len(inp["flags"]))):
        if not (isinstance(got, list) and all(g is None or isinstance(g, bool) for g in got)):
            fail("the test's data was malformed (training flags): the notebook's code interfered with the test")
        if any(g is not flag for g in got):
            fail(f"after set_training(model, {flag}) the layers' training flags are {got}: "
                 f"set layer.training = {flag} on every layer in model.layers that has the flag")
    x = inp["x"]
    ones, zeros = torch.ones(4), torch.zeros(4)
    for flag, out, ref in zip(inp["flags"][:2], d.tensors("outs", 2),
                              (x / (1 + 1e-5) ** 0.5, bn_train(x, ones, zeros, 1e-5))):
        if not close(out, ref):
            fail(f"after set_training(model, {flag}) the first BatchNorm1d does not compute what its "
                 f"{'training' if flag else 'eval'} mode does: set_training must set layer.training on the "
                 "layers themselves")

# a Flatten's and a Sequential's tests also check the values they compute (probe.bind)
bind("flatten_shapes", "flatten_order")
bind("sequential_parameters", "sequential_forward")
