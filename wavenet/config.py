"""Settings shared by the book, the harness and the benchmarks, in one place.

``COURSE_FAST=1`` shortens every training run 100x (for CI and quick looks);
every cell still runs. ``COURSE_DEVICE`` overrides the device (default: CUDA
when present, else CPU).
"""
import math
import os
from dataclasses import dataclass, replace

import torch

FAST = os.environ.get("COURSE_FAST", "") not in ("", "0")
FAST_FACTOR = 100


@dataclass(frozen=True)
class Recipe:
    """How to train: by default the lecture's plain SGD with a step decay, batch 32.

    ``optimizer="adamw"`` with ``schedule="cosine"`` is the grader's fast recipe
    (and chapter 9's): the learning rate falls from ``lr`` to 0 along a half cosine,
    after ``warmup`` steps of a linear ramp.
    """
    steps: int = 200_000
    batch_size: int = 32
    lr: float = 0.1
    decay_at: int = 150_000  # step schedule: lr becomes lr_after from this step on
    lr_after: float = 0.01
    log_every: int = 10_000
    seed: int = 42
    optimizer: str = "sgd"   # sgd | adamw
    schedule: str = "step"   # step | cosine
    weight_decay: float = 0.0
    warmup: int = 0          # cosine schedule: steps of linear warmup first

    def lr_at(self, step):
        """Learning rate of ``step``: the lecture's step decay, or warmup then a half cosine to 0."""
        if self.schedule == "step":
            return self.lr if step < self.decay_at else self.lr_after
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * 0.5 * (1 + math.cos(math.pi * t))


LECTURE = Recipe()


def shorten(r, fast=None):
    """``r`` 100x shorter when ``COURSE_FAST`` is set (or ``fast``): steps, decay point, warmup, logging."""
    if not (FAST if fast is None else fast):
        return r
    k = FAST_FACTOR
    return replace(r, steps=max(1, r.steps // k), decay_at=r.decay_at // k, warmup=r.warmup // k,
                   log_every=max(1, r.log_every // k))


def recipe(fast=None, **overrides):
    """The lecture's recipe, shortened when ``COURSE_FAST`` is set."""
    return shorten(replace(LECTURE, **overrides), fast)


def device():
    """``torch.device`` to train on: ``COURSE_DEVICE``, else CUDA if present, else CPU."""
    name = os.environ.get("COURSE_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
