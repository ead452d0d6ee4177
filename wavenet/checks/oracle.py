"""torch as the oracle: the reference computations the judges compare learners' data with.

The lecture's BatchNorm1d normalises with the *unbiased* batch variance
(``x.var(dims)``) where ``torch.nn.BatchNorm1d`` normalises with the biased
one; both keep the unbiased variance as the running variance. So outputs are
compared with ``F.batch_norm`` in its eval form fed the lecture's statistics,
and running statistics with ``torch.nn.BatchNorm1d`` fed the same batches
(``tests/test_checks_oracle.py`` pins both torch facts).
"""
import torch
import torch.nn.functional as F

VOCAB = 27


def close(a, b, rtol=1e-4, atol=1e-4):
    """Same shape and values within tolerance (compared in float32)."""
    return tuple(a.shape) == tuple(b.shape) and torch.allclose(a.detach().float(), b.detach().float(),
                                                              rtol=rtol, atol=atol, equal_nan=False)


def maxdiff(a, b):
    return (a.detach().float() - b.detach().float()).abs().max().item()


def bn_dims(ndim):
    """Every dim but the channel (last) one."""
    return tuple(range(ndim - 1))


def bn_train(x, gamma, beta, eps):
    """The lecture's training-mode BatchNorm1d: batch mean and *unbiased* batch variance."""
    C = x.shape[-1]
    dims = bn_dims(x.ndim)
    mean, var = x.mean(dims), x.var(dims)  # (C,), (C,)
    return F.batch_norm(x.reshape(-1, C), mean, var, gamma, beta, training=False, eps=eps).view(x.shape)


def bn_train_biased(x, gamma, beta, eps):
    """torch's training-mode normalisation (biased variance): the lecture's differs."""
    C = x.shape[-1]
    return F.batch_norm(x.reshape(-1, C), None, None, gamma, beta, training=True, eps=eps).view(x.shape)


def bn_eval(x, gamma, beta, mean, var, eps):
    """Eval mode: normalise with given statistics (C values each)."""
    C = x.shape[-1]
    return F.batch_norm(x.reshape(-1, C), mean.reshape(-1), var.reshape(-1), gamma, beta, training=False,
                        eps=eps).view(x.shape)


def bn_running(batches, eps, momentum, start_mean, start_var):
    """``torch.nn.BatchNorm1d``'s running statistics after each batch, from the given start:
    ``[(mean, var), ...]`` (channels last; 3-D input is fed as ``(N, C, L)``)."""
    C = batches[0].shape[-1]
    ref = torch.nn.BatchNorm1d(C, eps=eps, momentum=momentum)
    out = []
    with torch.no_grad():
        ref.running_mean.copy_(start_mean.reshape(-1))
        ref.running_var.copy_(start_var.reshape(-1))
        for x in batches:
            ref(x if x.ndim == 2 else x.permute(0, 2, 1))
            out.append((ref.running_mean.clone(), ref.running_var.clone()))
    return out


def _count(layers):
    return sum(p.numel() for layer in layers for p in layer.parameters())


def mlp_count(block_size, n_embd, n_hidden):
    """Parameters of the lecture's MLP, built from torch.nn."""
    nn = torch.nn
    return _count([nn.Embedding(VOCAB, n_embd), nn.Linear(n_embd * block_size, n_hidden, bias=False),
                   nn.BatchNorm1d(n_hidden), nn.Linear(n_hidden, VOCAB)])


def hierarchical_count(block_size, n_embd, n_hidden):
    """Parameters of the lecture's hierarchical model, built from torch.nn."""
    nn = torch.nn
    layers, fan_in = [nn.Embedding(VOCAB, n_embd)], n_embd
    for _ in range(block_size.bit_length() - 1):
        layers += [nn.Linear(fan_in * 2, n_hidden, bias=False), nn.BatchNorm1d(n_hidden)]
        fan_in = n_hidden
    layers.append(nn.Linear(n_hidden, VOCAB))
    return _count(layers)


def conv_count(n_embd, n_hidden, levels):
    """Parameters of the tree written as kernel-2 convolutions, built from torch.nn."""
    nn = torch.nn
    layers, fan_in = [nn.Embedding(VOCAB, n_embd)], n_embd
    for _ in range(levels):
        layers += [nn.Conv1d(fan_in, n_hidden, 2, bias=False), nn.BatchNorm1d(n_hidden)]
        fan_in = n_hidden
    layers.append(nn.Linear(n_hidden, VOCAB))
    return _count(layers)


def conv1d_last(x, W, dilation):
    """torch's conv1d on channels-last input, no padding: (B, T, C_in) -> (B, T - dilation, C_out)."""
    return F.conv1d(x.transpose(1, 2), W, dilation=dilation).transpose(1, 2)


def tree_logits(tree, windows, eps=1e-5):
    """The chapter-5 tree on (N, 8) windows with torch ops, eval-mode batch norm: (N, 27).

    ``tree``: ``{"emb": (27, C), "lin": [(2C, H), (2H, H), (2H, H)], "bn": [(gamma, beta, mean, var)] * 3,
    "head": ((H, 27), (27,))}``.
    """
    x = tree["emb"][windows]                                         # (N, 8, C)
    for W, (g, b, m, v) in zip(tree["lin"], tree["bn"]):
        N, T, C = x.shape
        x = x.reshape(N, T // 2, 2 * C) @ W                          # (N, T/2, H): fuse neighbours
        x = torch.tanh(g * (x - m) / torch.sqrt(v + eps) + b)
    W, b = tree["head"]
    return x.squeeze(1) @ W + b                                      # (N, 27)
