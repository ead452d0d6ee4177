"""The lecture's models, built from :mod:`wavenet.nn`.

Each builder draws its random weights from torch's global generator, in the
lecture's order, so ``torch.manual_seed(42)`` followed by a builder gives the
lecture's initialization exactly.
"""
import torch

from wavenet.nn import BatchNorm1d, Dropout, Embedding, Flatten, FlattenConsecutive, Linear, Sequential, Tanh

VOCAB_SIZE = 27


def _finish(model):
    """Shrink the last layer (not confidently wrong at init) and turn on grads."""
    with torch.no_grad():
        model.layers[-1].weight *= 0.1
    for p in model.parameters():
        p.requires_grad = True
    return model


def mlp(block_size=3, n_embd=10, n_hidden=200, vocab_size=VOCAB_SIZE, batchnorm=BatchNorm1d, depth=1):
    """Hidden layers over the whole flattened context: one in chapters 1, 2 and 4.

    ``mlp(3)`` has 12,097 parameters; ``mlp(8)`` has 22,097. ``depth`` stacks
    more hidden layers of ``n_hidden`` (chapter 9's harness; not in the lecture).
    """
    layers = [Embedding(vocab_size, n_embd), Flatten()]       # (B, T) -> (B, T, n_embd) -> (B, T*n_embd)
    fan_in = n_embd * block_size
    for _ in range(depth):
        layers += [Linear(fan_in, n_hidden, bias=False),      # (B, n_hidden)
                   batchnorm(n_hidden), Tanh()]
        fan_in = n_hidden
    layers.append(Linear(n_hidden, vocab_size))                # (B, vocab_size)
    return _finish(Sequential(layers))


def hierarchical(block_size=8, n_embd=10, n_hidden=68, vocab_size=VOCAB_SIZE, batchnorm=BatchNorm1d):
    """WaveNet-style tree: fuse 2 neighbours per level, log2(block_size) levels.

    ``hierarchical()`` has 22,397 parameters; ``hierarchical(n_embd=24,
    n_hidden=128)`` has 76,579.
    """
    levels = block_size.bit_length() - 1
    if 2**levels != block_size:
        raise ValueError(f"block_size must be a power of 2, got {block_size}")
    layers = [Embedding(vocab_size, n_embd)]                   # (B, 8) -> (B, 8, n_embd)
    fan_in = n_embd
    for _ in range(levels):
        layers += [
            FlattenConsecutive(2),                             # (B, T, C) -> (B, T/2, 2C)
            Linear(fan_in * 2, n_hidden, bias=False),          # (B, T/2, n_hidden)
            batchnorm(n_hidden), Tanh(),
        ]
        fan_in = n_hidden
    layers.append(Linear(n_hidden, vocab_size))                # (B, vocab_size)
    return _finish(Sequential(layers))


def add_dropout(model, p):
    """Put a :class:`~wavenet.nn.Dropout` ``(p)`` after every ``Tanh`` of ``model.layers``, in place.

    For chapter 9's harness, on any of the course's models (the tree, the MLP,
    the convolutional ``WaveNet``); it draws no random numbers, so the init is unchanged.
    """
    model.layers = [m for layer in model.layers for m in ([layer, Dropout(p)] if isinstance(layer, Tanh) else [layer])]
    return model


def count_params(model):
    """Total number of scalars in ``model.parameters()``."""
    return sum(p.nelement() for p in model.parameters())
