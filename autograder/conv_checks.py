"""The grader's tests for exercise 8, the dilated causal convolution (chapter 8).

Same rules as :mod:`autograder.checks`, whose helpers they use: torch is the
oracle, learner code runs inside ``_run``, messages name the likely mistake and
never show reference values, inputs come from a private generator. They are
re-exported by ``autograder.checks`` (and reloaded with it), so a test cell
calls them as ``checks.causal_conv_values(CausalConv1d)``.

The oracle for the whole model is the hierarchical model of chapter 5 written
with torch ops and applied to every position's 8-character window, which the
learner's convolution must reproduce in one pass when it holds the same weights.

Calibrate the validation-loss target (a course maintainer's job)::

    python -m autograder calibrate 08_wavenet_conv
"""
import math
import time

import torch
import torch.nn.functional as F

from autograder.checks import (
    VOCAB, _close, _gen, _maxdiff, _params, _randn, _run, _set_training, _shape, _tensor, check, fail, load_target,
)

__all__ = [
    "causal_conv_shapes", "causal_conv_values", "conv_weight_transfer", "wavenet_shapes", "wavenet_causal",
    "wavenet_matches_tree", "conv_val_loss_below_target", "train_fast_sequences", "CONV_RECIPE",
]

DILATIONS = (1, 2, 4)


# ---------------------------------------------------------------- CausalConv1d

def _make_conv(CausalConv1d, c_in, c_out, d):
    what = f"CausalConv1d({c_in}, {c_out}, kernel_size=2, dilation={d})"
    conv = _run(what, CausalConv1d, c_in, c_out, kernel_size=2, dilation=d)
    W = _tensor(getattr(conv, "weight", None), f"{what}.weight")
    if tuple(W.shape) == (2 * c_in, c_out):
        fail(f"{what}.weight has the Linear layout {(2 * c_in, c_out)}: keep it as torch.nn.Conv1d does, "
             f"(out_channels, in_channels, kernel_size) = {(c_out, c_in, 2)}")
    _shape(W, f"{what}.weight", (c_out, c_in, 2))
    return conv, W, what


def _conv_out_shape(out, what, T, c_in, c_out, d):
    shape = tuple(_tensor(out, f"{what}(x)").shape)
    if shape == (2, T, c_out):
        fail(f"{what} keeps all {T} positions: the convolution pads nothing, it reads position t - {d} "
             f"and t, so only {T - d} outputs have both inputs (the model pads the tokens instead)")
    if d > 1 and shape == (2, T - 1, c_out):
        fail(f"{what} on a (2, {T}, {c_in}) input gives {T - 1} positions: with dilation {d} the taps are "
             f"{d} apart, so the output is {d} positions shorter than the input, {T - d}")
    _shape(out, f"{what} on a (2, {T}, {c_in}) input", (2, T - d, c_out))


def _conv_ref(x, W, d):
    """torch's Conv1d on a channels-last input, no padding: (B, T, C_in) -> (B, T - d, C_out)."""
    return F.conv1d(x.transpose(1, 2), W, dilation=d).transpose(1, 2)


@check
def causal_conv_shapes(CausalConv1d):
    """weight is (C_out, C_in, 2); (B, T, C_in) -> (B, T - dilation, C_out); parameters() is [weight]."""
    gen = _gen()
    for c_in, c_out, d in [(3, 5, 1), (4, 6, 2), (24, 16, 4)]:
        conv, W, what = _make_conv(CausalConv1d, c_in, c_out, d)
        ps = _params(conv, what)
        if len(ps) != 1 or ps[0] is not W:
            fail(f"{what}.parameters() returned {len(ps)} tensors: return [weight] (no bias: a BatchNorm follows)")
        for T in (d + 1, 9, 16):
            out = _run(f"{what} on a (2, {T}, {c_in}) input", conv, _randn(2, T, c_in, gen=gen))
            _conv_out_shape(out, what, T, c_in, c_out, d)


@check
def causal_conv_values(CausalConv1d):
    """Output equals torch.nn.functional.conv1d with the same weight and dilation (channels last)."""
    gen = _gen()
    for c_in, c_out, d in [(3, 5, 1), (4, 6, 2), (8, 7, 4)]:
        conv, W, what = _make_conv(CausalConv1d, c_in, c_out, d)
        with torch.no_grad():
            W.copy_(_randn(*W.shape, gen=gen))
        x = _randn(2, 12, c_in, gen=gen)
        out = _run(f"{what} on a (2, 12, {c_in}) input", conv, x)
        _conv_out_shape(out, what, 12, c_in, c_out, d)
        Wd = W.detach()
        ref = _conv_ref(x, Wd, d)
        if _close(out, ref):
            continue
        if _close(out, _conv_ref(x, Wd.flip(-1), d)):
            fail(f"{what}: the two taps are swapped: weight[:, :, 0] multiplies the older input "
                 f"(position t - {d}) and weight[:, :, 1] the newer one (position t)")
        fail(f"{what}(x) differs from torch's conv1d with the same weight (max abs difference "
             f"{_maxdiff(out, ref):.3g}): output t is weight[:, :, 0] @ x[t - {d}] + weight[:, :, 1] @ x[t]")


# ---------------------------------------------------------------- the weight transfer

@check
def conv_weight_transfer(conv_weight):
    """conv_weight(W, C) turns a fuse-two Linear weight (2C, H) into the equal kernel-2 conv weight (H, C, 2)."""
    gen = _gen()
    C, H = 5, 7
    W = _randn(2 * C, H, gen=gen)
    out = _tensor(_run(f"conv_weight(W of shape {(2 * C, H)}, {C})", conv_weight, W.clone(), C),
                  "conv_weight(W, C)")
    _shape(out, f"conv_weight(W of shape {(2 * C, H)}, {C})", (H, C, 2))
    older, newer = _randn(4, C, gen=gen), _randn(4, C, gen=gen)
    via_linear = torch.cat([older, newer], 1) @ W                   # what FlattenConsecutive + Linear compute
    pair = torch.stack([older, newer], 2)                            # (4, C, 2): older first in time
    via_conv = F.conv1d(pair, out.detach().float())[:, :, 0]         # (4, H)
    if _close(via_conv, via_linear):
        return
    if _close(F.conv1d(pair.flip(-1), out.detach().float())[:, :, 0], via_linear):
        fail("conv_weight swaps the halves: rows :C of the Linear weight multiply the older node "
             "(FlattenConsecutive puts it first), so they belong to tap 0")
    fail("conv_weight(W, C) is not the same map as the Linear: tap k must be W[k*C:(k+1)*C].T "
         "(view W as (2, C, H), then permute to (H, C, 2))")


# ---------------------------------------------------------------- the whole model

def _torch_count(n_embd, n_hidden, levels):
    nn = torch.nn
    layers, fan_in = [nn.Embedding(VOCAB, n_embd)], n_embd
    for _ in range(levels):
        layers += [nn.Conv1d(fan_in, n_hidden, 2, bias=False), nn.BatchNorm1d(n_hidden)]
        fan_in = n_hidden
    layers.append(nn.Linear(n_hidden, VOCAB))
    return sum(p.numel() for layer in layers for p in layer.parameters())


def _build(WaveNet, **kwargs):
    what = "WaveNet(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    model = _run(what, WaveNet, **kwargs)
    if model is None:
        fail(f"{what} returned None")
    return model, what


@check
def wavenet_shapes(WaveNet):
    """WaveNet() has the tree's 76,579 parameters; (B, T) tokens -> (B, T, 27) for any T, train and eval."""
    gen = _gen()
    for kwargs, levels in [({}, 3), (dict(n_embd=10, n_hidden=16, dilations=(1, 2, 4, 8)), 4)]:
        model, what = _build(WaveNet, **kwargs)
        want = _torch_count(kwargs.get("n_embd", 24), kwargs.get("n_hidden", 128), levels)
        got = sum(p.numel() for p in _params(model, what))
        if got != want:
            hint = (": one kernel-2 CausalConv1d per dilation, no conv bias (BatchNorm's beta does that job)"
                    if got > want else ": is a layer missing from parameters()?")
            fail(f"{what} has {got:,} parameters; the same tree as convolutions has {want:,}{hint}")
        for training in (True, False):
            _set_training(model, training)
            mode = "training" if training else "eval"
            for T in (1, 3, 8, 13, 20):
                x = torch.randint(0, VOCAB, (4, T), generator=gen)
                with torch.no_grad():
                    out = _run(f"{what} in {mode} mode on a (4, {T}) input", model, x)
                _shape(out, f"{what}'s logits in {mode} mode for a (4, {T}) input", (4, T, VOCAB))


@check
def wavenet_causal(WaveNet):
    """Eval mode: changing the token at t never changes the logits at positions before t, and does change t's."""
    gen = _gen()
    model, what = _build(WaveNet, n_embd=10, n_hidden=16)
    _set_training(model, True)
    with torch.no_grad():  # a training step gives the running statistics non-trivial values
        _run(f"{what} on a (32, 12) batch", model, torch.randint(0, VOCAB, (32, 12), generator=gen))
    _set_training(model, False)
    x = torch.randint(1, VOCAB, (4, 12), generator=gen)
    with torch.no_grad():
        base = _run(f"{what} in eval mode on a (4, 12) input", model, x)
        _shape(base, f"{what}'s logits for a (4, 12) input", (4, 12, VOCAB))
        for t in range(12):
            x2 = x.clone()
            x2[:, t] = (x2[:, t] % (VOCAB - 1)) + 1                # another letter
            out = _tensor(_run(f"{what} in eval mode", model, x2), "logits")
            if not _close(out[:, :t], base[:, :t]):
                fail(f"changing the token at position {t} changed the logits at an earlier position: the model "
                     "must not look ahead (pad on the left only, and never read position > t)")
            if _close(out[:, t], base[:, t]):
                fail(f"changing the token at position {t} left the logits at position {t} unchanged: position t "
                     "must read its own token (output t predicts token t + 1)")


def _layers(model, what, n_embd, n_hidden):
    """The learner's embedding, convolutions, batch norms and head, found by what they hold."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, (list, tuple)) or not layers:
        fail(f"{what} has no list `layers`: keep them in self.layers, in order, as Sequential does")
    emb = layers[0]
    _shape(getattr(emb, "weight", None), f"{what}.layers[0].weight (the embedding table)", (VOCAB, n_embd))
    convs = [l for l in layers if isinstance(getattr(l, "weight", None), torch.Tensor) and l.weight.ndim == 3]
    norms = [l for l in layers if isinstance(getattr(l, "gamma", None), torch.Tensor)]
    head = layers[-1]
    if len(convs) != 3 or len(norms) != 3:
        fail(f"{what}.layers holds {len(convs)} CausalConv1d and {len(norms)} BatchNorm1d: one of each per level, 3 levels")
    _shape(getattr(head, "weight", None), f"{what}.layers[-1].weight (the Linear head)", (n_hidden, VOCAB))
    _tensor(getattr(head, "bias", None), f"{what}.layers[-1].bias")
    return emb, convs, norms, head


def _random_tree(gen, C, H):
    """Weights of the chapter-5 tree in the lecture's layout, with non-trivial batch-norm statistics."""
    tree = {"emb": _randn(VOCAB, C, gen=gen), "lin": [], "bn": [],
            "head": (_randn(H, VOCAB, gen=gen) / H**0.5, _randn(VOCAB, gen=gen, std=0.1))}
    fan_in = C
    for _ in DILATIONS:
        tree["lin"].append(_randn(2 * fan_in, H, gen=gen) / (2 * fan_in)**0.5)
        tree["bn"].append((_randn(H, gen=gen, mean=1.0, std=0.3), _randn(H, gen=gen, std=0.3),   # gamma, beta
                           _randn(H, gen=gen, std=0.5), torch.rand(H, generator=gen) + 0.5))    # mean, var
        fan_in = H
    return tree


def _tree_logits(tree, windows, eps=1e-5):
    """The tree on (N, 8) windows with torch ops, eval-mode batch norm: (N, 27)."""
    x = tree["emb"][windows]                                         # (N, 8, C)
    for W, (g, b, m, v) in zip(tree["lin"], tree["bn"]):
        N, T, C = x.shape
        x = x.reshape(N, T // 2, 2 * C) @ W                          # (N, T/2, H): fuse neighbours
        x = torch.tanh(g * (x - m) / torch.sqrt(v + eps) + b)
    W, b = tree["head"]
    return x.squeeze(1) @ W + b                                      # (N, 27)


@check
def wavenet_matches_tree(WaveNet):
    """Eval mode, the tree's weights in the conv's layers: the same logits as the tree at every position."""
    gen = _gen(4321)
    C, H = 6, 10
    model, what = _build(WaveNet, n_embd=C, n_hidden=H)
    emb, convs, norms, head = _layers(model, what, C, H)
    tree = _random_tree(gen, C, H)
    with torch.no_grad():
        emb.weight.copy_(tree["emb"])
        fan_in = C
        for conv, W, bn, (g, b, m, v) in zip(convs, tree["lin"], norms, tree["bn"]):
            _shape(conv.weight, f"{what}'s CausalConv1d weight", (H, fan_in, 2))
            conv.weight.copy_(W.view(2, fan_in, H).permute(2, 1, 0))  # the grader's own transfer
            bn.gamma.copy_(g.view_as(bn.gamma))
            bn.beta.copy_(b.view_as(bn.beta))
            bn.running_mean, bn.running_var = m.clone(), v.clone()
            fan_in = H
        head.weight.copy_(tree["head"][0])
        head.bias.copy_(tree["head"][1])
    _set_training(model, False)
    # rows like the book's: '.' then a name, '.'-padded after it
    x = torch.randint(1, VOCAB, (6, 14), generator=gen)
    x[:, 0] = 0
    with torch.no_grad():
        out = _tensor(_run(f"{what} in eval mode on a (6, 14) input", model, x), "logits")
        _shape(out, f"{what}'s logits for a (6, 14) input", (6, 14, VOCAB))
        windows = F.pad(x, (7, 0)).unfold(1, 8, 1)                   # (6, 14, 8): the 8 tokens <= t, '.'-padded
        ref = _tree_logits(tree, windows.reshape(-1, 8)).view(6, 14, VOCAB)
    if _close(out, ref):
        return
    bad = [t for t in range(14) if not _close(out[:, t], ref[:, t])]
    if min(bad) < 7 and all(t < 7 for t in bad):
        fail(f"the logits differ from the tree's at the first positions only ({bad}): pad the *tokens* on "
             "the left with 7 '.' (index 0), which have an embedding, not the embeddings with zeros")
    fail(f"with the tree's weights, the logits differ from the tree's at positions {bad} (max abs difference "
         f"{_maxdiff(out, ref):.3g}): check the dilations (1, 2, 4), the left padding of 7 '.' tokens, and that "
         "eval mode uses BatchNorm's running statistics")


# ---------------------------------------------------------------- validation-loss target

# The grader's fixed fast recipe for the conv: AdamW on whole names. Each step
# draws random names, pads them with '.' after the longest (target -1, ignored
# by the loss). BatchNorm sees the padded positions too; the target is
# calibrated with exactly this recipe. (Batches of names of one length would
# need no padding, but then the batch statistics tell every position how long
# the names are, a leak from the future: the val loss stays near 2.8.)
CONV_RECIPE = {"optimizer": "AdamW", "lr": 0.01, "schedule": "cosine to 0", "weight_decay": 0.0,
               "steps": 600, "names_per_step": 32, "batches": "random names, '.'-padded after the longest",
               "threads": 1}
GRADING_SEED = 1337
TIME_LIMIT_S = 120.0


def _sequences():
    """{split: (X, Y)}: every name as a row, '.' + name -> name + '.', padded with '.' / -1."""
    from data import encode, read_words, split_words
    out = {}
    for split, words in split_words(read_words()).items():
        T = max(len(w) for w in words) + 1
        X = torch.zeros((len(words), T), dtype=torch.long)
        Y = torch.full((len(words), T), -1, dtype=torch.long)
        for i, w in enumerate(words):
            ix = encode(w)
            X[i, 1:len(ix) + 1] = torch.tensor(ix)
            Y[i, :len(ix) + 1] = torch.tensor(ix + [0])
        out[split] = (X, Y)
    return out


def train_fast_sequences(WaveNet, seed, recipe=None, data=None, time_limit=TIME_LIMIT_S):
    """Train a fresh ``WaveNet()`` with the grader's recipe on whole names; return its val loss.

    The val loss averages over every real position of every val name, which is
    the mean over the split's ``build_dataset`` examples. Grading and
    calibration both use this function.
    """
    r = dict(CONV_RECIPE if recipe is None else recipe)
    data = data or _sequences()
    Xtr, Ytr = data["train"]
    threads = torch.get_num_threads()
    torch.set_num_threads(r["threads"])
    try:
        torch.manual_seed(seed)
        model, what = _build(WaveNet)
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
            ix = torch.randint(0, Xtr.shape[0], (r["names_per_step"],), generator=gen)
            Y = Ytr[ix]
            T = int((Y >= 0).sum(1).max())                               # the longest name in the batch, + 1
            X, Y = Xtr[ix, :T], Y[:, :T]
            logits = _run(f"{what} on a training batch", model, X)
            _shape(logits, f"{what}'s logits for a {tuple(X.shape)} batch", (X.shape[0], T, VOCAB))
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), Y.reshape(-1), ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            _run("loss.backward() through your model", loss.backward)
            for group in opt.param_groups:
                group["lr"] = r["lr"] * 0.5 * (1 + math.cos(math.pi * i / r["steps"]))
            opt.step()
            if time.time() - t0 > time_limit:
                fail(f"the grader's training run was stopped after {time_limit:.0f} s at step {i + 1}/{r['steps']}: "
                     "the model is far slower than the reference")
        _set_training(model, False)
        Xva, Yva = data["val"]
        with torch.no_grad():
            logits = _run(f"{what} in eval mode on the validation names", model, Xva)
            _shape(logits, f"{what}'s logits for the validation names", (*Xva.shape, VOCAB))
            return F.cross_entropy(logits.reshape(-1, VOCAB), Yva.reshape(-1), ignore_index=-1).item()
    finally:
        torch.set_num_threads(threads)




@check
def conv_val_loss_below_target(WaveNet, assignment):
    """A fresh WaveNet() trained by the grader's fixed recipe on whole names reaches the calibrated target."""
    target = load_target(assignment)
    if target["recipe"] != CONV_RECIPE:
        fail(f"the grader's recipe changed since {assignment} was calibrated: "
             f"run `python -m autograder calibrate {assignment}` (a course maintainer's job)")
    loss = train_fast_sequences(WaveNet, GRADING_SEED)
    if not math.isfinite(loss):
        fail(f"validation loss is {loss} after the grader's training run: the model diverged or produced NaN")
    if loss > target["threshold"]:
        fail(f"validation loss {loss:.4f} after the grader's fixed run ({CONV_RECIPE['steps']} AdamW steps of "
             f"{CONV_RECIPE['names_per_step']} names) is above the target {target['threshold']:.3f}: compare your "
             "levels with the tree's (a Tanh after every BatchNorm1d, dilations 1, 2, 4)")
