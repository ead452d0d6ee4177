"""Whole models (exercises 2, 4, 5): parameter counts, logits, eval mode, the validation-loss target.

Probes and the judges of the visible tests; ``model_eval_mode`` and
``val_loss`` are judged by the grader. For the validation-loss test the
kernel only describes ``build_model()``'s layers and proves the description
(:mod:`wavenet.checks.architecture`); the grader builds those layers itself,
trains them with its fixed recipe (:data:`RECIPE`, the course's one training
loop :func:`wavenet.train.train`) and scores them on the evaluation inputs of
:mod:`wavenet.checks.tasks` (:mod:`wavenet.checks.reference`).
"""
import json
import math
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

from wavenet.checks.architecture import DESCRIBED, proof_inputs, prove
from wavenet.checks.oracle import VOCAB, close, hierarchical_count, maxdiff, mlp_count
from wavenet.checks.probe import PROBES, Stop, bind, probe, randint, twin
from wavenet.checks.verdict import fail, judge

TARGETS = Path(__file__).with_name("targets")  # calibrated val-loss targets, one JSON per assignment


def load_target(assignment):
    """The calibrated validation-loss target of ``assignment`` (``python -m autograder calibrate``)."""
    return json.loads((TARGETS / f"{assignment}.json").read_text())


def switch(model, training):
    """The grader's own train/eval switch: every layer with a ``training`` flag, nested ``layers`` too."""
    for layer in getattr(model, "layers", [model]):
        if hasattr(layer, "training"):
            layer.training = training
        if hasattr(layer, "layers") and layer is not model:
            switch(layer, training)


def build(learner, build_model, **kwargs):
    what = "build_model(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    model = learner.call(what, build_model, **kwargs)
    if model is None:
        raise Stop("none", what)
    return model, what


# ---------------------------------------------------------------- parameter counts

def _count_inputs(gen, **options):
    return {"seeded": {"n_embd": randint(6, 64, gen), "n_hidden": randint(20, 400, gen)},
            "block_size": randint(4, 10, gen)}


def _shapes(learner, model, what):
    return [list(p.shape) for p in learner.parameters(model, what)]


def ref_shapes(kind, block_size, n_embd, n_hidden):
    """The lecture's parameter shapes in order, each with the layer it belongs to."""
    out = [((VOCAB, n_embd), "Embedding(vocab_size, n_embd).weight")]
    if kind == "mlp":
        out += [((n_embd * block_size, n_hidden), "Linear(n_embd * block_size, n_hidden).weight")]
        levels = 1
    else:
        levels = block_size.bit_length() - 1
        out += [((2 * n_embd, n_hidden), "Linear(2 * n_embd, n_hidden).weight")]
    for level in range(levels):
        if level:
            out += [((2 * n_hidden, n_hidden), "Linear(2 * n_hidden, n_hidden).weight")]
        out += [((n_hidden,), "BatchNorm1d(n_hidden).gamma"), ((n_hidden,), "BatchNorm1d(n_hidden).beta")]
    out += [((n_hidden, VOCAB), "Linear(n_hidden, vocab_size).weight"), ((VOCAB,), "Linear(n_hidden, vocab_size).bias")]
    return out


def count_hint(got_shapes, want, n_linear):
    """Why the shapes differ from the lecture's, in words that fit what was measured."""
    got = Counter(tuple(s) for s in got_shapes)
    ref = Counter(s for s, _ in want)
    missing, extra = ref - got, got - ref
    names = {s: name for s, name in want}
    if not missing and set(extra) == {want[-3][0]} and extra[want[-3][0]] == n_linear:
        return ": the Linear layers before BatchNorm1d take bias=False (BatchNorm's beta does that job)"
    if missing and not extra:
        lost = ", ".join(f"{names[s]} {s}" for s in missing)
        return f": tensors are missing from parameters() (it lacks {lost}): is a layer missing from parameters()?"
    if missing and extra:
        theirs = ", ".join(str(s) for s in sorted(extra))
        lecture = ", ".join(f"{names[s]} {s}" for s in sorted(missing))
        return f": some tensors have other shapes than the lecture's (yours: {theirs}; the lecture's: {lecture})"
    return ""


def _param_count_probe(learner, inp, build_model, configs):
    out = []
    for kwargs in configs:
        model, what = build(learner, build_model, **kwargs)
        out.append(_shapes(learner, model, what))
    return {"shapes": out}


def _judge_counts(d, kind, configs):
    """``configs``: ``[(call kwargs, full kwargs)]``."""
    all_shapes = d.list("shapes", len(configs))
    for (call, full), shapes in zip(configs, all_shapes):
        if not isinstance(shapes, list) or not all(
                isinstance(s, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in s) for s in shapes):
            fail("the test's data was malformed (parameter shapes): the notebook's code interfered with the test")
        got = sum(int(torch.tensor(s).prod()) if s else 1 for s in shapes)
        want_n = (mlp_count if kind == "mlp" else hierarchical_count)(**full)
        if got == want_n:
            continue
        what = "build_model(" + ", ".join(f"{k}={v}" for k, v in call.items()) + ")"
        desc = ", ".join(f"{k}={v}" for k, v in full.items())
        n_linear = 1 if kind == "mlp" else full["block_size"].bit_length() - 1
        hint = count_hint(shapes, ref_shapes(kind, **full), n_linear)
        fail(f"{what} has {got:,} parameters; the lecture's model with {desc} has {want_n:,}{hint}")


def _mlp_configs(inp):
    s = inp["seeded"]
    return [({}, dict(block_size=3, n_embd=10, n_hidden=200)),
            ({"block_size": inp["block_size"]}, dict(block_size=inp["block_size"], n_embd=10, n_hidden=200)),
            (dict(s), dict(block_size=3, **s))]


# the names each probe below uses to say what it was doing (probe.Spec.words)
BUILD = "build_model block_size n_embd n_hidden vocab_size model set_training"


@probe("mlp_param_count", inputs=_count_inputs, words=BUILD)
def _(learner, inp, build_model):
    return _param_count_probe(learner, inp, build_model, [c for c, _ in _mlp_configs(inp)])


@judge("mlp_param_count")
def _(inp, d):
    _judge_counts(d, "mlp", _mlp_configs(inp))


def _hier_configs(inp, n_embd, n_hidden, other):
    s = inp["seeded"]
    return [({}, dict(block_size=8, n_embd=n_embd, n_hidden=n_hidden)),
            (dict(n_embd=other[0], n_hidden=other[1]), dict(block_size=8, n_embd=other[0], n_hidden=other[1])),
            (dict(s), dict(block_size=8, **s))]


@probe("hierarchical_param_count", inputs=_count_inputs, words=BUILD)
def _(learner, inp, build_model, n_embd, n_hidden, other=(10, 68)):
    return _param_count_probe(learner, inp, build_model, [c for c, _ in _hier_configs(inp, n_embd, n_hidden, other)])


@judge("hierarchical_param_count")
def _(inp, d, n_embd, n_hidden, other=(10, 68)):
    _judge_counts(d, "hierarchical", _hier_configs(inp, n_embd, n_hidden, other))


# ---------------------------------------------------------------- logits and eval mode

def _logits_inputs(gen, block_size=8, **options):
    B = randint(8, 4096, gen)  # the batch sizes bind the data to this run
    B2 = randint(2, min(512, B), gen)  # a part of the batch: x[:B2] must have B2 rows
    return {"x": torch.randint(0, VOCAB, (B, block_size), generator=gen), "seed": randint(0, 2**30, gen), "B2": B2}


@probe("model_logits", inputs=_logits_inputs, words=BUILD)
def _(learner, inp, build_model, block_size):
    torch.manual_seed(inp["seed"])
    model, what = build(learner, build_model)
    x = inp["x"]
    B = x.shape[0]
    switch(model, True)
    train = learner.output(f"{what} on a {(B, block_size)} batch", model, x)
    switch(model, False)
    with torch.no_grad():
        batch = learner.output(f"{what} in eval mode on a {(B, block_size)} batch", model, x)
        one = learner.output(f"{what} in eval mode on a single example {(1, block_size)}", model, x[:1])
        part = learner.output(f"{what} in eval mode on a {(inp['B2'], block_size)} batch", model, x[:inp["B2"]])
    return {"train": list(train.shape), "batch": batch, "one": one, "part": part}


@judge("model_logits")
def _(inp, d, block_size):
    B = inp["x"].shape[0]
    what = "build_model()"
    if d.shape("train") != (B, VOCAB):
        fail(f"{what}'s logits for a {(B, block_size)} batch have shape {d.shape('train')}, not {(B, VOCAB)}")
    batch, one = d.tensor("batch"), d.tensor("one")
    if tuple(one.shape) != (1, VOCAB) or tuple(batch.shape) != (B, VOCAB):
        fail(f"{what}'s eval-mode logits have shape {tuple(one.shape)} for a single example, not {(1, VOCAB)}")
    if not torch.isfinite(one).all():
        fail(f"{what} in eval mode gave non-finite logits for a single example: "
             "eval mode must use BatchNorm's running statistics")
    part, B2 = d.tensor("part"), inp["B2"]
    if not (torch.allclose(one, batch[:1], rtol=1e-4, atol=1e-4) and tuple(part.shape) == (B2, VOCAB)
            and torch.allclose(part, batch[:B2], rtol=1e-4, atol=1e-4)):
        fail(f"{what} in eval mode gives examples different logits alone or in a smaller batch than in a batch: "
             "in eval mode no layer may look at the rest of the batch")


@probe("model_eval_mode", hidden=True, inputs=_logits_inputs, words=BUILD)
def _(learner, inp, build_model, set_training, block_size):
    torch.manual_seed(inp["seed"])
    model, what = build(learner, build_model)
    x = inp["x"]
    switch(model, True)
    learner.call(f"{what} on a {tuple(x.shape)} batch", model, x)
    learner.call("set_training(model, False)", set_training, model, False)
    with torch.no_grad():
        one = learner.output(f"{what} after set_training(model, False) on a single example", model, x[:1])
        batch = learner.output(f"{what} after set_training(model, False) on a {tuple(x.shape)} batch", model, x)
        part = learner.output(f"{what} after set_training(model, False) on a {(inp['B2'], block_size)} batch",
                              model, x[:inp["B2"]])
    return {"one": one, "batch": list(batch.shape), "part": list(part.shape)}


def model_eval_single(inp, d, block_size):
    """After set_training(model, False) a single example gives finite logits (tests model_eval_single,
    model_eval_mode)."""
    B = inp["x"].shape[0]
    if d.shape("part") != (inp["B2"], VOCAB):
        fail(f"after set_training(model, False) a {(inp['B2'], block_size)} batch gives logits of shape "
             f"{d.shape('part')}, not {(inp['B2'], VOCAB)}")
    if d.shape("batch") != (B, VOCAB):
        fail(f"after set_training(model, False) a {(B, block_size)} batch gives logits of shape {d.shape('batch')}, "
             f"not {(B, VOCAB)}")
    one = d.tensor("one")
    if tuple(one.shape) != (1, VOCAB):
        fail(f"after set_training(model, False) a single example gives logits of shape {tuple(one.shape)}, "
             f"not {(1, VOCAB)}")
    if not torch.isfinite(one).all():
        fail("after set_training(model, False) a single example still gives non-finite logits: "
             "set_training must reach the BatchNorm1d layer in model.layers")


twin("model_eval_single", "model_eval_mode")
judge("model_eval_single")(model_eval_single)


# ---------------------------------------------------------------- the model's values

def _values_inputs(gen, block_size=8, **options):
    B = randint(16, 256, gen)
    return {"x": torch.randint(0, VOCAB, (B, block_size), generator=gen), "seed": randint(0, 2**30, gen)}


@probe("model_values", inputs=_values_inputs, words=BUILD)
def _(learner, inp, build_model, block_size=8):
    """The logits, in training mode, of build_model() with the grader's values written into its parameters."""
    model, what = build(learner, build_model)
    ps = learner.parameters(model, what)
    gen = torch.Generator().manual_seed(inp["seed"])
    values = []
    for p in ps:  # weights scaled by their fan-in, a BatchNorm's gamma near 1: logits of a sane size
        v = torch.randn(p.shape, generator=gen) / (p.shape[0] ** 0.5 if p.ndim == 2 else 3.0)
        values.append(v + 1.0 if p.ndim == 1 and len(values) % 3 == 2 else v)
    with torch.no_grad():
        for p, v in zip(ps, values):
            learner.call(f"copying values into the parameters of {what}", p.copy_, v)
    switch(model, True)
    out = learner.output(f"{what} on a {tuple(inp['x'].shape)} batch", model, inp["x"])
    return {"shapes": [list(p.shape) for p in ps], "logits": out}


def reference_logits(params, x):
    """The lecture's MLP or hierarchical model, training mode, from its parameters in the lecture's order."""
    C, rest = params[0], list(params[1:])
    h = C[x]                                                             # (B, T, n_embd)
    B, T, _ = h.shape
    W = rest.pop(0)
    if W.shape[0] == h.shape[1] * h.shape[2]:                            # the MLP: one level over the whole context
        h = h.reshape(B, -1)                                             # (B, T * n_embd)
    else:
        h = h.reshape(B, T // 2, -1)                                     # (B, T/2, 2 n_embd)
    while True:
        if h.ndim == 3 and h.shape[1] == 1:
            h = h.squeeze(1)                                             # (B, 2 n_hidden)
        h = h @ W                                                        # (..., n_hidden)
        g, b = rest.pop(0), rest.pop(0)
        dims = (0, 1) if h.ndim == 3 else 0
        h = torch.tanh(g * (h - h.mean(dims, keepdim=True)) / torch.sqrt(h.var(dims, keepdim=True) + 1e-5) + b)
        if len(rest) == 2:
            break
        W = rest.pop(0)
        h = h.reshape(B, h.shape[1] // 2, -1)                            # (B, T'/2, 2 n_hidden)
    Wo, bo = rest
    return h @ Wo + bo                                                   # (B, 27)


@judge("model_values")
def _(inp, d, block_size=8):
    shapes = [tuple(s) for s in d.shapes("shapes", len(d.d.get("shapes") or []))]
    gen = torch.Generator().manual_seed(inp["seed"])
    values = []
    for shape in shapes:
        v = torch.randn(shape, generator=gen) / (shape[0] ** 0.5 if len(shape) == 2 else 3.0)
        values.append(v + 1.0 if len(shape) == 1 and len(values) % 3 == 2 else v)
    try:
        ref = reference_logits(values, inp["x"])
    except Exception:  # parameters that are not the lecture's, in its order: the count tests say which
        fail("build_model()'s parameters() are not the lecture's model's, in its order (embedding, then each "
             "level's Linear weight, BatchNorm1d gamma and beta, then the last Linear's weight and bias)")
    out = d.tensor("logits")
    if not close(out, ref, rtol=1e-3, atol=1e-3):
        fail(f"build_model()'s logits with given parameters differ from the lecture's model's (max abs difference "
             f"{maxdiff(out, ref) if out.shape == ref.shape else float('nan'):.3g}): check the order of the layers, "
             "a Tanh after every BatchNorm1d, and the layers' own values")


for test, opts in (("mlp_param_count", lambda **o: {"block_size": 3}),
                   ("model_logits", lambda block_size, **o: {"block_size": block_size}),
                   ("model_eval_mode", lambda block_size, **o: {"block_size": block_size}),
                   ("model_eval_single", lambda block_size, **o: {"block_size": block_size}),
                   ("hierarchical_param_count", lambda **o: {"block_size": 8})):
    bind(test, "model_values", opts)


# ---------------------------------------------------------------- the validation-loss target

# The grader's fixed fast recipe: it trains the described layers itself, from its own seed, so the
# score does not depend on how long (or whether) the learner trained, nor on any value the kernel holds.
RECIPE = {"optimizer": "adamw", "lr": 0.01, "schedule": "cosine", "weight_decay": 0.0,
          "steps": 1000, "batch_size": 512, "block_size": 8, "threads": 1}
GRADING_SEED = 1337
TIME_LIMIT_S = 120.0  # CPU seconds: a run this slow is stopped; the reference takes about 15 s on one core


def recipe_of(r):
    from wavenet.config import Recipe
    return Recipe(steps=r["steps"], batch_size=r["batch_size"], lr=r["lr"], optimizer=r["optimizer"],
                  schedule=r["schedule"], weight_decay=r["weight_decay"], log_every=max(1, r["steps"]))


def eval_logits(model, X, batch_size=4096):
    """Eval-mode logits for every row of ``X``, in chunks: ``(N, 27)``."""
    switch(model, False)
    with torch.no_grad():
        return torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])


def windows_loss(model, xb, yb):
    return F.cross_entropy(model(xb), yb)


@probe("val_loss", hidden=True, inputs=lambda gen, **options: proof_inputs(gen, "windows"),
       words=f"{BUILD} {DESCRIBED}")
def _(learner, inp, build_model, assignment=None):
    return prove(learner, build_model, inp, "build_model()")


# ---------------------------------------------------------------- the verdict on a validation loss
# One wording for the learner's try-it check (wavenet.checks.check_val_loss) and the grader's hidden test.

HINTS = {"val_loss": "compare your layers with the lecture's (a Tanh after every BatchNorm1d, FlattenConsecutive(2) "
                     "at each level)"}


def below_target(loss, assignment, recipe, run, hint):
    """Fail unless ``loss`` (after the grader's ``recipe``, described as ``run``) is at most ``assignment``'s
    calibrated target; ``hint`` names what to compare."""
    target = load_target(assignment)
    if target["recipe"] != recipe:
        fail(f"the grader's recipe changed since {assignment} was calibrated: "
             f"run `python -m autograder calibrate {assignment}` (a course maintainer's job)")
    if not math.isfinite(loss):
        fail(f"validation loss is {loss} after the grader's training run: the model diverged or produced NaN")
    if loss > target["threshold"]:
        fail(f"validation loss {loss:.4f} after the grader's fixed run ({run}) is above the target "
             f"{target['threshold']:.3f}: {hint}")


def windows_run():
    return f"{RECIPE['steps']} AdamW steps, batch {RECIPE['batch_size']}"


# the val-loss test's spec: the data the grader trains the described layers on, how it trains and scores
# them (wavenet/checks/reference.py), the object calibration trains, and how its verdict is worded
PROBES["val_loss"].val_loss = {
    "task": "windows", "object": "build_model", "recipe": RECIPE, "run": windows_run(), "hint": HINTS["val_loss"],
    "loss_fn": windows_loss, "score": eval_logits, "what": "build_model()"}
