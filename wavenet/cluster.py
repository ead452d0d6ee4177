"""A Dask client: to a running cluster's scheduler, or to a local cluster made for one piece of work.

Both the grader (``python -m autograder grade-all``) and the experiment
harness's sweep hand their work to Dask through :func:`connect`, so that the
same code runs on one machine and on many: without an address it starts a
``LocalCluster`` of worker processes on this machine (one thread each) and
closes it afterwards; with one, it connects to ``dask scheduler`` there.
"""
import logging
from contextlib import contextmanager


class Unreachable(ConnectionError):
    """No scheduler answered at the given address."""


@contextmanager
def connect(scheduler=None, workers=1, timeout=10, config=None):
    """Yield a ``distributed.Client``; close it (and the local cluster, if one was made) afterwards.

    Args:
        scheduler: ``tcp://host:8786`` (or ``host:8786``) of a running ``dask scheduler``; ``None``
            for a local cluster.
        workers: processes of the local cluster (ignored with ``scheduler``).
        timeout: seconds to wait for the scheduler before :class:`Unreachable`.
        config: Dask settings for the local cluster's scheduler and workers, e.g.
            ``{"distributed.scheduler.worker-saturation": 1.0}`` (a running scheduler keeps its own).
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise Unreachable(f"no Dask scheduler answered at {scheduler} within {timeout} s ({e}): start one there "
                              "with `dask scheduler` (port 8786), or check the address and that the port is "
                              "reachable from here") from e
        with client:
            yield client
        return
    with dask.config.set(config or {}):
        # the workers' own chatter (connections closing at shutdown) is not the user's business; errors are
        with LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster, set_as_default=False) as client:
            yield client
