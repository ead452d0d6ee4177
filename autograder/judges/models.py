"""Hidden tests of whole models (their probes: :mod:`wavenet.checks.models`).

The validation-loss judge holds what the kernel never gets: the labels of the
evaluation inputs. It computes the loss of the logits the kernel returned and
compares it with the assignment's calibrated target.
"""
import functools
import math

import torch
import torch.nn.functional as F

from autograder.judges import judge
from wavenet.checks.models import RECIPE, load_target
from wavenet.checks.oracle import VOCAB
from wavenet.checks.verdict import fail


@judge("model_eval_mode")
def _(inp, d, block_size):
    B = inp["x"].shape[0]
    if d.shape("part") != (inp["B2"], VOCAB):
        fail(f"after set_training(model, False) a {(inp['B2'], block_size)} batch gives logits of shape "
             f"{d.shape('part')}, not {(inp['B2'], VOCAB)}")
    if d.shape("batch") != (B, VOCAB):
        fail(f"after set_training(model, False) a {(B, block_size)} batch gives logits of shape {d.shape('batch')}, "
             f"not {(B, VOCAB)}")
    one = d.tensor("one")
    if tuple(one.shape) != (1, VOCAB):
        fail(f"after set_training(model, False) a single example gives logits of shape {tuple(one.shape)}, "
             f"not {(1, VOCAB)}")
    if not torch.isfinite(one).all():
        fail("after set_training(model, False) a single example still gives non-finite logits: "
             "set_training must reach the BatchNorm1d layer in model.layers")


@functools.lru_cache(maxsize=None)
def labels(task):
    """The evaluation labels of ``task``, built in the grader's process from the course's data."""
    from wavenet.checks.tasks import build
    return build(task)["labels"]


def loss_of(logits, task):
    """Mean cross-entropy of the kernel's logits against the labels only the grader has."""
    y = labels(task)
    if tuple(logits.shape) != (y.shape[0], VOCAB):
        fail(f"the model's logits for the {y.shape[0]:,} evaluation inputs have shape {tuple(logits.shape)}, "
             f"not {(y.shape[0], VOCAB)}")
    return F.cross_entropy(logits.float(), y).item()


def below_target(loss, assignment, recipe, run, hint):
    target = load_target(assignment)
    if target["recipe"] != recipe:
        fail(f"the grader's recipe changed since {assignment} was calibrated: "
             f"run `python -m autograder calibrate {assignment}` (a course maintainer's job)")
    if not math.isfinite(loss):
        fail(f"validation loss is {loss} after the grader's training run: the model diverged or produced NaN")
    if loss > target["threshold"]:
        fail(f"validation loss {loss:.4f} after the grader's fixed run ({run}) is above the target "
             f"{target['threshold']:.3f}: {hint}")


@judge("val_loss")
def _(inp, d, assignment):
    loss = loss_of(d.tensor("logits"), "windows")
    below_target(loss, assignment, RECIPE, f"{RECIPE['steps']} AdamW steps, batch {RECIPE['batch_size']}",
                 "compare your layers with the lecture's (a Tanh after every BatchNorm1d, FlattenConsecutive(2) "
                 "at each level)")
