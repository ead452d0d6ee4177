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
from wavenet.train import smooth


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


def tree_of(t, dilations):
    """Nodes ``(level, position)`` and edges of the tree behind output position ``t`` (level 0: the input)."""
    top = len(dilations)
    nodes, edges, frontier = {(top, t)}, [], [t]
    for level in range(top, 0, -1):
        d = dilations[level - 1]  # a level-l node fuses the two nodes below it d positions apart
        edges += [((level, p), (level - 1, q)) for p in frontier for q in (p - d, p)]
        frontier = [q for p in frontier for q in (p - d, p)]
        nodes |= {(level - 1, q) for q in frontier}
    return nodes, edges


def plot_shared_nodes(name, a, b, dilations=(1, 2, 4)):
    """The trees of output positions ``a`` (black) and ``b`` (orange) over ``name``, '.'-padded on the left.

    Filled nodes belong to both trees: the convolution computes them once, a
    loop over positions once per tree (chapter 8).
    """
    pad, top = sum(dilations), len(dilations)
    text = "." * pad + name
    (a_nodes, a_edges), (b_nodes, b_edges) = tree_of(a, dilations), tree_of(b, dilations)
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for (l1, p1), (l2, p2) in b_edges:
        ax.plot([p1, p2], [l1, l2], color="tab:orange", lw=2.5, alpha=0.6, zorder=1)
    for (l1, p1), (l2, p2) in a_edges:
        ax.plot([p1, p2], [l1, l2], color="black", lw=1, zorder=2)
    for level in range(top + 1):
        for p in range(-pad + sum(dilations[:level]), len(name)):  # each level has d fewer nodes on the left
            shared = (level, p) in a_nodes and (level, p) in b_nodes
            ax.scatter(p, level, s=140, zorder=3, edgecolor="gray", color="tab:purple" if shared else "white")
    for p in range(-pad, len(name)):
        ax.annotate(text[p + pad], (p, -0.45), ha="center", fontsize=11, family="monospace")
    ax.set_yticks(range(top + 1), ["input"] + [f"level {i + 1} (d={d})" for i, d in enumerate(dilations)])
    ax.set_xticks(range(-pad, len(name)))
    ax.set_xlabel("position (negative: padding)")
    ax.set_ylim(-0.8, top + 0.4)
    ax.set_title(f"trees of positions {a} (black) and {b} (orange); filled nodes are computed once, used by both")
    fig.tight_layout()
    plt.show()


def print_names(names, seen=None, width=76):
    """Print sampled names wrapped to ``width``; with ``seen``, count the new ones."""
    print(textwrap.fill(", ".join(names), width))
    if seen is not None:
        print(f"{sum(n not in seen for n in names)} of {len(names)} are not in the dataset")
