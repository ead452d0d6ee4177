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


class TooSlow(RuntimeError):
    """A training run passed its time limit (``step`` of ``steps`` done)."""

    def __init__(self, step, steps, seconds):
        super().__init__(f"stopped after {seconds:.0f} s at step {step}/{steps}")
        self.step, self.steps = step, steps


def unique_parameters(model):
    """``model.parameters()`` without repeats, each a leaf that requires grad."""
    params = list({id(p): p for p in model.parameters()}.values())
    for p in params:
        if p.is_leaf and not p.requires_grad:
            p.requires_grad_(True)
    return params


def train(model, X, Y, recipe, log=print, loss_fn=None, generator=None, time_limit=None):
    """Run ``recipe.steps`` minibatch steps on ``model`` in place.

    With the lecture's recipe (plain SGD, step decay) this takes exactly the
    lecture's random draws and updates.

    Args:
        model: a callable with ``parameters()`` mapping ``(B, T)`` to ``(B, 27)``.
        X, Y: the training split, ``(N, T)`` and ``(N,)``.
        recipe: a :class:`wavenet.config.Recipe`.
        log: called with a progress line every ``recipe.log_every`` steps.
        loss_fn: ``loss_fn(model, xb, yb)`` -> scalar loss of one batch; default
            cross-entropy of ``model(xb)`` against ``yb`` (chapter 8 passes the
            loss over whole names).
        generator: draws the minibatches (default: torch's global generator, as in the lecture).
        time_limit: seconds; a slower run raises :class:`TooSlow`.

    Returns:
        float tensor ``(steps,)`` of per-step training losses (for plotting).
    """
    params = unique_parameters(model)
    set_training(model, True)
    dev = params[0].device
    opt = None
    if recipe.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True)
    elif recipe.optimizer != "sgd":
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}: sgd or adamw")
    losses = torch.empty(recipe.steps, device=dev)
    t0 = time.time()
    for i in range(recipe.steps):
        ix = torch.randint(0, X.shape[0], (recipe.batch_size,), generator=generator)  # drawn on CPU, as in the lecture
        xb, yb = X[ix].to(dev), Y[ix].to(dev)                     # (B, T), (B,)
        loss = loss_fn(model, xb, yb) if loss_fn else F.cross_entropy(model(xb), yb)
        for p in params:
            p.grad = None
        loss.backward()
        lr = recipe.lr_at(i)
        with torch.no_grad():
            if opt is None:
                torch._foreach_add_(params, [p.grad for p in params], alpha=-lr)
            else:
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.step()
            losses[i] = loss
        if log and (i % recipe.log_every == 0 or i == recipe.steps - 1):
            log(f"{i:7d}/{recipe.steps:7d}: loss {loss.item():.4f}  ({time.time() - t0:.0f}s)")
        if time_limit is not None and i % 20 == 19 and time.time() - t0 > time_limit:
            raise TooSlow(i + 1, recipe.steps, time.time() - t0)
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
