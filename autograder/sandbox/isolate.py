"""One submission graded in a process of its own, which can be killed without harming its caller.

:func:`grade_isolated` is what a grading worker runs for each student: it
forks a process from a server that has nbgrader & co. imported already (that
saves seconds per submission), lets it run
:func:`autograder.notebook.submission.grade_submission` on the notebook's bytes, and
waits for the record and the feedback page. A process that outlives the
notebook's time budget plus :data:`SLACK` is killed with everything below it
(nbgrader, the kernel, whatever the kernel started), and the student gets a
record saying so; a process that dies without a record raises
:class:`GraderCrashed`, so that the caller (Dask) may try again. The
processes die with their caller too: killing a worker kills its graders.
"""
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from autograder.records import Record, load, save
from autograder.safe_io import read_text

MEMORY = 4 * 1024 ** 3  # bytes of data a grading process may hold (RLIMIT_DATA); graded honestly, it holds < 1 GiB
SLACK = 240  # seconds a grading process may take beyond its notebook budget (kernel start, nbgrader, feedback)

PRELOAD = ["autograder.notebook.submission", "autograder.notebook.grade", "autograder.notebook.judge", "autograder.judges", "autograder.sandbox.bwrap",
           "autograder.notebook.repair", "autograder.notebook.notes", "nbgrader.apps", "nbgrader.api", "nbconvert", "wavenet.checks",
           "IPython.core.inputtransformer2"]


class GraderCrashed(RuntimeError):
    """The grading process died without writing a record: the grader's failure, not (knowingly) the student's."""


def _descendants(pid):
    """Every process below ``pid`` (read from /proc; a kernel's whole pid namespace hangs below it)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid):
    for p in [pid] + _descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def hold_memory(limit=MEMORY):
    """Hold this grading process to ``limit`` bytes of data (RLIMIT_DATA: heap and private writable mappings,
    what parsing a kernel's messages allocates; unlike RLIMIT_AS, not the address space torch reserves).
    Past it an allocation fails with ``MemoryError``, which the submission's record names. Only the soft
    limit is set, where no hard one is: the kernel's launcher lifts it again (the kernel has limits of its own)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard == resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > limit):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def start_server():
    """Start this process's fork server now, preloading :data:`PRELOAD` (the first submission need not wait)."""
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def _child(assignment, name, data, student, folder, limits, unsafe, course, grader_key):
    """One grading process, forked from the preloaded server: grade, save the record (and feedback), exit."""
    from multiprocessing import forkserver, resource_tracker

    from autograder.notebook.submission import grade_submission

    # die with the caller. The fork server exits when its caller dies, unless a child still holds its
    # "alive" pipe (children get it to start processes of their own; ours never do): let it go.
    for holder, attr in ((forkserver._forkserver, "_forkserver_alive_fd"), (resource_tracker._resource_tracker, "_fd")):
        fd = getattr(holder, attr, None)
        if fd is not None:
            os.close(fd)
            setattr(holder, attr, None)
    parent = os.getppid()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed with the server
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the server died before the line above
        os._exit(1)
    os.setsid()  # a Ctrl-C in the terminal goes to the caller, which stops this cleanly
    folder = Path(folder)
    fd = os.open(folder / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    hold_memory()
    rec = grade_submission(assignment, name, student=student, limits=limits, unsafe=unsafe, workdir=folder,
                           data=data, course=course, grader_key=grader_key, judged=folder / "judged.ipynb")
    save(folder / "record.json", rec)


def grade_isolated(assignment, name, data, student, limits, unsafe, course, grader_key, scratch):
    """Grade the notebook ``data`` (handed in as ``name``) in a process of its own.

    Args:
        assignment, student: as for :func:`autograder.notebook.submission.grade_submission`.
        name: the file's name (or path) as handed in; only its name and suffix matter here.
        data: the file's bytes.
        limits: a :class:`autograder.sandbox.limits.Limits`; its notebook budget plus :data:`SLACK` bounds the process.
        unsafe: grade without the sandbox.
        course: the course view the kernel gets (:func:`autograder.notebook.course_view.build`).
        grader_key: the grader's key (bytes): the seed of the run is derived from it.
        scratch: a private folder (0700) for the process's files; they are removed after.

    Returns:
        ``(record, judged)``: the :class:`Record` and the judged notebook's text (``None`` if there is none),
        which the client files into the course directory (its feedback page is made there).

    Raises:
        GraderCrashed: the process died without a record.
    """
    import multiprocessing

    from autograder.assignments import Assignment

    t0 = time.time()
    folder = Path(tempfile.mkdtemp(prefix="submission-", dir=scratch))
    budget = limits.notebook_timeout + SLACK
    ctx = multiprocessing.get_context("forkserver")
    proc = ctx.Process(target=_child, args=(assignment, str(name), data, student, str(folder), limits, unsafe,
                                            str(course), grader_key), daemon=False)
    try:
        proc.start()
        proc.join(budget)
        if proc.is_alive():
            kill_tree(proc.pid)
            proc.join()
            rec = Record(student, assignment, file=str(name), max_score=Assignment(assignment).max_score, reason=(
                f"grading did not finish within {budget} s and was stopped; "
                "the notebook probably produces something the grader cannot process"))
        else:
            rec = load(folder / "record.json")
            if rec is None:
                try:
                    tail = read_text(folder / "log.txt").strip()[-300:]
                except (OSError, UnicodeDecodeError):
                    tail = ""
                raise GraderCrashed(f"the grading process died (exit {proc.exitcode}) without a record: {tail}")
        try:
            judged = read_text(folder / "judged.ipynb")
        except OSError:
            judged = None
        rec.seconds = round(time.time() - t0, 1)
        return rec, judged
    finally:
        if proc.pid is not None:
            kill_tree(proc.pid)  # nothing of this submission outlives it
        shutil.rmtree(folder, ignore_errors=True)
