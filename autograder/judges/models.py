"""Hidden tests of whole models (their probes: :mod:`wavenet.checks.models`).

The validation-loss judge never uses a logit the kernel computed on the
evaluation inputs: the kernel described its layers and proved the
description; here the grader builds those layers, trains them from its own
seed with its fixed recipe and scores them on labels only it holds
(:func:`wavenet.checks.reference.score`), then compares the loss with the
assignment's calibrated target.
"""
import math

import torch

from autograder.judges import judge
from wavenet.checks.models import GRADING_SEED, RECIPE, load_target
from wavenet.checks.oracle import VOCAB
from wavenet.checks.verdict import fail


def grader_loss(test, inp, d):
    """The loss of the described layers after the grader's own run (fails when they are not the learner's)."""
    from wavenet.checks.reference import score
    return score(test, inp, d, GRADING_SEED)


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
    loss = grader_loss("val_loss", inp, d)
    below_target(loss, assignment, RECIPE, f"{RECIPE['steps']} AdamW steps, batch {RECIPE['batch_size']}",
                 "compare your layers with the lecture's (a Tanh after every BatchNorm1d, FlattenConsecutive(2) "
                 "at each level)")
