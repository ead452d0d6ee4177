"""The book's training loop is the lecture's loop, only faster."""
import torch
import torch.nn.functional as F

from wavenet.config import recipe
from wavenet.models import hierarchical
from wavenet.train import evaluate, sample, smooth, train


def lecture_loop(model, X, Y, steps, batch_size=32):
    """The lecture's eager loop, verbatim in spirit: .item() per step, a Python update loop."""
    parameters = model.parameters()
    lossi = []
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (batch_size,))
        logits = model(X[ix])
        loss = F.cross_entropy(logits, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.log10().item())
    return lossi


def test_train_takes_the_same_steps_as_the_lecture_loop(splits8):
    """Same seed, same draws, same updates: the parameters agree after 300 steps."""
    X, Y = splits8["train"]
    torch.manual_seed(42)
    ours = hierarchical()
    train(ours, X, Y, recipe(fast=False, steps=300, decay_at=150), log=None)
    torch.manual_seed(42)
    theirs = hierarchical()
    lecture_loop(theirs, X, Y, steps=300)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the running statistics evolved identically too
    torch.testing.assert_close(ours.layers[3].running_var, theirs.layers[3].running_var)


def test_train_logs_progress_and_leaves_model_in_eval_mode(splits8):
    """Progress lines are emitted; afterwards BatchNorm uses running statistics."""
    X, Y = splits8["train"]
    torch.manual_seed(0)
    model = hierarchical()
    lines = []
    losses = train(model, X, Y, recipe(fast=False, steps=20, log_every=10), log=lines.append)
    assert losses.shape == (20,) and len(lines) == 3  # steps 0, 10 and the last
    assert all(not layer.training for layer in model.layers if hasattr(layer, "training"))


def test_evaluate_in_chunks_equals_whole_split(splits8):
    """Chunked scoring gives the same mean loss as scoring the split at once."""
    X, Y = splits8["val"]
    torch.manual_seed(0)
    model = hierarchical()
    assert abs(evaluate(model, X, Y) - evaluate(model, X, Y, batch_size=5000)) < 1e-5


def test_sample_returns_names_of_letters():
    """Samples are strings over a..z, one per request, reproducible from a generator."""
    torch.manual_seed(0)
    model = hierarchical()
    names = sample(model, 8, n=5, generator=torch.Generator().manual_seed(1))
    assert len(names) == 5 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in names)
    assert names == sample(model, 8, n=5, generator=torch.Generator().manual_seed(1))


def test_smooth_averages_windows():
    """view(-1, window).mean(1): 2,500 steps in windows of 1,000 give 2 points."""
    torch.testing.assert_close(smooth(torch.arange(2500.0), 1000), torch.tensor([499.5, 1499.5]))


def test_fast_recipe_is_100x_shorter():
    """COURSE_FAST shortens steps and the decay point alike."""
    r = recipe(fast=True)
    assert (r.steps, r.decay_at, r.batch_size) == (2000, 1500, 32)
