"""Small helpers the book's pages share: moving a model to a device, loss plots.

Nothing here changes what a model computes; the chapters keep the lecture's
order of random calls (seed, build, train) in plain sight.
"""
import textwrap

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import EngFormatter, MaxNLocator

from wavenet.results import window
from wavenet.train import smooth


def to_device(model, device):
    """Move every tensor a model's layers hold (parameters and buffers) to ``device``.

    The model is built on the CPU first, so its random init is the lecture's
    whatever the device. Parameters stay leaves that require grad.

    Example:
        >>> model = to_device(mlp(3), torch.device("cpu"))
    """
    for layer in getattr(model, "layers", [model]):
        if hasattr(layer, "layers"):
            to_device(layer, device)
        for name, value in vars(layer).items():
            if isinstance(value, torch.Tensor):
                moved = value.detach().to(device)
                setattr(layer, name, moved.requires_grad_(value.requires_grad))
    return model


def _step_axis(ax):
    """A few round step ticks written as 50k, 100k, ..., and a light grid."""
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(alpha=0.3)


def plot_losses(losses, recipe, title=""):
    """Per-step training loss (left) beside its mean over each ``window`` steps (right)."""
    w = window(recipe.steps)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    ax1.plot(losses, lw=0.3, alpha=0.7)
    ax1.set(title="loss at every step (batch of 32)", xlabel="step", ylabel="loss")
    smoothed = smooth(losses, w)                        # (steps,) -> (steps/w,)
    steps = torch.arange(len(smoothed)) * w + w / 2     # centre of each window
    ax2.plot(steps, smoothed)
    ax2.set(title=f"mean of every {w} steps: view(-1, {w}).mean(1)", xlabel="step")
    for ax in (ax1, ax2):
        ax.axvline(recipe.decay_at, color="gray", ls="--", lw=0.8,
                   label=f"learning rate {recipe.lr} -> {recipe.lr_after}")
        _step_axis(ax)
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


def plot_smoothed(curves, recipe, title=""):
    """Smoothed loss curves of several runs on one axis: ``{label: (steps/w,) list}``."""
    w = window(recipe.steps)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for label, curve in curves.items():
        curve = torch.as_tensor(curve)
        ax.plot(torch.arange(len(curve)) * w + w / 2, curve, label=label)
    ax.axvline(recipe.decay_at, color="gray", ls="--", lw=0.8,
               label=f"learning rate {recipe.lr} -> {recipe.lr_after}")
    ax.set(xlabel="step", ylabel=f"training loss, mean of {w} steps", title=title)
    _step_axis(ax)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()


def print_names(names, seen=None, width=76):
    """Print sampled names wrapped to ``width``; with ``seen``, count the new ones."""
    print(textwrap.fill(", ".join(names), width))
    if seen is not None:
        print(f"{sum(n not in seen for n in names)} of {len(names)} are not in the dataset")
