"""A ``dask worker --preload`` for tests: the worker dies on the spot when it starts grading a student named ``poison``.

Nothing a real notebook does kills a worker (its grading runs in a process of
its own, its kernel in a sandbox), so the test cluster stands in for one: a
worker plugin kills its own process (SIGKILL, no clean-up) when a task whose
key names ``poison`` starts executing. The nanny starts a new worker, and the
scheduler counts one more death against that task.
"""
import os
import signal

from distributed import WorkerPlugin


class Poison(WorkerPlugin):
    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "poison" in str(key):
            os.kill(os.getpid(), signal.SIGKILL)


def dask_setup(worker):
    worker.plugins["poison"] = Poison()
