"""The worker's side of a class graded on Dask: a worker plugin, and the task that grades one student.

The client of a batch (:mod:`autograder.classroom.cluster`) installs :class:`GraderPlugin`
on every worker of the cluster, those there now and those that join later.
Its ``setup`` compares the worker with the client (:func:`autograder.classroom.version.refusal`):
a worker with other code, other libraries or no sandbox (without ``--unsafe``)
is refused and leaves the cluster, so that it never grades. An accepted worker
gets a private scratch folder, a course view per assignment and a fork server
with nbgrader imported; :func:`grade_task` then grades one student in a
process of its own (:func:`autograder.sandbox.isolate.grade_isolated`), so that a
grading that hangs is killed without killing the worker, and returns the
record and the judged notebook. Nothing is read from or written to a shared
file system: the notebook's bytes come with the task.
"""
import asyncio
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
from pathlib import Path

from distributed import WorkerPlugin, get_worker

from autograder.sandbox.isolate import grade_isolated, start_server

log = logging.getLogger("autograder.classroom.workers")


class WorkerRefused(RuntimeError):
    """This worker (``args[0]``, its address) cannot grade for this client (``args[1]``: why not)."""

    def __str__(self):
        return f"worker {self.args[0]} cannot grade for this client: {self.args[1]}"


class GraderPlugin(WorkerPlugin):
    """What a worker needs to grade for one client: the client's :func:`~autograder.classroom.version.report`."""

    def __init__(self, client_report, unsafe):
        self.client_report, self.unsafe = client_report, unsafe
        self.refused, self.scratch, self.courses = "", None, {}

    async def setup(self, worker):
        await asyncio.get_running_loop().run_in_executor(None, self._setup, worker)

    def _setup(self, worker):
        """Off the event loop: it imports nbgrader and runs bubblewrap, seconds on a busy machine."""
        from autograder.classroom.gradebook import fast_gradebooks
        from autograder.classroom.version import refusal, report

        self.lock = threading.Lock()
        self.refused = refusal(self.client_report, report(), self.unsafe)
        if self.refused:
            # a worker that joined after the batch started (the client refuses a batch outright when such a
            # worker is there from the start): its tasks fail and the client retires it. It does not leave on
            # its own: this plugin may be a stale one, of a client that is gone.
            log.error("autograder: this worker cannot grade for the client: %s", self.refused)
            raise WorkerRefused(worker.address, self.refused)
        # the nanny starts workers as daemonic processes, which multiprocessing forbids to have children; the
        # grading processes are ours to clean up (killed with their tree, and with the fork server when the
        # worker dies), which is what that rule protects
        multiprocessing.current_process().daemon = False
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-worker-"))  # 0700
        os.environ["AUTOGRADER_ALEMBIC_HEAD"] = fast_gradebooks()  # the grading processes inherit it
        start_server()

    def teardown(self, worker):
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def course(self, assignment):
        """The course view of ``assignment`` (built once per worker)."""
        from autograder.notebook import course_view

        with self.lock:
            if assignment not in self.courses:
                self.courses[assignment] = course_view.build(assignment, self.scratch / f"course-{assignment}")
            return self.courses[assignment]


async def describe():
    """This worker's :func:`autograder.classroom.version.report`, made off the event loop (which keeps the worker's
    heartbeats going meanwhile)."""
    from autograder.classroom.version import report
    return await asyncio.get_running_loop().run_in_executor(None, report)


def grade_task(plugin_name, assignment, student, name, data, limits, unsafe, grader_key):
    """The Dask task: grade one student's notebook (``data``, handed in as ``name``) on this worker.

    ``plugin_name``: the batch's :class:`GraderPlugin`. Returns ``(record as JSON,
    judged notebook text or None)``. Raises :class:`autograder.sandbox.isolate.GraderCrashed`
    when the grading process died without a record (Dask retries it),
    :class:`WorkerRefused` on a worker that cannot grade for this batch.
    """
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None or plugin.scratch is None:
        raise WorkerRefused(worker.address, getattr(plugin, "refused", "") or "the batch's plugin is not set up here")
    rec, judged = grade_isolated(assignment, name, data, student, limits, unsafe, plugin.course(assignment),
                                 grader_key, plugin.scratch)
    return rec.to_json(), judged
