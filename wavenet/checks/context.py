"""Where a probe runs: the grader's sandboxed kernel, or a learner's own notebook.

The grader starts the kernel with ``WAVENET_PROBE_DIR`` naming a read-only
folder it wrote before the kernel started::

    run.json          {"seed", "assignment"}

Then :func:`current` is that run, probes draw their inputs from its seed, and
records leave the kernel through :func:`emit` (a display output of type
:data:`wavenet.checks.wire.MIME`); nothing is judged inside the kernel.
Without the variable, a learner is checking their own work: the seed is
:data:`LEARNER_SEED`.

Nothing here is a defence: the kernel's code can replace all of it. The
grader only ever trusts the records it judges itself.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

ENV = "WAVENET_PROBE_DIR"
LEARNER_SEED = 0


@dataclass
class Run:
    """A grading run, as the kernel sees it."""
    seed: int
    assignment: str = ""
    folder: Path = None
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
    return Run(seed=int(meta["seed"]), assignment=meta.get("assignment", ""), folder=folder)


def emit(record):
    """Hand one probe record to the grader."""
    run = current()
    if run is not None and run.emit is not None:
        run.emit(record)
        return
    from IPython.display import display

    from wavenet.checks.wire import MIME, dumps
    display({MIME: json.loads(dumps(record))}, raw=True)
