"""Grading a class on a real Dask cluster on this machine, with the same grades as one machine.

A module fixture starts, from the command line, ``dask scheduler`` and two
``dask worker`` processes (one thread each) on 127.0.0.1, over plain TCP (so
``grade-all`` is given ``--insecure``; the local cluster's TLS is
tests/test_attacks_red2.py's); every process it
starts is stopped by its own id at the end, and the test checks that nothing
they started (workers, fork servers, graders, kernels) is left. The class is
small and quick: correct, broken and hostile notebooks of
``03_flatten_consecutive`` (``tests/submissions``), whose local grades are
those of the run tests/test_batch.py checks (``fc_graded`` in conftest.py). Then:

- ``grade-all --scheduler`` gives every student what the local run gave;
- a worker with other code is refused before anything is graded, and so is
  a worker that cannot sandbox, unless ``--unsafe`` is given;
- a submission that kills its worker each time is given up after the
  scheduler's allowed failures (1 here) and recorded as an error, while the
  others are graded;
- a worker killed mid-batch: the grades are still equal, and the gradebook
  holds each student once;
- an unreachable scheduler: a clear error, and nothing written.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.assignments import ROOT
import submissions as S
from batch_cli import CLASS_LIMITS as LIMITS  # those of the local reference run
from processes import kernel_pids, marked
from batch_cli import feedback_page, grades_csv, gradebook_url, results_dir  # noqa: F401  (grade-all's layout)

FC = S.FC
CLASS = ["alice", "bob", "dave", "erin", "sybil", "xavier"]  # right, wrong, not JSON, empty, hostile, os._exit
DASK = str(Path(sys.executable).parent / "dask")
pytestmark = pytest.mark.sandbox  # fails without bubblewrap (tests/needs.py)


def env(marker, **extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "AUTOGRADER_TEST_CLUSTER": marker, **extra}


def grade_all(folder, out, *extra, ok=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", FC, str(folder), "--out", str(out),
                           "--json", *LIMITS, *extra], cwd=ROOT, env=env("client"), capture_output=True, text=True,
                          timeout=timeout)
    if not ok:
        return proc
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"
    listed = [r["student"] for r in json.loads(proc.stdout)]
    assert len(listed) == len(set(listed)), f"a student listed twice: {listed}"
    return results(out)


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return f"{pid} (gone)"


def results(out):
    """{student: (status, score, [(test, points, message)])} from ``out/results``."""
    recs = {p.stem: json.loads(p.read_text()) for p in results_dir(out).glob("*.json")}
    return {s: (r["status"], r["score"], [(t["id"], t["points"], t["message"]) for t in r["tests"]])
            for s, r in recs.items()}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    everyone = S.fc_class({})
    for student in CLASS:
        (folder / f"{student}.ipynb").write_bytes(everyone[f"{student}.ipynb"][0])
    return folder


@pytest.fixture(scope="module")
def local(fc_graded):
    """The class graded on this machine alone (a local cluster of two processes): the students of ``CLASS`` in
    the run of the whole ``fc_class`` that tests/test_batch.py checks (conftest.py; same bytes, same limits)."""
    _, out, _ = fc_graded
    return {s: r for s, r in results(out).items() if s in CLASS}


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes of this test, started and stopped by their ids."""

    def __init__(self, tmp):
        self.tmp, self.marker, self.procs = tmp, f"{tmp}", []
        self.kernels_before = kernel_pids()
        sched_file = tmp / "scheduler.json"
        # a notebook is given up after 2 deaths (3 by default); each worker holds only what it grades
        self.start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                    str(sched_file)], DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1",
                   DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        self.address = json.loads(sched_file.read_text())["address"]
        self.workers = [self.worker() for _ in range(2)]
        self.wait_for(2)

    def start(self, args, cwd=ROOT, **extra):
        log = open(self.tmp / f"{args[0]}-{len(self.procs)}.log", "w")
        proc = subprocess.Popen([DASK, *args], cwd=cwd, env=env(self.marker, **extra), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def worker(self, cwd=ROOT, **extra):
        return self.start(["worker", self.address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                           "--preload", str(Path(__file__).parent / "poison_worker.py")], cwd=cwd, **extra)

    def client(self):
        from distributed import Client
        return Client(self.address, timeout=30, set_as_default=False)

    def wait_for(self, n):
        with self.client() as c:
            c.wait_for_workers(n, timeout=120)

    def wait_for_exactly(self, n, timeout=60):
        """Until the scheduler has seen the end of the workers stopped."""
        with self.client() as c:
            deadline = time.time() + timeout
            while len(c.scheduler_info()["workers"]) != n and time.time() < deadline:
                time.sleep(0.2)

    def stop(self, proc):
        """SIGKILL one process of this test (its own children die with it: they watch their parent)."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.stop(proc)
        deadline = time.time() + 60  # each process goes when its parent does
        while self.leftovers() and time.time() < deadline:
            time.sleep(0.2)

    def leftovers(self):
        return marked(f"AUTOGRADER_TEST_CLUSTER={self.marker}") + sorted(kernel_pids() - self.kernels_before)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()
    left = c.leftovers()
    assert not left, f"processes of the test cluster outlived it: {[cmdline(p) for p in left]}"


def test_cluster_grades_like_one_machine(local, klass, cluster, tmp_path, fc_graded):
    """Every student gets on the cluster exactly what the local run gave: status, score, each test's points
    and message (the seed comes with the task, so it does not depend on the worker), and the same rows in the
    course's nbgrader gradebook."""
    fc_out = fc_graded[1]
    on_cluster = grade_all(klass, tmp_path / "grades", "--scheduler", cluster.address, "--insecure")
    assert set(local) == set(on_cluster) == set(CLASS)
    for s in CLASS:
        assert on_cluster[s] == local[s], s
    assert local["alice"][:2] == ("graded", 9.0) and local["dave"][0] == "error", "the class is not what it seems"
    assert gradebook_rows(tmp_path / "grades") == gradebook_rows(fc_out), "the gradebooks differ"


def gradebook_rows(out):
    """``{(student, cell): (auto score, manual score, needs manual grade)}`` of ``CLASS`` in a course's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(out)) as gb:
        return {(sub.student.id, g.name): (g.auto_score, g.manual_score, g.needs_manual_grade)
                for sub in gb.assignment_submissions(FC) if sub.student.id in CLASS
                for nb in sub.notebooks for g in nb.grades}


def test_a_worker_with_other_code_is_refused(cluster, tmp_path, klass):
    """A worker whose checkout differs (here: one edited file, no git) makes the batch stop before anything
    is graded, with a message naming the worker and what differs."""
    copy = tmp_path / "checkout"
    for part in ("autograder", "wavenet", "solutions", "exercises", "data"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "names.txt"))
    for f in ("requirements.txt", "constraints.txt"):
        shutil.copy(ROOT / f, copy / f)
    with open(copy / "autograder" / "judge.py", "a") as f:
        f.write("\n# edited on this machine only\n")
    stray = cluster.worker(cwd=copy, PYTHONPATH=str(copy))
    try:
        cluster.wait_for(3)
        proc = grade_all(klass, tmp_path / "grades", "--scheduler", cluster.address, "--insecure", ok=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "cannot grade this batch" in proc.stderr and "course" in proc.stderr and "commit" in proc.stderr
        assert proc.stderr.count("tcp://") == 1, f"only the stray worker is refused:\n{proc.stderr}"
        assert not (tmp_path / "grades").exists(), "something was written before the refusal"
    finally:
        cluster.stop(stray)
        cluster.wait_for_exactly(2)


def test_a_worker_without_a_sandbox_is_refused_unless_unsafe(local, cluster, tmp_path, klass):
    """A worker of the same checkout that cannot sandbox (no bubblewrap on its PATH) stops the batch before
    anything is graded, saying so; with --unsafe the same cluster grades."""
    bin_ = tmp_path / "bin"  # git (for the commit) and the venv's scripts, but no bwrap
    bin_.mkdir()
    (bin_ / "git").symlink_to(shutil.which("git"))
    stray = cluster.worker(PATH=f"{bin_}:{Path(sys.executable).parent}")
    try:
        cluster.wait_for(3)
        proc = grade_all(klass, tmp_path / "grades", "--scheduler", cluster.address, "--insecure", ok=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "cannot grade this batch" in proc.stderr and "no sandbox (bubblewrap is not installed" in proc.stderr
        assert proc.stderr.count("tcp://") == 1, f"only the stray worker is refused:\n{proc.stderr}"
        assert not (tmp_path / "grades").exists(), "something was written before the refusal"
        got = grade_all(klass, tmp_path / "unsafe", "--scheduler", cluster.address, "--insecure", "--unsafe",
                        "--student", "erin")
        assert got == {"erin": local["erin"]}, got  # empty: no kernel, so the --unsafe run stays cheap
    finally:
        cluster.stop(stray)
        cluster.wait_for_exactly(2)


def test_a_submission_that_kills_workers_is_given_up(local, cluster, klass, tmp_path):
    """A notebook whose worker dies each time it is graded is tried twice (the scheduler's allowed failures
    is 1 here), then recorded as an error that says so; the student beside it gets what the local run gave."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(klass / "bob.ipynb", folder / "bob.ipynb")
    shutil.copy(klass / "alice.ipynb", folder / "poison.ipynb")  # tests/poison_worker.py kills on this name
    got = grade_all(folder, tmp_path / "grades", "--scheduler", cluster.address, "--insecure")
    assert got["bob"] == local["bob"]
    assert got["poison"][0] == "error"
    reason = json.loads((results_dir(tmp_path / "grades") / "poison.json").read_text())["reason"]
    assert "died 2 times" in reason and "--force --student poison" in reason, reason
    cluster.wait_for_exactly(2)  # the nannies have started new workers


def test_a_worker_killed_mid_batch(local, klass, cluster, tmp_path):
    """Kill one worker while it grades: its student is graded by the other, every student gets what the local
    run gave, and the gradebook holds each student once."""
    from nbgrader.api import Gradebook

    out = tmp_path / "grades"
    batch = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", FC, str(klass), "--out", str(out),
                              "--json", *LIMITS, "--scheduler", cluster.address, "--insecure"], cwd=ROOT,
                             env=env("client"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        with cluster.client() as c:
            deadline = time.time() + 300
            while victim is None and time.time() < deadline and batch.poll() is None:
                started = results_dir(out).is_dir() and any(results_dir(out).iterdir())
                busy = {a for a, keys in c.processing().items() if any("grade-" in str(k) for k in keys)}
                parents = c.run(os.getppid) if started and busy else {}  # the nanny we started, for each worker
                ours = {p.pid: p for p in cluster.workers if p.poll() is None}
                victim = next((ours[parents[a]] for a in busy if parents.get(a) in ours), None)
                time.sleep(0.2)
        assert victim is not None, "no worker was caught grading mid-batch"
        cluster.stop(victim)
        stdout, stderr = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.wait()
    assert batch.returncode == 0, stderr[-3000:]
    listed = [r["student"] for r in json.loads(stdout)]
    assert sorted(listed) == sorted(CLASS), "a student lost or listed twice"
    got = results(out)
    for s in CLASS:
        assert got[s] == local[s], s
    with Gradebook(gradebook_url(out)) as gb:
        submissions = [(sub.student.id, sub.score) for sub in gb.assignment_submissions(FC)]
    graded_scores = sorted((s, local[s][1]) for s in CLASS)
    assert sorted(submissions) == graded_scores, "the gradebook should hold each student once, with their score"


def test_unreachable_scheduler_is_a_clear_error(klass, tmp_path):
    """No scheduler at the address: exit 2, a message that says so, and nothing written."""
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = grade_all(klass, tmp_path / "grades", "--scheduler", f"tcp://127.0.0.1:{port}", "--insecure", ok=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no Dask scheduler answered" in proc.stderr and "nothing was graded" in proc.stderr
    assert not (tmp_path / "grades").exists()


# ---------------------------------------------------------------- fast checks, no cluster

def test_refusal_names_what_differs():
    """A worker like the client is accepted; one with another commit or course version is refused, naming
    both values; one without a sandbox is refused unless --unsafe."""
    from autograder.classroom.version import report, refusal

    me = report()
    assert refusal(me, dict(me), unsafe=False) == ""
    why = refusal(me, dict(me, commit="0" * 40, course="abc"), unsafe=False)
    assert f"commit {'0' * 40} here, {me['commit']} on the client" in why and "course abc here" in why
    bare = dict(me, sandbox=None, sandbox_why="bubblewrap is not installed")
    assert "no sandbox (bubblewrap is not installed)" in refusal(me, bare, unsafe=False)
    assert refusal(me, bare, unsafe=True) == ""


def test_failed_tasks_become_records():
    """A notebook whose workers died is a final error that says so; a crashed grader is an error the next run
    grades again."""
    from distributed import KilledWorker

    from autograder.classroom.cluster import _failed
    from autograder.sandbox.isolate import GraderCrashed

    killed = _failed(KilledWorker(task="k", last_worker=None, allowed_failures=3), FC, "amy", "amy.ipynb", 7.0)
    assert (killed.status, killed.final, killed.score) == ("error", True, 0.0) and "died 4 times" in killed.reason
    crashed = _failed(GraderCrashed("the grading process died (exit -9)"), FC, "amy", "amy.ipynb", 7.0)
    assert crashed.status == "error" and not crashed.final and "run grade-all again" in crashed.reason


def test_progress_counts_graded_errors_and_in_flight(capsys):
    """Off a terminal, one line per student: done of total, graded, errors, in flight, and the student."""
    from autograder.classroom.progress import Progress
    from autograder.records import Record

    p = Progress(3)
    p.update(Record("amy", FC, status="graded", score=7.0, max_score=7.0), in_flight=2)
    p.update(Record("bo", FC, reason="empty", max_score=7.0), in_flight=1)
    lines = capsys.readouterr().err.splitlines()
    assert "1/3  graded 1  errors 0  in flight 2" in lines[0] and lines[0].endswith("amy: graded 7/7")
    assert "2/3  graded 1  errors 1  in flight 1" in lines[1] and lines[1].endswith("bo: error 0/7")
