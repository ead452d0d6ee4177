"""The book's figures and printouts: loss plots, run curves, sampled names.

Nothing here changes what a model computes; the chapters keep the lecture's
order of random calls (seed, build, train) in plain sight.
"""
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import EngFormatter, MaxNLocator

from wavenet.results import window
from wavenet.train import smooth, to_device  # noqa: F401  (to_device: the chapters import it from here)


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


def plot_runs(records, path=None, title="", ylim=None):
    """Train (dashed: mean minibatch loss) and val (solid) curves of harness records; PNG at ``path``."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, r in enumerate(records):
        h, c = r["history"], f"C{i % 10}"
        ax.plot(h["step"], h["train"], ls="--", lw=1, color=c)
        ax.plot(h["step"], h["val"], lw=1.6, color=c, label=f"{r['name']} (val {r['final']['val']:.4f})")
    ax.set(xlabel="step", ylabel="loss", title=title or "train (dashed, minibatch mean) and val (solid)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def print_names(names, seen=None, width=76):
    """Print sampled names wrapped to ``width``; with ``seen``, count the new ones."""
    print(textwrap.fill(", ".join(names), width))
    if seen is not None:
        print(f"{sum(n not in seen for n in names)} of {len(names)} are not in the dataset")
