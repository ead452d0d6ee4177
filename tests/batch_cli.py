"""``grade-all`` by the command line, as the class tests run it (tests/test_batch.py, tests/test_cluster.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from autograder.assignments import ROOT


# the limits of the class batches (tests/test_batch.py, tests/test_cluster.py): short, so that the notebooks
# that hit them cost little, and long enough for any other notebook of the class on a loaded machine
CLASS_LIMITS = ["--cell-timeout", "25", "--notebook-timeout", "60", "--memory", "2G"]


def grade_all_cli(folder, out, *extra, timeout=900, env=None):
    """``grade-all 03_flatten_consecutive`` by the command line; its ``--json`` by student (exit 0 asserted)."""
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", "03_flatten_consecutive", str(folder),
                           "--out", str(out), "--json", *CLASS_LIMITS, *extra], cwd=ROOT,
                          env=env or dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"
    listed = [r["student"] for r in json.loads(proc.stdout)]
    assert len(listed) == len(set(listed)), f"a student listed twice: {listed}"
    return {r["student"]: r for r in json.loads(proc.stdout)}


# where grade-all puts things in the course directory --out (autograder/classroom/batch.py)
def results_dir(out, assignment="03_flatten_consecutive"):
    return Path(out) / "grades" / assignment / "results"


def grades_csv(out, assignment="03_flatten_consecutive"):
    return Path(out) / "grades" / assignment / "grades.csv"


def feedback_page(out, student, assignment="03_flatten_consecutive"):
    return Path(out) / "feedback" / student / assignment / f"{assignment}.html"


def gradebook_url(out):
    return f"sqlite:///{Path(out) / 'gradebook.db'}"
