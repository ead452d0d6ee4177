"""The sandbox's pieces: the kernel's command and allowlist, the course view, the kernel's input, the limits.

End to end, the sandbox is proven by the attack suite (tests/test_attacks.py); here each piece is checked
on its own, and grading runs once as a user without root, the way a teacher on a laptop would.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.notebook import course_view, kernel_input
from autograder.assignments import ROOT
from autograder.sandbox.limits import Limits
from autograder.sandbox.bwrap import kernel_env, sandbox_command
from needs import need


def test_kernel_command_is_bubblewrap_with_an_allowlist(tmp_path):
    """The kernel runs under bwrap with fresh namespaces, a cleared environment, read-only binds of the
    system, the interpreter, /course and /grader, one writable tmpfs of the disk limit, and no root."""
    cmd, work = sandbox_command(["python", "-m", "ipykernel_launcher"], "root", tmp_path / "run", tmp_path / "course",
                                tmp_path / "in", Limits(disk=12345), kernel_env("/learner"))
    line = " ".join(map(str, cmd))
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--clearenv"):
        assert flag in cmd, flag
    assert f"--ro-bind {tmp_path / 'course'} /course" in line and f"--ro-bind {tmp_path / 'in'} /grader" in line
    assert f"--size 12345 --perms 01777 --tmpfs {work}" in line
    assert "--reuid=65534" in line and "--no-new-privs" in line and "--bounding-set=-all" in line
    assert "--bind / " not in line and "--ro-bind / /" not in line, "the whole machine must not be visible"
    assert str(ROOT / "solutions") not in line and ".nbgrader_work" not in line.replace(str(tmp_path), "")


def test_kernel_environment_is_an_allowlist(monkeypatch):
    """Nothing of the grader's environment reaches the kernel but the locale."""
    monkeypatch.setenv("AUTOGRADER_SECRET", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = kernel_env("/learner")
    assert "AUTOGRADER_SECRET" not in env and env["HOME"] == "/learner" and env["NBGRADER_EXECUTION"] == "autograde"


@pytest.mark.parametrize("assignment, given, withheld", [
    ("01_layers", set(), {"Linear", "BatchNorm1d", "Tanh"}),
    ("04_hierarchical", {"Embedding", "FlattenConsecutive", "Linear", "Sequential", "Tanh"}, {"BatchNorm1d"}),
    ("05_scaled_up", {"BatchNorm1d", "Embedding", "FlattenConsecutive", "Linear", "Sequential", "Tanh"}, set()),
])
def test_course_view_gives_what_the_exercise_gives(tmp_path, assignment, given, withheld):
    """The kernel's /course has the checks and the layers the setup cell imports, never the exercise's answers,
    the course's models, or names.txt."""
    view = course_view.build(assignment, tmp_path / "course")
    assert (view / "wavenet" / "checks" / "__init__.py").is_file()
    assert not (view / "wavenet" / "models.py").exists() and not (view / "wavenet" / "conv.py").exists()
    assert not list(view.rglob("names.txt"))
    nn = view / "wavenet" / "nn.py"
    src = nn.read_text() if nn.exists() else ""
    for name in given:
        assert f"class {name}" in src
    for name in withheld:
        assert f"class {name}" not in src


def test_course_view_holds_no_reference_of_the_oracle(tmp_path):
    """A graded kernel only probes: its oracle.py keeps the comparison helpers, and every reference the judges
    compare with raises there, so a notebook cannot answer a value test by calling the grader's own."""
    view = course_view.build("08_wavenet_conv", tmp_path / "course")
    code = (
        "import inspect, torch\n"
        "import wavenet.checks\n"  # the probes and their modules import, with the stubs in place
        "from wavenet.checks import oracle\n"
        "assert oracle.close(torch.ones(2), torch.ones(2)) and oracle.VOCAB == 27\n"
        "refs = [n for n, f in vars(oracle).items() if inspect.isfunction(f) and n not in ('close', 'maxdiff')]\n"
        "assert {'bn_train', 'bn_running', 'bn_eval', 'tree_logits', 'conv1d_last'} <= set(refs), refs\n"
        "for n in refs:\n"
        "    try:\n"
        "        getattr(oracle, n)(torch.ones(4, 3), torch.ones(3), torch.zeros(3), 1e-5)\n"
        "    except RuntimeError as e:\n"
        "        assert 'not in a graded kernel' in str(e), (n, e)\n"
        "    else:\n"
        "        raise AssertionError(n + ' answered')\n")
    proc = subprocess.run([sys.executable, "-c", code], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(view)},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_kernel_input_holds_no_data(tmp_path):
    """A kernel gets the run's seed and nothing else: no training split, no evaluation inputs, no labels (the
    grader trains the validation-loss tests' models itself, tests/test_attacks_valloss.py)."""
    folder = kernel_input.write(tmp_path / "in", 123, "05_scaled_up")
    assert [p.name for p in folder.iterdir()] == ["run.json"]
    assert json.loads((folder / "run.json").read_text()) == {"seed": 123, "assignment": "05_scaled_up"}


def test_seed_is_secret_and_deterministic():
    """The same notebook gets the same seed under one key; another key or another notebook gets another."""
    a = kernel_input.seed("01_layers", b"notebook", b"k" * 32)
    assert a == kernel_input.seed("01_layers", b"notebook", b"k" * 32)
    assert a != kernel_input.seed("01_layers", b"notebook", b"j" * 32) != kernel_input.seed("01_layers", b"other", b"k" * 32)


def _readable_by(uid, path):
    """Can ``uid`` reach ``path`` (every parent traversable, the file readable)?"""
    probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "test", "-r", str(path)])
    return probe.returncode == 0


@pytest.mark.sandbox
def test_grading_without_root(tmp_path):
    """A teacher without root gets a sandbox too: bubblewrap in a user namespace as their own user (here:
    root grades as nobody, from a home of nobody's own)."""
    cmd = [sys.executable, "-m", "autograder", "grade", "03_flatten_consecutive",
           str(ROOT / "solutions" / "03_flatten_consecutive" / "03_flatten_consecutive.ipynb"), "--json"]
    if os.geteuid() == 0:
        need("sandbox", _readable_by(65534, sys.executable) and _readable_by(65534, ROOT / "autograder" / "cli.py"),
             "the interpreter or the repository is not readable by nobody (.ci/run opens them up: chmod o+x on "
             "every folder above them)")
    home = Path(tempfile.mkdtemp(prefix="autograder-teacher-"))  # under /tmp: the teacher can reach it
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        os.chown(home, 65534, 65534)
    from autograder.classroom.gradebook import fast_gradebooks
    env = dict(os.environ, HOME=str(home), AUTOGRADER_WORK=str(home / "work"), AUTOGRADER_KEY="ab" * 32,
               AUTOGRADER_ALEMBIC_HEAD=fast_gradebooks(), OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["score"] == 9.0
    assert "note: on this machine processes are not limited" in proc.stderr, proc.stderr[-2000:]
    assert "socket folder stays writable" not in proc.stderr, proc.stderr[-2000:]  # sealed once the kernel was up


@pytest.mark.cgroup
def test_limits_status_names_what_holds():
    """As root with cgroups, every per-submission limit holds; the report says so."""
    from autograder.sandbox.limits import status
    held, why = status()
    if os.geteuid() == 0:
        assert {"memory", "processes", "CPU time"} <= set(held) and not why
