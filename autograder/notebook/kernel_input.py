"""What the grader gives a kernel before it starts: a seed, and training data without validation labels.

The folder is written by the grader, then mounted read-only at ``/grader``
(:mod:`wavenet.checks.context` reads it). Its seed is
``HMAC(grader key, assignment + sha256 of the submission)``: the same
notebook gets the same inputs, and so the same grade, on every run and every
machine that shares the key, while no learner can know the inputs before
their notebook runs. The key is made once per course (``.nbgrader_work/grader.key``,
or ``AUTOGRADER_KEY``) and never enters a kernel.

The validation-loss tests' data (:mod:`wavenet.checks.tasks`) go as raw
bytes: the training split whole, the evaluation inputs without their labels.
"""
import functools
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from autograder.assignments import WORK

KEY_FILE = WORK / "grader.key"
def task_of(test):
    """The data test ``test`` trains on (its spec's val-loss task), or ``None`` for a test that does not train."""
    from wavenet.checks import VAL_LOSS_TESTS
    spec = VAL_LOSS_TESTS.get(test)
    return spec["task"] if spec else None


def key():
    """The grader's secret key (bytes): ``AUTOGRADER_KEY`` (hex), else ``.nbgrader_work/grader.key``, made once."""
    if os.environ.get("AUTOGRADER_KEY"):
        return bytes.fromhex(os.environ["AUTOGRADER_KEY"])
    try:
        return bytes.fromhex(KEY_FILE.read_text().strip())
    except (OSError, ValueError):
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        # written whole under another name, then linked into place: a grader starting at the same
        # moment (two batches, parallel tests) never reads half a key, and the first key made wins
        tmp = KEY_FILE.with_name(f".{KEY_FILE.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, KEY_FILE)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return bytes.fromhex(KEY_FILE.read_text().strip())


def seed(assignment, notebook_bytes, grader_key=None):
    """The run's seed: a secret, deterministic function of the submission."""
    msg = assignment.encode() + b"\0" + hashlib.sha256(notebook_bytes).digest()
    return int.from_bytes(hmac.new(grader_key or key(), msg, hashlib.sha256).digest()[:4], "big") & 0x7FFFFFFF


@functools.lru_cache(maxsize=None)
def _task(name):
    from wavenet.checks.tasks import build
    return build(name)


def _small(t):
    """The smallest dtype that holds ``t`` (token ids fit in a byte; padded targets are -1)."""
    import torch
    return t.to(torch.int8 if t.min() < 0 else torch.uint8)


def write(folder, run_seed, assignment, tests=()):
    """Write the kernel's input folder for one run; ``tests`` are the test names its cells call."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name in sorted({task_of(t) for t in tests if task_of(t)}):
        task = _task(name)
        for part in ("train", "eval"):  # never "labels"
            for i, t in enumerate(task[part]):
                t = _small(t)
                file = f"{name}-{part}-{i}.bin"
                (folder / file).write_bytes(t.numpy().tobytes())
                arrays[f"{name}/{part}/{i}"] = [str(t.dtype).replace("torch.", ""), list(t.shape), file]
    (folder / "run.json").write_text(json.dumps({"seed": run_seed, "assignment": assignment, "arrays": arrays}))
    for p in folder.iterdir():
        p.chmod(0o644)
    folder.chmod(0o755)
    return folder
