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
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from nbformat.v4 import new_code_cell

import attacks as A
from attacks import red2
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

@pytest.fixture(scope="module")
def malformed(tmp_path_factory):
    """``grade --json --feedback`` of a correct 01_layers notebook whose second cell sends malformed messages."""
    if KIND is None:
        pytest.skip(f"no sandbox here: {WHY}")
    tmp = tmp_path_factory.mktemp("malformed")
    path = tmp / "malformed.ipynb"
    path.write_bytes(S.dumps(red2.malformed()))
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
    assert not red2.HUGE.search(page), red2.HUGE.search(page).group()[:40]


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


# ---------------------------------------------------------------- 4: the grader's memory does not follow the kernel

def test_bounded_json_counts_values_and_depth_in_the_bytes():
    """Unit: nesting and the number of values are measured before parsing; brackets and commas inside strings do
    not count; what passes parses as json would."""
    from autograder.bounded_json import MAX_DEPTH, MAX_VALUES, TooComplex, check, loads

    with pytest.raises(TooComplex, match=f"nests JSON {MAX_DEPTH + 1} levels deep"):
        check(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(TooComplex, match=f"more than {MAX_VALUES:,} JSON values"):
        check(b"[" + b"[]," * MAX_VALUES + b"[]]")
    with pytest.raises(TooComplex, match="the kernel sent a message that holds"):
        loads(b'{"x": [' + b"0," * MAX_VALUES + b"0]}")
    check(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)  # at the bounds: passes
    check(b"[" + b"0," * (MAX_VALUES - 2) + b"0]")
    quoted = json.dumps({"text": "[[[{{{,,,\\\"" * MAX_VALUES}).encode()
    check(quoted)
    assert loads(quoted) == json.loads(quoted)


def test_a_notebook_of_three_million_empty_lists_is_refused_before_parsing(tmp_path):
    """The file of the hostile review (3 M empty lists in a cell's metadata, 9 MB; it cost 2 GB and 69 s) and
    one nested 100,000 deep: refused in well under a second with a record naming the bound, by
    ``grade-submission`` (what ``grade-all`` runs) and by ``grade``'s reading of the file."""
    import time

    from autograder.assignments import GradingError, read_notebook
    from autograder.notebook.submission import grade_submission

    nb = S.solved(FC)
    nb.cells[0].metadata["x"] = [[] for _ in range(3_000_000)]
    bomb = json.dumps(nb).encode()
    del nb
    deep = json.dumps(S.solved(FC)).replace('"metadata": {', '"metadata": {"x": ' + "[" * 100_000 + "]" * 100_000
                                            + ", ", 1).encode()
    for name, data, why in (("bomb", bomb, "more than 200,000 JSON values"), ("deep", deep, "levels deep")):
        t0 = time.monotonic()
        rec = grade_submission(FC, f"{name}.ipynb", student=name, data=data)
        assert time.monotonic() - t0 < 5, time.monotonic() - t0
        assert rec.status == "error" and rec.final and "was not read" in rec.reason and why in rec.reason, rec.reason
        path = tmp_path / f"{name}.ipynb"
        path.write_bytes(data)
        t0 = time.monotonic()
        with pytest.raises(GradingError, match=why):
            read_notebook(path)
        assert time.monotonic() - t0 < 5, time.monotonic() - t0


@pytest.mark.sandbox
def test_what_a_kernel_sends_cannot_grow_the_grader(tmp_path):
    """One grading process grades a kernel that sends a 60 MB message (it cost the grader 1.8 GB), one that sends
    300,000 empty lists in a message under the frame bound, the two notebook files above, then an honest
    notebook: the first two are stopped as the kernel's doing (no points; 0 is what the empty exercise
    gets), the honest one gets full marks, and the process's peak stays under 1 GB."""
    if KIND is None:
        pytest.skip(f"no sandbox here: {WHY}")
    out = tmp_path / "memory.json"
    tests = str(ROOT / "tests")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "grader_memory.py"), str(out)], cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1",
                                   PYTHONPATH=os.pathsep.join([str(ROOT), tests, os.environ.get("PYTHONPATH", "")])),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["huge_message"]["status"] == "graded" and r["huge_message"]["score"] == 0, r["huge_message"]
    assert "the kernel sent a message over 16,777,216 bytes" in r["huge_message"]["reason"], r["huge_message"]
    assert r["many_values"]["status"] == "graded" and r["many_values"]["score"] == 0, r["many_values"]
    assert "the kernel sent a message that holds more than 200,000" in r["many_values"]["reason"], r["many_values"]
    for name in ("metadata_bomb", "deep"):
        assert r[name]["status"] == "error" and r[name]["seconds"] < 5, r[name]
    assert r["honest"]["score"] == r["honest"]["max_score"] == 9.0, r["honest"]
    assert r["honest"]["peak_rss_mb"] < 1024, r


def test_the_grading_process_holds_itself_to_a_memory_limit():
    """In a child process: after ``hold_memory``, allocating past the limit is a ``MemoryError`` (which the
    record names), not the machine's memory; the kernel's launcher lifts that limit again."""
    code = ("from autograder.sandbox.isolate import hold_memory\nhold_memory(512 * 2**20)\n"
            "try:\n    b = bytearray(1024 * 2**20)\nexcept MemoryError:\n    print('refused')\n"
            "import subprocess\n"
            "print(subprocess.run(['sh', '-c', 'ulimit -S -d unlimited 2>/dev/null; ulimit -d'],"
            " capture_output=True, text=True).stdout.strip())\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["refused", "unlimited"], (proc.stdout, proc.stderr[-2000:])


# ---------------------------------------------------------------- 8: the sandbox without root, and as root

def _sandbox_shell(as_nobody):
    cmd = [sys.executable, str(ROOT / "tests" / "sandbox_shell.py")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME="/tmp")
    if as_nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, cwd="/tmp", env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.sandbox
def test_the_sandbox_bounds_what_a_kernel_writes_and_refuses_user_namespaces():
    """With ``--disk 64M``: 200 MB into /dev/shm, /dev, the sandbox's root or the socket folder fail (the review
    found a root-less sandbox took them all), /learner stops at 64 MB, and ``unshare -rm`` fails (as root it
    made a user namespace and mounted in it). As root, then as nobody (bubblewrap in a user namespace)."""
    from needs import need

    modes = [False]
    if os.geteuid() == 0:
        readable = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "test", "-r",
                                   str(ROOT / "autograder" / "sandbox" / "bwrap.py")]).returncode == 0
        need("sandbox", readable, "the repository is not readable by nobody (chmod o+x on every folder above it)")
        modes.append(True)
    for as_nobody in modes:
        r = _sandbox_shell(as_nobody)
        for place in ("dev_shm", "dev", "root"):
            assert r[place]["rc"] != 0 and r[place]["bytes"] == 0, (r["mode"], place, r[place])
        assert r["learner"]["bytes"] <= 64 * 2 ** 20, r
        assert r["unshare"]["rc"] != 0, r
        assert r["socket_folder"]["rc"] != 0 and r["socket_folder"]["bytes"] == 0, r  # taken back, or sealed
        assert r["mode"] == "root" or r["sealed"] is True, r


@pytest.mark.sandbox
def test_the_grader_names_what_does_not_hold_here():
    """Without root (here: as nobody) the grader lists, when it starts, what the threat model claims that does not
    hold: without a cgroup, memory and CPU are per process and processes unbounded (the socket folder is sealed
    here, so it is not listed)."""
    from autograder.sandbox.bwrap import gaps

    if os.geteuid() == 0:
        from autograder.sandbox.limits import version
        assert version() is None or gaps() == [], gaps()
        code = "import json\nfrom autograder.sandbox.bwrap import gaps\nprint(json.dumps(gaps()))"
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                               "-c", code], cwd="/tmp", env=dict(os.environ, PYTHONPATH=str(ROOT), HOME="/tmp"),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = json.loads(proc.stdout)
    else:
        lines = gaps()
    text = " ".join(lines)
    assert "memory is limited per process" in text and "processes are not limited" in text, lines
    assert "socket folder" not in text, lines


def test_the_kernel_command_loads_the_filter_and_remounts_read_only(tmp_path):
    """Unit: with a filter file, bwrap gets ``--seccomp 9`` and the launcher opens the file as fd 9; /dev and the
    sandbox's root are remounted read-only after every mount; the filter is 13 BPF instructions where the
    machine is known, none elsewhere."""
    from autograder.sandbox.limits import Limits
    from autograder.sandbox.bwrap import kernel_env, sandbox_command, userns_filter

    cmd, _ = sandbox_command(["true"], "user", tmp_path / "run", tmp_path / "course", tmp_path / "in", Limits(),
                             kernel_env("/learner"), seccomp=tmp_path / "f.bpf")
    bwrap = cmd[cmd.index("--") + 1:]
    assert 'exec "$@" 9<"$f"' in cmd[2] and cmd[4] == str(tmp_path / "f.bpf"), cmd[:6]
    assert bwrap[bwrap.index("--dev") + 2:bwrap.index("--dev") + 4] == ["--remount-ro", "/dev"]
    end = bwrap.index("--", bwrap.index("--dev"))
    assert bwrap[end - 4:end] == ["--remount-ro", "/", "--seccomp", "9"], bwrap[end - 6:end]
    assert len(userns_filter("x86_64")) == len(userns_filter("aarch64")) == 13 * 8
    assert userns_filter("riscv64") is None


def test_the_grading_process_out_of_memory_is_a_final_record_naming_it(monkeypatch):
    """Unit: a ``MemoryError`` while grading (past ``hold_memory``'s limit) is the notebook's record saying so,
    final, not a grader's failure that a re-run would meet again."""
    import autograder.notebook.repair as repair
    from autograder.notebook.submission import grade_submission

    def hungry(nb, assignment):
        raise MemoryError

    monkeypatch.setattr(repair, "repair", hungry)
    rec = grade_submission(FC, "hungry.ipynb", student="hungry", data=S.dumps(S.solved(FC)))
    assert rec.status == "error" and rec.final and "more memory than the grader allows itself" in rec.reason, rec


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


def test_plain_nbgrader_autograde_bounds_a_notebook_before_parsing_it(tmp_path):
    """`nbgrader autograde` reads each submitted file itself, before the course's pipeline: the course's
    configuration gives it an exporter that bounds the bytes first (hole 4), so 3 million empty lists in a
    cell's metadata are refused in well under a second, naming the bound, and an honest file still reads."""
    import time

    from autograder.bounded_json import TooComplex
    from autograder.course import config

    c = config(tmp_path)
    exporter = c.Autograde.exporter_class(config=c)  # what nbgrader's Autograde makes from the course's config
    bloat = tmp_path / "bloat.ipynb"
    bloat.write_bytes(b'{"cells": [{"cell_type": "code", "metadata": {"m": [' + b"[]," * 3_000_000 + b'[]]}, '
                      b'"source": "", "outputs": [], "execution_count": null}], "metadata": {}, '
                      b'"nbformat": 4, "nbformat_minor": 5}')
    t0 = time.perf_counter()
    with pytest.raises(TooComplex, match="JSON values"):
        exporter.from_filename(str(bloat))
    assert time.perf_counter() - t0 < 5
    honest, _ = exporter.from_filename(str(ROOT / "exercises" / "01_layers" / "01_layers.ipynb"))
    assert '"nbgrader"' in honest
