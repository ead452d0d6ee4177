"""The lecture's dataset: vocabulary, seeded word split, and context windows.

Every name becomes ``len(name) + 1`` examples: each character, and the closing
``.``, is predicted from the ``block_size`` characters before it (``.``-padded).
"""
import random

import torch

from wavenet.data.names import read_words

# '.' both starts (as padding) and ends every name; a-z follow it.
itos = {0: "."} | {i + 1: ch for i, ch in enumerate("abcdefghijklmnopqrstuvwxyz")}
stoi = {ch: i for i, ch in itos.items()}
vocab_size = len(itos)  # 27


def encode(s):
    """'emma' -> [5, 13, 13, 1]."""
    return [stoi[ch] for ch in s]


def decode(ix):
    """[5, 13, 13, 1] -> 'emma'."""
    return "".join(itos[int(i)] for i in ix)


def split_words(words, seed=42):
    """Shuffle a copy of ``words`` with ``random.seed(seed)``; split 80/10/10.

    Returns:
        dict with keys ``train``, ``val``, ``test`` mapping to lists of words.
    """
    words = list(words)
    # the lecture's random.seed(seed); random.shuffle(words), with a generator of its own: another thread
    # drawing from the global one meanwhile (a Dask worker's event loop does) would change the split
    rng = random.Random(seed)
    rng.shuffle(words)
    random.setstate(rng.getstate())  # the global state the lecture leaves behind, as before
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return {"train": words[:n1], "val": words[n1:n2], "test": words[n2:]}


def build_dataset(words, block_size):
    """Turn words into (context, next character) pairs.

    Args:
        words: list of lower-case names.
        block_size: how many previous characters form the context.

    Returns:
        X: int64 tensor of shape ``(N, block_size)``; Y: int64 tensor ``(N,)``.

    Example:
        >>> X, Y = build_dataset(["emma"], 3)
        >>> decode(X[1]), decode([Y[1]])
        ('..e', 'm')
    """
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ix in encode(w + "."):
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X, dtype=torch.long), torch.tensor(Y, dtype=torch.long)


def name_sequences(words, pad_to=None):
    """Every name as one input row and one target row, padded on the right.

    The input is '.' followed by the name and the target is the name followed by
    '.', so position ``t`` holds exactly the ``t``-th example ``build_dataset``
    makes from that name. Padding is '.' in the input and ``-1`` in the target
    (``F.cross_entropy(..., ignore_index=-1)`` skips it).

    Returns:
        X ``(N, T)``, Y ``(N, T)`` int64, with ``T = pad_to or max(len) + 1``.

    Example:
        >>> X, Y = name_sequences(["emma", "ava"])
        >>> X.tolist(), Y.tolist()
        ([[0, 5, 13, 13, 1], [0, 1, 22, 1, 0]], [[5, 13, 13, 1, 0], [1, 22, 1, 0, -1]])
    """
    T = pad_to or max(len(w) for w in words) + 1
    X = torch.zeros((len(words), T), dtype=torch.long)
    Y = torch.full((len(words), T), -1, dtype=torch.long)
    for i, w in enumerate(words):
        ix = encode(w)
        X[i, 1:len(ix) + 1] = torch.tensor(ix, dtype=torch.long)
        Y[i, :len(ix) + 1] = torch.tensor(ix + [0], dtype=torch.long)
    return X, Y


def load_splits(block_size=8, path=None, seed=42):
    """The lecture's train/val/test tensors for one context length.

    Returns:
        dict ``{"train": (X, Y), "val": (X, Y), "test": (X, Y)}``; with
        ``block_size=8`` the splits hold 182,625 / 22,655 / 22,866 examples.
    """
    parts = split_words(read_words(path), seed)
    return {name: build_dataset(ws, block_size) for name, ws in parts.items()}
