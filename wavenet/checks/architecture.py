"""A learner's model as plain data: its layers, their sizes, flags and initial settings (the val-loss probes).

The validation-loss tests no longer train in the kernel. The probe describes
the learner's model, layer by layer, in the course's kinds (:data:`KINDS`),
and proves the description: it writes the grader's weights (drawn by
:func:`draw` from the run's seed and the description) into the learner's own
tensors, and returns the learner's logits on grader-drawn inputs, once in
training mode and once in eval mode. The grader builds the described layers
with its own implementation (:mod:`wavenet.checks.reference`, never in a
graded kernel), checks that they give the same logits with the same weights,
then trains them itself from its own seed and scores them on labels only it
holds. So what earns the points is the architecture the learner's code
computes; a lookup table, a decoy model or weights trained elsewhere give the
grader nothing to use.

Initial settings are each tensor's mean and standard deviation in a fresh
model built with :data:`DESCRIBE_SEED`: the grader draws its own initial
values with those (a Gaussian per tensor), so a learner's init scale (the
lecture's ``0.1`` on the last layer, say) counts, and no trained value does.
"""
import math

import torch

from wavenet.checks.probe import Stop, randint

VOCAB = 27
DESCRIBE_SEED = 1337  # the fresh model whose initial settings are described: the same on every run
MAX_LAYERS = 48
# the names describe() and prove() use to say what they were doing (a val-loss test's probe.Spec.words)
DESCRIBED = "layers weight bias gamma beta running_mean running_var running statistics s"
MAX_SIZE = 4096       # any one size (channels, fan-in, ...)

# kind: (its sizes and flags, its tensors); the class names the course uses for them
KINDS = {
    "Embedding": (("num_embeddings", "embedding_dim"), ("weight",)),
    "Linear": (("fan_in", "fan_out", "bias"), ("weight", "bias")),
    "BatchNorm1d": (("dim", "eps", "momentum"), ("gamma", "beta")),
    "Tanh": ((), ()),
    "Flatten": ((), ()),
    "FlattenConsecutive": (("n",), ()),
    "CausalConv1d": (("in_channels", "out_channels", "kernel_size", "dilation", "bias"), ("weight", "bias")),
}


def tensors(layer):
    """The tensors of a described layer, with their shapes: ``[(name, shape)]`` (a bias only when it has one)."""
    k = layer["kind"]
    if k == "Embedding":
        return [("weight", (layer["num_embeddings"], layer["embedding_dim"]))]
    if k == "Linear":
        return [("weight", (layer["fan_in"], layer["fan_out"]))] + ([("bias", (layer["fan_out"],))] if layer["bias"] else [])
    if k == "BatchNorm1d":
        return [("gamma", (layer["dim"],)), ("beta", (layer["dim"],))]
    if k == "CausalConv1d":
        return ([("weight", (layer["out_channels"], layer["in_channels"], layer["kernel_size"]))]
                + ([("bias", (layer["out_channels"],))] if layer["bias"] else []))
    return []


# ---------------------------------------------------------------- kernel side: describe the learner's model

def flat_layers(learner, model, what, depth=0):
    """``model.layers`` with nested ``layers`` (a Sequential inside, at most 3 deep) spread out, in order."""
    layers = learner.attr(model, "layers", what)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise Stop("missing", what, name="layers")
    out = []
    for layer in layers:
        inner = learner.call(f"reading {what}.layers", getattr, layer, "layers", None)
        nested = isinstance(inner, (list, tuple)) and inner and depth < 3
        out += flat_layers(learner, layer, what, depth + 1) if nested else [layer]
        if len(out) > MAX_LAYERS:
            break
    return out


def _number(layer, name, default):
    v = getattr(layer, name, default)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _size(t, i):
    return int(t.shape[i]) if isinstance(t, torch.Tensor) and t.ndim > i else None


def describe_layer(layer):
    """One layer as ``{"kind", sizes and flags}``: the kind is the first of its classes (itself, then its bases)
    named as one of :data:`KINDS`, ``None`` when there is none."""
    kind = next((c.__name__ for c in type(layer).__mro__ if c.__name__ in KINDS), None)
    if kind is None:
        return {"kind": None}
    w = getattr(layer, "weight", None)
    bias = getattr(layer, "bias", None)
    if kind == "Embedding":
        return {"kind": kind, "num_embeddings": _size(w, 0), "embedding_dim": _size(w, 1)}
    if kind == "Linear":
        return {"kind": kind, "fan_in": _size(w, 0), "fan_out": _size(w, 1), "bias": isinstance(bias, torch.Tensor)}
    if kind == "BatchNorm1d":
        g = getattr(layer, "gamma", None)
        return {"kind": kind, "dim": int(g.numel()) if isinstance(g, torch.Tensor) else None,
                "eps": _number(layer, "eps", 1e-5), "momentum": _number(layer, "momentum", 0.1)}
    if kind == "FlattenConsecutive":
        return {"kind": kind, "n": _number(layer, "n", None)}
    if kind == "CausalConv1d":
        return {"kind": kind, "out_channels": _size(w, 0), "in_channels": _size(w, 1), "kernel_size": _size(w, 2),
                "dilation": _number(layer, "dilation", 1), "bias": isinstance(bias, torch.Tensor)}
    return {"kind": kind}


def init_settings(learner, layer, spec, what):
    """``{tensor: [mean, std]}`` of a fresh layer's tensors: what the grader draws its initial values with."""
    out = {}
    for name, shape in tensors(spec):
        t = learner.tensor(layer, name, what, shape=None)
        t = t.detach().float()
        std = float(t.std()) if t.numel() > 1 else 0.0
        out[name] = [float(t.mean()), std if math.isfinite(std) else 0.0]
    return out


def describe(learner, make_model, what):
    """``(model, its layers, their descriptions)`` of a fresh ``make_model()`` built with :data:`DESCRIBE_SEED`,
    each description with its initial settings."""
    torch.manual_seed(DESCRIBE_SEED)
    model = learner.call(what, make_model)
    if model is None:
        raise Stop("none", what)
    found = flat_layers(learner, model, what)[:MAX_LAYERS + 1]
    layers = []
    for i, layer in enumerate(found):
        where = f"{what}.layers[{i}]"
        spec = learner.call(f"reading {where}", describe_layer, layer)
        if spec["kind"] is not None and all(spec.get(k) is not None for k in KINDS[spec["kind"]][0]):
            spec["init"] = learner.call(f"reading {where}", init_settings, learner, layer, spec, where)
        layers.append(spec)
    return model, found, layers


# ---------------------------------------------------------------- both sides: the grader's weights

def draw(layers, seed):
    """The grader's weights for described ``layers``: ``[{tensor: values}]``, running statistics' start
    values included. A function of the description and the seed only, so the grader draws them again."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for layer in layers:
        w = {}
        for name, shape in tensors(layer):
            fan = math.prod(shape[1:]) if layer["kind"] == "CausalConv1d" else shape[0]
            if name == "weight":
                scale = 1.0 if layer["kind"] == "Embedding" else fan ** -0.5
                w[name] = torch.randn(shape, generator=gen) * scale
            elif name == "gamma":
                w[name] = 1.0 + 0.3 * torch.randn(shape, generator=gen)
            else:  # bias, beta
                w[name] = 0.3 * torch.randn(shape, generator=gen)
        if layer["kind"] == "BatchNorm1d":
            w["running_mean"] = 0.5 * torch.randn(layer["dim"], generator=gen)
            w["running_var"] = torch.rand(layer["dim"], generator=gen) + 0.5
        out.append(w)
    return out


def proof_inputs(gen, task):
    """Token batches for the proof: ``(B, 8)`` windows, or ``(B, T)`` names starting with '.'."""
    T = 8 if task == "windows" else randint(9, 24, gen)
    xs = []
    for _ in range(2):
        x = torch.randint(0, VOCAB, (randint(16, 64, gen), T), generator=gen)
        if task == "names":
            x[:, 0] = 0  # rows like the grader's: '.' then a name
        xs.append(x)
    return {"weights_seed": randint(0, 2**30, gen), "train_x": xs[0], "eval_x": xs[1]}


def prove(learner, make_model, inp, what):
    """The probe's data: the description, and the learner's logits with the grader's weights written in."""
    from wavenet.checks.models import switch

    model, found, layers = describe(learner, make_model, what)
    if len(layers) > MAX_LAYERS or any(l["kind"] is None or "init" not in l for l in layers):
        return {"layers": layers}  # the grader says which layer it cannot build
    for i, (layer, weights) in enumerate(zip(found, draw(layers, inp["weights_seed"]))):
        where = f"{what}.layers[{i}]"
        for name, value in weights.items():
            if name.startswith("running_"):
                learner.call(f"setting {where}'s running statistics", setattr, layer, name, value.clone())
            else:
                learner.assign(layer, name, value, where)
    x, x2 = inp["train_x"], inp["eval_x"]
    with torch.no_grad():
        switch(model, True)
        train = learner.output(f"{what} on a {tuple(x.shape)} batch", model, x)
        switch(model, False)
        evals = learner.output(f"{what} in eval mode on a {tuple(x2.shape)} batch", model, x2)
    return {"layers": layers, "train": train, "eval": evals}
