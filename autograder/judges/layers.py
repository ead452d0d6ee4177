"""Hidden tests of ``Linear`` and ``BatchNorm1d`` (their probes: :mod:`wavenet.checks.layers`)."""
import torch

from autograder.judges import judge
from wavenet.checks.layers import call_name, count_message
from wavenet.checks.oracle import bn_dims, bn_eval, bn_running, bn_train, bn_train_biased, close, maxdiff
from wavenet.checks.verdict import fail


@judge("linear_forward")
def _(inp, d):
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


def train_output(inp, d, ndim):
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


def running_stats(inp, d, ndim):
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


judge("batchnorm_train_output")(lambda inp, d, ndim=2: train_output(inp, d, ndim))
judge("batchnorm_running_stats")(lambda inp, d, ndim=2: running_stats(inp, d, ndim))


@judge("batchnorm_2d_still_works")
def _(inp, d):
    train_output(inp, d.sub("train_output"), ndim=2)
    running_stats(inp, d.sub("running_stats"), ndim=2)


@judge("batchnorm_eval")
def _(inp, d, ndim=2):
    ev, C = inp["eval"], inp["C"]
    what = call_name("BatchNorm1d", C)
    before, after = d.tensors("before", 2), d.tensors("after", 2)
    if any(b.shape != a.shape or not torch.equal(b, a) for b, a in zip(before, after)):
        fail(f"{what} changed its running statistics in eval mode: update them only when self.training is True")
    # the grader's statistics, written into the layer; or, when it keeps another number of them (the
    # stats-count test reports that), the layer's own, in whatever shape broadcasts
    mean, var = [ev[k] if t.numel() == C else t for k, t in zip(("mean", "var"), before)]
    x, out = ev["x"], d.tensor("out")
    ref = (ev["gamma"] * (x - mean) / torch.sqrt(var + 1e-5) + ev["beta"] if mean.numel() != C
           else bn_eval(x, ev["gamma"], ev["beta"], mean, var, 1e-5))
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
