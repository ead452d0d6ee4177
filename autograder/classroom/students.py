"""Finding the students of a class in a folder: one notebook each, or why there is none.

Four layouts: ``DIR/<student>.ipynb`` (or a student's one other file, graded
if it is a notebook; two candidates of one student are refused), nbgrader's
``DIR/submitted/<student>/<assignment>/``, and the downloads of Moodle (a
folder per student, ``<Full Name>_<participant id>_assignsubmission_file_/``)
and Canvas (flat files ``<name>[_LATE]_<user id>_<submission id>_<file>``),
whose LMS ids become the students' ids, their names kept in the note. A folder
where none of these finds a student is an error that lists what it holds.

The folder is written by students, so nothing in it is trusted: a link is
never followed (a link to another student's notebook would get that grade, a
link to a file of the grader's would show its first bytes in the reason),
only regular files are read (a FIFO blocks a reader, ``/dev/zero`` never
ends), and a name that cannot serve as a student's name everywhere the
grader writes it (a file name, a CSV cell, a gradebook row, a terminal line)
is replaced by a safe one, with a note naming the original.
"""
import hashlib
import re
import stat
from pathlib import Path

from autograder.assignments import GradingError

MAX_NAME = 100  # characters of a student's name; results/<name>.json and its temporary file stay far below 255 bytes


def printable(text):
    """``text`` with every control character (escape sequences, newlines) and undecodable byte as ``?``."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?" for c in text)


GLOB = str.maketrans({c: "_" for c in "*?[]\\"})  # nbgrader finds a student's folder by a glob of its name


def student_name(raw):
    """``(name, note)``: ``raw`` itself when it is a safe name; else a printable, short one with a digest of the
    original (two odd names stay two students), and a note saying so. A safe name is printable, has no glob
    character (nbgrader globs ``submitted/<student>/``) and no space at either end."""
    name = printable(raw).translate(GLOB)
    if name == raw and len(raw) <= MAX_NAME and raw.strip() == raw and raw:
        return raw, ""
    digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    name = f"{name.strip()[:MAX_NAME] or 'student'}-{digest}"
    return name, f"the name {ascii(raw)} cannot be used as is; this student is recorded as {name}"


def what(path):
    """``""`` for a regular file, otherwise what ``path`` is (its link is not followed): ``a link``, ``a FIFO``..."""
    try:
        mode = path.lstat().st_mode
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if stat.S_ISREG(mode):
        return ""
    return ("a link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a file")


def _not_a_file(path, kind):
    return f"{printable(path.name)} is {kind}, not a notebook file: hand in the .ipynb file itself"


def _pick(assignment, adir):
    """``(path or None, note)``: the notebook of one student's folder ``adir`` (``<assignment>.ipynb``, or its
    only notebook)."""
    nbs = sorted(p for p in adir.glob("*.ipynb") if not p.name.startswith("."))
    want = adir / f"{assignment}.ipynb"
    pick = want if want in nbs else nbs[0] if len(nbs) == 1 else None
    if pick is not None and what(pick):
        return None, _not_a_file(pick, what(pick))
    if pick == want:
        return want, ""
    if pick is not None:
        return pick, f"the notebook was named {printable(pick.name)}, not {want.name}"
    if not nbs:
        return None, f"no notebook in {printable(str(adir))} (expected {want.name})"
    return None, (f"several notebooks in {printable(str(adir))} and none named {want.name}: "
                  f"{', '.join(printable(p.name) for p in nbs)}")


def _nbgrader(assignment, dirs):
    """``{raw student: (path or None, note)}`` from nbgrader's ``submitted/<student>/<assignment>/``."""
    found = {}
    for d in sorted(dirs):
        adir = d / assignment
        link = d if what(d) == "a link" else adir if what(adir) == "a link" else None
        if link:  # to someone else's folder, or to anywhere
            found[d.name] = (None, f"{printable(str(link.relative_to(d.parent)))} is a link, not a folder: hand in "
                                   "the notebook itself")
            continue
        if what(adir) != "a folder":
            found[d.name] = (None, f"no {assignment}/ folder in {printable(str(d))}: nothing handed in for this "
                                   "assignment")
            continue
        found[d.name] = _pick(assignment, adir)
    return found


# Moodle's "Download all submissions", unzipped: a folder per student, "<Full Name>_<participant id>_assignsubmission_file_"
MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_[a-z]+_?$")
# Canvas's "Download submissions", unzipped: flat files "<name>[_LATE]_<user id>_<submission id>_<file name>"
CANVAS = re.compile(r"^(?P<name>[a-z0-9-]+)(?P<late>_LATE)?_(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$")


def _moodle(assignment, dirs):
    """``{participant id: (path or None, note)}`` from Moodle's folders; the note names the student."""
    found = {}
    for d in sorted(dirs):
        m = MOODLE.match(d.name)
        note = f"Moodle: {printable(m['name'])} (participant {m['id']})"
        path, why = (None, f"{printable(d.name)} is a link, not a folder") if what(d) == "a link" else \
            _pick(assignment, d)
        found[m["id"]] = (path, "; ".join(x for x in (note, why) if x))
    return found


def _canvas(files):
    """``{Canvas user id: (path or None, note)}`` from Canvas's flat files; the note names the student and says
    when Canvas marked the submission late."""
    by_id = {}
    for p in files:
        by_id.setdefault(CANVAS.match(p.name)["id"], []).append(p)
    found = {}
    for uid, paths in sorted(by_id.items()):
        m = CANVAS.match(paths[0].name)
        path, why = _one_of(uid, paths)
        late = "; Canvas marked it late" if any(CANVAS.match(p.name)["late"] for p in paths) else ""
        found[uid] = (path, f"Canvas: {printable(m['name'])} (user {uid}){late}" + (f"; {why}" if why else ""))
    return found


def _flat(folder):
    """``{raw student: (path or None, note)}`` from ``folder/<student>.<anything>``."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith((".", "_")) or what(p) == "a folder":
            continue
        files.setdefault(p.name.split(".")[0], []).append(p)
    return {student: _one_of(student, ps) for student, ps in files.items()}


def _one_of(student, paths):
    """``(path or None, note)``: which of the files named ``student.*`` is the student's notebook.

    Exactly one ``.ipynb`` (the others are ignored, and the note says so), or one file alone. Any other
    choice would be a guess: ``bob.0.ipynb`` next to ``bob.ipynb`` (say, put there by someone else) must not
    silently decide bob's grade, so two candidates are refused, naming both."""
    notebooks = [p for p in paths if p.name.endswith(".ipynb")]
    candidates = notebooks or paths
    names = ", ".join(printable(p.name) for p in paths)
    if len(candidates) > 1:
        return None, (f"several files are {printable(student)}'s ({names}), so none was graded: hand in one "
                      f"notebook named {printable(student)}.ipynb")
    pick = candidates[0]
    if kind := what(pick):
        return None, _not_a_file(pick, kind)
    others = [printable(p.name) for p in paths if p != pick]
    return pick, (f"graded {printable(pick.name)}; ignored {', '.join(others)}" if others else "")


def discover(assignment, folder):
    """``[(student, path or None, note)]``: one entry per student in ``folder``, sorted by name.

    Accepts ``folder/<student>.ipynb`` (or a student's one other file, graded if it
    is a notebook; two ``.ipynb`` files of one student, or two other files, are
    refused), nbgrader's ``folder/submitted/<student>/<assignment>/``, or the
    ``submitted`` folder itself. Hidden files and folders are ignored. A path is
    given only for a regular file reached without a link; otherwise the note says why
    there is none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"no such folder: {folder}")
    sub = folder / "submitted" if (folder / "submitted").is_dir() else folder
    dirs = [d for d in sub.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))]
    files = [p for p in folder.iterdir() if not p.name.startswith((".", "_")) and what(p) != "a folder"]
    if dirs and any((d / assignment).is_dir() for d in dirs):
        found = _nbgrader(assignment, dirs)
    elif dirs and all(MOODLE.match(d.name) for d in dirs):
        found = _moodle(assignment, dirs)
    elif files and all(CANVAS.match(p.name) for p in files):
        found = _canvas(files)
    else:
        found = _flat(folder)
    if not found:
        seen = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        listing = ", ".join(printable(n) for n in seen[:20]) + (" ..." if len(seen) > 20 else "") or "nothing"
        raise GradingError(f"no submissions found in {folder}: expected <student>.ipynb files, nbgrader's "
                           f"submitted/<student>/{assignment}/, or a Moodle or Canvas download; it holds {listing}")
    out, raws = {}, {}
    for raw, (path, note) in found.items():
        name, renamed = student_name(raw)
        raws.setdefault(name, []).append(raw)
        out[name] = (path, "; ".join(n for n in (renamed, note) if n))
    for name, same in raws.items():  # an odd name's safe form can be another student's real name: grade neither
        if len(same) > 1:
            out[name] = (None, f"the submissions of {', '.join(ascii(r) for r in sorted(same))} would all be recorded "
                               f"as {printable(name)}, so none was graded: rename them apart")
    return [(s, p, n) for s, (p, n) in sorted(out.items())]
