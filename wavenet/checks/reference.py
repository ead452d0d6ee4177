"""The grader's own run of a described architecture: build it, check the proof, train it, score it.

A validation-loss probe hands back a description of the learner's layers and
the learner's logits with the grader's weights written in
(:mod:`wavenet.checks.architecture`). Here, in the grader's process (or on a
learner's own machine, for :func:`wavenet.checks.val_loss`), :func:`score`:

1. checks the description: only the course's kinds, sizes in range, a model
   small enough for the grader's run;
2. builds it from the course library's layers (:mod:`wavenet.nn`,
   :class:`wavenet.conv.CausalConv1d`), writes the same grader weights in and
   compares its logits with the learner's on the same inputs, in training and
   in eval mode: the description is what the learner's code computes;
3. builds it again with initial values drawn from the grader's seed (each
   tensor a Gaussian of the described mean and std), trains it with the
   test's recipe, and returns its loss on the evaluation inputs, whose labels
   never left this process.

Not in a graded kernel (``autograder/notebook/course_view.py`` leaves it out): it is
the grader's implementation of every layer of the course.
"""
import functools
import math
import time

import torch
import torch.nn.functional as F

from wavenet.checks import VAL_LOSS_TESTS
from wavenet.checks.architecture import KINDS, MAX_LAYERS, MAX_SIZE, VOCAB, draw, tensors
from wavenet.checks.models import TIME_LIMIT_S, recipe_of, switch
from wavenet.checks.oracle import close, maxdiff
from wavenet.checks.verdict import fail
from wavenet.nn import Sequential

MAX_PARAMS = 2_000_000  # the lecture's model has 76,579; a bigger one would make the grader's run too long
LIMITS = {"kernel_size": 8, "dilation": 64, "n": 8}


def layer_name(layer):
    """``Linear(48, 128, bias=False)``: a described layer as the course writes it."""
    k = layer["kind"]
    if k == "Embedding":
        return f"Embedding({layer['num_embeddings']}, {layer['embedding_dim']})"
    if k == "Linear":
        return f"Linear({layer['fan_in']}, {layer['fan_out']}" + ("" if layer["bias"] else ", bias=False") + ")"
    if k == "BatchNorm1d":
        extra = "".join(f", {f}={layer[f]:g}" for f, default in (("eps", 1e-5), ("momentum", 0.1)) if layer[f] != default)
        return f"BatchNorm1d({layer['dim']}{extra})"
    if k == "FlattenConsecutive":
        return f"FlattenConsecutive({layer['n']})"
    if k == "CausalConv1d":
        return (f"CausalConv1d({layer['in_channels']}, {layer['out_channels']}, kernel_size={layer['kernel_size']}, "
                f"dilation={layer['dilation']}" + (", bias=True" if layer["bias"] else "") + ")")
    return f"{k}()"


def layers_of(d, what):
    """The description in the probe's data ``d``, checked: ``[{kind, sizes, flags, init}]``; fails with a reason."""
    raw = d.list("layers")
    if not raw:
        fail(f"{what}.layers is empty: there is nothing to train")
    if len(raw) > MAX_LAYERS:
        fail(f"{what}.layers holds more than {MAX_LAYERS} layers: far more than the lecture's model")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            fail(f"{what}.layers[{i}] is none of the course's layers ({', '.join(KINDS)}): the grader's run "
                 "builds only those")
        kind = item["kind"]
        fields, names = KINDS[kind]
        layer = {"kind": kind}
        for f in fields:
            v = item.get(f)
            if f == "bias":
                ok = isinstance(v, bool)
            elif f == "eps":
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1
            elif f == "momentum":
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
            else:
                ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= LIMITS.get(f, MAX_SIZE)
            if not ok:
                fail(f"{what}.layers[{i}], a {kind}, has no usable {f}: the grader cannot build it as described")
            layer[f] = v
        init = item.get("init")
        for name, _ in tensors(layer):
            ms = init.get(name) if isinstance(init, dict) else None
            if not (isinstance(ms, list) and len(ms) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                  and math.isfinite(v) and abs(v) <= 100 for v in ms)
                    and ms[1] >= 0):
                fail(f"{what}.layers[{i}].{name} has no usable initial values (mean and std, finite, at most 100)")
        layer["init"] = {name: [float(v) for v in init[name]] for name, _ in tensors(layer)}
        out.append(layer)
    n = sum(math.prod(shape) for layer in out for _, shape in tensors(layer))
    if n > MAX_PARAMS:
        fail(f"{what} has {n:,} parameters: the grader's run takes models up to {MAX_PARAMS:,} (the lecture's has 76,579)")
    return out


class Described(Sequential):
    """The described layers in order (a course ``Sequential``), after ``pad`` '.' tokens on the left (the sum of
    the convolutions' reach)."""

    def __init__(self, layers):
        from wavenet.conv import CausalConv1d
        from wavenet.nn import BatchNorm1d, Embedding, Flatten, FlattenConsecutive, Linear, Tanh

        make = {"Embedding": lambda l: Embedding(l["num_embeddings"], l["embedding_dim"]),
                "Linear": lambda l: Linear(l["fan_in"], l["fan_out"], bias=l["bias"]),
                "BatchNorm1d": lambda l: BatchNorm1d(l["dim"], eps=l["eps"], momentum=l["momentum"]),
                "Tanh": lambda l: Tanh(), "Flatten": lambda l: Flatten(),
                "FlattenConsecutive": lambda l: FlattenConsecutive(l["n"]),
                "CausalConv1d": lambda l: CausalConv1d(l["in_channels"], l["out_channels"], l["kernel_size"],
                                                       dilation=l["dilation"], bias=l["bias"])}
        self.spec = layers
        self.layers = [make[l["kind"]](l) for l in layers]
        self.pad = sum(l["dilation"] * (l["kernel_size"] - 1) for l in layers if l["kind"] == "CausalConv1d")

    def __call__(self, idx):
        x = F.pad(idx, (self.pad, 0), value=0) if self.pad else idx  # (B, T + pad): '.' tokens on the left
        return super().__call__(x)

    @torch.no_grad()
    def load(self, weights):
        """Write :func:`~wavenet.checks.architecture.draw`'s weights in (running statistics' start included)."""
        for layer, w in zip(self.layers, weights):
            for name, value in w.items():
                if name.startswith("running_"):
                    setattr(layer, name, value.clone())
                else:
                    getattr(layer, name).copy_(value)
        return self

    @torch.no_grad()
    def initialize(self, generator):
        """Fresh initial values: each tensor drawn as a Gaussian with the described mean and std."""
        for layer, spec in zip(self.layers, self.spec):
            for name, shape in tensors(spec):
                mean, std = spec["init"][name]
                getattr(layer, name).copy_(torch.randn(shape, generator=generator) * std + mean)
        for p in self.parameters():
            p.requires_grad = True
        return self


def check_proof(layers, inp, d, what, windows=True):
    """The described layers, with the probe's grader weights, give the learner's logits on the same inputs
    (``windows``: one prediction per row, else one per position)."""
    model = Described(layers).load(draw(layers, inp["weights_seed"]))
    desc = ", ".join(layer_name(l) for l in layers)
    got = {"training": d.tensor("train"), "eval": d.tensor("eval")}
    for mode, x in (("training", inp["train_x"]), ("eval", inp["eval_x"])):
        try:
            with torch.no_grad():
                switch(model, mode == "training")
                ref = model(x)
        except Exception as e:  # sizes that do not chain: the description cannot compute anything
            fail(f"{what}'s layers ({desc}) cannot run one after the other on a {tuple(x.shape)} batch "
                 f"({type(e).__name__}): each layer's input size must be the previous layer's output size")
        want = (x.shape[0], VOCAB) if windows else (*x.shape, VOCAB)
        if tuple(ref.shape) != want:
            fail(f"{what}'s layers ({desc}) give logits of shape {tuple(ref.shape)} for a {tuple(x.shape)} batch, "
                 f"not {want}")
        out = got[mode]
        if not close(out, ref):
            shape = tuple(out.shape)
            diff = f"max abs difference {maxdiff(out, ref):.3g}" if shape == tuple(ref.shape) else f"shape {shape}"
            fail(f"with the grader's weights written into {what}.layers, its logits in {mode} mode differ from those "
                 f"of its layers called in order ({desc}; {diff}): the model's own call must be its layers in "
                 "order (after '.' padding on the left, for a convolution), with nothing else computing the logits")


@functools.lru_cache(maxsize=None)
def task(name):
    """The task with its labels, built in this process from the course's data (:mod:`wavenet.checks.tasks`)."""
    from wavenet.checks.tasks import build
    return build(name)


def train_and_score(layers, test, seed):
    """A fresh :class:`Described` of ``layers``, initialized and trained from ``seed`` with ``test``'s recipe;
    its mean cross-entropy on the evaluation inputs."""
    from wavenet.train import TooSlow, fixed_threads, train

    spec = VAL_LOSS_TESTS[test]
    t = task(spec["task"])
    (Xtr, Ytr), evals, labels = t["train"], t["eval"], t["labels"]
    recipe = spec["recipe"]
    with fixed_threads(recipe["threads"]):
        model = Described(layers).initialize(torch.Generator().manual_seed(seed))
        try:
            train(model, Xtr, Ytr, recipe_of(recipe), log=None, loss_fn=spec["loss_fn"], threads=recipe["threads"],
                  generator=torch.Generator().manual_seed(seed), time_limit=TIME_LIMIT_S,
                  clock=time.process_time)  # CPU seconds: the machine's load never changes a grade
        except TooSlow as e:
            fail(f"the grader's training run was stopped at step {e.step}/{e.steps}: the model is far slower than "
                 "the lecture's")
        logits = spec["score"](model, *evals)
    return F.cross_entropy(logits.float(), labels).item()


def score(test, inp, d, seed):
    """The validation loss the grader gives the probe's data ``d`` (inputs ``inp``); :class:`Fail` when the
    description is unusable or not what the learner's code computes."""
    what = VAL_LOSS_TESTS[test]["what"]
    layers = layers_of(d, what)
    check_proof(layers, inp, d, what, windows=VAL_LOSS_TESTS[test]["task"] == "windows")
    return train_and_score(layers, test, seed)
