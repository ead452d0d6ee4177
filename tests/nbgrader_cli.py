"""nbgrader's own commands in a course directory of this course, as the course tests run them
(tests/test_nbgrader_course.py, tests/test_attacks_valloss.py)."""
import csv
import datetime
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import attacks as A
from autograder.assignments import ROOT, read_notebook, source_path
from batch_cli import gradebook_url

COURSE_ID = "wavenet-test"
NBGRADER = str(Path(sys.executable).parent / "nbgrader")
ENV = dict(os.environ, OMP_NUM_THREADS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           **{A.SECRET_VAR: A.SECRET})
# exercise 1's class limits, as grade-all's flags: short, so that the attacks that hit them cost little
LIMITS = ["--cell-timeout", "40", "--notebook-timeout", "150", "--processes", "128", "--disk", "96M",
          "--cpu-seconds", "12", "--memory", "1G"]
# the course's nbgrader_config.py, as an instructor writes it: the course's pipeline, then their own settings
CONFIG = '''import os
import sys
sys.path.insert(0, {repo!r})
from autograder.course import configure
from autograder.sandbox.limits import Limits

c = get_config()
configure(c, root=os.path.dirname(os.path.abspath(__file__)), limits={limits!r})
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
c.LateSubmissionPlugin.penalty_method = "zero"
'''


def nbgrader(*args, cwd, ok=True, timeout=1200):
    try:
        proc = subprocess.run([NBGRADER, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:  # its log says where it was (the course's stall report included)
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        pytest.fail(f"nbgrader {' '.join(map(str, args))} ran past {timeout} s:\n{err[-6000:]}")
    assert not ok or proc.returncode == 0, f"nbgrader {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}"
    return proc


def limits_of(flags):
    """The ``Limits`` that grade-all's limit ``flags`` give (the command line's own parser): a course's
    ``nbgrader_config.py`` and grade-all then grade under the same limits."""
    import argparse

    from autograder.cli import _limit_args, _limits

    parser = argparse.ArgumentParser()
    _limit_args(parser)
    return _limits(parser.parse_args(flags))


def make_course(root, exchange, assignment=A.LAYERS, limits=LIMITS, source=None, edit=None):
    """A course directory of this course at ``root`` that has generated ``assignment`` (due tomorrow), grading
    under grade-all's limit flags ``limits``; with ``source``, its own source folder holding the assignment
    changed by ``edit``."""
    root.mkdir(parents=True)
    config = CONFIG.format(repo=str(ROOT), course_id=COURSE_ID, exchange=str(exchange), limits=limits_of(limits))
    if source:
        nb = read_notebook(source_path(assignment))
        edit(nb)
        (root / source / assignment).mkdir(parents=True)
        nbformat.write(nb, str(root / source / assignment / f"{assignment}.ipynb"))
        config += f"c.CourseDirectory.source_directory = {source!r}\n"
    (root / "nbgrader_config.py").write_text(config)
    exchange.mkdir(exist_ok=True)
    nbgrader("generate_assignment", assignment, cwd=root)
    due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    nbgrader("db", "assignment", "add", assignment, f"--duedate={due:%Y-%m-%d %H:%M:%S} UTC", cwd=root)
    return root


def hand_in(root, student, assignment, nb):
    """``nb`` as ``student``'s collected submission (``submitted/<student>/<assignment>/``)."""
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def points(root, assignment=A.LAYERS):
    """``{student: {cell: score}}`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(root)) as gb:
        return {s.student.id: {g.name: float(g.score or 0) for g in s.notebooks[0].grades}
                for s in gb.assignment_submissions(assignment)}


def export(root):
    """``{student: row}`` of ``nbgrader export``."""
    nbgrader("export", "--to", root / "export.csv", cwd=root)
    with open(root / "export.csv") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}
