"""Where a probe runs: the grader's sandboxed kernel, or a learner's own notebook.

The grader starts the kernel with ``WAVENET_PROBE_DIR`` naming a read-only
folder it wrote before the kernel started::

    run.json          {"seed", "assignment", "arrays": {name: [dtype, shape, file]}}
    <task>-<part>-<i>.bin   the validation-loss tasks without their labels (:mod:`wavenet.checks.tasks`)

Then :func:`current` is that run, probes draw their inputs from its seed, and
records leave the kernel through :func:`emit` (a display output of type
:data:`wavenet.checks.wire.MIME`); nothing is judged inside the kernel.
Without the variable, a learner is checking their own work: the seed is
:data:`LEARNER_SEED` and tasks are built from the course's data.

Nothing here is a defence: the kernel's code can replace all of it. The
grader only ever trusts the records it judges itself.
"""
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

ENV = "WAVENET_PROBE_DIR"
LEARNER_SEED = 0
DTYPES = {"uint8": torch.uint8, "int8": torch.int8, "int64": torch.int64}


@dataclass
class Run:
    """A grading run, as the kernel sees it."""
    seed: int
    assignment: str = ""
    folder: Path = None
    arrays: dict = field(default_factory=dict)
    emit: object = None  # where records go; default: a display output


_override = None  # set by the in-process runner (tests, calibration): a Run without a folder


def configure(run):
    """Make ``run`` the current grading run (``None``: back to the environment). For in-process runners."""
    global _override
    _override = run


def current():
    """The grading run this kernel is part of, or ``None`` when a learner runs their own notebook."""
    if _override is not None:
        return _override
    folder = os.environ.get(ENV)
    if not folder:
        return None
    folder = Path(folder)
    meta = json.loads((folder / "run.json").read_text())
    return Run(seed=int(meta["seed"]), assignment=meta.get("assignment", ""), folder=folder,
               arrays=meta.get("arrays", {}))


def emit(record):
    """Hand one probe record to the grader."""
    run = current()
    if run is not None and run.emit is not None:
        run.emit(record)
        return
    from IPython.display import display

    from wavenet.checks.wire import MIME, dumps
    display({MIME: json.loads(dumps(record))}, raw=True)


_built = {}


def task(name):
    """The validation-loss task ``name``: ``{"train": (X, Y), "eval": (X, ...)}`` (labels only when built here)."""
    run = current()
    if run is None or run.folder is None:
        if name not in _built:
            from wavenet.checks.tasks import build
            _built[name] = build(name)
        return _built[name]
    parts = {}
    for key, (dtype, shape, file) in run.arrays.items():
        tname, part, i = key.split("/")
        if tname != name:
            continue
        raw = (run.folder / file).read_bytes()
        t = torch.frombuffer(bytearray(raw), dtype=DTYPES[dtype]).reshape(shape).long()
        parts.setdefault(part, {})[int(i)] = t
    if not parts:
        raise FileNotFoundError(f"the grader gave this kernel no {name!r} data")
    return {part: tuple(ts[i] for i in sorted(ts)) for part, ts in parts.items()}
