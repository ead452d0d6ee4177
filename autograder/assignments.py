"""Where the assignments live, the :class:`Assignment` every command resolves once, and reading notebooks safely.

An assignment is a folder ``solutions/<name>/`` holding ``<name>.ipynb``, an
nbgrader source notebook. Adding one is adding that notebook (plus
``wavenet/checks/targets/<name>.json`` from ``calibrate`` if it has a
validation-loss test); nothing else lists them.
"""
import copy
import functools
import os
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.bounded_json import check as check_json

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
# the grader's private scratch space: courses, the grader key (git-ignored); AUTOGRADER_WORK moves it
WORK = Path(os.environ.get("AUTOGRADER_WORK") or ROOT / ".nbgrader_work")


class GradingError(Exception):
    """The input cannot be graded (unknown assignment, missing file, not a notebook)."""


def names():
    """All assignments, in order (as :class:`Assignment`)."""
    return [Assignment(n) for n in sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())]


def source_path(assignment):
    """``solutions/<assignment>/<assignment>.ipynb``, or :class:`GradingError`."""
    path = SOLUTIONS / assignment / f"{assignment}.ipynb"
    if "/" in assignment or assignment.startswith(".") or not path.is_file():
        raise GradingError(f"unknown assignment {assignment!r}; known: {', '.join(names())}")
    return path


def release_path(assignment, root=EXERCISES):
    return Path(root) / assignment / f"{assignment}.ipynb"


class Assignment(str):
    """One assignment, resolved once: its name (it *is* the name, so it goes wherever a name goes: paths,
    records, the gradebook, a Dask task) and what grading reads of its source notebook, read once.

    ``Assignment("01_layers")`` checks the name (:class:`GradingError` for an unknown one); passing an
    :class:`Assignment` through it again costs nothing. Commands resolve the name they are given, then pass the
    object down, so no step re-reads the solution by name.

    Attributes:
        source: ``solutions/<name>/<name>.ipynb``.
        release: ``exercises/<name>/<name>.ipynb`` (the learners' copy; it may not be generated yet).
        tests: the graded test cells, in order; ``test_ids`` their grade ids; ``max_score`` their points.
        hidden_lines: the hidden test lines (what feedback must never quote).
    """

    def __new__(cls, name):
        if isinstance(name, Assignment):
            return name
        return _resolve(str(name))

    def __reduce__(self):  # to a Dask worker or a forked process: the name, resolved again there
        return Assignment, (str(self),)

    @property
    def name(self):
        return str(self)

    @functools.cached_property
    def source(self):
        return SOLUTIONS / self / f"{self}.ipynb"

    @property
    def release(self):
        return release_path(self)

    @functools.cached_property
    def _source_nb(self):
        return read_notebook(self.source)

    @property
    def notebook(self):
        """A fresh copy of the source notebook (callers may change it)."""
        return copy.deepcopy(self._source_nb)

    @functools.cached_property
    def tests(self):
        return graded_cells(self._source_nb)

    @property
    def test_ids(self):
        return [nbgrader_meta(c)["grade_id"] for c in self.tests]

    @functools.cached_property
    def max_score(self):
        return float(sum(nbgrader_meta(c).get("points", 0) for c in self.tests))

    @functools.cached_property
    def hidden_lines(self):
        out = []
        for cell in self.tests:
            inside = False
            for line in cell.source.splitlines():
                if "BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "END HIDDEN TESTS" in line:
                    inside = False
                elif inside and line.strip():
                    out.append(line.strip())
        return out


@functools.lru_cache(maxsize=None)
def _resolve(name):
    source_path(name)  # GradingError for an unknown name
    return str.__new__(Assignment, name)


def read_notebook(path):
    """Read and validate a v4 notebook, or raise :class:`GradingError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise GradingError(f"no such file: {path}")
    try:
        data = path.read_bytes()
        check_json(data)  # bounded before the parser builds an object per value
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # JSON errors, schema errors, binary junk
        raise GradingError(f"{path} is not a valid Jupyter notebook: {type(e).__name__}: {str(e)[:200]}") from None
    return nb


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb):
    """The graded (autograder test) cells of ``nb``, in order."""
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")
            and not nbgrader_meta(c).get("solution")]


def answer_cells(nb):
    """The cells the learner writes (nbgrader solution cells), in order."""
    return [c for c in nb.cells if nbgrader_meta(c).get("solution")]


def ensure_tools_on_path():
    """nbgrader runs ``alembic`` (its gradebook migrations) from PATH: make sure
    the environment's own scripts are found even when PATH lacks ``.venv/bin``."""
    if shutil.which("alembic") is None:
        os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")


KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]  # no kernel start-up chatter on stderr
