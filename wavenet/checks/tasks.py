"""The validation-loss tests' data: what a model trains on, and what it is scored on.

The grader trains the layers a learner's model is made of on the training
split and scores them on *evaluation inputs* (:mod:`wavenet.checks.reference`);
a graded kernel sees none of it. Evaluation inputs are one example per validation name, at
a position drawn once with a fixed seed: two examples of the same name would
give each other's labels away (the next window holds this window's target),
one per name gives nothing away.

- ``windows`` (exercises 4 and 5): 8-character contexts, as in the lecture.
- ``names`` (exercise 8): whole names for training; for evaluation, the
  prefix ``'.' + name[:t]`` of each name, whose next character is the label.

:func:`build` makes a task with labels, in the grader's process (or on a
learner's own machine, for :func:`wavenet.checks.val_loss`). The windows are
public (a fixed seed, a public split): nothing computed in a kernel is ever
scored on them.
"""
import torch

EVAL_SEED = 0  # which position of each validation name is scored: fixed, so calibration and grading agree
TASKS = ("windows", "names")


def _positions(words, seed=EVAL_SEED):
    """One target position per word, in ``[0, len(word)]`` (``len(word)`` is the closing '.')."""
    gen = torch.Generator().manual_seed(seed)
    return [int(torch.randint(0, len(w) + 1, (1,), generator=gen)) for w in words]


def eval_windows(words, block_size=8, seed=EVAL_SEED):
    """One ``(context, next character)`` pair per word: X ``(N, block_size)``, Y ``(N,)``."""
    from wavenet.data import encode
    X, Y = [], []
    for w, t in zip(words, _positions(words, seed)):
        ix = [0] * block_size + encode(w) + [0]
        X.append(ix[t:t + block_size])
        Y.append(ix[t + block_size])
    return torch.tensor(X, dtype=torch.long), torch.tensor(Y, dtype=torch.long)


def eval_prefixes(words, seed=EVAL_SEED):
    """One prefix per word, ``'.' + word[:t]``, right-padded with '.': X ``(N, T)``, lengths ``(N,)``, Y ``(N,)``."""
    from wavenet.data import encode
    pos = _positions(words, seed)
    T = max(pos) + 1
    X = torch.zeros((len(words), T), dtype=torch.long)
    L = torch.tensor([t + 1 for t in pos], dtype=torch.long)
    Y = torch.empty(len(words), dtype=torch.long)
    for i, (w, t) in enumerate(zip(words, pos)):
        ix = encode(w) + [0]
        X[i, 1:t + 1] = torch.tensor(ix[:t], dtype=torch.long)
        Y[i] = ix[t]
    return X, L, Y


def build(task, words=None):
    """``{"train": (X, Y), "eval": (X, ...), "labels": Y}`` for ``task``, from the course's split."""
    from wavenet.data import build_dataset, name_sequences, read_words, split_words
    parts = split_words(words if words is not None else read_words())
    if task == "windows":
        Xe, Ye = eval_windows(parts["val"])
        return {"train": build_dataset(parts["train"], 8), "eval": (Xe,), "labels": Ye}
    if task == "names":
        Xe, Le, Ye = eval_prefixes(parts["val"])
        return {"train": name_sequences(parts["train"]), "eval": (Xe, Le), "labels": Ye}
    raise ValueError(f"unknown task {task!r}: one of {TASKS}")
