"""A class graded on Dask, from the client's side: check the workers, hand out the students, collect.

:func:`check_workers` refuses a batch, before anything is graded, when a worker
runs other code or cannot sandbox (:func:`autograder.classroom.version.refusal`), and
installs :class:`autograder.classroom.workers.GraderPlugin` on every worker (those that
join later too; :func:`remove_plugin` takes it off). :func:`grade` submits one
task per student, with the notebook's bytes: no file system is shared. It keeps at most :data:`WINDOW` tasks per slot in flight (the
scheduler holds the notebooks of those only) and yields each student's
record and feedback page as they come back, whatever happened:

- a worker killed mid-task: Dask grades its students elsewhere; the seed
  comes with the task (the grader key), so the grade is the same;
- a grading process that died without a record: retried :data:`RETRIES` times
  (Dask's ``retries``), then recorded as an error that a re-run grades again;
- a submission whose workers keep dying: the scheduler gives up on it after
  ``distributed.scheduler.allowed-failures`` deaths (3 by default) and it is
  recorded as an error with that reason;
- a worker that joined later and cannot grade: its tasks fail, it is retired,
  and its students are handed out again.

The local cluster's scheduler sends each worker no more tasks than it has
threads (``worker-saturation`` 1.0), so a dying worker only takes down the
students it was grading, never ones waiting in its queue.
"""
import uuid

from autograder.assignments import GradingError
from autograder.records import Record
from autograder.safe_io import read_regular
from autograder.classroom.students import printable
from autograder.notebook.submission import MAX_BYTES

PREFIX = "autograder-"   # the worker plugins of batches; the rest of the name is the client's id
WINDOW = 4               # tasks in flight per slot of the cluster
RETRIES = 2              # Dask's retries of a task whose grading process crashed
RESUBMITS = 3            # times a student goes back out after a refused worker
WAIT_FOR_WORKERS = 60    # seconds a batch waits for its first worker
LOCAL = {"distributed.scheduler.worker-saturation": 1.0}


def check_workers(client, unsafe):
    """Refuse the batch unless every worker can grade for this client, then install the batch's
    :class:`~autograder.classroom.workers.GraderPlugin` on them; return ``(its name, the workers' reports)``."""
    from autograder.classroom.version import refusal, report
    from autograder.classroom.workers import GraderPlugin, WorkerRefused, describe

    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
    except TimeoutError:
        raise GradingError(f"no worker joined the scheduler {client.scheduler.address} within {WAIT_FOR_WORKERS} "
                           "s: start some with `dask worker ADDRESS` (nothing was graded)") from None
    mine = report()
    theirs = client.run(describe, on_error="return")
    problems = []
    for addr, r in sorted(theirs.items()):
        if isinstance(r, Exception):  # e.g. started outside a checkout: it cannot import the grader
            problems.append(f"{addr}: it cannot describe itself ({type(r).__name__}: {r}); start it from a "
                            "checkout of the client's commit, with `make setup` done")
        elif why := refusal(mine, r, unsafe):
            problems.append(f"{addr}: {why}")
    if problems:
        raise GradingError("these workers cannot grade this batch (nothing was graded):\n  " + "\n  ".join(problems))
    for stale in client.run_on_scheduler(_stale_plugins):
        client.unregister_worker_plugin(stale)
    name = PREFIX + client.id
    try:
        client.register_plugin(GraderPlugin(mine, unsafe), name=name)
    except WorkerRefused as e:  # a worker changed since it described itself
        raise GradingError(f"{e} (nothing was graded)") from None
    return name, theirs


def settings(client):
    """``(slots, allowed failures, worker saturation)`` of the cluster, as its scheduler has them."""
    def read(dask_scheduler):
        return dask_scheduler.total_nthreads, dask_scheduler.allowed_failures, dask_scheduler.WORKER_SATURATION
    return tuple(client.run_on_scheduler(read))


def _stale_plugins(dask_scheduler):
    """Plugins of batches whose client is gone (killed before it could remove its plugin)."""
    return [n for n in dask_scheduler.worker_plugins
            if n.startswith(PREFIX) and n[len(PREFIX):] not in dask_scheduler.clients]


def in_flight(client, keys):
    """How many of ``keys`` a worker is grading now."""
    return sum(k in keys for ks in client.processing().values() for k in ks)


def _failed(exc, assignment, student, path, full):
    """The record of a student whose task raised ``exc`` (after Dask's retries)."""
    from distributed import KilledWorker

    from autograder.sandbox.isolate import GraderCrashed

    rec = Record(student, assignment, file=str(path), max_score=full, final=False)
    if isinstance(exc, KilledWorker):
        rec.final = True  # grading it again would kill workers again: a person decides (--force --student)
        rec.reason = (f"the worker grading this notebook died {exc.allowed_failures + 1} times, so it was not "
                      f"graded; a person should look at it (grade-all --force --student {student} tries again)")
    elif isinstance(exc, GraderCrashed):
        rec.reason = f"{exc} ({RETRIES + 1} tries); this is not the student's fault: run grade-all again"
    else:
        rec.reason = (f"the grader failed ({type(exc).__name__}: {str(exc)[-300:]}); this is not the student's "
                      "fault: run grade-all again")
    return rec


def grade(client, name, assignment, todo, limits, unsafe, grader_key, full):
    """Grade ``todo`` (``[(student, path)]``) with the plugin ``name`` (:func:`check_workers`); yield
    ``(student, record, judged notebook or None, in flight)``, every student exactly once, as they finish.
    """
    from distributed import as_completed

    from autograder.classroom.workers import WorkerRefused, grade_task

    batch = uuid.uuid4().hex[:8]
    futures, keys, tries = {}, set(), {}
    pending = iter(todo)
    window = WINDOW * max(1, settings(client)[0])
    done = as_completed([], loop=client.loop)

    def submit(student, path):
        tries[student] = tries.get(student, 0) + 1
        key = (f"grade-{assignment}", f"{student}-{batch}-{tries[student]}")  # one task group: queued fairly
        shown = path.with_name(printable(path.name))  # what the record and messages call the file: no escapes
        fut = client.submit(grade_task, name, assignment, student, str(shown), read_regular(path, MAX_BYTES), limits,
                            unsafe, grader_key, key=key, retries=RETRIES, pure=False)
        futures[fut] = (student, path)
        keys.add(key)
        done.add(fut)

    def fill():
        """Submit students until the window is full; yield the records of those whose file cannot be read."""
        while done.count() < window and (nxt := next(pending, None)):
            try:
                submit(*nxt)
            except OSError as e:  # gone or unreadable since it was found: the next run tries again
                why = f"the grader could not read {printable(nxt[1].name)} ({e.strerror or e})"
                yield nxt[0], Record(nxt[0], assignment, file=str(nxt[1]), max_score=full, final=False,
                                     reason=why), None, 0

    try:
        yield from fill()
        for fut in done:
            student, path = futures.pop(fut)
            keys.discard(fut.key)
            judged = None
            try:
                rec_json, judged = fut.result()
                rec = Record.from_json(rec_json)
            except WorkerRefused as e:
                if tries[student] < RESUBMITS:  # a late worker that cannot grade: out with it, and again
                    client.retire_workers([e.args[0]], close_workers=True)
                    submit(student, path)
                    continue
                rec = _failed(e, assignment, student, path, full)
            except Exception as e:  # whatever a task raises becomes this student's record, never the batch's end
                rec = _failed(e, assignment, student, path, full)
            fut.release()
            yield from fill()
            yield student, rec, judged, in_flight(client, keys)
    finally:
        for fut in list(futures):
            fut.cancel()


def remove_plugin(client, name):
    """Take the batch's plugin off the workers (and off the scheduler, which gives it to new workers)."""
    try:
        client.unregister_worker_plugin(name)
    except Exception:  # the cluster is gone (Ctrl-C, scheduler lost): nothing left to tidy up there
        pass
