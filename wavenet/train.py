"""Training, evaluation and sampling for the hand-written models.

:func:`train` is the course's one training loop. It takes the lecture's random
draws and updates, and trims what a step costs besides the model itself: the
minibatch indices are drawn up front (the same stream as one draw per step),
the split lives on the device, losses stay there until the end instead of an
``.item()`` every step, and the update is two fused ``_foreach`` calls instead
of a loop over parameters. Three ways to run the step (``mode``):

- ``"eager"`` (the default): PyTorch's eager ops, exactly the lecture's
  arithmetic, so exactly the lecture's numbers.
- ``"compiled"``: forward, loss and backward through ``torch.compile``: fewer,
  fused kernels and less Python per step (about 1.5x on a CPU at batch 32,
  after some 20 s of compiling). The float rounding differs, so over many steps
  the run drifts away from the eager one, as a run with another seed would.
- ``"graph"`` (CUDA only): the eager step captured once in a CUDA graph and
  replayed, one launch per step instead of hundreds of small kernels.
"""
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from wavenet.data.dataset import itos

MODES = ("eager", "compiled", "graph")
CHUNK = 1000  # minibatches drawn at once: the indices take little memory whatever the number of steps


def set_training(model, training):
    """Put every layer that has a ``training`` flag in train or eval mode."""
    for layer in getattr(model, "layers", [model]):
        if hasattr(layer, "training"):
            layer.training = training
        if hasattr(layer, "layers"):
            set_training(layer, training)


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


def minibatches(n, steps, batch_size, generator=None, device="cpu"):
    """Row indices of every step's minibatch, ``(batch_size,)`` each, drawn ``CHUNK`` steps at a time.

    Drawn on the CPU, as in the lecture: ``torch.randint(0, n, (k, B))`` gives
    the same numbers as ``k`` draws of ``(B,)``, so a model that draws no random
    numbers of its own (no dropout) trains exactly as with one draw per step.
    """
    for start in range(0, steps, CHUNK):
        ix = torch.randint(0, n, (min(CHUNK, steps - start), batch_size), generator=generator)  # (k, B)
        yield from ix.to(device)                                                                # k x (B,)


def batch_loss(model, loss_fn, X, Y, ix):
    """Loss of the minibatch ``X[ix], Y[ix]``: ``loss_fn(model, xb, yb)``, default cross-entropy."""
    xb, yb = X[ix], Y[ix]                                  # (B, T), (B,) or (B, T)
    return loss_fn(model, xb, yb) if loss_fn else F.cross_entropy(model(xb), yb)


def make_step(model, params, X, Y, recipe, loss_fn=None, mode="eager"):
    """:func:`train`'s minibatch step: ``step(ix, lr) -> loss`` (detached, left on the device).

    Plain SGD adds ``-lr * grad`` to every parameter in two fused calls, with
    the lecture's roundings (one call in compiled mode, whose numbers are not
    bit-exact anyway: saves some 60 microseconds a step); AdamW is ``torch.optim.AdamW(foreach=True)``.
    ``mode="compiled"`` runs forward, loss and backward through
    ``torch.compile``; ``mode="graph"`` replays the step from a CUDA graph
    (:func:`graphed`).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: one of {MODES}")
    if recipe.optimizer not in ("sgd", "adamw"):
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}: sgd or adamw")
    dev, graph, exact = params[0].device, mode == "graph", mode != "compiled"
    if graph and dev.type != "cuda":
        raise ValueError(f"mode='graph' captures a CUDA graph; the model is on {dev}")
    opt = None
    if recipe.optimizer == "adamw":  # a captured step reads the learning rate from a tensor
        opt = torch.optim.AdamW(params, lr=torch.tensor(recipe.lr, device=dev) if graph else recipe.lr,
                                weight_decay=recipe.weight_decay, foreach=True, capturable=graph)

    def loss_of(ix):
        return batch_loss(model, loss_fn, X, Y, ix)
    if mode == "compiled":
        # every run's model adds entries to loss_of's one cache; past 8, torch.compile would
        # silently run it eagerly, so each run starts from an empty cache (inductor's disk cache stays)
        torch.compiler.reset()
        loss_of = torch.compile(loss_of)

    def step(ix, lr):
        loss = loss_of(ix)
        grads = torch.autograd.grad(loss, params, allow_unused=True)  # None where the loss skips a parameter
        with torch.no_grad():
            if opt is None:
                ps, gs = zip(*[(p, g) for p, g in zip(params, grads) if g is not None])
                if exact:
                    torch._foreach_mul_(gs, -lr)  # the lecture's -lr * p.grad ...
                    torch._foreach_add_(ps, gs)   # ... added to p: the same roundings, one call each
                else:  # one call, p + (-lr) * g fused (a compiled step's numbers are not bit-exact anyway)
                    torch._foreach_add_(ps, gs, alpha=-lr)
            else:
                if not graph:  # a graph's optimizer holds the tensor that graphed() fills
                    for group in opt.param_groups:
                        group["lr"] = lr
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()
        return loss.detach()

    if graph:
        return graphed(step, model, opt.param_groups[0]["lr"] if opt else torch.zeros((), device=dev))
    return step


def graphed(step, model, lr, warmup=3):
    """``step(ix, lr)`` replayed from a CUDA graph after ``warmup`` eager steps on a side stream.

    A graph reads and writes fixed addresses: the minibatch indices are copied
    into one buffer, each step's learning rate is filled into the 0-d tensor
    ``lr`` that the captured step reads, and layer state stays in place
    (:func:`keep_state_in_place`). The warm-up steps are real steps; capturing
    records the step without running it, so it is replayed right after.
    """
    state = {"calls": 0, "graph": None}

    def run(ix, lr_now):
        lr.fill_(lr_now)
        state["calls"] += 1
        if state["calls"] <= warmup:
            return on_side_stream(step, ix, lr)
        if state["graph"] is None:
            state["ix"], state["graph"] = ix.clone(), torch.cuda.CUDAGraph()
            with torch.cuda.graph(state["graph"]):
                state["loss"] = keep_state_in_place(step, model)(state["ix"], lr)
        state["ix"].copy_(ix)
        state["graph"].replay()
        return state["loss"]
    return run


def keep_state_in_place(step, model):
    """``step`` that leaves every tensor a layer holds at its address.

    BatchNorm replaces its running statistics with new tensors each step; here
    the new values are copied into the old tensors and the old ones put back.
    The numbers are the same; what changes is that a step reads its state
    where the previous step wrote it, as a replayed CUDA graph does.
    """
    layers = [model]
    for layer in layers:  # the list grows while we walk it: nested layers too
        layers += [sub for sub in getattr(layer, "layers", []) if sub is not layer]

    def wrapped(*args):
        before = [(layer, dict(vars(layer))) for layer in layers]
        out = step(*args)
        for layer, old in before:
            for name, new in list(vars(layer).items()):
                was = old.get(name)
                if isinstance(was, torch.Tensor) and isinstance(new, torch.Tensor) and new is not was \
                        and new.shape == was.shape and not was.requires_grad:
                    was.copy_(new.detach())
                    setattr(layer, name, was)
        return out
    return wrapped


def on_side_stream(fn, *args):
    """``fn(*args)`` on a side CUDA stream, after the current stream's work and before what follows.

    ``torch.cuda.graph`` wants the steps before a capture there, so that no
    lazily started work is left on the stream it captures.
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = fn(*args)
    torch.cuda.current_stream().wait_stream(side)
    return out


@contextmanager
def fixed_threads(n):
    """torch uses ``n`` threads inside the block (``None``: as set), and as many as before after it."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(model, X, Y, recipe, log=print, loss_fn=None, generator=None, time_limit=None,
          mode="eager", threads=1, checkpoint=None, batches=None):
    """Run ``recipe.steps`` minibatch steps on ``model`` in place.

    With the lecture's recipe (plain SGD, step decay) and ``mode="eager"``
    this takes exactly the lecture's random draws and updates.

    Args:
        model: a callable with ``parameters()`` mapping ``(B, T)`` to ``(B, 27)``.
        X, Y: the training split, ``(N, T)`` and ``(N,)``; copied to the model's device once.
        recipe: a :class:`wavenet.config.Recipe`.
        log: called with a progress line every ``recipe.log_every`` steps.
        loss_fn: ``loss_fn(model, xb, yb)`` -> scalar loss of one batch; default
            cross-entropy of ``model(xb)`` against ``yb`` (chapter 8 passes the
            loss over whole names).
        generator: draws the minibatches (default: torch's global generator, as in the lecture).
        time_limit: seconds; a slower run raises :class:`TooSlow`.
        mode: ``"eager"``, ``"compiled"`` or ``"graph"`` (CUDA); see the module docstring.
        threads: torch threads while training, a fixed count so that a busy machine
            does not slow the run by oversubscription (``None``: torch's setting).
        checkpoint: called as ``checkpoint(step, losses)`` after every ``recipe.log_every``-th
            step and the last, ``losses`` the first ``step`` losses; training mode is
            back on afterwards (the harness scores the val split there).
        batches: the row indices of each step's minibatch, ``(batch_size,)`` tensors
            (default :func:`minibatches`: uniform draws from ``generator``).

    Returns:
        float tensor ``(steps,)`` of per-step training losses (for plotting).
    """
    params = unique_parameters(model)
    dev = params[0].device
    X, Y = X.to(dev), Y.to(dev)  # the split lives on the device: no copy per step
    step = make_step(model, params, X, Y, recipe, loss_fn, mode)
    if batches is None:
        batches = minibatches(X.shape[0], recipe.steps, recipe.batch_size, generator, dev)
    losses = torch.empty(recipe.steps, device=dev)
    set_training(model, True)
    t0 = time.time()
    with fixed_threads(threads):
        for i, ix in zip(range(recipe.steps), batches):
            loss = step(ix, recipe.lr_at(i))
            losses[i] = loss  # on the device: the loop never waits for a step to finish
            if log and (i % recipe.log_every == 0 or i == recipe.steps - 1):
                log(f"{i:7d}/{recipe.steps:7d}: loss {loss.item():.4f}  ({time.time() - t0:.0f}s)")
            if checkpoint and ((i + 1) % recipe.log_every == 0 or i == recipe.steps - 1):
                checkpoint(i + 1, losses[:i + 1])
                set_training(model, True)
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
