"""Grade a whole class: ``python -m autograder grade-all ASSIGNMENT DIR``.

The unit of work is one submission, graded by one command in its own process::

    python -m autograder grade-submission ASSIGNMENT NOTEBOOK --student S --out S.json --feedback S.html

which never fails: it reads the file, repairs nbgrader's metadata
(:func:`autograder.guard.repair`), flags cheating
(:func:`autograder.guard.static_findings`), grades with nbgrader in a
sandboxed kernel under time, memory and output limits
(:mod:`autograder.sandbox`), checks the kernel's integrity afterwards, and
writes one JSON record::

    {"student", "assignment", "status": "graded" | "error", "score", "max_score",
     "reason", "notes", "tests", "file", "sha256", "seconds", "final"}

``grade-all`` finds the students in ``DIR`` (``DIR/<student>.ipynb``, or
nbgrader's ``submitted/<student>/<assignment>/``) and runs the same function,
:func:`grade_submission`, for each, ``--workers`` at a time, every one in a
process of its own forked from a server that has nbgrader imported already
(killed, kernel and all, if it outlives the notebook's time budget; killed
too if the batch dies). It keeps, in ``--out`` (default ``grades/<assignment>``)::

    results/<student>.json   one record per student: what a re-run skips
    feedback/<student>.html  nbgrader's feedback (hidden tests removed), or why there is none
    grades.csv               one row per student, one column per test
    course/gradebook.db      a real nbgrader gradebook (``nbgrader export`` reads it)

Records are written atomically when a student is finished, so a batch killed
half-way and run again grades only the students without a record (or whose
file changed since), and ends with the same grades as one clean run.
``--force`` regrades everyone.
"""
import csv
import hashlib
import html
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

from autograder.assignments import GradingError, graded_cells, nbgrader_meta, read_notebook, source_path

MAX_BYTES = 50 * 1024 * 1024  # bigger than any honest notebook of this course
GiB = 1024 ** 3
SLACK = 240  # seconds a grading process may take beyond its notebook budget (kernel start, nbgrader, feedback)


# ---------------------------------------------------------------- one submission

def fast_gradebooks():
    """Make nbgrader's new gradebooks cheap: it asks ``alembic heads`` (a subprocess, ~5 s) for the schema
    version of every new gradebook. The answer only changes with nbgrader, so it is kept in
    ``.nbgrader_work/alembic-<nbgrader version>`` and reused."""
    import nbgrader
    import nbgrader.api

    from autograder.assignments import WORK, ensure_tools_on_path

    cache = WORK / f"alembic-{nbgrader.__version__}"
    head = os.environ.get("AUTOGRADER_ALEMBIC_HEAD")
    if not head:
        try:
            head = cache.read_text().strip()
        except OSError:
            ensure_tools_on_path()
            head = nbgrader.api.get_alembic_version()
            WORK.mkdir(exist_ok=True)
            cache.write_text(head)
    nbgrader.api.get_alembic_version = lambda: head
    return head


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _tests_max(assignment):
    return float(sum(nbgrader_meta(c).get("points", 0) for c in graded_cells(read_notebook(source_path(assignment)))))


def _record(student, assignment, path, **fields):
    rec = {"student": student, "assignment": assignment, "status": "error", "score": 0.0,
           "max_score": None, "reason": "", "notes": [], "tests": [], "file": str(path), "sha256": None,
           "seconds": 0.0, "final": True}
    rec.update(fields)
    return rec


def _simple_feedback(path, rec):
    """An HTML page for a student whose notebook could not be graded."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in rec.get("notes", []))
    Path(path).write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(rec['assignment'])}: "
        f"{html.escape(rec['student'])}</title></head><body>"
        f"<h1>{html.escape(rec['assignment'])}: not graded</h1>"
        f"<p><b>Status:</b> {html.escape(rec['status'])}</p><p><b>Why:</b> {html.escape(rec['reason'])}</p>"
        f"{'<ul>' + notes + '</ul>' if notes else ''}"
        f"<p>Score: {rec['score'] if rec['score'] is not None else '-'} / {rec['max_score']}</p></body></html>")


def _events(nb, limits):
    """Notes about limits the run hit, from the autograded notebook's error outputs."""
    from autograder.guard import GUARD_TAG

    notes, not_run, n = [], [], 0
    for c in nb.cells:
        if GUARD_TAG in c.metadata.get("tags", []):
            continue
        n += 1  # the student's own cell numbering (the grader's guard cells left out)
        if c.cell_type != "code":
            continue
        label = nbgrader_meta(c).get("grade_id") or f"cell {n}"
        for out in c.get("outputs", []):
            ename, evalue = out.get("ename"), str(out.get("evalue", ""))
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            if ename == "CellTimeoutError":
                notes.append(f"{label}: {evalue}")
            elif ename == "KernelDied":
                notes.append(f"{label}: the kernel died (os._exit, a crash, or more than "
                             f"{limits.memory / GiB:g} GB of memory)")
            elif ename == "NotRun":
                not_run.append(evalue)
            elif ename == "MemoryError" or "can't allocate memory" in evalue or "out of memory" in evalue.lower():
                notes.append(f"{label}: ran out of memory (the limit is {limits.memory / GiB:g} GB)")
            elif "output truncated by the grader" in text or "... Output truncated ..." in text:
                notes.append(f"{label}: printed too much; the output was cut")
    if not_run:
        notes.append(f"{len(not_run)} later cell(s) were not run: {not_run[0]}")
    return list(dict.fromkeys(notes))


def grade_submission(assignment, path, student=None, feedback=None, limits=None, trust=False,
                     static_guard=True, runtime_guard=True, workdir=None):
    """Grade one submitted file; always return a record (see the module docstring), never raise."""
    from autograder.grade import grade_notebook
    from autograder.sandbox import Limits, available
    from autograder.guard import inject_guards, read_guards, repair, static_findings, answer_names

    import nbformat
    import secrets

    import dataclasses

    t0 = time.time()
    fast_gradebooks()
    path = Path(path)
    student = student or path.name.split(".")[0]
    limits = limits or Limits()
    # the kernel must not see the folder the submission came from (other students), nor where results go
    limits = dataclasses.replace(limits, hide=[*limits.hide, str(path.resolve().parent)] +
                                 ([str(Path(feedback).resolve().parent)] if feedback else []))
    rec = _record(student, assignment, path)
    rec["sandboxed"] = bool(limits.sandbox and available()[0])

    def done(**fields):
        rec.update(fields)
        rec["seconds"] = round(time.time() - t0, 1)
        if rec["status"] != "graded":
            _simple_feedback(feedback, rec)
        return rec

    try:
        rec["max_score"] = _tests_max(assignment)
    except GradingError as e:
        return done(reason=str(e), score=None)
    try:
        if not path.is_file():
            return done(reason=f"no file: {path}")
        size = path.stat().st_size
        if size > MAX_BYTES:
            return done(reason=f"{path.name} is {size / 2**20:.0f} MB, far more than a notebook of this course: "
                               "clear the outputs (Kernel > Restart & Clear Output) and hand it in again")
        data = path.read_bytes()
        rec["sha256"] = _sha256(data)
        if not data.strip():
            return done(reason=f"{path.name} is empty: hand in the .ipynb file you worked in (File > Save first)")
        try:
            nb = read_notebook(path)
        except GradingError as e:
            detail = str(e).split("is not a valid Jupyter notebook:", 1)[-1].strip()
            return done(reason=f"{path.name} is not a valid Jupyter notebook ({detail}): open it in Jupyter to "
                               "check it, and hand in the .ipynb file itself")
        if path.suffix != ".ipynb":
            rec["notes"].append(f"the file was named {path.name}, not {student}.ipynb; it was graded as a notebook")
        nb, notes = repair(nb, assignment)
        rec["notes"] += notes
        if static_guard and not trust:
            findings = static_findings(nb, assignment)
            if findings:
                return done(reason="flagged for review (not graded): " + "; ".join(findings[:6]) +
                                   ("; ..." if len(findings) > 6 else ""), flags=findings)
        nonce = secrets.token_hex(12)
        if runtime_guard and not trust:
            names = set().union(*answer_names(assignment).values())
            nb = inject_guards(nb, names, nonce)
        base = Path(workdir) if workdir else None
        scratch = Path(tempfile.mkdtemp(prefix=f"{student}-", dir=base))
        try:
            sub = scratch / f"{assignment}.ipynb"
            nbformat.write(nb, str(sub))
            result = grade_notebook(assignment, sub, workdir=scratch, keep=True, feedback=feedback,
                                    timeout=limits.cell_timeout, limits=limits)
            graded = nbformat.read(str(Path(result["workdir"]) / "autograded" / "learner" / assignment /
                                       f"{assignment}.ipynb"), as_version=4)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        tests = result["tests"]
        rec.update(tests=tests, score=result["score"], max_score=result["max_score"])
        rec["notes"] += _events(graded, limits)
        if runtime_guard and not trust:
            ran, problems = read_guards(graded, nonce)
            if problems:
                return done(status="error", raw_score=result["score"], score=0.0, flags=problems,
                            reason="flagged for review (0 points): the integrity check found " + "; ".join(problems[:6]))
            if not ran:
                rec["notes"].append("the grader's integrity check could not run (the kernel had stopped)")
        failed = [t for t in tests if not t["passed"] and not t["message"].startswith("NotRun")]
        summary = rec["notes"][:]
        not_run = sum(t["message"].startswith("NotRun") for t in tests)
        if failed:
            summary.append(f"{len(failed)} of {len(tests)} tests failed, first {failed[0]['id']}: "
                           f"{failed[0]['message'] or 'no credit'}")
        if not_run:
            summary.append(f"{not_run} of {len(tests)} tests did not run")
        return done(status="graded", reason="; ".join(summary))
    except Exception as e:  # the grader itself failed: not the student's fault, try again later
        return done(status="error", score=None, final=False,
                    reason=f"the grader failed ({type(e).__name__}: {str(e)[-300:]}); this is not the "
                           "student's fault: run grade-all again")


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


# ---------------------------------------------------------------- the class gradebook and CSV

def _course(out, assignment):
    """``out/course``: an nbgrader course whose gradebook holds the class's grades."""
    from nbgrader.apps import NbGraderAPI

    from autograder.assignments import ensure_tools_on_path, nbgrader_config

    fast_gradebooks()
    root = Path(out) / "course"
    db = root / "gradebook.db"
    src = root / "source" / assignment / f"{assignment}.ipynb"
    if src.is_file() and db.is_file():
        return root
    ensure_tools_on_path()
    src.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_path(assignment), src)
    result = NbGraderAPI(config=nbgrader_config(root)).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise RuntimeError(f"nbgrader generate_assignment failed for the class gradebook: {result.get('error')}")
    return root


def record_in_gradebook(root, rec):
    """Put one final record into the class gradebook (idempotent)."""
    from nbgrader.api import Gradebook

    if not rec.get("final", True):
        return
    points = {t["id"]: t["points"] for t in rec.get("tests", [])}
    graded = rec["status"] == "graded"
    import warnings

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy chatter about nbgrader's autoflush
        gb.update_or_create_student(rec["student"])
        gb.update_or_create_submission(rec["assignment"], rec["student"])
        nb = gb.find_submission_notebook(rec["assignment"], rec["assignment"], rec["student"])
        for g in nb.grades:
            g.auto_score = float(points.get(g.name, 0.0)) if graded else 0.0
            g.needs_manual_grade = False
        gb.db.commit()


def write_csv(path, records, test_ids):
    cols = ["student", "status", "score", "max_score", "reason", "file", "sha256", "seconds"]
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + test_ids)
        for r in records:
            points = {t["id"]: t["points"] for t in r.get("tests", [])}
            w.writerow([r.get(c) if r.get(c) is not None else "" for c in cols[:-2]] +
                       [(r.get("sha256") or "")[:12], r.get("seconds")] +
                       [points.get(t, "") if r["status"] == "graded" else "" for t in test_ids])
    os.replace(tmp, path)


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


PRELOAD = ["autograder.batch", "autograder.grade", "autograder.guard", "autograder.sandbox", "nbgrader.apps",
           "nbgrader.api", "nbconvert", "IPython.core.inputtransformer2"]


def _child(assignment, path, student, result, feedback, log, limits, trust, static_guard):
    """One grading process, forked from the preloaded server: grade, save the record, exit."""
    from multiprocessing import forkserver, resource_tracker

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
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    rec = grade_submission(assignment, path, student=student, feedback=feedback, limits=limits, trust=trust,
                           static_guard=static_guard, workdir=Path(result).parent)
    _save(result, rec)


class Progress:
    """A one-line progress bar on stderr (a line per student when stderr is not a terminal)."""

    def __init__(self, total, quiet=False):
        self.total, self.done, self.counts, self.t0 = total, 0, {}, time.time()
        self.tty = sys.stderr.isatty()
        self.quiet = quiet

    def update(self, rec):
        self.done += 1
        self.counts[rec["status"]] = self.counts.get(rec["status"], 0) + 1
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
            score = f"{rec['score']:g}/{rec['max_score']:g}" if rec.get("score") is not None and rec.get("max_score") else "-"
            sys.stderr.write(f"{line}  {rec['student']}: {rec['status']} {score}\n")
        sys.stderr.flush()


def grade_all(assignment, folder, out=None, workers=2, force=False, trust=(), limits=None, students=None,
              shard=None, static_guard=True, quiet=False):
    """Grade every submission in ``folder``; return the records (one per student, sorted)."""
    from autograder.sandbox import Limits, available

    source_path(assignment)  # unknown assignment: GradingError now, not 200 times
    limits = limits or Limits()
    out = Path(out or Path("grades") / assignment).resolve()
    folder = Path(folder).resolve()
    if out == folder or folder in out.parents:
        raise GradingError(f"--out {out} is inside the submissions folder {folder}: choose another folder")
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)  # left by a killed run
    work.mkdir()
    limits.hide = list(dict.fromkeys([*limits.hide, str(folder), str(out)]))
    ok, why = available()
    if limits.sandbox and not ok:
        print(f"warning: kernels run WITHOUT the sandbox ({why}): no network, path and process isolation; "
              "time, memory and output limits still apply", file=sys.stderr)

    entries = discover(assignment, folder)
    if students:
        entries = [e for e in entries if e[0] in set(students)]
    if shard:
        k, n = shard
        entries = [e for i, e in enumerate(entries) if i % n == k - 1]
    course = _course(out, assignment)
    records, todo = {}, []
    for student, path, note in entries:
        result = out / "results" / f"{student}.json"
        if path is None:
            rec = _record(student, assignment, "", reason=note, max_score=_tests_max(assignment))
            _simple_feedback(out / "feedback" / f"{student}.html", rec)
            _save(result, rec)
            records[student] = rec
            record_in_gradebook(course, rec)
            continue
        old = _load(result)
        sha = _sha256(path.read_bytes()) if path.stat().st_size <= MAX_BYTES else None
        if (old and not force and old.get("final", True) and old.get("assignment") == assignment
                and old.get("sha256") == sha):  # same file (a result from another machine counts too)
            records[student] = old
            record_in_gradebook(course, old)
            continue
        todo.append((student, path, note))

    progress = Progress(len(todo), quiet=quiet)
    running = {}  # student -> Popen
    lock = threading.Lock()

    import multiprocessing

    # each submission is graded in a process of its own, forked from a server that has nbgrader & co.
    # imported already (saves seconds per submission); the kernels run under it, sandboxed
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    os.environ["AUTOGRADER_BATCH"] = str(out)  # marks every process of this batch, kernels included
    os.environ["AUTOGRADER_ALEMBIC_HEAD"] = fast_gradebooks()

    def run(student, path, note):
        result, feedback, log = (work / f"{student}{ext}" for ext in (".json", ".html", ".log"))
        t0 = time.time()
        proc = ctx.Process(target=_child, args=(assignment, str(path), student, str(result), str(feedback), str(log),
                                                limits, student in set(trust), static_guard), daemon=False)
        proc.start()
        with lock:
            running[student] = proc
        try:
            proc.join(limits.notebook_timeout + SLACK)
            if proc.is_alive():
                kill_tree(proc.pid)
                proc.join()
                rec = _record(student, assignment, path, reason=(
                    f"grading did not finish within {limits.notebook_timeout + SLACK} s and was stopped; "
                    "the notebook probably produces something the grader cannot process"),
                    max_score=_tests_max(assignment))
            else:
                rec = _load(result)
                if rec is None:
                    tail = log.read_text(errors="replace").strip()[-300:] if log.is_file() else ""
                    rec = _record(student, assignment, path, score=None, final=False, max_score=_tests_max(assignment),
                                  reason=f"the grader crashed (exit {proc.exitcode}): {tail}; run grade-all again")
        finally:
            with lock:
                running.pop(student, None)
            kill_tree(proc.pid)  # nothing of this submission outlives it
        if note:
            rec["notes"] = [note] + rec.get("notes", [])
            rec["reason"] = "; ".join(x for x in (note, rec.get("reason")) if x)
        rec["seconds"] = round(time.time() - t0, 1)
        return rec

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(run, *t): t[0] for t in todo}
        for fut in as_completed(futures):
            rec = fut.result()
            student = rec["student"]
            fb = work / f"{student}.html"
            if fb.is_file():
                os.replace(fb, out / "feedback" / f"{student}.html")
            record_in_gradebook(course, rec)
            _save(out / "results" / f"{student}.json", rec)  # last: a record means "done"
            records[student] = rec
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
    every = [_load(p) for p in sorted((out / "results").glob("*.json"))]  # earlier shards/runs included
    test_ids = [nbgrader_meta(c)["grade_id"] for c in graded_cells(read_notebook(source_path(assignment)))]
    write_csv(out / "grades.csv", [r for r in every if r], test_ids)
    return final


def _save(path, rec):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, path)


def _load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- command line

def _limits(args):
    from autograder.sandbox import Limits
    return Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                  memory=int(args.memory), max_output_bytes=args.max_output, sandbox=not args.no_sandbox,
                  hide=list(args.hide or []))


def _memory(text):
    """``4G``, ``512M`` or a number of bytes."""
    text = str(text).strip().upper()
    for suffix, mult in (("G", GiB), ("M", 2 ** 20), ("K", 2 ** 10)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * mult)
    return int(text)


def _limit_args(p):
    p.add_argument("--cell-timeout", type=int, default=300, help="seconds one cell may run (default 300)")
    p.add_argument("--notebook-timeout", type=int, default=900, help="seconds all cells may run (default 900)")
    p.add_argument("--memory", type=_memory, default=4 * GiB, help="memory per kernel, e.g. 4G (default 4G)")
    p.add_argument("--max-output", type=int, default=1_000_000, help="bytes of output per cell (default 1e6)")
    p.add_argument("--no-sandbox", action="store_true", help="run kernels without the sandbox (not recommended)")
    p.add_argument("--hide", action="append", metavar="PATH", help="another path to hide from the kernel")
    p.add_argument("--no-static-guard", action="store_true", help=argparse_suppress())


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS  # a switch for the test suite (proves the sandbox alone), not for graders


def cmd_grade_submission(args):
    rec = grade_submission(args.assignment, args.notebook, student=args.student, feedback=args.feedback,
                           limits=_limits(args), trust=args.trust, static_guard=not args.no_static_guard)
    text = json.dumps(rec, indent=1)
    if args.out:
        _save(args.out, rec)
    else:
        print(text)
    return 0


def cmd_grade_all(args):
    shard = None
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 1 <= k <= n:
            raise GradingError(f"--shard {args.shard}: want K/N with 1 <= K <= N")
        shard = (k, n)
    records = grade_all(args.assignment, args.folder, out=args.out, workers=args.workers, force=args.force,
                        trust=args.trust or (), limits=_limits(args), students=args.student, shard=shard,
                        static_guard=not args.no_static_guard, quiet=args.json and not sys.stderr.isatty())
    if args.json:
        print(json.dumps([{k: r.get(k) for k in ("student", "status", "score", "max_score", "reason")}
                          for r in records], indent=1))
    else:
        out = Path(args.out or Path("grades") / args.assignment)
        graded = sum(r["status"] == "graded" for r in records)
        print(f"{graded} graded, {len(records) - graded} not graded (see the reasons); "
              f"{out / 'grades.csv'}, feedback in {out / 'feedback'}")
    return 0


def add_parsers(sub):
    """Register ``grade-all`` and ``grade-submission`` with the CLI's subparsers."""
    a = sub.add_parser("grade-all", help="grade every submission in a folder, in parallel, sandboxed")
    a.add_argument("assignment")
    a.add_argument("folder", help="DIR/<student>.ipynb, or nbgrader's DIR/submitted/<student>/<assignment>/")
    a.add_argument("--out", help="where results, feedback, grades.csv and the gradebook go "
                                 "(default grades/<assignment>)")
    a.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)), help="parallel gradings "
                                                                                     "(default: one per core)")
    a.add_argument("--json", action="store_true", help="print the results as a JSON list")
    a.add_argument("--force", action="store_true", help="regrade students who already have a result")
    a.add_argument("--trust", action="append", metavar="STUDENT",
                   help="after a human review: grade this flagged student without the cheating checks")
    a.add_argument("--student", action="append", metavar="STUDENT", help="grade only these students")
    a.add_argument("--shard", metavar="K/N", help="grade only the K-th of N slices of the class (one per machine)")
    _limit_args(a)
    a.set_defaults(fn=cmd_grade_all)

    s = sub.add_parser("grade-submission", help="grade one submission into one JSON record (what grade-all runs)")
    s.add_argument("assignment")
    s.add_argument("notebook")
    s.add_argument("--student", help="default: the file name up to its first dot")
    s.add_argument("--out", metavar="JSON", help="write the record here (default: print it)")
    s.add_argument("--feedback", metavar="HTML", help="write the student's feedback here")
    s.add_argument("--trust", action="store_true", help="skip the cheating checks (after a human review)")
    _limit_args(s)
    s.set_defaults(fn=cmd_grade_submission)
