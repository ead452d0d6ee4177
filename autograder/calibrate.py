"""Calibrate a validation-loss target from the reference solution.

``python -m autograder calibrate 05_scaled_up`` runs the solution notebook's
cells (tests skipped) to get its ``build_model`` (or exercise 8's ``WaveNet``), trains it with the grader's
fast recipe (:func:`autograder.checks.train_fast`, the very function the
hidden test uses) once per seed, and writes ``autograder/targets/<name>.json``
with the per-seed losses, their mean and std, and the threshold:

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

from autograder import checks
from autograder.assignments import source_path
from autograder.runner import run_notebook

SEEDS = (1, 2, 3, 4, 5)
K_STD = 5.0
MIN_MARGIN = 0.02


def solution_namespace(assignment):
    """The solution notebook's names after running its cells (no tests, no try-it cells run)."""
    from autograder.assignments import graded_cells, read_notebook
    nb = read_notebook(source_path(assignment))
    return run_notebook(nb, assignment, skip={c.metadata.nbgrader.grade_id for c in graded_cells(nb)})


def trainer(assignment):
    """``(train(seed) -> val loss, recipe, grading seed)`` for the model the solution defines.

    A ``build_model`` (exercises 4 and 5) trains on context windows with
    :func:`autograder.checks.train_fast`; a ``WaveNet`` class (exercise 8) on
    whole names with :func:`autograder.conv_checks.train_fast_sequences`.
    Either is the very function the hidden test uses.
    """
    result = solution_namespace(assignment)
    ns = result["namespace"]
    if "build_model" in ns:
        from data import load_splits
        splits = load_splits(checks.RECIPE["block_size"])
        return (lambda seed: checks.train_fast(ns["build_model"], seed, splits=splits),
                checks.RECIPE, checks.GRADING_SEED)
    if "WaveNet" in ns:
        from autograder import conv_checks
        data = conv_checks._sequences()
        return (lambda seed: conv_checks.train_fast_sequences(ns["WaveNet"], seed, data=data),
                conv_checks.CONV_RECIPE, conv_checks.GRADING_SEED)
    raise RuntimeError(f"the solution of {assignment} defines neither build_model nor WaveNet: {result['errors']}")


def calibrate(assignment, seeds=SEEDS, write=True, log=print):
    """Train the reference once per seed; return (and write) the target record."""
    train, recipe, grading_seed = trainer(assignment)
    losses, times = [], []
    for seed in seeds:
        t0 = time.time()
        losses.append(train(seed))
        times.append(time.time() - t0)
        log(f"seed {seed}: val loss {losses[-1]:.4f}  ({times[-1]:.1f} s)")
    mean = statistics.fmean(losses)
    std = statistics.stdev(losses) if len(losses) > 1 else 0.0
    margin = max(K_STD * std, MIN_MARGIN)
    threshold = math.ceil((mean + margin) * 1000) / 1000
    t0 = time.time()
    grading = train(grading_seed)
    log(f"grading seed {grading_seed}: val loss {grading:.4f}  ({time.time() - t0:.1f} s)")
    record = {
        "assignment": assignment,
        "command": f"python -m autograder calibrate {assignment}",
        "recipe": recipe,
        "seeds": list(seeds),
        "val_losses": [round(x, 5) for x in losses],
        "mean": round(mean, 5),
        "std": round(std, 5),
        "rule": f"threshold = mean + max({K_STD:g} * std, {MIN_MARGIN:g}), rounded up to 3 decimals",
        "threshold": threshold,
        "grading_seed": grading_seed,
        "grading_seed_val_loss": round(grading, 5),
        "seconds_per_run": round(statistics.fmean(times), 1),
        "torch": torch.__version__,
    }
    if write:
        checks.TARGETS.mkdir(exist_ok=True)
        path = checks.TARGETS / f"{assignment}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        log(f"wrote {path}")
    return record
