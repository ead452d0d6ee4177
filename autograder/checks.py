"""The grader's tests: one function per graded behaviour.

Every test cell in ``solutions/`` calls one of these with the learner's class
(or function), e.g. ``checks.batchnorm_running_stats(BatchNorm1d, ndim=3)``.
A check returns ``None`` when the behaviour is right and raises
:class:`CheckFailed` with a message that names the likely mistake otherwise.

torch is the oracle: outputs are compared with ``torch.nn.functional`` ops and
running statistics with ``torch.nn.BatchNorm1d`` fed the same batches. The
lecture's BatchNorm1d normalises with the *unbiased* batch variance
(``x.var(dims)``) where torch normalises with the biased one, so the output
oracle is ``F.batch_norm`` in eval form fed the lecture's statistics; torch's
running variance is already the unbiased one, as in the lecture.

Rules every check follows:

- learner code runs inside :func:`_run`, so any exception it raises becomes a
  one-line :class:`CheckFailed` (no traceback: it would print the test cell,
  hidden tests included);
- messages show the learner's values and the rule to follow, never the
  grader's reference values;
- warnings are silenced (nbgrader fails a test cell that writes to stderr);
- inputs come from a private ``torch.Generator``, so a learner's own use of the
  global RNG cannot shift them.

Test cells load this module with ``importlib.reload`` right before calling it,
so a notebook that replaced a function here gets the file's version back.
"""
import functools
import json
import math
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

TARGETS = Path(__file__).with_name("targets")  # calibrated val-loss targets, one JSON per assignment
VOCAB = 27


class CheckFailed(AssertionError):
    """A graded behaviour is wrong; the message says what to fix."""

    def _render_traceback_(self):
        # IPython prints this instead of a traceback: a traceback would show the
        # test cell's source (hidden tests included) and the grader's internals
        return [f"{type(self).__name__}: {self}"]


def fail(message):
    raise CheckFailed(message)


def check(fn):
    """Make ``fn`` a check: silence warnings, return ``None``, and report any
    unexpected exception as a :class:`CheckFailed` naming the check."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fn(*args, **kwargs)
            except CheckFailed as e:
                raise CheckFailed(str(e)) from None
            except Exception as e:  # the check tripped over what the learner's code returned
                raise CheckFailed(f"{fn.__name__}: unexpected {type(e).__name__}: {e}") from None
        return None
    return wrapper


# ---------------------------------------------------------------- helpers

def _run(what, fn, *args, **kwargs):
    """Call learner code; turn what it raises into a message saying what was being done."""
    try:
        return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        fail(f"{what} raised NotImplementedError: replace `raise NotImplementedError()` with your code")
    except Exception as e:
        fail(f"{what} raised {type(e).__name__}: {e}")


def _gen(seed=1234):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, gen, mean=0.0, std=1.0):
    return torch.randn(shape, generator=gen) * std + mean


def _tensor(t, what):
    if not isinstance(t, torch.Tensor):
        fail(f"{what} is {type(t).__name__}, not a torch.Tensor")
    return t


def _shape(t, what, want):
    _tensor(t, what)
    if tuple(t.shape) != tuple(want):
        fail(f"{what} has shape {tuple(t.shape)}, not {tuple(want)}")


def _close(a, b, rtol=1e-4, atol=1e-4):
    return a.shape == b.shape and torch.allclose(a.detach().float(), b.detach().float(), rtol=rtol, atol=atol)


def _maxdiff(a, b):
    return (a.detach().float() - b.detach().float()).abs().max().item()


def _params(module, what):
    """``module.parameters()`` as a list of tensors, or a message saying what is wrong."""
    ps = _run(f"{what}.parameters()", module.parameters)
    if ps is None:
        fail(f"{what}.parameters() returned None: return a list of tensors")
    ps = list(ps)
    for p in ps:
        if isinstance(p, (list, tuple)):
            fail(f"{what}.parameters() returned a list of lists: flatten it, "
                 "e.g. [p for layer in self.layers for p in layer.parameters()]")
        _tensor(p, f"an item of {what}.parameters()")
    return ps


def _same_set(ps, want):
    """Same tensors (by identity), in any order, no duplicates."""
    return len(ps) == len(want) and all(any(p is w for p in ps) for w in want)


def _buffer(bn, name, C, what, when=""):
    """A running statistic as ``C`` values, whatever shape it is kept in."""
    t = getattr(bn, name, None)
    if t is None:
        fail(f"{what} has no attribute `{name}`")
    _tensor(t, f"{what}.{name}")
    if t.numel() != C:
        hint = (" (the lecture's 3-D bug: reduce over dims (0, 1) for 3-D input, not dim 0 only)"
                if t.numel() > C and t.numel() % C == 0 else "")
        fail(f"{what}.{name} has {t.numel()} values for {C} channels{when}: keep exactly one per channel{hint}")
    return t.detach().reshape(-1)


def _set_training(model, training):
    """The grader's own train/eval switch (so model checks never rely on the learner's)."""
    for layer in getattr(model, "layers", [model]):
        if hasattr(layer, "training"):
            layer.training = training
        if hasattr(layer, "layers"):
            _set_training(layer, training)


def _bn_dims(ndim):
    return tuple(range(ndim - 1))  # every dim but the channel (last) one


def _bn_train_ref(x, gamma, beta, eps):
    """The lecture's training-mode BatchNorm1d: batch mean and *unbiased* batch variance."""
    C = x.shape[-1]
    dims = _bn_dims(x.ndim)
    mean, var = x.mean(dims), x.var(dims)  # (C,), (C,): unbiased, as in the lecture
    return F.batch_norm(x.reshape(-1, C), mean, var, gamma, beta, training=False, eps=eps).view(x.shape)


def _bn_biased_ref(x, gamma, beta, eps):
    """torch's training-mode normalisation (biased variance): the lecture's differs."""
    C = x.shape[-1]
    return F.batch_norm(x.reshape(-1, C), None, None, gamma, beta, training=True, eps=eps).view(x.shape)


def _bn_batches(C, ndim, n, gen, N=32, L=4):
    """``n`` batches whose channels have different, shifted means and scales."""
    shape = (N, C) if ndim == 2 else (N, L, C)
    mean = _randn(C, gen=gen, std=2.0)
    std = torch.rand(C, generator=gen) + 0.5
    return [_randn(*shape, gen=gen) * std + mean + 0.3 * k for k in range(n)]


def _torch_bn(C, eps, momentum):
    """torch.nn.BatchNorm1d as the running-statistics oracle (unbiased running var, as in the lecture)."""
    return torch.nn.BatchNorm1d(C, eps=eps, momentum=momentum)


def _torch_feed(ref, x):
    # torch wants channels in dim 1: (N, C) stays, (N, L, C) -> (N, C, L)
    with torch.no_grad():
        ref(x if x.ndim == 2 else x.permute(0, 2, 1))


def _make_bn(BatchNorm1d, C, **kwargs):
    args = ", ".join([str(C)] + [f"{k}={v}" for k, v in kwargs.items()])
    what = f"BatchNorm1d({args})"
    return _run(what, BatchNorm1d, C, **kwargs), what


def _set_affine(bn, what, gen):
    """Give gamma/beta non-trivial values in place (keeps the learner's tensors and shapes)."""
    C = None
    with torch.no_grad():
        for name, mean in (("gamma", 1.0), ("beta", 0.0)):
            t = _tensor(getattr(bn, name, None), f"{what}.{name}")
            t.copy_(_randn(*t.shape, gen=gen, mean=mean, std=0.5))
            C = t.numel()
    return bn.gamma.detach().reshape(-1), bn.beta.detach().reshape(-1), C


# ---------------------------------------------------------------- Linear

def _weight(lin, what, fan_in, fan_out):
    """``lin.weight``, insisting on the lecture's ``(fan_in, fan_out)`` layout."""
    W = _tensor(getattr(lin, "weight", None), f"{what}.weight")
    if tuple(W.shape) == (fan_out, fan_in) and fan_in != fan_out:
        fail(f"{what}.weight has shape {(fan_out, fan_in)}: the lecture keeps it as (fan_in, fan_out) "
             "and computes x @ weight (torch.nn.Linear stores the transpose)")
    _shape(W, f"{what}.weight", (fan_in, fan_out))
    return W


@check
def linear_shapes(Linear):
    """weight is (fan_in, fan_out), bias (fan_out,); output (*, fan_out) for 2-D, 3-D and a batch of one."""
    lin = _run("Linear(20, 30)", Linear, 20, 30)
    _weight(lin, "Linear(20, 30)", 20, 30)
    b = getattr(lin, "bias", None)
    if b is None:
        fail("Linear(20, 30).bias is None: bias=True is the default")
    _shape(b, "Linear(20, 30).bias", (30,))
    gen = _gen()
    for shape in [(5, 20), (4, 3, 20), (1, 20)]:
        out = _run(f"Linear(20, 30) on a {shape} input", lin, _randn(*shape, gen=gen))
        _shape(out, f"Linear(20, 30) on a {shape} input", shape[:-1] + (30,))


@check
def linear_forward(Linear):
    """Output equals x @ weight + bias (torch.nn.functional.linear) for 2-D and 3-D input."""
    gen = _gen()
    lin = _run("Linear(20, 30)", Linear, 20, 30)
    W = _weight(lin, "Linear(20, 30)", 20, 30)
    b = _tensor(getattr(lin, "bias", None), "Linear(20, 30).bias")
    with torch.no_grad():
        b.copy_(_randn(*b.shape, gen=gen))  # a non-zero bias, so forgetting it shows
    for shape in [(5, 20), (4, 3, 20)]:
        x = _randn(*shape, gen=gen)
        out = _tensor(_run(f"Linear(20, 30) on a {shape} input", lin, x), f"Linear(20, 30)(x) for x of shape {shape}")
        ref = F.linear(x, W.detach().T, b.detach().reshape(-1))  # torch stores weight transposed
        if _close(out, ref):
            continue
        if _close(out, x @ W.detach()):
            fail("Linear's output is x @ weight without the bias: add self.bias when it is not None")
        fail(f"Linear(20, 30)(x) for x of shape {shape} differs from x @ weight + bias "
             f"(max abs difference {_maxdiff(out, ref):.3g})")


@check
def linear_no_bias(Linear):
    """bias=False: no bias in parameters() and the output is x @ weight."""
    gen = _gen()
    what = "Linear(20, 30, bias=False)"
    lin = _run(what, Linear, 20, 30, bias=False)
    W = _weight(lin, what, 20, 30)
    ps = _params(lin, what)
    if not _same_set(ps, [W]):
        fail(f"{what}.parameters() returned {len(ps)} tensors ({sum(p.numel() for p in ps)} values): "
             "with bias=False it must be [weight] only; honour the bias argument")
    x = _randn(5, 20, gen=gen)
    out = _tensor(_run(f"{what} on a (5, 20) input", lin, x), f"{what}(x)")
    if not _close(out, x @ W.detach()):
        fail(f"{what}(x) is not x @ weight: with bias=False nothing is added")


@check
def linear_init(Linear):
    """weight ~ randn(fan_in, fan_out) / sqrt(fan_in), the lecture's scale (checked statistically)."""
    for fan_in, fan_out in [(1000, 500), (100, 2000)]:
        what = f"Linear({fan_in}, {fan_out})"
        torch.manual_seed(0)
        W = _tensor(getattr(_run(what, Linear, fan_in, fan_out), "weight", None), f"{what}.weight").detach().float()
        std, mean = W.std().item(), W.mean().item()
        ratio = std * fan_in**0.5  # 1 for the lecture's scale; 500k draws pin it to ~0.1%
        if abs(ratio - 1) > 0.05:
            if abs(std - 1) < 0.05:
                hint = "the weights are not scaled: divide torch.randn((fan_in, fan_out)) by fan_in**0.5"
            elif abs(std * fan_out**0.5 - 1) < 0.05:
                hint = "scaled by 1/sqrt(fan_out): the lecture divides by sqrt(fan_in)"
            elif abs(std * fan_in - 1) < 0.05:
                hint = "scaled by 1/fan_in: the lecture divides by sqrt(fan_in)"
            else:
                hint = "draw torch.randn((fan_in, fan_out)) and divide by fan_in**0.5"
            fail(f"{what}.weight has std {std:.4f}: {hint}")
        if abs(mean) * fan_in**0.5 > 0.05:
            fail(f"{what}.weight has mean {mean:.4f}: draw it from torch.randn (centred on zero)")


@check
def linear_parameters(Linear):
    """parameters() is exactly [weight, bias], the module's own tensors."""
    lin = _run("Linear(20, 30)", Linear, 20, 30)
    W = _tensor(getattr(lin, "weight", None), "Linear(20, 30).weight")
    b = _tensor(getattr(lin, "bias", None), "Linear(20, 30).bias")
    ps = _params(lin, "Linear(20, 30)")
    if _same_set(ps, [W, b]):
        return
    missing = [name for name, t in (("weight", W), ("bias", b)) if not any(p is t for p in ps)]
    if missing:
        fail(f"Linear(20, 30).parameters() misses {' and '.join(missing)}: return [weight, bias] "
             "(the tensors themselves, not copies)")
    fail(f"Linear(20, 30).parameters() returned {len(ps)} tensors: return exactly [weight, bias]")


# ---------------------------------------------------------------- BatchNorm1d

@check
def batchnorm_shapes(BatchNorm1d, ndims=(2, 3)):
    """Output keeps the input's shape (2-D and/or 3-D), in training and for a batch of one in eval mode."""
    gen = _gen()
    C = 68
    for ndim in ndims:
        bn, what = _make_bn(BatchNorm1d, C)
        x = _bn_batches(C, ndim, 1, gen)[0]
        out = _run(f"{what} on a {tuple(x.shape)} input", bn, x)
        _shape(out, f"{what} on a {tuple(x.shape)} input (training)", x.shape)
        bn.training = False
        x1 = x[:1]
        out = _run(f"{what} in eval mode on a {tuple(x1.shape)} input", bn, x1)
        _shape(out, f"{what} in eval mode on a {tuple(x1.shape)} input", x1.shape)


@check
def batchnorm_train_output(BatchNorm1d, ndim=2):
    """Training mode: gamma * (x - mean) / sqrt(var + eps) + beta with batch mean and unbiased variance."""
    gen = _gen()
    C = 68
    for kwargs in ({}, {"eps": 0.1}):  # a big eps shows whether eps is used, and where
        bn, what = _make_bn(BatchNorm1d, C, **kwargs)
        if getattr(bn, "training", None) is not True:
            fail(f"{what}.training is {getattr(bn, 'training', None)!r} after construction: start in training mode")
        gamma, beta, _ = _set_affine(bn, what, gen)
        eps = kwargs.get("eps", 1e-5)
        x = _bn_batches(C, ndim, 1, gen)[0]
        out = _tensor(_run(f"{what} on a {tuple(x.shape)} input", bn, x), f"{what}(x)")
        ref = _bn_train_ref(x, gamma, beta, eps)
        if _close(out, ref):
            continue
        if out.shape != x.shape:
            fail(f"{what} on a {tuple(x.shape)} input gave shape {tuple(out.shape)}: the output keeps the input's shape")
        if _close(out, _bn_biased_ref(x, gamma, beta, eps)):
            fail(f"{what} normalises with the biased variance (unbiased=False / correction=0); "
                 "the lecture uses x.var(dims), the unbiased one")
        if ndim == 3 and _close(out, gamma * (x - x.mean(0)) / torch.sqrt(x.var(0) + eps) + beta):
            fail(f"{what} on 3-D input takes statistics over dim 0 only (one per position and channel): "
                 "reduce over dims (0, 1) so every channel has one mean and one variance")
        if _close(out, gamma * (x - x.mean(_bn_dims(ndim))) / x.var(_bn_dims(ndim)).sqrt() + beta, atol=1e-3) and "eps" in kwargs:
            fail(f"{what} ignores eps: divide by torch.sqrt(var + eps)")
        fail(f"{what} in training mode on a {tuple(x.shape)} input differs from "
             f"gamma * (x - mean) / sqrt(var + eps) + beta over dims {_bn_dims(ndim)} "
             f"(max abs difference {_maxdiff(out, ref):.3g})")


@check
def batchnorm_stats_count(BatchNorm1d, ndim=3):
    """After a training step there is exactly one running mean and one running variance per channel."""
    gen = _gen()
    C = 68
    bn, what = _make_bn(BatchNorm1d, C)
    x = _bn_batches(C, ndim, 1, gen)[0]
    _run(f"{what} on a {tuple(x.shape)} input", bn, x)
    for name in ("running_mean", "running_var"):
        _buffer(bn, name, C, what, f" after a {tuple(x.shape)} batch")


@check
def batchnorm_running_stats(BatchNorm1d, ndim=2):
    """running_mean / running_var match torch.nn.BatchNorm1d after one and after several steps."""
    gen = _gen()
    C = 68
    for kwargs, steps in (({}, 5), ({"momentum": 0.3}, 3)):
        bn, what = _make_bn(BatchNorm1d, C, **kwargs)
        momentum = kwargs.get("momentum", 0.1)
        ref = _torch_bn(C, 1e-5, momentum)
        for name, init in (("running_mean", "zeros"), ("running_var", "ones")):
            start = _buffer(bn, name, C, what)
            if not torch.equal(start, getattr(torch, init)(C)):
                fail(f"{what}.{name} should start as torch.{init}({C})")
        batches = _bn_batches(C, ndim, steps, gen)
        for k, x in enumerate(batches, start=1):
            before = {n: _buffer(bn, n, C, what).clone() for n in ("running_mean", "running_var")}
            _run(f"{what} on a {tuple(x.shape)} input", bn, x)
            _torch_feed(ref, x)
            for name in ("running_mean", "running_var"):
                got = _buffer(bn, name, C, what, f" after {k} training step(s)")
                want = getattr(ref, name)
                if _close(got, want):
                    continue
                stat = x.mean(_bn_dims(ndim)) if name == "running_mean" else x.var(_bn_dims(ndim))
                if torch.equal(got, before[name]):
                    fail(f"{what}.{name} did not change in a training step: update it in __call__ "
                         "when self.training is True")
                if _close(got, stat):
                    fail(f"{what}.{name} equals the last batch's statistic: blend it in, "
                         "running = (1 - momentum) * running + momentum * batch")
                if name == "running_var" and _close(got, (1 - momentum) * before[name] + momentum * x.var(_bn_dims(ndim), unbiased=False)):
                    fail(f"{what}.running_var uses the biased batch variance: use x.var(dims), the unbiased one "
                         "(torch.nn.BatchNorm1d does too)")
                if momentum != 0.1 and _close(got, 0.9 * before[name] + 0.1 * stat):
                    fail(f"{what} ignores its momentum argument (it blends with 0.1): use self.momentum")
                if _close(got, momentum * before[name] + (1 - momentum) * stat):
                    fail(f"{what}.{name} weighs the old value by momentum: "
                         "running = (1 - momentum) * running + momentum * batch")
                if k > 1:
                    fail(f"{what}.{name} is right after one step but off after {k} "
                         f"(max abs difference {_maxdiff(got, want):.3g}): keep blending into the running value, "
                         "running = (1 - momentum) * running + momentum * batch, using self.momentum")
                fail(f"{what}.{name} after one {tuple(x.shape)} batch differs from torch.nn.BatchNorm1d's "
                     f"(max abs difference {_maxdiff(got, want):.3g}): "
                     f"running = (1 - momentum) * running + momentum * batch statistic over dims {_bn_dims(ndim)}")


@check
def batchnorm_no_graph(BatchNorm1d, ndim=2):
    """Running statistics carry no autograd graph after a training step with gradients on."""
    gen = _gen()
    C = 68
    bn, what = _make_bn(BatchNorm1d, C)
    for name in ("gamma", "beta"):
        t = _tensor(getattr(bn, name, None), f"{what}.{name}")
        if t.is_leaf:
            t.requires_grad_(True)
    x = _bn_batches(C, ndim, 1, gen)[0].requires_grad_(True)
    out = _tensor(_run(f"{what} on a {tuple(x.shape)} input", bn, x), f"{what}(x)")
    for name in ("running_mean", "running_var"):
        t = _tensor(getattr(bn, name, None), f"{what}.{name}")
        if t.requires_grad or t.grad_fn is not None:
            fail(f"{what}.{name} carries an autograd graph (requires_grad=True) after a training step: "
                 "update the running statistics inside `with torch.no_grad():`")
    _run(f"backward through {what}", out.sum().backward)


@check
def batchnorm_eval(BatchNorm1d, ndim=2):
    """Eval mode normalises with the running statistics, leaves them unchanged, and a single example works."""
    gen = _gen()
    C = 68
    bn, what = _make_bn(BatchNorm1d, C)
    gamma, beta, _ = _set_affine(bn, what, gen)
    for x in _bn_batches(C, ndim, 3, gen):
        _run(f"{what} on a {tuple(x.shape)} input", bn, x)
    bn.training = False
    rm = _tensor(getattr(bn, "running_mean", None), f"{what}.running_mean").detach().clone()
    rv = _tensor(getattr(bn, "running_var", None), f"{what}.running_var").detach().clone()
    x = _bn_batches(C, ndim, 1, gen)[0] * 3 + 1  # a batch unlike the training ones
    out = _tensor(_run(f"{what} in eval mode on a {tuple(x.shape)} input", bn, x), f"{what}(x) in eval mode")
    eps = 1e-5
    # the learner's own running stats, in whatever (broadcastable) shape they keep them
    ref = gamma * (x - rm) / torch.sqrt(rv + eps) + beta
    if not (torch.equal(rm, bn.running_mean.detach()) and torch.equal(rv, bn.running_var.detach())):
        fail(f"{what} changed its running statistics in eval mode: update them only when self.training is True")
    if not _close(out, ref):
        if _close(out, _bn_train_ref(x, gamma, beta, eps)) or _close(out, _bn_biased_ref(x, gamma, beta, eps)):
            fail(f"{what} in eval mode normalises with the batch's own statistics: "
                 "use running_mean and running_var when self.training is False")
        fail(f"{what} in eval mode differs from gamma * (x - running_mean) / sqrt(running_var + eps) + beta "
             f"(max abs difference {_maxdiff(out, ref):.3g})")
    x1 = x[:1]
    out1 = _tensor(_run(f"{what} in eval mode on a single example {tuple(x1.shape)}", bn, x1), f"{what}(x[:1])")
    if not torch.isfinite(out1).all():
        fail(f"{what} in eval mode gave non-finite values for a single example: "
             "a batch of one has no variance, so eval mode must use the running statistics")
    if not _close(out1, out[:1]):
        fail(f"{what} in eval mode gives a single example a different output than the same example in a batch: "
             "eval mode must not look at the batch")


@check
def batchnorm_parameters(BatchNorm1d):
    """parameters() is exactly [gamma, beta]; the running statistics are buffers, not parameters."""
    C = 68
    bn, what = _make_bn(BatchNorm1d, C)
    gamma = _tensor(getattr(bn, "gamma", None), f"{what}.gamma")
    beta = _tensor(getattr(bn, "beta", None), f"{what}.beta")
    for name, t in (("gamma", gamma), ("beta", beta)):
        if t.numel() != C:
            fail(f"{what}.{name} has {t.numel()} values: one per channel")
    ps = _params(bn, what)
    for name in ("running_mean", "running_var"):
        if any(p is getattr(bn, name, None) for p in ps):
            fail(f"{what}.parameters() includes {name}: it is a buffer updated by the running average, "
                 "not trained by backprop; return [gamma, beta]")
    missing = [name for name, t in (("gamma", gamma), ("beta", beta)) if not any(p is t for p in ps)]
    if missing:
        fail(f"{what}.parameters() misses {' and '.join(missing)}: return [gamma, beta]")
    if len(ps) != 2:
        fail(f"{what}.parameters() returned {len(ps)} tensors: return exactly [gamma, beta]")


@check
def batchnorm_2d_still_works(BatchNorm1d):
    """The 3-D fix keeps 2-D input right: output and running statistics over dim 0."""
    batchnorm_train_output.__wrapped__(BatchNorm1d, ndim=2)
    batchnorm_running_stats.__wrapped__(BatchNorm1d, ndim=2)


# ---------------------------------------------------------------- Tanh

@check
def tanh(Tanh):
    """Elementwise torch.tanh for 2-D and 3-D input; no parameters."""
    gen = _gen()
    act = _run("Tanh()", Tanh)
    for shape in [(5, 20), (4, 3, 20)]:
        x = _randn(*shape, gen=gen, std=2.0)
        out = _tensor(_run(f"Tanh() on a {shape} input", act, x), "Tanh()(x)")
        if not _close(out, torch.tanh(x)):
            fail(f"Tanh()(x) for x of shape {shape} is not torch.tanh(x)")
    if _params(act, "Tanh()"):
        fail("Tanh().parameters() is not empty: Tanh has nothing to learn, return []")


# ---------------------------------------------------------------- Embedding, Flatten, Sequential

@check
def embedding(Embedding):
    """weight is (num_embeddings, embedding_dim); output weight[ix] for (B, T) and (B,) indices; parameters() == [weight]."""
    gen = _gen()
    what = "Embedding(27, 10)"
    emb = _run(what, Embedding, 27, 10)
    W = _tensor(getattr(emb, "weight", None), f"{what}.weight")
    _shape(W, f"{what}.weight", (27, 10))
    for shape in [(32, 3), (5,), (1, 8)]:
        ix = torch.randint(0, 27, shape, generator=gen)
        out = _tensor(_run(f"{what} on {shape} indices", emb, ix), f"{what}(ix)")
        _shape(out, f"{what} on {shape} indices", shape + (10,))
        if not _close(out, F.embedding(ix, W.detach())):
            fail(f"{what}(ix) is not the rows weight[ix] of the table")
    ps = _params(emb, what)
    if not _same_set(ps, [W]):
        fail(f"{what}.parameters() must be [weight] (the table itself), got {len(ps)} tensors")


@check
def flatten_shapes(Flatten):
    """(B, T, C) -> (B, T*C), a batch of one included; no parameters."""
    gen = _gen()
    fl = _run("Flatten()", Flatten)
    for shape in [(32, 3, 10), (4, 8, 24), (1, 3, 10)]:
        out = _run(f"Flatten() on a {shape} input", fl, _randn(*shape, gen=gen))
        _shape(out, f"Flatten() on a {shape} input", (shape[0], shape[1] * shape[2]))
    if _params(fl, "Flatten()"):
        fail("Flatten().parameters() is not empty: return []")


@check
def flatten_values(Flatten):
    """Each row is the T position vectors one after another, as x.view(B, -1) lays them out."""
    gen = _gen()
    fl = _run("Flatten()", Flatten)
    x = _randn(4, 3, 10, gen=gen)
    out = _tensor(_run("Flatten() on a (4, 3, 10) input", fl, x), "Flatten()(x)")
    if _close(out, x.view(4, -1), rtol=0, atol=0):
        return
    if _close(out, x.transpose(1, 2).reshape(4, -1), rtol=0, atol=0):
        fail("Flatten() interleaves the positions channel by channel (a transpose/permute before reshaping): "
             "keep each position's C values together, x.view(B, -1)")
    fail("Flatten()(x) does not put each position's C values one after another: use x.view(x.shape[0], -1)")


class _Scale:
    """A stand-in layer for Sequential checks: multiplies by a learnable scalar."""

    def __init__(self, k, n_params=1):
        self.k = k
        self.params = [torch.full((1,), float(k)) for _ in range(n_params)]

    def __call__(self, x):
        return x * self.k

    def parameters(self):
        return list(self.params)


class _Shift(_Scale):
    def __call__(self, x):
        return x + self.k


@check
def sequential_forward(Sequential):
    """Calls its layers in order (first layer first) and keeps them in .layers."""
    layers = [_Scale(2), _Shift(1), _Scale(3)]
    seq = _run("Sequential(layers)", Sequential, layers)
    got = getattr(seq, "layers", None)
    if not isinstance(got, (list, tuple)) or len(got) != 3 or any(a is not b for a, b in zip(got, layers)):
        fail("Sequential(layers).layers should be the list of layers it was given, in order")
    x = torch.arange(5.0)
    out = _tensor(_run("Sequential([x*2, x+1, x*3]) on a (5,) input", seq, x), "Sequential(layers)(x)")
    if _close(out, (x * 2 + 1) * 3):
        return
    if _close(out, (x * 3 + 1) * 2):
        fail("Sequential calls its layers last-to-first: call layers[0] first and feed each output to the next")
    fail("Sequential(layers)(x) is not layers[-1](...layers[1](layers[0](x))): feed each layer's output to the next")


@check
def sequential_parameters(Sequential):
    """parameters() gathers every layer's parameters, in order, as one flat list."""
    layers = [_Scale(2, n_params=2), _Shift(1, n_params=0), _Scale(3, n_params=3), _Shift(4, n_params=1)]
    want = [p for layer in layers for p in layer.params]
    seq = _run("Sequential(layers)", Sequential, layers)
    ps = _params(seq, "Sequential(layers)")
    if len(ps) == len(want) and all(p is w for p, w in zip(ps, want)):
        return
    if _same_set(ps, want):
        fail("Sequential.parameters() has every tensor but out of order: go through self.layers in order")
    fail(f"Sequential.parameters() returned {len(ps)} of the {len(want)} tensors its layers hold: "
         "gather every layer's parameters(), [p for layer in self.layers for p in layer.parameters()]")


class _Unflagged:
    pass


class _Seq:
    def __init__(self, layers):
        self.layers = layers


@check
def set_training(set_training, BatchNorm1d):
    """set_training(model, flag) sets .training on every BatchNorm1d of model.layers, both ways."""
    bns = [_run("BatchNorm1d(4)", BatchNorm1d, 4) for _ in range(3)]
    bns[2].training = False
    model = _Seq([_Unflagged(), bns[0], _Unflagged(), bns[1], bns[2]])
    for flag in (False, True, False):
        _run(f"set_training(model, {flag})", set_training, model, flag)
        flags = [layer.training for layer in bns]
        if any(f is not flag for f in flags):
            fail(f"after set_training(model, {flag}) the layers' training flags are {flags}: "
                 f"set layer.training = {flag} on every layer in model.layers that has the flag")


# ---------------------------------------------------------------- FlattenConsecutive

def _fc(FlattenConsecutive, n, x):
    what = f"FlattenConsecutive({n})"
    fc = _run(what, FlattenConsecutive, n)
    out = _run(f"{what} on a {tuple(x.shape)} input", fc, x)
    return _tensor(out, f"{what} on a {tuple(x.shape)} input")


@check
def flatten_consecutive_pairs(FlattenConsecutive):
    """(B, T, C) -> (B, T/n, C*n) when n < T."""
    gen = _gen()
    for n, shape in [(2, (4, 8, 10)), (4, (4, 8, 10)), (2, (32, 4, 68))]:
        B, T, C = shape
        out = _fc(FlattenConsecutive, n, _randn(*shape, gen=gen))
        want = (B, T // n, C * n)
        if tuple(out.shape) != want:
            fail(f"FlattenConsecutive({n}) on a {shape} input gave {tuple(out.shape)}, not {want}: "
                 "view it as (B, T // n, C * n)")


@check
def flatten_consecutive_full(FlattenConsecutive):
    """n == T flattens completely: (B, T, C) -> (B, T*C), the size-1 middle dim squeezed away."""
    gen = _gen()
    for n, shape in [(8, (4, 8, 10)), (2, (32, 2, 68))]:
        B, T, C = shape
        out = _fc(FlattenConsecutive, n, _randn(*shape, gen=gen))
        if tuple(out.shape) == (B, 1, T * C):
            fail(f"FlattenConsecutive({n}) on a {shape} input gave {tuple(out.shape)}: when T == n the middle "
                 "dim has size 1, squeeze it (x.squeeze(1)) so the output is (B, C*n)")
        if tuple(out.shape) != (B, T * C):
            fail(f"FlattenConsecutive({n}) on a {shape} input gave {tuple(out.shape)}, not {(B, T * C)}")


@check
def flatten_consecutive_batch_of_one(FlattenConsecutive):
    """A batch of one keeps its batch dim, for full and for pairwise flattening."""
    gen = _gen()
    for n, want in [(8, (1, 80)), (2, (1, 4, 20))]:
        out = _fc(FlattenConsecutive, n, _randn(1, 8, 10, gen=gen))
        if tuple(out.shape) != want:
            hint = (": squeeze only dim 1 (x.squeeze(1)); x.squeeze() also drops a batch of one"
                    if out.ndim < len(want) else "")
            fail(f"FlattenConsecutive({n}) on a (1, 8, 10) input gave {tuple(out.shape)}, not {want}{hint}")


@check
def flatten_consecutive_values(FlattenConsecutive):
    """Each output vector is n consecutive position vectors one after another, as a view lays them out."""
    gen = _gen()
    x = _randn(4, 8, 10, gen=gen)
    for n in (2, 4, 8):
        out = _fc(FlattenConsecutive, n, x)
        want = x.view(4, 8 // n, 10 * n)
        if n == 8:
            want = want.squeeze(1)
        if out.shape != want.shape:
            fail(f"FlattenConsecutive({n}) on a (4, 8, 10) input gave {tuple(out.shape)}, not {tuple(want.shape)}")
        if torch.equal(out, want):
            continue
        mixed = x.view(4, 8 // n, n, 10).transpose(2, 3).reshape(want.shape)
        if torch.equal(out, mixed):
            fail(f"FlattenConsecutive({n}) interleaves the channels of the {n} positions (a transpose/permute "
                 "before reshaping): keep each position's C values together, x.view(B, T // n, C * n)")
        fail(f"FlattenConsecutive({n})'s output does not hold positions i*n ... i*n+n-1 one after another: "
             "use x.view(B, T // n, C * n) on the (B, T, C) input")


@check
def flatten_consecutive_parameters(FlattenConsecutive):
    """No parameters."""
    fc = _run("FlattenConsecutive(2)", FlattenConsecutive, 2)
    if _params(fc, "FlattenConsecutive(2)"):
        fail("FlattenConsecutive(2).parameters() is not empty: return []")


# The grader's own layers (torch ops), to test one learner piece inside a whole model.

class _RefLinear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        return F.linear(x, self.weight.T, self.bias)


class _RefBatchNorm1d:
    def __init__(self, dim):
        self.training = True
        self.bn = torch.nn.BatchNorm1d(dim)

    def __call__(self, x):
        self.bn.train(self.training)
        return self.bn(x) if x.ndim == 2 else self.bn(x.permute(0, 2, 1)).permute(0, 2, 1).contiguous()


class _RefTanh:
    def __call__(self, x):
        return torch.tanh(x)


class _RefEmbedding:
    def __init__(self, n, d):
        self.weight = torch.randn((n, d))

    def __call__(self, ix):
        return F.embedding(ix, self.weight)


@check
def hierarchical_shapes(FlattenConsecutive):
    """In the lecture's hierarchical model, (32, 8) -> (32, 4, 68) -> (32, 2, 68) -> (32, 68) -> (32, 27)."""
    gen = _gen()
    torch.manual_seed(0)
    layers = [_RefEmbedding(VOCAB, 10)]
    fan_in = 10
    for _ in range(3):
        layers += [_run("FlattenConsecutive(2)", FlattenConsecutive, 2),
                   _RefLinear(fan_in * 2, 68, bias=False), _RefBatchNorm1d(68), _RefTanh()]
        fan_in = 68
    layers.append(_RefLinear(68, VOCAB))
    x = torch.randint(0, VOCAB, (32, 8), generator=gen)
    wants = [(32, 4, 20), (32, 2, 136), (32, 136)]
    level = 0
    for layer in layers:
        is_fc = not type(layer).__name__.startswith("_Ref")
        x = _run(f"the hierarchical model's level-{level + 1} FlattenConsecutive(2)" if is_fc else "a grader layer", layer, x)
        if is_fc:
            _tensor(x, "FlattenConsecutive(2)(x)")
            if tuple(x.shape) != wants[level]:
                fail(f"in the hierarchical model the level-{level + 1} FlattenConsecutive(2) gave {tuple(x.shape)}, "
                     f"not {wants[level]}")
            level += 1
    _shape(x, "the hierarchical model's logits for a (32, 8) batch", (32, VOCAB))


# ---------------------------------------------------------------- whole models

def _torch_count(layers):
    return sum(p.numel() for layer in layers for p in layer.parameters())


def _torch_mlp_count(block_size, n_embd, n_hidden):
    """Parameter count of the lecture's MLP, built from torch.nn."""
    nn = torch.nn
    return _torch_count([nn.Embedding(VOCAB, n_embd), nn.Linear(n_embd * block_size, n_hidden, bias=False),
                         nn.BatchNorm1d(n_hidden), nn.Linear(n_hidden, VOCAB)])


def _torch_hierarchical_count(block_size, n_embd, n_hidden):
    """Parameter count of the lecture's hierarchical model, built from torch.nn."""
    nn = torch.nn
    layers, fan_in = [nn.Embedding(VOCAB, n_embd)], n_embd
    for _ in range(block_size.bit_length() - 1):
        layers += [nn.Linear(fan_in * 2, n_hidden, bias=False), nn.BatchNorm1d(n_hidden)]
        fan_in = n_hidden
    layers.append(nn.Linear(n_hidden, VOCAB))
    return _torch_count(layers)


def _build(build_model, **kwargs):
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    what = f"build_model({args})"
    model = _run(what, build_model, **kwargs)
    if model is None:
        fail(f"{what} returned None: return the model")
    return model, what


def _count(model, what):
    return sum(p.numel() for p in _params(model, what))


def _param_count(build_model, ref_count, configs, hints):
    for kwargs, call_kwargs in configs:
        model, what = _build(build_model, **call_kwargs)
        got, want = _count(model, what), ref_count(**kwargs)
        if got == want:
            continue
        desc = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        hint = hints(got - want, kwargs)
        fail(f"{what} has {got:,} parameters; the lecture's model with {desc} has {want:,}{hint}")


def _bias_hint(diff, kw, n_linear=1):
    if diff == kw["n_hidden"] * n_linear:
        return ": the Linear layers before BatchNorm1d take bias=False (BatchNorm's beta does that job)"
    if diff < 0:
        return ": is a layer missing from parameters()?"
    return ""


@check
def mlp_param_count(build_model):
    """build_model() is the lecture's MLP: 12,097 parameters (22,097 with block_size=8)."""
    configs = [(dict(block_size=3, n_embd=10, n_hidden=200), {}),
               (dict(block_size=8, n_embd=10, n_hidden=200), dict(block_size=8))]
    _param_count(build_model, _torch_mlp_count, configs, lambda d, kw: _bias_hint(d, kw))


@check
def hierarchical_param_count(build_model, n_embd, n_hidden, other=(10, 68)):
    """build_model() is the lecture's hierarchical model with the given defaults; its arguments are honoured."""
    configs = [(dict(block_size=8, n_embd=n_embd, n_hidden=n_hidden), {}),
               (dict(block_size=8, n_embd=other[0], n_hidden=other[1]), dict(n_embd=other[0], n_hidden=other[1]))]
    _param_count(build_model, _torch_hierarchical_count, configs, lambda d, kw: _bias_hint(d, kw, n_linear=3))


@check
def model_logits(build_model, block_size):
    """Logits are (B, 27) in training mode; in eval mode a batch of one works and examples do not interact."""
    gen = _gen()
    model, what = _build(build_model)
    x = torch.randint(0, VOCAB, (32, block_size), generator=gen)
    _set_training(model, True)
    out = _run(f"{what} on a (32, {block_size}) batch", model, x)
    _shape(out, f"{what}'s logits for a (32, {block_size}) batch", (32, VOCAB))
    _set_training(model, False)
    with torch.no_grad():
        batch = _tensor(_run(f"{what} in eval mode on a (32, {block_size}) batch", model, x), "logits")
        one = _run(f"{what} in eval mode on a single example (1, {block_size})", model, x[:1])
    _shape(one, f"{what}'s eval-mode logits for a single example", (1, VOCAB))
    if not torch.isfinite(one).all():
        fail(f"{what} in eval mode gave non-finite logits for a single example: "
             "eval mode must use BatchNorm's running statistics")
    if not _close(one, batch[:1]):
        fail(f"{what} in eval mode gives an example different logits alone than in a batch: "
             "in eval mode no layer may look at the rest of the batch")


@check
def model_eval_mode(build_model, set_training, block_size):
    """The learner's set_training(model, False) puts the model in eval mode: a single example gives finite logits."""
    gen = _gen()
    model, what = _build(build_model)
    x = torch.randint(0, VOCAB, (32, block_size), generator=gen)
    _set_training(model, True)
    _run(f"{what} on a (32, {block_size}) batch", model, x)
    _run("set_training(model, False)", set_training, model, False)
    with torch.no_grad():
        one = _tensor(_run(f"{what} after set_training(model, False) on a single example", model, x[:1]), "logits")
    if not torch.isfinite(one).all():
        fail("after set_training(model, False) a single example still gives non-finite logits: "
             "set_training must reach the BatchNorm1d layer in model.layers")


# ---------------------------------------------------------------- validation-loss target

# The grader's fixed fast recipe: it trains a fresh build_model() itself, so the
# score does not depend on how long (or whether) the learner trained.
RECIPE = {"optimizer": "AdamW", "lr": 0.01, "schedule": "cosine to 0", "weight_decay": 0.0,
          "steps": 1000, "batch_size": 512, "block_size": 8, "threads": 1}
GRADING_SEED = 1337
TIME_LIMIT_S = 120.0  # a run this slow is stopped; the reference takes about 15 s on one core


def load_target(assignment):
    """The calibrated target of ``assignment`` (written by ``python -m autograder calibrate``)."""
    return json.loads((TARGETS / f"{assignment}.json").read_text())


def train_fast(build_model, seed, recipe=None, splits=None, time_limit=TIME_LIMIT_S):
    """Train a fresh ``build_model()`` with the grader's recipe; return its val loss.

    The same function grades learners and calibrates the targets, so both see
    exactly the same training.
    """
    r = dict(RECIPE if recipe is None else recipe)
    if splits is None:
        from data import load_splits
        splits = load_splits(r["block_size"])
    Xtr, Ytr = splits["train"]
    Xva, Yva = splits["val"]
    threads = torch.get_num_threads()
    torch.set_num_threads(r["threads"])  # same arithmetic, and a fair share of the machine, for everyone
    try:
        torch.manual_seed(seed)
        model, what = _build(build_model)
        params = list({id(p): p for p in _params(model, what)}.values())
        if not params:
            fail(f"{what}.parameters() is empty: nothing to train")
        for p in params:
            if p.is_leaf:
                p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=r["lr"], weight_decay=r["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        _set_training(model, True)
        t0 = time.time()
        for i in range(r["steps"]):
            ix = torch.randint(0, Xtr.shape[0], (r["batch_size"],), generator=gen)
            logits = _run(f"{what} on a training batch", model, Xtr[ix])
            _shape(logits, f"{what}'s logits", (r["batch_size"], VOCAB))
            loss = F.cross_entropy(logits, Ytr[ix])
            opt.zero_grad(set_to_none=True)
            _run("loss.backward() through your model", loss.backward)
            for group in opt.param_groups:
                group["lr"] = r["lr"] * 0.5 * (1 + math.cos(math.pi * i / r["steps"]))
            opt.step()
            if time.time() - t0 > time_limit:
                fail(f"the grader's training run was stopped after {time_limit:.0f} s at step {i + 1}/{r['steps']}: "
                     "the model is far slower than the lecture's")
        _set_training(model, False)
        with torch.no_grad():
            logits = _run(f"{what} in eval mode on the validation split", model, Xva)
            return F.cross_entropy(logits, Yva).item()
    finally:
        torch.set_num_threads(threads)


@check
def val_loss_below_target(build_model, assignment):
    """A fresh build_model() trained by the grader's fixed recipe reaches the assignment's calibrated val-loss target."""
    target = load_target(assignment)
    if target["recipe"] != RECIPE:
        fail(f"the grader's recipe changed since {assignment} was calibrated: "
             f"run `python -m autograder calibrate {assignment}` (a course maintainer's job)")
    loss = train_fast(build_model, GRADING_SEED)
    if not math.isfinite(loss):
        fail(f"validation loss is {loss} after the grader's training run: the model diverged or produced NaN")
    if loss > target["threshold"]:
        fail(f"validation loss {loss:.4f} after the grader's fixed run ({RECIPE['steps']} AdamW steps, batch "
             f"{RECIPE['batch_size']}) is above the target {target['threshold']:.3f}: compare your layers with "
             "the lecture's (a Tanh after every BatchNorm1d, FlattenConsecutive(2) at each level)")


# ---------------------------------------------------------------- exercise 8: causal convolutions
# Those checks live in autograder/conv_checks.py (same rules, same helpers). Reloading
# this module reloads that one too, so a test cell always gets unpatched copies of both.
import importlib as _importlib  # noqa: E402

from autograder import conv_checks as _conv_checks  # noqa: E402

_conv_checks = _importlib.reload(_conv_checks)
from autograder.conv_checks import *  # noqa: E402,F401,F403
