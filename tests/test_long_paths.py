"""The checkout's path never breaks grading, and nbgrader's failures name their cause.

A unix socket's path must fit in 107 bytes; the kernel's sockets once lived
under ``<checkout>/.nbgrader_work/…``, and every grading in a checkout at a
48-character path failed with nbgrader's bare "see the above traceback". Now
each run's folders are made under a short temporary folder
(:func:`autograder.sandbox.bwrap.short_tmp`), and a failing nbgrader step is
reported by its underlying exception (:func:`autograder.notebook.grade.cause`).
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from autograder.assignments import ROOT, source_path
from autograder.notebook.grade import cause
from autograder.sandbox.bwrap import short_tmp

COPIED = ["autograder", "wavenet", "data", "solutions", "exercises", "pyproject.toml", "nbgrader_config.py"]


@pytest.mark.sandbox
def test_grading_from_a_checkout_at_a_150_character_path(tmp_path):
    """The course's code copied to a folder whose path is 150 characters long grades the solution of
    exercise 1 with full marks."""
    deep = tmp_path
    while len(str(deep)) < 150:
        deep = deep / ("course-" + "x" * 12)
    deep = ROOT.__class__(str(deep)[:150])
    deep.mkdir(parents=True)
    assert len(str(deep)) == 150
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, deep / name, ignore=shutil.ignore_patterns("__pycache__", "names.txt", ".names-*"))
        else:
            shutil.copy(src, deep / name)
    env = dict(os.environ, PYTHONPATH=str(deep), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "01_layers", str(source_path("01_layers")),
                           "--json"], cwd=deep, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["score"] == result["max_score"] > 0, result


def test_the_socket_folder_is_short():
    """Whatever the checkout's path, a run's sockets live under a short folder: room for the rest of the path."""
    assert len(short_tmp()) <= 40


def test_a_failed_nbgrader_step_names_its_cause():
    """The exception under nbgrader's "Please see the above traceback" is what the grader reports, in one
    line, with the line that raised it."""
    log = "\n".join([
        "[AutogradeApp | ERROR] There was an error processing assignment",
        "Traceback (most recent call last):",
        '  File "/venv/nbgrader/converters/base.py", line 337, in convert_single_notebook',
        "    output, resources = self.exporter.from_filename(notebook_filename, resources=resources)",
        '  File "/venv/zmq/sugar/socket.py", line 302, in bind',
        "    super().bind(addr)",
        "zmq.error.ZMQError: File name too long (addr='ipc:///long/run/k-4')",
        "[AutogradeApp | ERROR] nbgrader.converters.base.NbGraderException: Please see the above traceback"])
    said = cause(log)
    assert said == "ZMQError: File name too long (addr='ipc:///long/run/k-4') (raised at base.py:337)"
    assert cause("nothing went wrong") is None


@pytest.mark.sandbox
def test_a_kernel_that_cannot_start_is_reported_in_a_few_lines():
    """Grading under a memory limit too small for a kernel: the command says what failed, where, and where the
    full log is, in at most 5 lines (not nbgrader's "see the above traceback")."""
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "01_layers", str(source_path("01_layers")),
                           "--memory", "20M"], cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 5 and "Kernel died" in proc.stderr and "full log:" in proc.stderr, proc.stderr[-2000:]
    assert "see the above traceback" not in proc.stderr.lower()
