"""A Gradescope autograder zip for one assignment (``python -m autograder gradescope A --to A.zip``).

The zip is what Gradescope unpacks into ``/autograder/source``; it holds the course directory the grader needs
and nothing of any other assignment::

    setup.sh, run_autograder        autograder/templates/gradescope/ (run_autograder names the assignment)
    autograder/ wavenet/ data/      the grader and the course library, names.txt included (the labels)
    solutions/<a>/ exercises/<a>/   the assignment: its source (hidden tests) and the released exercise
    nbgrader_config.py, requirements.txt, constraints.txt, pyproject.toml, setup.py
    wheels/*.whl                    the learner package (``make dist``), when given: setup.sh installs it
    .nbgrader_work/grader.key       a key of its own for this zip (the seeds), not the course's

``setup.sh`` installs the course's pins from PyPI when Gradescope builds the image (torch 2.13.0 from
PyTorch's CPU index, the rest with ``-c constraints.txt``) and bubblewrap; ``run_autograder`` runs
:mod:`autograder.export.gradescope_run`. Keep the zip private: it holds the hidden tests.
"""
import secrets
import time
import zipfile
from pathlib import Path

from autograder.assignments import ROOT, GradingError, release_path, source_path

TEMPLATES = Path(__file__).resolve().parent / "templates" / "gradescope"
FOLDERS = ("autograder", "wavenet", "data")
FILES = ("nbgrader_config.py", "requirements.txt", "constraints.txt", "pyproject.toml", "setup.py")
SKIP = {"__pycache__", ".ipynb_checkpoints"}


def _files(folder):
    """The files under ``ROOT/folder`` worth shipping (no caches, compiled or hidden files, no links)."""
    for p in sorted((ROOT / folder).rglob("*")):
        rel = p.relative_to(ROOT).parts
        if p.is_file() and not p.is_symlink() and not SKIP.intersection(rel) and p.suffix != ".pyc" \
                and not p.name.startswith("."):
            yield p


def _add(z, name, data, mode=0o644):
    """One file of the zip with its Unix mode (Gradescope runs ``setup.sh`` and ``run_autograder``)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    z.writestr(info, data)


def build(assignment, to, wheel=None):
    """Write the autograder zip of ``assignment`` to ``to``; returns the list of its members.

    Raises:
        GradingError: unknown assignment, no released exercise (``make exercises``), no ``data/names.txt``
            (``make data``), or a ``wheel`` that is not a file.
    """
    src = source_path(assignment)
    exercise = release_path(assignment)
    if not exercise.is_file():
        raise GradingError(f"no released exercise {exercise}: run `make exercises` first")
    if not (ROOT / "data" / "names.txt").is_file():
        raise GradingError(f"no {ROOT / 'data' / 'names.txt'} (the grader's labels): run `make data` first")
    if wheel is not None and not Path(wheel).is_file():
        raise GradingError(f"no wheel at {wheel}: run `make dist` first")
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = to.with_name(f".{to.name}.part")
    with zipfile.ZipFile(tmp, "w") as z:
        _add(z, "setup.sh", (TEMPLATES / "setup.sh").read_text(), 0o755)
        _add(z, "run_autograder", (TEMPLATES / "run_autograder").read_text().replace("@ASSIGNMENT@", assignment),
             0o755)
        for folder in FOLDERS:
            for p in _files(folder):
                _add(z, p.relative_to(ROOT).as_posix(), p.read_bytes())
        for name in FILES:
            _add(z, name, (ROOT / name).read_bytes())
        _add(z, f"solutions/{assignment}/{assignment}.ipynb", src.read_bytes())
        _add(z, f"exercises/{assignment}/{assignment}.ipynb", exercise.read_bytes())
        if wheel is not None:
            _add(z, f"wheels/{Path(wheel).name}", Path(wheel).read_bytes())
        _add(z, ".nbgrader_work/grader.key", secrets.token_hex(32), 0o600)
        members = z.namelist()
    tmp.replace(to)
    return members
