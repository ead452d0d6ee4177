"""The second hostile review's holes (issue 18), each as the attack that found it.

- the local Dask cluster of ``grade-all``: any local account could connect to it and run code as the grader
  (now TLS with a certificate of its own, no HTTP routes); a plain ``tcp://`` ``--scheduler`` only with
  ``--insecure``;
"""
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from autograder.assignments import ROOT
import submissions as S

FC = S.FC


# ---------------------------------------------------------------- 1: the local cluster is the grader's alone

def test_the_local_cluster_refuses_a_client_without_its_certificate():
    """A local user who reads the scheduler's address (ss, /proc) cannot become its client: a plain client of
    the ``tls://`` address has no certificate, a ``tcp://`` one is cut off; the HTTP server has no pages."""
    from distributed import Client

    from wavenet.cluster import connect

    with connect(workers=1) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:"), address
        assert client.submit(sum, [1, 2]).result() == 3  # the grader's own client works
        for attempt in (address, address.replace("tls://", "tcp://")):
            with pytest.raises((OSError, TimeoutError, TypeError, ValueError)):
                Client(attempt, timeout=5, set_as_default=False)
        http = client.scheduler_info()["services"].get("dashboard")  # Dask always starts one
        for path in ("/health", "/json/identity.json", "/info/main/workers.html", "/status", "/proxy/1/x"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=5)
            assert e.value.code == 404, path


def test_a_plain_tcp_scheduler_needs_insecure(tmp_path):
    """``--scheduler tcp://…`` without ``--insecure`` is refused before anything is read or written, saying why
    and what to do; ``tls://`` needs its certificates."""
    from wavenet.cluster import Insecure, client_security

    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", FC, str(tmp_path), "--out",
                           str(tmp_path / "grades"), "--scheduler", "tcp://127.0.0.1:1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "not encrypted" in proc.stderr and "--insecure" in proc.stderr and "--tls-ca-file" in proc.stderr
    assert not (tmp_path / "grades").exists()
    with pytest.raises(Insecure, match="--tls-key"):
        client_security("tls://10.0.0.1:8786", ca_file="ca.pem", cert="c.pem")
    with pytest.raises(Insecure):
        client_security("10.0.0.1:8786")
    assert client_security("tcp://10.0.0.1:8786", insecure=True).require_encryption is False
    tls = client_security("tls://10.0.0.1:8786", "ca.pem", "c.pem", "k.pem")
    assert tls.require_encryption and tls.tls_client_key == "k.pem"
