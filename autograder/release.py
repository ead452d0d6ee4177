"""Generate the learner notebooks in ``exercises/`` from ``solutions/`` with nbgrader.

``nbgrader generate_assignment`` replaces each ``### BEGIN/END SOLUTION``
region by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, removes the
``### BEGIN/END HIDDEN TESTS`` regions, locks the read-only cells and adds
checksums. It runs in a scratch course directory; the result gets a
do-not-edit note (first cell and ``metadata.autograder``) and is written to
``exercises/<name>/<name>.ipynb``. ``make exercises`` calls :func:`release`.
"""
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from autograder.assignments import EXERCISES, ROOT, WORK, ensure_tools_on_path, names, nbgrader_config, release_path, source_path

NOTE_ID = "generated-note"


def note(assignment):
    src = source_path(assignment).relative_to(ROOT)
    return (f"> **Generated file.** Course maintainers: do not edit this notebook; it is made from "
            f"`{src}` by `make exercises` (nbgrader `generate_assignment`), and a test fails when the two "
            f"drift apart. Learners: this is your copy to fill in.")


def generate(assignment):
    """The released notebook of ``assignment`` (a NotebookNode), not written anywhere."""
    from nbgrader.apps import NbGraderAPI

    ensure_tools_on_path()

    src = source_path(assignment)
    WORK.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"release-{assignment}-", dir=WORK))
    try:
        shutil.copytree(src.parent, root / "source" / assignment)
        result = NbGraderAPI(config=nbgrader_config(root)).generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment failed for {assignment}:\n{result.get('error')}")
        nb = nbformat.read(str(root / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cell = new_markdown_cell(note(assignment))
    cell.id = NOTE_ID
    nb.cells.insert(0, cell)
    nb.metadata["autograder"] = {"generated_from": str(src.relative_to(ROOT)), "by": "make exercises",
                                 "do_not_edit": True}
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
