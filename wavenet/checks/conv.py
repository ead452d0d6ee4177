"""Exercise 8, the dilated causal convolution (chapter 8): probes and the visible tests' judges.

The oracle for the whole model is chapter 5's tree written with torch ops and
applied to every position's 8-character window: with the same weights, the
learner's convolution must give the same logits in one pass. For the
validation loss the kernel describes ``WaveNet()``'s layers and proves the
description (:mod:`wavenet.checks.architecture`); the grader trains those
layers on whole names and scores one prefix per validation name
(:mod:`wavenet.checks.tasks`, :mod:`wavenet.checks.reference`).
"""
import torch
import torch.nn.functional as F

from wavenet.checks.architecture import DESCRIBED, proof_inputs, prove
from wavenet.checks.layers import call_name
from wavenet.checks.models import switch
from wavenet.checks.oracle import VOCAB, close, conv1d_last, conv_count, maxdiff, tree_logits
from wavenet.checks.probe import PROBES, Stop, bind, probe, randint, randn
from wavenet.checks.verdict import fail, judge

DILATIONS = (1, 2, 4)


# ---------------------------------------------------------------- CausalConv1d

def _conv_inputs(gen):
    cases = [(randint(2, 8, gen), randint(2, 8, gen), d) for d in DILATIONS]
    return {"cases": cases, "Ts": [None, 9, 16], "Ws": [randn(co, ci, 2, gen=gen) for ci, co, _ in cases],
            "xs": [randn(2, 12, ci, gen=gen) for ci, _, _ in cases],
            "shape_xs": [[randn(2, T or d + 1, ci, gen=gen) for T in (None, 9, 16)] for ci, _, d in cases]}


def _make_conv(learner, CausalConv1d, c_in, c_out, d):
    what = f"CausalConv1d({c_in}, {c_out}, kernel_size=2, dilation={d})"
    conv = learner.call(what, CausalConv1d, c_in, c_out, kernel_size=2, dilation=d)
    W = learner.attr(conv, "weight", what)
    W = learner.check_tensor(W, f"{what}.weight")
    if tuple(W.shape) == (2 * c_in, c_out) and (2 * c_in, c_out) != (c_out, c_in, 2):
        raise Stop("shape", f"{what}.weight", got=list(W.shape), want=[c_out, c_in, 2], hint="conv_layout")
    learner.check_tensor(W, f"{what}.weight", shape=(c_out, c_in, 2))
    return conv, W, what


# the names each probe below uses to say what it was doing (probe.Spec.words)
CONV = "CausalConv1d weight kernel_size dilation"
WAVENET = f"WaveNet n_embd n_hidden dilations training CausalConv1d BatchNorm1d {DESCRIBED}"


@probe("causal_conv_shapes", inputs=_conv_inputs, words=CONV)
def _(learner, inp, CausalConv1d):
    out = []
    for (ci, co, d), xs in zip(inp["cases"], inp["shape_xs"]):
        conv, W, what = _make_conv(learner, CausalConv1d, ci, co, d)
        ps = learner.parameters(conv, what)
        shapes = [list(learner.output(f"{what} on a {tuple(x.shape)} input", conv, x).shape) for x in xs]
        out.append({"n": len(ps), "weight_first": bool(ps) and ps[0] is W, "shapes": shapes})
    return {"cases": out}


def conv_shape_message(got, what, T, c_in, c_out, d):
    """Why an output of the wrong shape is wrong, or ``None`` if it is right."""
    want = (2, T - d, c_out)
    if got == want:
        return None
    if got == (2, T, c_out):
        return (f"{what} keeps all {T} positions: the convolution pads nothing, it reads position t - {d} "
                f"and t, so only {T - d} outputs have both inputs (the model pads the tokens instead)")
    if d > 1 and got == (2, T - 1, c_out):
        return (f"{what} on a (2, {T}, {c_in}) input gives {T - 1} positions: with dilation {d} the taps are "
                f"{d} apart, so the output is {d} positions shorter than the input, {T - d}")
    return f"{what} on a (2, {T}, {c_in}) input has shape {got}, not {want}"


@judge("causal_conv_shapes")
def _(inp, d):
    for (ci, co, dil), xs, case in zip(inp["cases"], inp["shape_xs"], d.subs("cases", len(inp["cases"]))):
        what = f"CausalConv1d({ci}, {co}, kernel_size=2, dilation={dil})"
        if case.int("n") != 1 or not case.bool("weight_first"):
            fail(f"{what}.parameters() returned {case.int('n')} tensors: return [weight] (no bias: a BatchNorm "
                 "follows)")
        for x, got in zip(xs, case.shapes("shapes", len(xs))):
            msg = conv_shape_message(got, what, x.shape[1], ci, co, dil)
            if msg:
                fail(msg)


@probe("causal_conv_values", inputs=_conv_inputs, words=CONV)
def _(learner, inp, CausalConv1d):
    outs = []
    for (ci, co, d), W, x in zip(inp["cases"], inp["Ws"], inp["xs"]):
        conv, _, what = _make_conv(learner, CausalConv1d, ci, co, d)
        learner.assign(conv, "weight", W, what)
        outs.append(learner.output(f"{what} on a (2, 12, {ci}) input", conv, x))
    return {"outs": outs}


@judge("causal_conv_values")
def _(inp, d):
    for (ci, co, dil), W, x, out in zip(inp["cases"], inp["Ws"], inp["xs"], d.tensors("outs", len(inp["cases"]))):
        what = f"CausalConv1d({ci}, {co}, kernel_size=2, dilation={dil})"
        msg = conv_shape_message(tuple(out.shape), what, 12, ci, co, dil)
        if msg:
            fail(msg)
        ref = conv1d_last(x, W, dil)
        if close(out, ref):
            continue
        if close(out, conv1d_last(x, W.flip(-1), dil)):
            fail(f"{what}: the two taps are swapped: weight[:, :, 0] multiplies the older input "
                 f"(position t - {dil}) and weight[:, :, 1] the newer one (position t)")
        fail(f"{what}(x) differs from torch's conv1d with the same weight (max abs difference "
             f"{maxdiff(out, ref):.3g}): output t is weight[:, :, 0] @ x[t - {dil}] + weight[:, :, 1] @ x[t]")


# ---------------------------------------------------------------- the weight transfer

def _transfer_inputs(gen):
    C, H = randint(3, 9, gen), randint(3, 9, gen)
    return {"C": C, "H": H, "W": randn(2 * C, H, gen=gen), "older": randn(4, C, gen=gen), "newer": randn(4, C, gen=gen)}


@probe("conv_weight_transfer", inputs=_transfer_inputs, words="conv_weight W")
def _(learner, inp, conv_weight):
    C, H = inp["C"], inp["H"]
    return {"out": learner.output(f"conv_weight(W of shape {(2 * C, H)}, {C})", conv_weight, inp["W"].clone(), C)}


@judge("conv_weight_transfer")
def _(inp, d):
    C, H, W = inp["C"], inp["H"], inp["W"]
    out = d.tensor("out")
    if tuple(out.shape) != (H, C, 2):
        fail(f"conv_weight(W of shape {(2 * C, H)}, {C}) has shape {tuple(out.shape)}, not {(H, C, 2)}")
    via_linear = torch.cat([inp["older"], inp["newer"]], 1) @ W     # what FlattenConsecutive + Linear compute
    pair = torch.stack([inp["older"], inp["newer"]], 2)              # (4, C, 2): older first in time
    if close(F.conv1d(pair, out.float())[:, :, 0], via_linear):
        return
    if close(F.conv1d(pair.flip(-1), out.float())[:, :, 0], via_linear):
        fail("conv_weight swaps the halves: rows :C of the Linear weight multiply the older node "
             "(FlattenConsecutive puts it first), so they belong to tap 0")
    fail("conv_weight(W, C) is not the same map as the Linear: tap k must be W[k*C:(k+1)*C].T "
         "(view W as (2, C, H), then permute to (H, C, 2))")


# ---------------------------------------------------------------- the whole model

def _build(learner, WaveNet, **kwargs):
    what = call_name("WaveNet", **kwargs)
    model = learner.call(what, WaveNet, **kwargs)
    if model is None:
        raise Stop("none", what)
    return model, what


def _shapes_inputs(gen):
    e, h = randint(4, 12, gen), randint(8, 20, gen)
    return {"configs": [({}, (24, 128, 3)), (dict(n_embd=e, n_hidden=h, dilations=(1, 2, 4, 8)), (e, h, 4))],
            "Ts": [1, 3, 8, randint(9, 14, gen), randint(15, 40, gen)], "B": randint(2, 64, gen),
            "seed": randint(0, 2**30, gen)}


@probe("wavenet_shapes", inputs=_shapes_inputs, words=WAVENET)
def _(learner, inp, WaveNet):
    gen = torch.Generator().manual_seed(inp["seed"])
    out = []
    for kwargs, _ in inp["configs"]:
        model, what = _build(learner, WaveNet, **kwargs)
        ps = learner.parameters(model, what)
        shapes = []
        for training in (True, False):
            switch(model, training)
            mode = "training" if training else "eval"
            for T in inp["Ts"]:
                x = torch.randint(0, VOCAB, (inp["B"], T), generator=gen)
                with torch.no_grad():
                    shapes.append(list(learner.output(f"{what} in {mode} mode on a {tuple(x.shape)} input", model, x).shape))
        out.append({"count": sum(p.numel() for p in ps), "shapes": shapes})
    return {"configs": out}


@judge("wavenet_shapes")
def _(inp, d):
    B = inp["B"]
    for (kwargs, (e, h, levels)), got in zip(inp["configs"], d.subs("configs", len(inp["configs"]))):
        what = call_name("WaveNet", **kwargs)
        want = conv_count(e, h, levels)
        if got.int("count") != want:
            hint = (": one kernel-2 CausalConv1d per dilation, no conv bias (BatchNorm's beta does that job)"
                    if got.int("count") > want else ": is a layer missing from parameters()?")
            fail(f"{what} has {got.int('count'):,} parameters; the same tree as convolutions has {want:,}{hint}")
        shapes = got.shapes("shapes", 2 * len(inp["Ts"]))
        for i, s in enumerate(shapes):
            T = inp["Ts"][i % len(inp["Ts"])]
            mode = "training" if i < len(inp["Ts"]) else "eval"
            if s != (B, T, VOCAB):
                fail(f"{what}'s logits in {mode} mode for a {(B, T)} input have shape {s}, not {(B, T, VOCAB)}")


def _causal_inputs(gen):
    T, B = randint(9, 40, gen), randint(2, 16, gen)
    x = torch.randint(1, VOCAB, (B, T), generator=gen)
    return {"warm": torch.randint(0, VOCAB, (32, T), generator=gen), "x": x, "T": T,
            "order": torch.randperm(T, generator=gen).tolist(),  # the positions changed, in this run's order
            "n_embd": randint(4, 12, gen), "n_hidden": randint(8, 20, gen)}


@probe("wavenet_causal", inputs=_causal_inputs, words=WAVENET)
def _(learner, inp, WaveNet):
    model, what = _build(learner, WaveNet, n_embd=inp["n_embd"], n_hidden=inp["n_hidden"])
    switch(model, True)
    with torch.no_grad():  # a training step gives the running statistics non-trivial values
        learner.call(f"{what} on a {tuple(inp['warm'].shape)} batch", model, inp["warm"])
    switch(model, False)
    x = inp["x"]
    outs = []
    with torch.no_grad():
        base = learner.output(f"{what} in eval mode on a {tuple(x.shape)} input", model, x)
        for t in inp["order"]:
            x2 = x.clone()
            x2[:, t] = (x2[:, t] % (VOCAB - 1)) + 1                 # another letter at position t
            outs.append(learner.output(f"{what} in eval mode on a {tuple(x.shape)} input", model, x2))
    return {"base": base, "changed": outs}


@judge("wavenet_causal")
def _(inp, d):
    B, T = inp["x"].shape
    what = call_name("WaveNet", n_embd=inp["n_embd"], n_hidden=inp["n_hidden"])
    base = d.tensor("base")
    if tuple(base.shape) != (B, T, VOCAB):
        fail(f"{what}'s logits for a {(B, T)} input have shape {tuple(base.shape)}, not {(B, T, VOCAB)}")
    for t, out in zip(inp["order"], d.tensors("changed", T)):
        if tuple(out.shape) != (B, T, VOCAB):
            fail(f"{what}'s logits for a {(B, T)} input have shape {tuple(out.shape)}, not {(B, T, VOCAB)}")
        if not close(out[:, :t], base[:, :t]):
            fail(f"changing the token at position {t} changed the logits at an earlier position: the model "
                 "must not look ahead (pad on the left only, and never read position > t)")
        if close(out[:, t], base[:, t]):
            fail(f"changing the token at position {t} left the logits at position {t} unchanged: position t "
                 "must read its own token (output t predicts token t + 1)")


def _tree_inputs(gen):
    C, H = randint(4, 9, gen), randint(6, 14, gen)
    tree = {"emb": randn(VOCAB, C, gen=gen), "lin": [], "bn": [],
            "head": (randn(H, VOCAB, gen=gen) / H**0.5, randn(VOCAB, gen=gen, std=0.1))}
    fan_in = C
    for _ in DILATIONS:
        tree["lin"].append(randn(2 * fan_in, H, gen=gen) / (2 * fan_in)**0.5)
        tree["bn"].append((randn(H, gen=gen, mean=1.0, std=0.3), randn(H, gen=gen, std=0.3),   # gamma, beta
                           randn(H, gen=gen, std=0.5), torch.rand(H, generator=gen) + 0.5))    # mean, var
        fan_in = H
    x = torch.randint(1, VOCAB, (6, randint(10, 16, gen)), generator=gen)
    x[:, 0] = 0  # rows like the book's: '.' then a name
    return {"C": C, "H": H, "tree": tree, "x": x}


@probe("wavenet_matches_tree", inputs=_tree_inputs, words=WAVENET)
def _(learner, inp, WaveNet):
    C, H, tree = inp["C"], inp["H"], inp["tree"]
    model, what = _build(learner, WaveNet, n_embd=C, n_hidden=H)
    layers = learner.attr(model, "layers", what)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise Stop("missing", what, name="layers")
    convs = [l for l in layers if isinstance(getattr(l, "weight", None), torch.Tensor) and l.weight.ndim == 3]
    norms = [l for l in layers if isinstance(getattr(l, "gamma", None), torch.Tensor)]
    if len(convs) != 3 or len(norms) != 3:
        return {"convs": len(convs), "norms": len(norms)}
    emb, head = layers[0], layers[-1]
    learner.tensor(emb, "weight", f"{what}.layers[0]", shape=(VOCAB, C))
    learner.assign(emb, "weight", tree["emb"], f"{what}.layers[0]")
    fan_in = C
    for conv, W, bn, (g, b, m, v) in zip(convs, tree["lin"], norms, tree["bn"]):
        learner.tensor(conv, "weight", f"{what}'s CausalConv1d", shape=(H, fan_in, 2), hint="conv_layout")
        learner.assign(conv, "weight", W.view(2, fan_in, H).permute(2, 1, 0), f"{what}'s CausalConv1d")
        learner.assign(bn, "gamma", g, f"{what}'s BatchNorm1d")
        learner.assign(bn, "beta", b, f"{what}'s BatchNorm1d")
        learner.call(f"setting {what}'s running statistics", setattr, bn, "running_mean", m.clone())
        learner.call(f"setting {what}'s running statistics", setattr, bn, "running_var", v.clone())
        fan_in = H
    learner.tensor(head, "weight", f"{what}.layers[-1]", shape=(H, VOCAB))
    learner.assign(head, "weight", tree["head"][0], f"{what}.layers[-1]")
    learner.assign(head, "bias", tree["head"][1], f"{what}.layers[-1]")
    switch(model, False)
    x = inp["x"]
    with torch.no_grad():
        out = learner.output(f"{what} in eval mode on a {tuple(x.shape)} input", model, x)
    return {"convs": 3, "norms": 3, "out": out}


@judge("wavenet_matches_tree")
def _(inp, d):
    what = call_name("WaveNet", n_embd=inp["C"], n_hidden=inp["H"])
    if d.int("convs") != 3 or d.int("norms") != 3:
        fail(f"{what}.layers holds {d.int('convs')} CausalConv1d and {d.int('norms')} BatchNorm1d: one of each "
             "per level, 3 levels")
    x = inp["x"]
    N, T = x.shape
    out = d.tensor("out")
    if tuple(out.shape) != (N, T, VOCAB):
        fail(f"{what}'s logits for a {(N, T)} input have shape {tuple(out.shape)}, not {(N, T, VOCAB)}")
    windows = F.pad(x, (7, 0)).unfold(1, 8, 1)                        # (N, T, 8): the 8 tokens <= t, '.'-padded
    ref = tree_logits(inp["tree"], windows.reshape(-1, 8)).view(N, T, VOCAB)
    if close(out, ref):
        return
    bad = [t for t in range(T) if not close(out[:, t], ref[:, t])]
    if min(bad) < 7 and all(t < 7 for t in bad):
        fail(f"the logits differ from the tree's at the first positions only ({bad}): pad the *tokens* on "
             "the left with 7 '.' (index 0), which have an embedding, not the embeddings with zeros")
    fail(f"with the tree's weights, the logits differ from the tree's at positions {bad} (max abs difference "
         f"{maxdiff(out, ref):.3g}): check the dilations (1, 2, 4), the left padding of 7 '.' tokens, and that "
         "eval mode uses BatchNorm's running statistics")


# ---------------------------------------------------------------- validation-loss target

# The grader's fixed fast recipe for the conv: AdamW on whole names. Each step
# draws random names, pads them with '.' after the longest (target -1, ignored
# by the loss). BatchNorm sees the padded positions too; the target is
# calibrated with exactly this recipe. (Batches of names of one length would
# need no padding, but then the batch statistics tell every position how long
# the names are, a leak from the future: the val loss stays near 2.8.)
CONV_RECIPE = {"optimizer": "adamw", "lr": 0.01, "schedule": "cosine", "weight_decay": 0.0,
               "steps": 600, "batch_size": 32, "batches": "random names, '.'-padded after the longest",
               "threads": 1}


def conv_run():
    return f"{CONV_RECIPE['steps']} AdamW steps of {CONV_RECIPE['batch_size']} names"


def names_loss(model, xb, yb):
    """Cross-entropy over the real positions of a batch of names (padding columns dropped first)."""
    T = int((yb >= 0).sum(1).max())                                   # the longest name in the batch, + 1
    xb, yb = xb[:, :T], yb[:, :T]
    logits = model(xb)                                                # (B, T, 27)
    return F.cross_entropy(logits.reshape(-1, VOCAB), yb.reshape(-1), ignore_index=-1)


def prefix_logits(model, X, L):
    """Each prefix's logits at its last position: one call per prefix length. ``(N, 27)``."""
    switch(model, False)
    out = torch.empty(X.shape[0], VOCAB)
    with torch.no_grad():
        for n in L.unique().tolist():
            rows = (L == n).nonzero().squeeze(1)
            out[rows] = model(X[rows, :n])[:, -1].float()             # (rows, n, 27) -> last position
    return out


@probe("conv_val_loss", hidden=True, inputs=lambda gen, **options: proof_inputs(gen, "names"),
       words=f"{WAVENET} {DESCRIBED}")
def _(learner, inp, WaveNet, assignment=None):
    return prove(learner, WaveNet, inp, "WaveNet()")


# the shape tests also check the values computed (probe.bind)
bind("causal_conv_shapes", "causal_conv_values")
bind("wavenet_shapes", "wavenet_matches_tree")


# the val-loss test's spec: what the grader's run trains, on which data, and how its verdict is worded
PROBES["conv_val_loss"].val_loss = {
    "task": "names", "object": "WaveNet", "recipe": CONV_RECIPE, "run": conv_run(),
    "hint": "compare your levels with the tree's (a Tanh after every BatchNorm1d, dilations 1, 2, 4)",
    "loss_fn": names_loss, "score": prefix_logits, "what": "WaveNet()"}
