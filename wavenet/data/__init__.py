"""Data for the course: the 32,033 names and the lecture's dataset recipe.

One module serves the book, the exercises and the grader::

    from wavenet.data import load_splits
    splits = load_splits(block_size=8)
    Xtr, Ytr = splits["train"]        # (182625, 8), (182625,)
"""
from wavenet.data.names import NAMES_SHA256, NAMES_URL, ensure_names, read_words
from wavenet.data.dataset import (
    build_dataset, decode, encode, itos, load_splits, name_sequences, split_words, stoi, vocab_size,
)

__all__ = [
    "NAMES_SHA256", "NAMES_URL", "ensure_names", "read_words",
    "build_dataset", "decode", "encode", "itos", "load_splits", "name_sequences", "split_words",
    "stoi", "vocab_size",
]
