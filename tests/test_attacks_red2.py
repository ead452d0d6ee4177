"""The second hostile review's holes (issue 18), each as the attack that found it.

- the local Dask cluster of ``grade-all``: any local account could connect to it and run code as the grader
  (now TLS with a certificate of its own, no HTTP routes); a plain ``tcp://`` ``--scheduler`` only with
  ``--insecure``;
- ``grade``'s table printed a learner's escape sequences (now through ``students.printable``);
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


# ---------------------------------------------------------------- 3: grade's table prints no escape sequence

def test_grades_table_prints_no_escape_sequence():
    """A failing test's message quotes a learner's line, which may hold escape sequences (a screen clear, a
    title change); ``grade``'s table, like grades.csv, prints them as ``?``."""
    from autograder.cli import _table

    esc = "\x1b[2J\x1b]0;PWNED\x07"
    result = {"assignment": FC, "notebook": f"nb{esc}.ipynb", "score": 0.0, "max_score": 1.0,
              "tests": [{"id": "test_x", "points": 0.0, "max_points": 1.0, "passed": False,
                         "message": f"your line: print('{esc}')\nline two\r"}]}
    table = _table(result)
    assert all(c.isprintable() for line in table.splitlines() for c in line), ascii(table)
    assert "your line: print('?[2J?]0;PWNED?')?line two?" in table
    assert "nb?[2J?]0;PWNED?.ipynb" in table
