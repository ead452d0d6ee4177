"""Calibrate a validation-loss target from the reference solution.

``python -m autograder calibrate 05_scaled_up`` runs the solution notebook's
cells (tests skipped) to get its ``build_model``, trains it with the grader's
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


def solution_builder(assignment):
    """The reference ``build_model`` from the solution notebook (no tests, no try-it cells run)."""
    nb_path = source_path(assignment)
    from autograder.assignments import read_notebook, graded_cells
    nb = read_notebook(nb_path)
    result = run_notebook(nb, assignment, skip={c.metadata.nbgrader.grade_id for c in graded_cells(nb)})
    if "build_model" not in result["namespace"]:
        raise RuntimeError(f"{nb_path} defines no build_model: {result['errors']}")
    return result["namespace"]["build_model"]


def calibrate(assignment, seeds=SEEDS, write=True, log=print):
    """Train the reference once per seed; return (and write) the target record."""
    from data import load_splits
    build_model = solution_builder(assignment)
    splits = load_splits(checks.RECIPE["block_size"])
    losses, times = [], []
    for seed in seeds:
        t0 = time.time()
        losses.append(checks.train_fast(build_model, seed, splits=splits))
        times.append(time.time() - t0)
        log(f"seed {seed}: val loss {losses[-1]:.4f}  ({times[-1]:.1f} s)")
    mean = statistics.fmean(losses)
    std = statistics.stdev(losses) if len(losses) > 1 else 0.0
    margin = max(K_STD * std, MIN_MARGIN)
    threshold = math.ceil((mean + margin) * 1000) / 1000
    t0 = time.time()
    grading = checks.train_fast(build_model, checks.GRADING_SEED, splits=splits)
    log(f"grading seed {checks.GRADING_SEED}: val loss {grading:.4f}  ({time.time() - t0:.1f} s)")
    record = {
        "assignment": assignment,
        "command": f"python -m autograder calibrate {assignment}",
        "recipe": checks.RECIPE,
        "seeds": list(seeds),
        "val_losses": [round(x, 5) for x in losses],
        "mean": round(mean, 5),
        "std": round(std, 5),
        "rule": f"threshold = mean + max({K_STD:g} * std, {MIN_MARGIN:g}), rounded up to 3 decimals",
        "threshold": threshold,
        "grading_seed": checks.GRADING_SEED,
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
