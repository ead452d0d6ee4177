"""A Dask client: to a running cluster's scheduler, or to a local cluster made for one piece of work.

Both the grader (``python -m autograder grade-all``) and the experiment
harness's sweep hand their work to Dask through :func:`connect`, so that the
same code runs on one machine and on many: without an address it starts a
``LocalCluster`` of worker processes on this machine (one thread each) and
closes it afterwards; with one, it connects to ``dask scheduler`` there.

Whoever can talk to a Dask scheduler can run code on its workers, as the user
who runs them. So the local cluster speaks TLS with a certificate made for it
alone (``Security.temporary()``: held in this process and handed to its
workers, never written to a file), and serves no HTTP routes (Dask always
starts an HTTP server; with no routes it answers 404 to everything). A running
cluster is reached over ``tls://`` with certificate files, or over plain
``tcp://`` only when the caller says ``insecure`` (:func:`client_security`).
"""
import logging
from contextlib import contextmanager

# the local cluster's HTTP servers: no dashboard, no JSON/info pages (they list workers and task keys,
# i.e. students), no proxy
NO_HTTP = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}


class Unreachable(ConnectionError):
    """No scheduler answered at the given address."""


class Insecure(ValueError):
    """An address to be reached without TLS, or TLS without its certificates."""


def client_security(address, ca_file=None, cert=None, key=None, insecure=False):
    """The ``distributed.security.Security`` with which to reach the scheduler at ``address``.

    ``tls://`` needs all three certificate files (the cluster's CA, this client's certificate and
    key); a plain ``tcp://`` address (or one without a protocol) only with ``insecure``, since anyone
    who can reach it can run code on the workers. Raises :class:`Insecure` otherwise.
    """
    from distributed.security import Security

    protocol = address.split("://")[0] if "://" in address else "tcp"
    files = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if protocol == "tls":
        if missing := [flag for flag, f in files.items() if not f]:
            raise Insecure(f"{address} is a TLS address: give the cluster's certificates with "
                           f"{', '.join(missing)} (see `dask scheduler --help`, --tls-*)")
        return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    if not insecure:
        raise Insecure(f"{address} is not encrypted ({protocol}://): anyone who can reach that port can run code "
                       "on its workers as the user running them and read what they hold (the grader key). Start "
                       "the cluster with TLS and pass a tls:// address with --tls-ca-file, --tls-cert and "
                       "--tls-key, or pass --insecure for a private network you trust")
    if any(files.values()):
        raise Insecure(f"certificates were given for {address}, which is not a tls:// address")
    return Security()


def add_arguments(parser, what):
    """``--scheduler`` and the flags that say how to reach it securely (read back by :func:`from_arguments`)."""
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help=f"{what} on the Dask cluster whose scheduler is at ADDRESS (tls://host:8786 with "
                             "--tls-*, or tcp://host:8786 with --insecure)")
    parser.add_argument("--tls-ca-file", metavar="PEM", help="the CA certificate of the cluster at --scheduler")
    parser.add_argument("--tls-cert", metavar="PEM", help="this client's certificate for the cluster at --scheduler")
    parser.add_argument("--tls-key", metavar="PEM", help="this client's private key for the cluster at --scheduler")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a plain tcp:// --scheduler (anyone who reaches it can run code on its workers)")


def from_arguments(args):
    """``(address, security)`` from the flags of :func:`add_arguments`: ``(None, None)`` for a local cluster."""
    if not args.scheduler:
        if args.tls_ca_file or args.tls_cert or args.tls_key or args.insecure:
            raise Insecure("--tls-* and --insecure are for --scheduler; a local cluster makes its own certificate")
        return None, None
    return args.scheduler, client_security(args.scheduler, args.tls_ca_file, args.tls_cert, args.tls_key,
                                           args.insecure)


@contextmanager
def connect(scheduler=None, workers=1, timeout=10, config=None, security=None):
    """Yield a ``distributed.Client``; close it (and the local cluster, if one was made) afterwards.

    Args:
        scheduler: ``tls://host:8786`` of a running ``dask scheduler`` (a ``tcp://`` one only with a
            ``security`` of :func:`client_security` made with ``insecure``); ``None`` for a local cluster.
        workers: processes of the local cluster (ignored with ``scheduler``).
        timeout: seconds to wait for the scheduler before :class:`Unreachable`.
        config: Dask settings for the local cluster's scheduler and workers, e.g.
            ``{"distributed.scheduler.worker-saturation": 1.0}`` (a running scheduler keeps its own).
        security: how to reach ``scheduler`` (:func:`client_security`); by default that of a
            ``tls://`` address without certificates, i.e. :class:`Insecure` for any address.
    """
    import dask
    from distributed import Client, LocalCluster
    from distributed.security import Security

    if scheduler:
        if security is None:
            security = client_security(scheduler)
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False, security=security)
        except (OSError, TimeoutError, ValueError) as e:
            raise Unreachable(f"no Dask scheduler answered at {scheduler} within {timeout} s ({e}): start one there "
                              "with `dask scheduler` (port 8786), or check the address, the certificates and "
                              "that the port is reachable from here") from e
        with client:
            yield client
        return
    # a certificate of this cluster alone: only this process and the workers it starts hold it
    security = Security.temporary()
    with dask.config.set({**NO_HTTP, **(config or {})}):
        # the workers' own chatter (connections closing at shutdown) is not the user's business; errors are
        with LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                          protocol="tls://", security=security, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, \
                Client(cluster, set_as_default=False, security=security) as client:
            yield client
