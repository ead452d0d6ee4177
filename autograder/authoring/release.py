"""Generate the learner notebooks in ``exercises/`` from ``solutions/`` with nbgrader.

``nbgrader generate_assignment`` replaces each ``### BEGIN/END SOLUTION``
region by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, removes the
``### BEGIN/END HIDDEN TESTS`` regions, locks the read-only cells and adds
checksums. It runs in a scratch course directory with the course's
configuration, whose ``FillPackageLocation`` step writes into the setup cell
where the course package installs from (:data:`PACKAGE_TOKEN` becomes
``package-location`` of ``pyproject.toml``).
The result gets a do-not-edit note for maintainers in ``metadata.autograder``
(not in a cell: learners see nothing of it) and is written to
``exercises/<name>/<name>.ipynb``. ``make exercises`` calls :func:`release`.
"""
import shutil
import tempfile
import tomllib
from pathlib import Path

import nbformat

from autograder.assignments import EXERCISES, ROOT, WORK, ensure_tools_on_path, names, release_path, source_path

PACKAGE_TOKEN = "@PACKAGE_LOCATION@"  # in each source's setup cell; the release holds the real location


def note(assignment):
    src = source_path(assignment).relative_to(ROOT)
    return (f"Generated file. Course maintainers: do not edit this notebook; it is made from {src} by "
            f"`make exercises` (nbgrader generate_assignment), and a test fails when the two drift apart.")


def package_location():
    """Where a setup cell pip-installs the course package from when it is missing: set once, in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["building-a-wavenet"]["package-location"]


def with_package_location(nb, location):
    """``nb`` with :data:`PACKAGE_TOKEN` of its setup cell replaced by ``location``."""
    cells = [c for c in nb.cells if c.get("id") == "setup" and PACKAGE_TOKEN in c.source]
    if len(cells) != 1:
        raise ValueError(f"the setup cell must name {PACKAGE_TOKEN} once (where the course package installs from)")
    cells[0].source = cells[0].source.replace(PACKAGE_TOKEN, location)
    return nb


def generate(assignment):
    """The released notebook of ``assignment`` (a NotebookNode), not written anywhere."""
    from nbgrader.apps import NbGraderAPI

    from autograder.course import config

    ensure_tools_on_path()

    src = source_path(assignment)
    WORK.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"release-{assignment}-", dir=WORK))
    try:
        shutil.copytree(src.parent, root / "source" / assignment)
        c = config(root)  # the course's configuration (its FillPackageLocation), on this scratch course's source/
        c.CourseDirectory.source_directory = "source"
        result = NbGraderAPI(config=c).generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment failed for {assignment}:\n{result.get('error')}")
        nb = nbformat.read(str(root / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    nb.metadata["autograder"] = {"generated_from": str(src.relative_to(ROOT)), "by": "make exercises",
                                 "do_not_edit": True, "note": note(assignment)}
    return nb


def release(assignments=None, out=EXERCISES, log=print):
    """Write the released notebooks; return their paths."""
    paths = []
    for name in assignments or names():
        nb = generate(name)
        path = release_path(name, out)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
        log(f"released {path}")
        paths.append(path)
    return paths
