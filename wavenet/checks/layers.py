"""Exercise 1's layers (and exercise 4's BatchNorm1d): ``Linear``, ``BatchNorm1d``, ``Tanh``.

Probes and the judges of the visible tests; the hidden tests' judges are the
grader's (``autograder/judges``). Every size and value is drawn from the
test's seed. Where a test is about values, the probe writes the grader's
values into the learner's own tensors first (``Learner.assign``), so the
right output is fixed by the seed alone.
"""
import torch

from wavenet.checks.oracle import bn_dims, bn_eval, bn_running, bn_train, bn_train_biased, close, maxdiff
from wavenet.checks.probe import bind, probe, randint, randn, twin
from wavenet.checks.verdict import fail, judge

# ---------------------------------------------------------------- shared pieces


def sizes(gen, lo=6, hi=200):
    """``(fan_in, fan_out)``, different from each other, so a transposed weight shows."""
    a = randint(lo, hi, gen)
    b = randint(lo, hi - 1, gen)
    return a, b + (b >= a)


def deltas(gen, n=8):
    """Offsets, far apart, that a probe adds to each tensor ``parameters()`` returns, in order: reading the
    module's attributes afterwards shows which of them the list holds (the tensors themselves, not copies)."""
    return [100.0 * (k + 1) + float(torch.rand((), generator=gen)) for k in range(n)]


def bump(ps, offsets):
    """Add ``offsets[k]`` to the k-th tensor of ``ps`` in place (kernel side)."""
    with torch.no_grad():
        for p, d in zip(ps, offsets):
            p.add_(d)


def which(before, after, offsets):
    """The index of the offset ``after - before`` equals (``None``: unchanged; ``-1``: something else)."""
    diff = (after.reshape(-1).double() - before.reshape(-1).double())
    if diff.numel() == 0:
        return None
    if diff.abs().max() < 1e-3:
        return None
    for k, d in enumerate(offsets):
        if (diff - d).abs().max() < 1e-2:
            return k
    return -1


def call_name(cls, *args, **kwargs):
    """``BatchNorm1d(68, eps=0.1)``: how the tests name a construction."""
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]
    return f"{cls}({', '.join(parts)})"


# ---------------------------------------------------------------- Linear

def _linear_inputs(gen):
    fan_in, fan_out = sizes(gen)
    B, T = randint(2, 9, gen), randint(2, 5, gen)
    return {"fan_in": fan_in, "fan_out": fan_out, "W": randn(fan_in, fan_out, gen=gen) / fan_in**0.5,
            "b": randn(fan_out, gen=gen), "xs": [randn(B, fan_in, gen=gen), randn(B, T, fan_in, gen=gen),
                                                  randn(1, fan_in, gen=gen)],
            "offsets": deltas(gen)}


def _new_linear(learner, inp, Linear, **kwargs):
    """The learner's ``Linear(fan_in, fan_out, **kwargs)`` for these inputs, and the call as messages name it."""
    what = call_name("Linear", inp["fan_in"], inp["fan_out"], **kwargs)
    return learner.call(what, Linear, inp["fan_in"], inp["fan_out"], **kwargs), what


def _weight(learner, lin, what, fan_in, fan_out):
    return learner.tensor(lin, "weight", what, shape=(fan_in, fan_out), hint="linear_layout")


# the names each probe below uses to say what it was doing (probe.Spec.words)
LINEAR = "Linear weight bias"
BATCHNORM = "BatchNorm1d gamma beta eps momentum running_mean running_var training"


@probe("linear_shapes", inputs=_linear_inputs, words=LINEAR)
def _(learner, inp, Linear):
    lin, what = _new_linear(learner, inp, Linear)
    W = learner.tensor(lin, "weight", what)
    b = learner.attr(lin, "bias", what)
    outs = [learner.output(f"{what} on a {tuple(x.shape)} input", lin, x) for x in inp["xs"]]
    return {"weight": list(W.shape), "bias": None if b is None else list(learner.check_tensor(b, f"{what}.bias").shape),
            "outs": [list(o.shape) for o in outs]}


@judge("linear_shapes")
def _(inp, d):
    fi, fo = inp["fan_in"], inp["fan_out"]
    what = call_name("Linear", fi, fo)
    W = d.shape("weight")
    if W == (fo, fi):
        fail(f"{what}.weight has shape {W}: the lecture keeps it as (fan_in, fan_out) and computes x @ weight "
             "(torch.nn.Linear stores the transpose)", cause=("shape", "linear_layout"))
    if W != (fi, fo):
        fail(f"{what}.weight has shape {W}, not {(fi, fo)}")
    if d.d.get("bias") is None:
        fail(f"{what}.bias is None: bias=True is the default")
    if d.shape("bias") != (fo,):
        fail(f"{what}.bias has shape {d.shape('bias')}, not {(fo,)}")
    for x, got in zip(inp["xs"], d.shapes("outs", len(inp["xs"]))):
        want = tuple(x.shape[:-1]) + (fo,)
        if tuple(got) != want:
            fail(f"{what} on a {tuple(x.shape)} input gave shape {tuple(got)}, not {want}")


@probe("linear_forward", hidden=True, inputs=_linear_inputs, words=LINEAR)
def _(learner, inp, Linear):
    lin, what = _new_linear(learner, inp, Linear)
    _weight(learner, lin, what, inp["fan_in"], inp["fan_out"])
    learner.assign(lin, "weight", inp["W"], what, hint="linear_layout")
    learner.assign(lin, "bias", inp["b"], what)
    return {"outs": [learner.output(f"{what} on a {tuple(x.shape)} input", lin, x) for x in inp["xs"][:2]]}


@probe("linear_no_bias", inputs=_linear_inputs, words=LINEAR)
def _(learner, inp, Linear):
    lin, what = _new_linear(learner, inp, Linear, bias=False)
    _weight(learner, lin, what, inp["fan_in"], inp["fan_out"])
    learner.assign(lin, "weight", inp["W"], what, hint="linear_layout")
    out = learner.output(f"{what} on a {tuple(inp['xs'][0].shape)} input", lin, inp["xs"][0])
    ps = learner.parameters(lin, what)
    return {"out": out, "n": len(ps), "numel": sum(p.numel() for p in ps)}


@judge("linear_no_bias")
def _(inp, d):
    what = call_name("Linear", inp["fan_in"], inp["fan_out"], bias=False)
    if d.int("n") != 1 or d.int("numel") != inp["W"].numel():
        fail(f"{what}.parameters() returned {d.int('n')} tensors ({d.int('numel')} values): with bias=False "
             "it must be [weight] only; honour the bias argument")
    x = inp["xs"][0]
    if not close(d.tensor("out"), x @ inp["W"]):
        fail(f"{what}(x) is not x @ weight: with bias=False nothing is added")


def _init_inputs(gen):
    # one layer wide and one tall, so fan_in and fan_out scalings tell apart (4x in either direction)
    a, b = randint(120, 250, gen), randint(120, 250, gen)
    return {"layers": [(a, 4 * a), (4 * b, b)], "seeds": [randint(0, 2**30, gen) for _ in range(2)]}


@probe("linear_init", inputs=_init_inputs, words=LINEAR)
def _(learner, inp, Linear):
    out = []
    for (fi, fo), seed in zip(inp["layers"], inp["seeds"]):
        what = call_name("Linear", fi, fo)
        torch.manual_seed(seed)
        lin = learner.call(what, Linear, fi, fo)
        W = learner.tensor(lin, "weight", what).detach().double()  # any layout: linear_shapes reports it
        b = learner.attr(lin, "bias", what)
        b = None if b is None else learner.check_tensor(b, f"{what}.bias").detach().double()
        out.append({"shape": list(W.shape), "std": W.std().item(), "mean": W.mean().item(),
                    "bias_absmax": None if b is None else (b.abs().max().item() if b.numel() else 0.0)})
    return {"layers": out}


# what a weight's std times sqrt(fan_in) is for each common scaling (the lecture's is 1)
SCALINGS = [
    ("the weights are not scaled: divide torch.randn((fan_in, fan_out)) by fan_in**0.5", lambda fi, fo: fi**0.5),
    ("scaled by 1/sqrt(fan_out): the lecture divides by sqrt(fan_in)", lambda fi, fo: (fi / fo)**0.5),
    ("scaled by 1/fan_in: the lecture divides by sqrt(fan_in), not by fan_in", lambda fi, fo: fi**-0.5),
    ("scaled by sqrt(2/fan_in) (Kaiming, for ReLU): the lecture divides by sqrt(fan_in)", lambda fi, fo: 2**0.5),
    ("scaled by the tanh gain 5/3: this course's Linear divides by sqrt(fan_in) alone", lambda fi, fo: 5 / 3),
    ("scaled by sqrt(2/(fan_in + fan_out)) (Xavier): the lecture divides by sqrt(fan_in)",
     lambda fi, fo: (2 * fi / (fi + fo))**0.5),
]


@judge("linear_init")
def _(inp, d):
    layers = d.subs("layers", len(inp["layers"]))
    for (fi, fo), L in zip(inp["layers"], layers):
        if L.shape("shape") not in ((fi, fo), (fo, fi)):
            fail(f"{call_name('Linear', fi, fo)}.weight has shape {L.shape('shape')}, not {(fi, fo)}")
    ratios = []
    for (fi, fo), L in zip(inp["layers"], layers):
        ratios.append(L.float("std") * fi**0.5)  # 1 for the lecture's scale; 100k+ draws pin it to ~0.3%
    if any(abs(r - 1) > 0.05 for r in ratios):
        # a hint only when it explains both layers: it must not contradict what was measured
        hint = next((text for text, ratio in SCALINGS
                     if all(abs(r / ratio(fi, fo) - 1) < 0.05 for r, (fi, fo) in zip(ratios, inp["layers"]))),
                    "draw torch.randn((fan_in, fan_out)) and divide by fan_in**0.5")
        (fi, fo), L = next(((l, L) for l, L, r in zip(inp["layers"], layers, ratios) if abs(r - 1) > 0.05))
        fail(f"{call_name('Linear', fi, fo)}.weight has std {L.float('std'):.4f}: {hint}")
    for (fi, fo), L in zip(inp["layers"], layers):
        if abs(L.float("mean")) * fi**0.5 > 0.05:
            fail(f"{call_name('Linear', fi, fo)}.weight has mean {L.float('mean'):.4f}: draw it from torch.randn "
                 "(centred on zero)")
        if L.d.get("bias_absmax") is None:
            fail(f"{call_name('Linear', fi, fo)}.bias is None: bias=True is the default")
        if L.float("bias_absmax") != 0:
            fail(f"{call_name('Linear', fi, fo)}.bias does not start at zeros (largest value "
                 f"{L.float('bias_absmax'):.3g}): the lecture starts it at torch.zeros(fan_out)")


@probe("linear_parameters", inputs=_linear_inputs, words=LINEAR)
def _(learner, inp, Linear):
    lin, what = _new_linear(learner, inp, Linear)
    W = learner.tensor(lin, "weight", what)
    transposed = tuple(W.shape) == (inp["fan_out"], inp["fan_in"])  # the layout is linear_shapes' business, not this test's
    learner.assign(lin, "weight", inp["W"].T if transposed else inp["W"], what)
    learner.assign(lin, "bias", inp["b"], what)
    ps = learner.parameters(lin, what)
    bump(ps, inp["offsets"])
    W = learner.tensor(lin, "weight", what)
    return {"n": len(ps), "weight": W.T if transposed else W, "bias": learner.tensor(lin, "bias", what)}


@judge("linear_parameters")
def _(inp, d):
    what = call_name("Linear", inp["fan_in"], inp["fan_out"])
    found = {"weight": which(inp["W"], d.tensor("weight"), inp["offsets"]),
             "bias": which(inp["b"], d.tensor("bias"), inp["offsets"])}
    missing = [name for name, k in found.items() if k is None]
    if missing:
        fail(f"{what}.parameters() misses {' and '.join(missing)}: return [weight, bias] "
             "(the tensors themselves, not copies)")
    if d.int("n") != 2 or -1 in found.values() or found["weight"] == found["bias"]:
        fail(f"{what}.parameters() returned {d.int('n')} tensors: return exactly [weight, bias]")


# ---------------------------------------------------------------- BatchNorm1d

def batches(gen, C, ndim, n, N=None, L=None):
    """``n`` batches ``(N, C)`` or ``(N, L, C)`` whose channels have different means and scales."""
    N = N or randint(16, 64, gen)
    L = L or randint(2, 6, gen)
    shape = (N, C) if ndim == 2 else (N, L, C)
    mean = randn(C, gen=gen, std=2.0)
    std = torch.rand(C, generator=gen) + 0.5
    return [randn(*shape, gen=gen) * std + mean + 0.3 * k for k in range(n)]


def _bn_inputs(gen, ndim=2, ndims=None):
    C, N = randint(20, 400, gen), randint(16, 400, gen)  # wide: the shapes test's data is shapes alone
    return {"C": C, "x": batches(gen, C, ndim, 1, N)[0], "gamma": randn(C, gen=gen, mean=1.0, std=0.5),
            "beta": randn(C, gen=gen, std=0.5), "mean": randn(C, gen=gen, std=0.5),
            "var": torch.rand(C, generator=gen) + 0.5,
            "xs": {nd: batches(gen, C, nd, 1, N)[0] for nd in (ndims or (2, 3))},
            "offsets": deltas(gen)}


def set_mode(learner, module, training, what):
    """Put one learner BatchNorm1d in training or eval mode (it must have the flag)."""
    learner.attr(module, "training", what)
    learner.call(f"setting {what}.training", setattr, module, "training", training)


def _init_sizes(gen):
    return {"Cs": [randint(20, 4000, gen), randint(20, 4000, gen)]}  # two sizes: binds the data to this run


@probe("batchnorm_init", inputs=_init_sizes, words=BATCHNORM)
def _(learner, inp, BatchNorm1d):
    layers = []
    for C in inp["Cs"]:
        what = call_name("BatchNorm1d", C)
        bn = learner.call(what, BatchNorm1d, C)
        data = {name: learner.tensor(bn, name, what).detach().reshape(-1)
                for name in ("gamma", "beta", "running_mean", "running_var")}
        data["training"] = learner.attr(bn, "training", what) is True
        layers.append(data)
    return {"layers": layers}


@judge("batchnorm_init")
def _(inp, d, **options):
    for C, layer in zip(inp["Cs"], d.subs("layers", len(inp["Cs"]))):
        what = call_name("BatchNorm1d", C)
        for name, start in (("gamma", "ones"), ("beta", "zeros"), ("running_mean", "zeros"), ("running_var", "ones")):
            t = layer.tensor(name)
            if t.numel() != C:
                fail(f"{what}.{name} has {t.numel()} values: one per channel, {C}")
            if not torch.equal(t.float(), getattr(torch, start)(C)):
                fail(f"{what}.{name} should start as torch.{start}({C})")
        if not layer.bool("training"):
            fail(f"{what}.training should be True after construction: a new layer starts in training mode")


@probe("batchnorm_shapes", inputs=_bn_inputs, words=BATCHNORM)
def _(learner, inp, BatchNorm1d, ndims=(2, 3)):
    C = inp["C"]
    out = []
    for nd in ndims:
        what = call_name("BatchNorm1d", C)
        bn = learner.call(what, BatchNorm1d, C)
        x = inp["xs"][nd]
        train = learner.output(f"{what} on a {tuple(x.shape)} input", bn, x)
        set_mode(learner, bn, False, what)
        one = learner.output(f"{what} in eval mode on a {tuple(x[:1].shape)} input", bn, x[:1])
        out += [list(train.shape), list(one.shape)]
    return {"shapes": out}


@judge("batchnorm_shapes")
def _(inp, d, ndims=(2, 3)):
    what = call_name("BatchNorm1d", inp["C"])
    shapes = d.shapes("shapes", 2 * len(ndims))
    for nd, train, one in zip(ndims, shapes[::2], shapes[1::2]):
        x = inp["xs"][nd]
        if tuple(train) != tuple(x.shape):
            fail(f"{what} on a {tuple(x.shape)} input (training) has shape {tuple(train)}, not {tuple(x.shape)}")
        if tuple(one) != tuple(x[:1].shape):
            fail(f"{what} in eval mode on a {tuple(x[:1].shape)} input has shape {tuple(one)}, "
                 f"not {tuple(x[:1].shape)}")


def _one_batch_inputs(gen, ndim=2):
    C, N = randint(20, 400, gen), randint(16, 400, gen)  # wide: these tests' data is shapes and flags
    return {"C": C, "x": batches(gen, C, ndim, 1, N)[0]}


@probe("batchnorm_stats_count", inputs=_one_batch_inputs, words=BATCHNORM)
def _(learner, inp, BatchNorm1d, ndim=3):
    what = call_name("BatchNorm1d", inp["C"])
    bn = learner.call(what, BatchNorm1d, inp["C"])
    learner.call(f"{what} on a {tuple(inp['x'].shape)} input", bn, inp["x"])
    return {name: list(learner.tensor(bn, name, what).shape) for name in ("running_mean", "running_var")}


def count_message(what, name, n, C, when=""):
    """The one wording for running statistics that are not one per channel."""
    hint = (" (the lecture's 3-D bug: reduce over dims (0, 1) for 3-D input, not dim 0 only)"
            if n > C and n % C == 0 else "")
    return f"{what}.{name} has {n} values for {C} channels{when}: keep exactly one per channel{hint}"


@judge("batchnorm_stats_count")
def _(inp, d, ndim=3):
    C, x = inp["C"], inp["x"]
    for name in ("running_mean", "running_var"):
        n = 1
        for s in d.shape(name):
            n *= s
        if n != C:
            fail(count_message(call_name("BatchNorm1d", C), name, n, C, f" after a {tuple(x.shape)} batch"))


@probe("batchnorm_no_graph", inputs=_one_batch_inputs, words=BATCHNORM + " backward")
def _(learner, inp, BatchNorm1d, ndim=2):
    what = call_name("BatchNorm1d", inp["C"])
    bn = learner.call(what, BatchNorm1d, inp["C"])
    for name in ("gamma", "beta"):
        t = learner.tensor(bn, name, what)
        if t.is_leaf:
            t.requires_grad_(True)
    x = inp["x"].clone().requires_grad_(True)
    out = learner.output(f"{what} on a {tuple(x.shape)} input", bn, x)
    graph = {}
    for name in ("running_mean", "running_var"):
        t = learner.tensor(bn, name, what)
        graph[name] = bool(t.requires_grad or t.grad_fn is not None)
    learner.call(f"backward through {what}", out.sum().backward)
    return {"graph": graph, "x_grad": None if x.grad is None else list(x.grad.shape)}


@judge("batchnorm_no_graph")
def _(inp, d, ndim=2):
    what = call_name("BatchNorm1d", inp["C"])
    graph = d.sub("graph")
    for name in ("running_mean", "running_var"):
        if graph.bool(name):
            fail(f"{what}.{name} carries an autograd graph (requires_grad=True) after a training step: "
                 "update the running statistics inside `with torch.no_grad():`")
    if d.d.get("x_grad") is None:
        fail(f"no gradient reached the input of {what}: the output must be computed from x with torch ops")
    if d.shape("x_grad") != tuple(inp["x"].shape):  # binds the data to this run's input
        fail(f"the gradient that reached the input of {what} has shape {d.shape('x_grad')}, not {tuple(inp['x'].shape)}")


def _bn_values_inputs(gen, ndim=2):
    C, N, L = randint(20, 120, gen), randint(16, 64, gen), randint(2, 6, gen)  # one batch shape for the whole test
    runs = []
    for kwargs, steps in (({}, 5), ({"momentum": 0.3}, 3)):
        runs.append({"kwargs": kwargs, "batches": batches(gen, C, ndim, steps, N, L)})
    return {"C": C, "runs": runs, "outputs": [
        {"kwargs": kwargs, "x": batches(gen, C, ndim, 1, N, L)[0], "gamma": randn(C, gen=gen, mean=1.0, std=0.5),
         "beta": randn(C, gen=gen, std=0.5)} for kwargs in ({}, {"eps": 0.1})],
        "eval": {"x": batches(gen, C, ndim, 1, N, L)[0] * 3 + 1, "gamma": randn(C, gen=gen, mean=1.0, std=0.5),
                 "beta": randn(C, gen=gen, std=0.5), "mean": randn(C, gen=gen, std=0.5),
                 "var": torch.rand(C, generator=gen) + 0.5},
        # the running statistics each run starts from (drawn last: the draws above keep their values)
        "starts": [{"mean": randn(C, gen=gen, std=0.5), "var": torch.rand(C, generator=gen) + 0.5} for _ in runs]}


def train_outputs(learner, inp, BatchNorm1d):
    """Training-mode outputs with the grader's gamma and beta (kernel side)."""
    outs = []
    for case in inp["outputs"]:
        what = call_name("BatchNorm1d", inp["C"], **case["kwargs"])
        bn = learner.call(what, BatchNorm1d, inp["C"], **case["kwargs"])
        learner.assign(bn, "gamma", case["gamma"], what)
        learner.assign(bn, "beta", case["beta"], what)
        outs.append(learner.output(f"{what} on a {tuple(case['x'].shape)} input", bn, case["x"]))
    return {"outs": outs}


def running_stats(learner, inp, BatchNorm1d):
    """Running statistics at the start and after each training step (kernel side).

    The run starts from the grader's statistics, written into the learner's own tensors (where there is one
    per channel; else the judge says why): judged from the learner's own start, a start of 1e8 would hide
    an update that never uses the batch inside the tolerance, and whether the learner's start is right is
    batchnorm_init's test."""
    runs = []
    for run, start in zip(inp["runs"], inp["starts"]):
        what = call_name("BatchNorm1d", inp["C"], **run["kwargs"])
        bn = learner.call(what, BatchNorm1d, inp["C"], **run["kwargs"])
        for name, key in (("running_mean", "mean"), ("running_var", "var")):
            if learner.tensor(bn, name, what).numel() == inp["C"]:
                learner.assign(bn, name, start[key], what)

        def stats():
            return [learner.tensor(bn, n, what).detach().reshape(-1).clone() for n in ("running_mean", "running_var")]
        seen = [stats()]
        for x in run["batches"]:
            learner.call(f"{what} on a {tuple(x.shape)} input", bn, x)
            seen.append(stats())
        runs.append({"stats": seen})
    return {"runs": runs}


probe("batchnorm_train_output", hidden=True, inputs=_bn_values_inputs, words=BATCHNORM)(
    lambda learner, inp, BatchNorm1d, ndim=2: train_outputs(learner, inp, BatchNorm1d))
probe("batchnorm_running_stats", hidden=True, inputs=_bn_values_inputs, words=BATCHNORM)(
    lambda learner, inp, BatchNorm1d, ndim=2: running_stats(learner, inp, BatchNorm1d))


@probe("batchnorm_2d_still_works", hidden=True, inputs=lambda gen: _bn_values_inputs(gen, ndim=2),
       words=BATCHNORM)
def _(learner, inp, BatchNorm1d):
    return {"train_output": train_outputs(learner, inp, BatchNorm1d),
            "running_stats": running_stats(learner, inp, BatchNorm1d)}


@probe("batchnorm_eval", hidden=True, inputs=_bn_values_inputs, words=BATCHNORM)
def _(learner, inp, BatchNorm1d, ndim=2):
    ev, C = inp["eval"], inp["C"]
    what = call_name("BatchNorm1d", C)
    bn = learner.call(what, BatchNorm1d, C)
    learner.assign(bn, "gamma", ev["gamma"], what)
    learner.assign(bn, "beta", ev["beta"], what)
    for x in inp["runs"][0]["batches"][:2]:  # a couple of training steps first, as in real use
        learner.call(f"{what} on a {tuple(x.shape)} input", bn, x)
    for name, key in (("running_mean", "mean"), ("running_var", "var")):
        if learner.tensor(bn, name, what).numel() == C:  # else the stats-count test says why
            learner.assign(bn, name, ev[key], what)
    set_mode(learner, bn, False, what)

    def stats():
        return [learner.tensor(bn, n, what).detach().clone() for n in ("running_mean", "running_var")]
    before = stats()
    x = ev["x"]
    out = learner.output(f"{what} in eval mode on a {tuple(x.shape)} input", bn, x)
    after = stats()
    one = learner.output(f"{what} in eval mode on a single example {tuple(x[:1].shape)}", bn, x[:1])
    return {"before": before, "after": after, "out": out, "one": one}


# ---------------------------------------------------------------- parameters of a BatchNorm1d

@probe("batchnorm_parameters", inputs=_bn_inputs, words=BATCHNORM)
def _(learner, inp, BatchNorm1d):
    C = inp["C"]
    what = call_name("BatchNorm1d", C)
    bn = learner.call(what, BatchNorm1d, C)
    for name, key in (("gamma", "gamma"), ("beta", "beta"), ("running_mean", "mean"), ("running_var", "var")):
        learner.assign(bn, name, inp[key], what)
    ps = learner.parameters(bn, what)
    bump(ps, inp["offsets"])
    return {"n": len(ps), **{name: learner.tensor(bn, name, what).detach().reshape(-1)
                             for name in ("gamma", "beta", "running_mean", "running_var")}}


@judge("batchnorm_parameters")
def _(inp, d):
    C = inp["C"]
    what = call_name("BatchNorm1d", C)
    found = {}
    for name, key in (("gamma", "gamma"), ("beta", "beta"), ("running_mean", "mean"), ("running_var", "var")):
        t = d.tensor(name)
        if t.numel() != C:
            fail(f"{what}.{name} has {t.numel()} values: one per channel")
        found[name] = which(inp[key], t, inp["offsets"])
    for name in ("running_mean", "running_var"):
        if found[name] is not None:
            fail(f"{what}.parameters() includes {name}: it is a buffer updated by the running average, "
                 "not trained by backprop; return [gamma, beta]")
    missing = [name for name in ("gamma", "beta") if found[name] is None]
    if missing:
        fail(f"{what}.parameters() misses {' and '.join(missing)}: return [gamma, beta]")
    if d.int("n") != 2 or -1 in found.values() or found["gamma"] == found["beta"]:
        fail(f"{what}.parameters() returned {d.int('n')} tensors: return exactly [gamma, beta]")


# ---------------------------------------------------------------- Tanh

def _tanh_inputs(gen):
    B, T, C = randint(2, 200, gen), randint(2, 5, gen), randint(5, 200, gen)
    return {"xs": [randn(B, C, gen=gen, std=2.0), randn(B, T, C, gen=gen, std=2.0)]}


@probe("tanh", inputs=_tanh_inputs, words="Tanh")
def _(learner, inp, Tanh):
    act = learner.call("Tanh()", Tanh)
    outs = [learner.output(f"Tanh() on a {tuple(x.shape)} input", act, x) for x in inp["xs"]]
    return {"outs": outs, "n": len(learner.parameters(act, "Tanh()"))}


@judge("tanh")
def _(inp, d):
    for x, out in zip(inp["xs"], d.tensors("outs", len(inp["xs"]))):
        if not close(out, torch.tanh(x)):
            fail(f"Tanh()(x) for x of shape {tuple(x.shape)} is not torch.tanh(x)")
    if d.int("n"):
        fail("Tanh().parameters() is not empty: Tanh has nothing to learn, return []")


# ---------------------------------------------------------------- values: the visible twins of the hidden tests
# One judge per concept, run by a visible test here (the learner's seed) and by the grader's hidden test of
# the same concept (autograder/judges/layers.py: the grader's inputs), so a visible case hard-coded earns nothing.


def linear_values(inp, d):
    """x @ weight + bias with the grader's weight and bias (tests linear_values and linear_forward)."""
    what = call_name("Linear", inp["fan_in"], inp["fan_out"])
    W, b = inp["W"], inp["b"]
    for x, out in zip(inp["xs"][:2], d.tensors("outs", 2)):
        ref = x @ W + b
        if close(out, ref):
            continue
        if close(out, x @ W):
            fail("Linear's output is x @ weight without the bias: add self.bias when it is not None")
        if tuple(out.shape) != tuple(ref.shape):
            fail(f"{what}(x) for x of shape {tuple(x.shape)} has shape {tuple(out.shape)}, not {tuple(ref.shape)}")
        fail(f"{what}(x) for x of shape {tuple(x.shape)} differs from x @ weight + bias "
             f"(max abs difference {maxdiff(out, ref):.3g})")


def train_output(inp, d, ndim=2):
    C = inp["C"]
    for case, out in zip(inp["outputs"], d.tensors("outs", len(inp["outputs"]))):
        x, gamma, beta = case["x"], case["gamma"], case["beta"]
        eps = case["kwargs"].get("eps", 1e-5)
        what = call_name("BatchNorm1d", C, **case["kwargs"])
        ref = bn_train(x, gamma, beta, eps)
        if close(out, ref):
            continue
        if tuple(out.shape) != tuple(x.shape):
            fail(f"{what} on a {tuple(x.shape)} input gave shape {tuple(out.shape)}: the output keeps the "
                 "input's shape")
        if close(out, bn_train_biased(x, gamma, beta, eps)):
            fail(f"{what} normalises with the biased variance (unbiased=False / correction=0); "
                 "the lecture uses x.var(dims), the unbiased one")
        if ndim == 3 and close(out, gamma * (x - x.mean(0)) / torch.sqrt(x.var(0) + eps) + beta):
            fail(f"{what} on 3-D input takes statistics over dim 0 only (one per position and channel): "
                 "reduce over dims (0, 1) so every channel has one mean and one variance")
        dims = bn_dims(ndim)
        if "eps" in case["kwargs"] and close(out, gamma * (x - x.mean(dims)) / x.var(dims).sqrt() + beta, atol=1e-3):
            fail(f"{what} ignores eps: divide by torch.sqrt(var + eps)")
        fail(f"{what} in training mode on a {tuple(x.shape)} input differs from "
             f"gamma * (x - mean) / sqrt(var + eps) + beta over dims {dims} "
             f"(max abs difference {maxdiff(out, ref):.3g})")


def running_stats_judge(inp, d, ndim=2):
    C = inp["C"]
    dims = bn_dims(ndim)
    for run, start, rec in zip(inp["runs"], inp["starts"], d.subs("runs", len(inp["runs"]))):
        momentum = run["kwargs"].get("momentum", 0.1)
        what = call_name("BatchNorm1d", C, **run["kwargs"])
        seen = rec.list("stats", len(run["batches"]) + 1)
        for k, pair in enumerate(seen):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, torch.Tensor) for t in pair)):
                fail("the test's data was malformed (running statistics): the notebook's code interfered with the "
                     "test, which gets no credit")
            for name, t in zip(("running_mean", "running_var"), pair):
                if t.numel() != C:
                    when = f" after {k} training step(s)" if k else ""
                    fail(count_message(what, name, t.numel(), C, when))
        # torch's BatchNorm1d from the grader's start, which the probe wrote into the learner's tensors: never
        # from the learner's own (one of 1e8 would hide in the tolerance an update that ignores the batch)
        for i, (name, key) in enumerate((("running_mean", "mean"), ("running_var", "var"))):
            if not close(seen[0][i].reshape(-1), start[key]):
                fail(f"{what}.{name} did not keep the values written into it before training: keep the "
                     "running statistics in the tensors running_mean and running_var")
        want = bn_running(run["batches"], 1e-5, momentum, start["mean"], start["var"])
        for k, (x, got, ref) in enumerate(zip(run["batches"], seen[1:], want), start=1):
            before = seen[k - 1]
            for i, name in enumerate(("running_mean", "running_var")):
                if close(got[i], ref[i]):
                    continue
                stat = x.mean(dims) if i == 0 else x.var(dims)
                if torch.equal(got[i], before[i]):
                    fail(f"{what}.{name} did not change in a training step: update it in __call__ "
                         "when self.training is True")
                if close(got[i], stat):
                    fail(f"{what}.{name} equals the last batch's statistic: blend it in, "
                         "running = (1 - momentum) * running + momentum * batch")
                if i == 1 and close(got[i], (1 - momentum) * before[i] + momentum * x.var(dims, unbiased=False)):
                    fail(f"{what}.running_var uses the biased batch variance: use x.var(dims), the unbiased one "
                         "(torch.nn.BatchNorm1d does too)")
                if momentum != 0.1 and close(got[i], 0.9 * before[i] + 0.1 * stat):
                    fail(f"{what} ignores its momentum argument (it blends with 0.1): use self.momentum")
                if close(got[i], momentum * before[i] + (1 - momentum) * stat):
                    fail(f"{what}.{name} weighs the old value by momentum: "
                         "running = (1 - momentum) * running + momentum * batch")
                if k > 1:
                    fail(f"{what}.{name} is right after one step but off after {k} (max abs difference "
                         f"{maxdiff(got[i], ref[i]):.3g}): keep blending into the running value, "
                         "running = (1 - momentum) * running + momentum * batch, using self.momentum")
                fail(f"{what}.{name} after one {tuple(x.shape)} batch differs from torch.nn.BatchNorm1d's "
                     f"(max abs difference {maxdiff(got[i], ref[i]):.3g}): "
                     f"running = (1 - momentum) * running + momentum * batch statistic over dims {dims}")


def bn_2d_after_3d(inp, d):
    """Training output and running statistics on 2-D input (tests batchnorm_2d_after_3d, batchnorm_2d_still_works)."""
    train_output(inp, d.sub("train_output"), ndim=2)
    running_stats_judge(inp, d.sub("running_stats"), ndim=2)


def bn_eval_values(inp, d, ndim=2):
    """Eval mode uses the running statistics and leaves them alone (tests batchnorm_eval_values, batchnorm_eval)."""
    ev, C = inp["eval"], inp["C"]
    what = call_name("BatchNorm1d", C)
    before, after = d.tensors("before", 2), d.tensors("after", 2)
    if any(b.shape != a.shape or not torch.equal(b, a) for b, a in zip(before, after)):
        fail(f"{what} changed its running statistics in eval mode: update them only when self.training is True")
    # the grader's statistics are written into the layer: it must keep one of each per channel (a layer with one
    # number of each, 0 and 1, would pass for an affine gamma * x + beta that never normalises)
    for name, t in zip(("running_mean", "running_var"), before):
        if t.numel() != C:
            fail(f"{what}.{name} holds {t.numel()} value(s), not one per channel ({C}): eval mode normalises each "
                 "channel with its own running statistics")
    mean, var = ev["mean"], ev["var"]
    x, out = ev["x"], d.tensor("out")
    ref = bn_eval(x, ev["gamma"], ev["beta"], mean, var, 1e-5)
    if not close(out, ref):
        if close(out, bn_train(x, ev["gamma"], ev["beta"], 1e-5)) or \
                close(out, bn_train_biased(x, ev["gamma"], ev["beta"], 1e-5)):
            fail(f"{what} in eval mode normalises with the batch's own statistics: "
                 "use running_mean and running_var when self.training is False")
        fail(f"{what} in eval mode differs from gamma * (x - running_mean) / sqrt(running_var + eps) + beta "
             f"(max abs difference {maxdiff(out, ref) if out.shape == ref.shape else float('nan'):.3g})")
    one = d.tensor("one")
    if not torch.isfinite(one).all():
        fail(f"{what} in eval mode gave non-finite values for a single example: "
             "a batch of one has no variance, so eval mode must use the running statistics")
    if not close(one, out[:1]):
        fail(f"{what} in eval mode gives a single example a different output than the same example in a batch: "
             "eval mode must not look at the batch")


for visible, hidden in (("linear_values", "linear_forward"), ("batchnorm_train_values", "batchnorm_train_output"),
                        ("batchnorm_running_update", "batchnorm_running_stats"),
                        ("batchnorm_eval_values", "batchnorm_eval"), ("batchnorm_2d_after_3d", "batchnorm_2d_still_works")):
    twin(visible, hidden)
judge("linear_values")(linear_values)
judge("batchnorm_train_values")(train_output)
judge("batchnorm_running_update")(running_stats_judge)
judge("batchnorm_eval_values")(bn_eval_values)
judge("batchnorm_2d_after_3d")(bn_2d_after_3d)

# every test of a Linear or a BatchNorm1d also checks the values it computes (probe.bind): never structure alone
for test in ("linear_shapes", "linear_init", "linear_parameters", "linear_no_bias"):
    bind(test, "linear_values")
for test, opts in (("batchnorm_shapes", lambda ndims=(2, 3), **o: {"ndim": max(ndims)}),
                   ("batchnorm_stats_count", lambda ndim=3, **o: {"ndim": ndim}),
                   ("batchnorm_no_graph", lambda ndim=2, **o: {"ndim": ndim}),
                   ("batchnorm_init", lambda **o: {"ndim": 2}), ("batchnorm_parameters", lambda **o: {"ndim": 2})):
    bind(test, "batchnorm_train_values", opts)
