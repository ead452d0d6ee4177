"""The second hostile review's holes (issue 18), each as the attack that found it.

- the local Dask cluster of ``grade-all``: any local account could connect to it and run code as the grader
  (now TLS with a certificate of its own, no HTTP routes); a plain ``tcp://`` ``--scheduler`` only with
  ``--insecure``;
- ``grade``'s table printed a learner's escape sequences (now through ``students.printable``);
- one malformed kernel message (a list for ``transient``, ``metadata`` or ``parent_header``, a string for
  ``execution_count`` or the date) made the notebook an error that blamed the grader; the kernel chose the
  cells' ``execution_count`` (a number of 300 digits can carry text into the feedback).

The other two holes are tested where their kind is: two notebooks of one student in
tests/test_batch_attacks.py, running statistics judged from a start of 1e8 in tests/mutants/a01_layers.py.
"""
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from nbformat.v4 import new_code_cell

import attacks as A
from autograder.assignments import ROOT
from autograder.sandbox.bwrap import mode
import submissions as S

FC = S.FC
KIND, WHY = mode()
LIMITS = ["--cell-timeout", "40", "--notebook-timeout", "150", "--memory", "2G", "--processes", "128",
          "--disk", "96M", "--cpu-seconds", "30"]


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
        info = client.scheduler_info()
        ports = [info["services"]["dashboard"]] + [w["services"]["dashboard"] for w in info["workers"].values()]
        for port in ports:  # Dask always starts an HTTP server, on the scheduler and on each worker
            for path in ("/health", "/metrics", "/json/identity.json", "/info/main/workers.html", "/proxy/1/x"):
                with pytest.raises(urllib.error.HTTPError) as e:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
                assert e.value.code == 404, (port, path)


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
    with pytest.raises(Insecure, match="not a tls:// address"):
        client_security("tcp://10.0.0.1:8786", ca_file="ca.pem", insecure=True)
    tls = client_security("tls://10.0.0.1:8786", "ca.pem", "c.pem", "k.pem")
    assert tls.require_encryption and tls.tls_client_key == "k.pem"


def test_the_sweep_refuses_a_plain_tcp_scheduler_too(capsys):
    """``make sweep ARGS="--scheduler tcp://..."`` without ``--insecure``: a usage error, nothing trained."""
    from wavenet.experiment import main

    with pytest.raises(SystemExit) as e:
        main(["sweep", "--scheduler", "tcp://127.0.0.1:1", "--steps", "1"])
    assert e.value.code == 2 and "--insecure" in capsys.readouterr().err


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


# ---------------------------------------------------------------- 4: malformed kernel messages

# Sent from a cell before the tests (so its outputs are in the feedback): each message alone used to raise in
# nbclient or nbformat, in the grader; then the kernel numbers its cells with a 300-digit count.
MALFORMED = """
ip = get_ipython()
k = ip.kernel
ip.display_pub.publish(data={"text/plain": "transient is a list"}, metadata={}, transient=["x"])
ip.display_pub.publish(data={"text/plain": "metadata is a list"}, metadata=["x"])
k.session.send(k.iopub_socket, "execute_result", {"data": {"text/plain": "count"}, "metadata": {},
               "execution_count": "NaN"}, parent=k.get_parent())
msg = k.session.msg("display_data", {"data": {"text/plain": "orphan"}, "metadata": {}}, parent=k.get_parent())
msg["parent_header"] = [msg["parent_header"]]
k.session.send(k.iopub_socket, msg)
msg = k.session.msg("display_data", {"data": {"text/plain": "bad date"}, "metadata": {}}, parent=k.get_parent())
msg["header"]["date"] = "yesterday"
k.session.send(k.iopub_socket, msg)
k.session.send(k.iopub_socket, "stream", {"name": ["stdout"], "text": 7}, parent=k.get_parent())
ip.execution_count = 10 ** 300
"""
HUGE = re.compile(r"\d{25}")


@pytest.fixture(scope="module")
def malformed(tmp_path_factory):
    """``grade --json --feedback`` of a correct 01_layers notebook whose second cell sends malformed messages."""
    if KIND is None:
        pytest.skip(f"no sandbox here: {WHY}")
    tmp = tmp_path_factory.mktemp("malformed")
    nb = S.after(S.solved(A.LAYERS), "setup", MALFORMED)
    nb.cells.insert(S.index(nb, "setup") + 2, new_code_cell("6 * 7"))  # a result shown after the count is set
    path = tmp / "malformed.ipynb"
    path.write_bytes(S.dumps(nb))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A.LAYERS, str(path), "--json",
                           "--feedback", str(tmp / "feedback.html"), *LIMITS], cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, timeout=600)
    return proc, tmp / "feedback.html"


def test_malformed_messages_are_the_kernels_not_the_graders(malformed):
    """The notebook is graded (not an error blaming the grader) and every honest test keeps its points."""
    proc, _ = malformed
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    failed = [(t["id"], t["message"]) for t in result["tests"] if not t["passed"]]
    assert result["score"] == result["max_score"] and not failed, failed


def test_execution_counts_are_the_graders(malformed):
    """No count the kernel chose reaches the feedback: the cells are numbered 1, 2, 3... by the grader."""
    _, feedback = malformed
    page = feedback.read_text()
    assert not HUGE.search(page), HUGE.search(page).group()[:40]


def test_well_formed_mends_what_nbclient_reads_unchecked():
    """Unit: each malformed part becomes empty, an unknown shape becomes type "malformed", counts ``None``."""
    from autograder.notebook.execute import well_formed

    msg = well_formed({"header": {"msg_type": "display_data", "date": "yesterday"}, "parent_header": ["x"],
                       "metadata": None, "content": {"transient": ["x"], "metadata": 3, "execution_count": 10 ** 300,
                                                     "data": {}}})
    assert msg["parent_header"] == {} and msg["metadata"] == {} and msg["msg_type"] == "display_data"
    assert msg["content"] == {"transient": {}, "metadata": {}, "execution_count": None, "data": {}}
    assert msg["header"]["date"].isoformat()
    status = {"header": {"msg_type": "status"}, "content": {"execution_state": []}}
    assert well_formed(status)["msg_type"] == "malformed"
    assert well_formed({"header": {"msg_type": ["x"]}, "content": []})["msg_type"] == "malformed"
    assert well_formed({"header": {"msg_type": "execute_result"}, "content": {}})["content"]["execution_count"] is None


def test_errors_print_no_escape_sequence(tmp_path, capsys):
    """``grade`` of a file whose name holds escape sequences: the one-line error on stderr has none."""
    from autograder.cli import main

    missing = tmp_path / "nb\x1b]0;PWNED\x07\x1b[2J.ipynb"
    assert main(["grade", A.LAYERS, str(missing)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "no such file" in err and "nb?]0;PWNED??[2J.ipynb" in err


def test_a_message_that_still_breaks_the_client_is_the_kernels_fault(monkeypatch):
    """Unit: whatever a message still breaks in nbclient (here an AttributeError, which used to escape as a
    grader's failure) stops the kernel with an event naming a malformed message; later cells are not run."""
    import time

    from nbgrader.preprocessors import Execute

    from autograder.notebook.execute import SandboxedExecute

    def broken(self, cell, resources, index):
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(Execute, "preprocess_cell", broken)
    ex = SandboxedExecute()
    ex._events, ex._stopped, ex._count, ex.km = {}, "", 0, None
    ex._deadline, ex._cell_timeout = time.monotonic() + 100, 30
    cell, _ = ex.preprocess_cell(new_code_cell("1"), {}, 3)
    assert ex._events[3][0] == "kernel died" and "malformed message" in ex._events[3][1], ex._events
    assert cell.execution_count == 1 and ex._stopped
    later, _ = ex.preprocess_cell(new_code_cell("2"), {}, 4)
    assert ex._events[4][0] == "not run" and later.execution_count is None


# ---------------------------------------------------------------- 10: no points for structure alone

@pytest.mark.parametrize("assignment", ["01_layers", "02_modules", "03_flatten_consecutive", "04_hierarchical",
                                        "05_scaled_up", "08_wavenet_conv"])
def test_structure_alone_scores_nothing(assignment):
    """The strongest structure-only forger (every shape, count, flag and number a correct implementation reports
    on this run's inputs, every tensor zeros) on the empty exercise scores 0: every test's data holds values the
    grader checks against its reference (the probe's own, or those of the object's values test:
    ``wavenet.checks.probe.bind``). In-process (``autograder.authoring.runner``); the val-loss test, whose
    zero logits lose anyway, is not trained."""
    from attacks.structure import REFERENCE, STRONGEST, strongest
    from autograder.assignments import source_path
    from autograder.authoring.runner import run_notebook

    solution = run_notebook(source_path(assignment), assignment, skip=("test_val_loss",))
    REFERENCE.clear()
    REFERENCE.update({k: v for k, v in solution["namespace"].items() if callable(v) and not k.startswith("_")})
    try:
        result = run_notebook(strongest(assignment), assignment, skip=("test_val_loss",))
        # the control: the same forger sending the records unzeroed gets full marks, so the zeros are the cause
        control = run_notebook(strongest(assignment, STRONGEST.replace("_zeros(record))", "record)")), assignment,
                               skip=("test_val_loss",))
    finally:
        REFERENCE.clear()
    passed = [t["id"] for t in result["tests"] if t["passed"]]
    assert result["score"] == 0 and not passed, (assignment, passed)
    assert control["score"] == control["max_score"] == solution["max_score"] > 0, control["tests"]


@pytest.mark.sandbox
def test_structure_alone_scores_nothing_when_graded(tmp_path):
    """The seed-only forger of 01_layers (shapes, counts, flags from ``probe.inputs``; it got 7 of 16 before every
    test checked values) through ``python -m autograder grade``, sandboxed: 0."""
    from attacks.structure import seed_only

    path = tmp_path / "forger.ipynb"
    path.write_bytes(S.dumps(seed_only(A.LAYERS)))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A.LAYERS, str(path), "--json", *LIMITS],
                          cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["score"] == 0, [(t["id"], t["message"]) for t in result["tests"] if t["passed"]]
