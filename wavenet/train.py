"""Training, evaluation and sampling for the hand-written models.

:func:`train` is the lecture's loop (same random draws, same updates, so the
same numbers) with the per-step Python overhead trimmed: losses stay on the
device until the end instead of a ``.item()`` every step, and the update is one
fused ``_foreach`` call instead of a loop over parameters.
"""
import time

import torch
import torch.nn.functional as F

from data.dataset import itos


def set_training(model, training):
    """Put every layer that has a ``training`` flag in train or eval mode."""
    for layer in getattr(model, "layers", [model]):
        if hasattr(layer, "training"):
            layer.training = training
        if hasattr(layer, "layers"):
            set_training(layer, training)


def train(model, X, Y, recipe, log=print, loss_fn=None):
    """Run ``recipe.steps`` steps of minibatch SGD on ``model`` in place.

    Args:
        model: a callable with ``parameters()`` mapping ``(B, T)`` to ``(B, 27)``.
        X, Y: the training split, ``(N, T)`` and ``(N,)``.
        recipe: a :class:`wavenet.config.Recipe`.
        log: called with a progress line every ``recipe.log_every`` steps.
        loss_fn: ``loss_fn(model, xb, yb)`` -> scalar loss of one batch; default
            cross-entropy of ``model(xb)`` against ``yb`` (chapter 8 passes the
            loss over whole names).

    Returns:
        float tensor ``(steps,)`` of per-step training losses (for plotting).
    """
    params = model.parameters()
    set_training(model, True)
    dev = params[0].device
    losses = torch.empty(recipe.steps, device=dev)
    t0 = time.time()
    for i in range(recipe.steps):
        ix = torch.randint(0, X.shape[0], (recipe.batch_size,))  # drawn on CPU, as in the lecture
        xb, yb = X[ix].to(dev), Y[ix].to(dev)                     # (B, T), (B,)
        loss = loss_fn(model, xb, yb) if loss_fn else F.cross_entropy(model(xb), yb)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            torch._foreach_add_(params, [p.grad for p in params], alpha=-recipe.lr_at(i))
            losses[i] = loss
        if log and (i % recipe.log_every == 0 or i == recipe.steps - 1):
            log(f"{i:7d}/{recipe.steps:7d}: loss {loss.item():.4f}  ({time.time() - t0:.0f}s)")
    set_training(model, False)
    return losses.cpu()


@torch.no_grad()
def evaluate(model, X, Y, batch_size=None):
    """Mean cross-entropy of ``model`` in eval mode over a whole split.

    With ``batch_size`` set, the split is scored in chunks (eval mode couples
    no examples, so the result is the same up to float rounding).
    """
    set_training(model, False)
    dev = model.parameters()[0].device
    if batch_size is None:
        return F.cross_entropy(model(X.to(dev)), Y.to(dev)).item()
    total = 0.0
    for i in range(0, X.shape[0], batch_size):
        xb, yb = X[i:i + batch_size].to(dev), Y[i:i + batch_size].to(dev)
        total += F.cross_entropy(model(xb), yb, reduction="sum").item()
    return total / X.shape[0]


@torch.no_grad()
def sample(model, block_size, n=20, generator=None):
    """Draw ``n`` names, one character at a time, until the model emits '.'."""
    set_training(model, False)
    dev = model.parameters()[0].device
    names = []
    for _ in range(n):
        context, out = [0] * block_size, []
        while True:
            logits = model(torch.tensor([context], device=dev))  # (1, 27)
            probs = F.softmax(logits, dim=1).cpu()
            ix = torch.multinomial(probs, num_samples=1, generator=generator).item()
            if ix == 0:
                break
            out.append(itos[ix])
            context = context[1:] + [ix]
        names.append("".join(out))
    return names


def smooth(losses, window=1000):
    """Mean of each run of ``window`` steps: ``(steps,) -> (steps/window,)``."""
    n = losses.shape[0] // window * window
    return losses[:n].view(-1, window).mean(1)
