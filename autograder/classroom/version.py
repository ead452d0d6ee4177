"""What a grading machine is: its commit, its course version, its libraries, its sandbox.

Grades are only comparable when every machine of a batch grades with the same
code and the same assignments: :func:`report` describes this machine, and
:func:`refusal` says why a worker cannot grade for a client (``""`` when it
can). The *course version* is a digest of every file that can change a
grade (the grader, the course library and its checks, the solutions, the
exercises, the data code and the pins), so a checkout with local edits does
not pass for its commit.
"""
import hashlib
import importlib.metadata
import platform
import subprocess

from autograder.assignments import ROOT

GRADING_FILES = [("autograder", "*.py"), ("wavenet", "*.py"), ("wavenet", "*.json"), ("solutions", "*.ipynb"),
                 ("exercises", "*.ipynb"), ("data", "*.py")]
PINS = ["requirements.txt", "constraints.txt"]
LIBRARIES = ["torch", "nbgrader", "nbconvert", "ipykernel", "dask", "distributed"]


def commit():
    """The checkout's commit, or ``"unknown"`` (a copy without git)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def course_version():
    """A digest (12 hex digits) of the files that decide a grade, as they are on disk."""
    files = {p for folder, pattern in GRADING_FILES for p in (ROOT / folder).rglob(pattern)}
    files |= {ROOT / p for p in PINS}
    h = hashlib.sha256()
    for p in sorted(files):
        rel = p.relative_to(ROOT)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue  # editor and notebook checkpoints, caches
        h.update(str(rel).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def report():
    """This machine as a worker: ``{"commit", "course", "python", <library>: version, "sandbox", "limits"}``.

    ``sandbox`` is bubblewrap's mode (``root``, ``user``) or ``None``, with ``sandbox_why`` when none;
    ``limits`` says which per-submission limits hold here (:func:`autograder.sandbox.limits.status`).
    """
    from autograder.sandbox.limits import status
    from autograder.sandbox.bwrap import mode

    kind, why = mode()
    held, limits_why = status()
    out = {"commit": commit(), "course": course_version(), "python": ".".join(platform.python_version_tuple()[:2])}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[lib] = None
    out.update(sandbox=kind, sandbox_why=why, limits=limits_why or "per submission (cgroup)", held=held)
    return out


def refusal(client, worker, unsafe):
    """Why ``worker`` (a :func:`report`) cannot grade for ``client`` (another), or ``""``."""
    why = []
    for k in ["commit", "course", "python", *LIBRARIES]:
        if client.get(k) != worker.get(k):
            why.append(f"{k} {worker.get(k)} here, {client.get(k)} on the client")
    if why:
        why.append("check out the client's commit there and run `make setup`")
    if worker.get("sandbox") is None and not unsafe:
        why.append(f"no sandbox ({worker.get('sandbox_why')}); grading untrusted work without one lets it read "
                   "and change anything the worker can: fix it, or pass --unsafe only for notebooks you trust")
    return "; ".join(why)
