"""Finding the students of a class in a folder: one notebook each, or why there is none.

Two layouts: ``DIR/<student>.ipynb`` (any other file of a student is graded
if it is a notebook), or nbgrader's ``DIR/submitted/<student>/<assignment>/``.
"""
from pathlib import Path

from autograder.assignments import GradingError


def discover(assignment, folder):
    """``[(student, path or None, note)]``: one entry per student in ``folder``, sorted by name.

    Accepts ``folder/<student>.ipynb`` (any other file of a student is graded if it
    is a notebook), nbgrader's ``folder/submitted/<student>/<assignment>/``, or the
    ``submitted`` folder itself. Hidden files and folders are ignored.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"no such folder: {folder}")
    sub = folder / "submitted" if (folder / "submitted").is_dir() else folder
    dirs = [d for d in sub.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))]
    found = {}
    if dirs and any((d / assignment).is_dir() for d in dirs):
        for d in sorted(dirs):
            adir = d / assignment
            if not adir.is_dir():
                found[d.name] = (None, f"no {assignment}/ folder in {d}: nothing handed in for this assignment")
                continue
            nbs = sorted(p for p in adir.glob("*.ipynb") if not p.name.startswith("."))
            want = adir / f"{assignment}.ipynb"
            if want.is_file():
                found[d.name] = (want, "")
            elif len(nbs) == 1:
                found[d.name] = (nbs[0], f"the notebook was named {nbs[0].name}, not {want.name}")
            elif not nbs:
                found[d.name] = (None, f"no notebook in {adir} (expected {want.name})")
            else:
                found[d.name] = (None, f"several notebooks in {adir} and none named {want.name}: "
                                       f"{', '.join(p.name for p in nbs)}")
        return [(s, p, n) for s, (p, n) in sorted(found.items())]
    for p in sorted(folder.iterdir()):
        if p.name.startswith((".", "_")) or not p.is_file():
            continue
        student = p.name.split(".")[0]
        if student in found and found[student][0].suffix == ".ipynb":
            continue  # student.ipynb wins over student.txt
        found[student] = (p, "")
    return [(s, p, n) for s, (p, n) in sorted(found.items())]
