"""Calibrate a validation-loss target from the reference solution.

``python -m autograder calibrate 05_scaled_up`` runs the solution notebook's
cells (tests skipped) to get its ``build_model`` (or exercise 8's
``WaveNet``), and runs :func:`wavenet.checks.val_loss` once per seed: the
solution's layers described and proven as a graded kernel does, then built,
initialized and trained by the grader's own implementation
(:mod:`wavenet.checks.reference`) with the fixed recipe from that seed, and
scored on the evaluation inputs (one example per validation name,
:mod:`wavenet.checks.tasks`): the very training and scoring the hidden test uses. It writes
``wavenet/checks/targets/<name>.json`` with the per-seed losses, their mean
and std, and the threshold:

    threshold = mean + max(K_STD * std, MIN_MARGIN), rounded up to 3 decimals

The margin lets a correct model whose random draws differ from the solution's
(other init order, other layout) pass, while a model missing a nonlinearity or
a level of the tree does not. The calibration seeds differ from the grading
seed, so the threshold is not tuned to the exact run a learner gets.
"""
import json
import math
import statistics
import time

import torch

from autograder.assignments import Assignment, graded_cells
from autograder.notebook.judge import probe_call
from autograder.authoring.runner import run_notebook
from wavenet.checks import VAL_LOSS_TESTS, val_loss
from wavenet.checks.models import GRADING_SEED, TARGETS

SEEDS = (1, 2, 3, 4, 5)
K_STD = 5.0
MIN_MARGIN = 0.02


def trainer(assignment):
    """``(test name, the solution's model maker)`` for the assignment's validation-loss test."""
    nb = Assignment(assignment).notebook
    tests = [probe_call(c.source) for c in graded_cells(nb)]
    test = next((t[0] for t in tests if t and t[0] in VAL_LOSS_TESTS), None)
    if test is None:
        raise RuntimeError(f"{assignment} has no validation-loss test")
    result = run_notebook(nb, assignment, skip={c.metadata.nbgrader.grade_id for c in graded_cells(nb)})
    return test, result["namespace"][VAL_LOSS_TESTS[test]["object"]]


def calibrate(assignment, seeds=SEEDS, write=True, log=print):
    """Train the reference once per seed; return (and write) the target record."""
    test, make = trainer(assignment)
    losses, times = [], []
    for seed in seeds:
        t0 = time.time()
        losses.append(val_loss(test, make, seed=seed))
        times.append(time.time() - t0)
        log(f"seed {seed}: val loss {losses[-1]:.4f}  ({times[-1]:.1f} s)")
    mean = statistics.fmean(losses)
    std = statistics.stdev(losses) if len(losses) > 1 else 0.0
    margin = max(K_STD * std, MIN_MARGIN)
    threshold = math.ceil((mean + margin) * 1000) / 1000
    t0 = time.time()
    grading = val_loss(test, make)
    log(f"grading seed {GRADING_SEED}: val loss {grading:.4f}  ({time.time() - t0:.1f} s)")
    record = {
        "assignment": assignment,
        "command": f"python -m autograder calibrate {assignment}",
        "test": test,
        "recipe": VAL_LOSS_TESTS[test]["recipe"],
        "trained": "the grader's build of the described layers, initialized from the seed (wavenet/checks/reference.py)",
        "scored_on": "one example per validation name (wavenet/checks/tasks.py)",
        "seeds": list(seeds),
        "val_losses": [round(x, 5) for x in losses],
        "mean": round(mean, 5),
        "std": round(std, 5),
        "rule": f"threshold = mean + max({K_STD:g} * std, {MIN_MARGIN:g}), rounded up to 3 decimals",
        "threshold": threshold,
        "grading_seed": GRADING_SEED,
        "grading_seed_val_loss": round(grading, 5),
        "seconds_per_run": round(statistics.fmean(times), 1),
        "torch": torch.__version__,
    }
    if write:
        path = TARGETS / f"{assignment}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        log(f"wrote {path}")
    return record
