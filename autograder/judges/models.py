"""Hidden tests of whole models (their probes: :mod:`wavenet.checks.models`).

The validation-loss judge holds what the kernel never gets: the labels of the
evaluation inputs. It computes the loss of the logits the kernel returned and
compares it with the assignment's calibrated target.
"""
import functools

import torch.nn.functional as F

from autograder.judges import judge
from wavenet.checks.models import below_target, model_eval_single
from wavenet.checks.probe import PROBES
from wavenet.checks.oracle import VOCAB
from wavenet.checks.verdict import fail


judge("model_eval_mode")(model_eval_single)


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


@judge("val_loss")
def _(inp, d, assignment):
    loss = loss_of(d.tensor("logits"), "windows")
    spec = PROBES["val_loss"].val_loss
    below_target(loss, assignment, spec["recipe"], spec["run"], spec["hint"])
