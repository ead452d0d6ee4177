"""Grade a whole class: ``python -m autograder grade-all ASSIGNMENT DIR``.

``grade-all`` finds the students in ``DIR`` (``DIR/<student>.ipynb``, or
nbgrader's ``submitted/<student>/<assignment>/``) and grades each with
:func:`autograder.submission.grade_submission`, ``--workers`` at a time, each
in a process of its own forked from a server that has nbgrader imported
already (killed, kernel and all, if it outlives the notebook's time budget;
killed too if the batch dies). It keeps, in ``--out`` (default
``grades/<assignment>``)::

    results/<student>.json   one record per student: what a re-run skips
    feedback/<student>.html  the feedback page, or why there is none
    grades.csv               one row per student, one column per test
    course/gradebook.db      a real nbgrader gradebook (``nbgrader export`` reads it)

Records are written atomically when a student is finished, so a batch killed
half-way and run again grades only the students without a record (or whose
file changed since), and ends with the same grades as one clean run.
``--force`` regrades everyone. Only this process writes into ``--out``: a
grading process hands its record and feedback back through a private folder.
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import gradebook
from autograder.assignments import GradingError, graded_cells, nbgrader_meta, read_notebook, source_path
from autograder.records import Record
from autograder.safe_io import read_text, write_text
from autograder.submission import MAX_BYTES, max_score, sha256, simple_feedback

SLACK = 240  # seconds a grading process may take beyond its notebook budget (kernel start, nbgrader, feedback)


# ---------------------------------------------------------------- finding the students

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


# ---------------------------------------------------------------- running many

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


PRELOAD = ["autograder.submission", "autograder.grade", "autograder.judge", "autograder.judges", "autograder.sandbox",
           "autograder.repair", "autograder.notes", "nbgrader.apps", "nbgrader.api", "nbconvert", "wavenet.checks",
           "IPython.core.inputtransformer2"]


def _child(assignment, path, student, result, feedback, log, limits, unsafe, course):
    """One grading process, forked from the preloaded server: grade, save the record, exit."""
    from multiprocessing import forkserver, resource_tracker

    from autograder.submission import grade_submission

    # die with the batch. The fork server exits when the batch dies, unless a child still holds its
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
    os.setsid()  # a Ctrl-C in the terminal goes to the batch, which stops this cleanly
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    rec = grade_submission(assignment, path, student=student, feedback=feedback, limits=limits, unsafe=unsafe,
                           workdir=Path(result).parent, course=course)
    save(result, rec)


class Progress:
    """A one-line progress bar on stderr (a line per student when stderr is not a terminal)."""

    def __init__(self, total, quiet=False):
        self.total, self.done, self.counts, self.t0 = total, 0, {}, time.time()
        self.tty = sys.stderr.isatty()
        self.quiet = quiet

    def update(self, rec):
        self.done += 1
        self.counts[rec.status] = self.counts.get(rec.status, 0) + 1
        if self.quiet:
            return
        el = time.time() - self.t0
        eta = el / self.done * (self.total - self.done)
        w = 30
        bar = "#" * int(w * self.done / max(self.total, 1))
        counts = "  ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        line = f"[{bar:{w}s}] {self.done}/{self.total}  {counts}  {el:.0f}s elapsed, ~{eta:.0f}s left"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if self.done == self.total else ""))
        else:
            score = f"{rec.score:g}/{rec.max_score:g}" if rec.score is not None and rec.max_score else "-"
            sys.stderr.write(f"{line}  {rec.student}: {rec.status} {score}\n")
        sys.stderr.flush()


def grade_all(assignment, folder, out=None, workers=2, force=False, limits=None, students=None, unsafe=False,
              quiet=False):
    """Grade every submission in ``folder``; return the records (one per student, sorted)."""
    from autograder import course_view
    from autograder.limits import Limits
    from autograder.sandbox import mode

    source_path(assignment)  # unknown assignment: GradingError now, not 200 times
    if not unsafe and mode()[0] is None:
        raise GradingError(f"no sandbox on this machine ({mode()[1]}); grading untrusted work without one lets it "
                           "read and change anything you can: pass --unsafe only for notebooks you trust")
    limits = limits or Limits()
    out = Path(out or Path("grades") / assignment).resolve()
    folder = Path(folder).resolve()
    if out == folder or folder in out.parents:
        raise GradingError(f"--out {out} is inside the submissions folder {folder}: choose another folder")
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    entries = discover(assignment, folder)
    if students:
        entries = [e for e in entries if e[0] in set(students)]
    course = gradebook.course(out, assignment)
    full = max_score(assignment)
    records, todo = {}, []
    for student, path, note in entries:
        result = out / "results" / f"{student}.json"
        if path is None:
            rec = Record(student, assignment, reason=note, max_score=full)
            simple_feedback(out / "feedback" / f"{student}.html", rec)
            save(result, rec)
            records[student] = rec
            gradebook.record(course, rec)
            continue
        old = load(result)
        sha = sha256(path.read_bytes()) if path.stat().st_size <= MAX_BYTES else None
        if (old and not force and old.final and old.assignment == assignment
                and old.sha256 == sha):  # same file (a result from another machine counts too)
            records[student] = old
            gradebook.record(course, old)
            continue
        todo.append((student, path, note))

    progress = Progress(len(todo), quiet=quiet)
    running = {}  # student -> Process
    lock = threading.Lock()
    work = Path(tempfile.mkdtemp(prefix="grade-all-"))  # private (0700): the processes' records come back here
    view = course_view.build(assignment, work / "course")  # one course view for the class

    import multiprocessing

    # each submission is graded in a process of its own, forked from a server that has nbgrader & co.
    # imported already (saves seconds per submission); the kernels run under it, sandboxed
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    os.environ["AUTOGRADER_BATCH"] = str(out)  # marks every process of this batch (not the kernels)
    os.environ["AUTOGRADER_ALEMBIC_HEAD"] = gradebook.fast_gradebooks()
    from autograder.kernel_input import key
    os.environ["AUTOGRADER_KEY"] = key().hex()  # one key for the batch's processes

    def run(student, path, note):
        d = work / student
        d.mkdir()
        result, feedback, log = d / "record.json", d / "feedback.html", d / "log.txt"
        t0 = time.time()
        proc = ctx.Process(target=_child, args=(assignment, str(path), student, str(result), str(feedback), str(log),
                                                limits, unsafe, str(view)), daemon=False)
        proc.start()
        with lock:
            running[student] = proc
        try:
            proc.join(limits.notebook_timeout + SLACK)
            if proc.is_alive():
                kill_tree(proc.pid)
                proc.join()
                rec = Record(student, assignment, file=str(path), max_score=full, reason=(
                    f"grading did not finish within {limits.notebook_timeout + SLACK} s and was stopped; "
                    "the notebook probably produces something the grader cannot process"))
            else:
                rec = load(result)
                if rec is None:
                    tail = log.read_text(errors="replace").strip()[-300:] if log.is_file() else ""
                    rec = Record(student, assignment, file=str(path), score=None, final=False, max_score=full,
                                 reason=f"the grader crashed (exit {proc.exitcode}): {tail}; run grade-all again")
        finally:
            with lock:
                running.pop(student, None)
            kill_tree(proc.pid)  # nothing of this submission outlives it
        if note:
            rec.notes = [note] + rec.notes
            rec.reason = "; ".join(x for x in (note, rec.reason) if x)
        rec.seconds = round(time.time() - t0, 1)
        return rec

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(run, *t): t[0] for t in todo}
        for fut in as_completed(futures):
            rec = fut.result()
            fb = work / rec.student / "feedback.html"
            if fb.is_file() and not fb.is_symlink():
                os.replace(fb, out / "feedback" / f"{rec.student}.html")
            gradebook.record(course, rec)
            save(out / "results" / f"{rec.student}.json", rec)  # last: a record means "done"
            records[rec.student] = rec
            progress.update(rec)
    except KeyboardInterrupt:
        with lock:
            for proc in running.values():
                kill_tree(proc.pid)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(work, ignore_errors=True)

    final = [records[s] for s in sorted(records)]
    every = [load(p) for p in sorted((out / "results").glob("*.json"))]  # earlier runs and machines included
    test_ids = [nbgrader_meta(c)["grade_id"] for c in graded_cells(read_notebook(source_path(assignment)))]
    gradebook.write_csv(out / "grades.csv", [r for r in every if r], test_ids)
    return final


def save(path, rec):
    write_text(path, json.dumps(rec.to_json(), indent=1))


def load(path):
    try:
        return Record.from_json(json.loads(read_text(path)))
    except (OSError, ValueError, TypeError):
        return None
