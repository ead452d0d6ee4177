"""The attack suite: hostile submissions (tests/attacks) through ``grade-all`` and ``grade``.

For every attack:

- it scores no more than the empty exercise (0);
- an honest student graded in the same batch, after it, keeps full marks;
- canary files outside the kernel's folder (another student's notebook, the
  grader's own code, a file in the machine's /tmp) are unchanged, and nothing
  reached the test's listener on the host's loopback;
- the grader's secret variable and the hidden test lines, verbatim, rot13,
  base64, hex or reversed, appear nowhere in the feedback, the records or the CSV.

Attacks that look around print what they saw (``SEEN {...}``) before any hidden
test ran, so their feedback shows it, and the tests below check it.
"""
import csv
import hashlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import attacks as A
from autograder.assignments import ROOT
from autograder.sandbox.bwrap import mode
from batch_cli import feedback_page, grades_csv, gradebook_url, results_dir  # noqa: F401  (grade-all's layout)

KIND = mode()[0]  # "root" or "user" (the sandbox mark fails the module where it is None)
pytestmark = pytest.mark.sandbox  # fails without bubblewrap (tests/needs.py)
LIMITS = ["--cell-timeout", "40", "--notebook-timeout", "150", "--processes", "128",
          "--disk", "96M"]
# 05 trains for ~20 s of CPU (longer on a busy machine)
# 01's memory limit is 1 GB so that the memory attack needs to touch only 1 GB (touching 3 GB under memory pressure
# cost the kernel more than its CPU seconds on a loaded machine)
CPU = {A.LAYERS: ["--cpu-seconds", "12", "--memory", "1G"], A.SCALED: ["--cpu-seconds", "400", "--memory", "2G", "--cell-timeout", "300",
                                                     "--notebook-timeout", "600"]}
ENV = dict(os.environ, OMP_NUM_THREADS="1", **{A.SECRET_VAR: A.SECRET})
SINGLE = ["a_transformer", "a_symlinks"]  # also through `grade` (same sandbox and Judge: two suffice to show it)


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Listener:
    """A TCP server on the host's loopback that counts who reaches it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port, self.hits, self.stop = self.sock.getsockname()[1], 0, False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                pass


def grade_all(assignment, folder, out):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", assignment, str(folder), "--out", str(out),
                           "--workers", "2", "--json", *LIMITS, *CPU[assignment]], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"
    return {r["student"]: json.loads((results_dir(out, assignment) / f"{r['student']}.json").read_text())
            for r in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Every attack and the honest students, graded; the canaries' hashes before; what the listener saw."""
    tmp = tmp_path_factory.mktemp("attacks")
    canary = Path("/tmp") / f"autograder-canary-{os.getpid()}.txt"      # the machine's /tmp
    home_canary = Path.home() / f".autograder-canary-{os.getpid()}"     # the grader's home
    grader_file = tmp / "grader-own-file.py"                             # a file of the grader's, next to its output
    for c in (canary, home_canary, grader_file):
        c.write_text("the grader's canary\n")
    listener = Listener()
    folders = {a: tmp / "in" / a for a in (A.LAYERS, A.SCALED)}
    for f in folders.values():
        f.mkdir(parents=True)
    paths = {"targets": [str(canary), str(home_canary), str(grader_file), str(folders[A.LAYERS] / "m_honest.ipynb"),
                         str(tmp / "out" / A.LAYERS / "gradebook.db")],
             "snoop": [str(ROOT / "solutions"), str(ROOT / ".nbgrader_work"), str(tmp / "out"), str(home_canary),
                       str(ROOT / "data" / "names.txt"), "../../../source", str(canary)],
             "port": listener.port, "memory_blocks": 8}  # 2 x 8 x 64 MB: 1 GB in two children besides the kernel, 1 GB allowed
    for name, (data, assignment) in A.build(paths).items():
        (folders[assignment] / name).write_bytes(data)
    canaries = {p: _sha(p) for p in paths["targets"][:4]}
    records = {}
    for assignment, folder in folders.items():
        records.update(grade_all(assignment, folder, tmp / "out" / assignment))
    single = {}
    for name in SINGLE:
        fb = tmp / "single" / f"{name}.html"
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A.LAYERS, str(folders[A.LAYERS] / f"{name}.ipynb"),
                               "--json", "--feedback", str(fb), *LIMITS, *CPU[A.LAYERS]], cwd=ROOT, env=ENV,
                              capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        single[name] = (json.loads(proc.stdout), fb)
    listener.stop = True
    yield {"records": records, "out": tmp / "out", "canaries": canaries, "listener": listener, "single": single,
           "tmp": tmp, "home_canary": home_canary, "canary": canary}
    canary.unlink()
    home_canary.unlink()


def _attackers(attacked):
    return sorted(s for s in attacked["records"] if s.startswith("a_"))


def feedback(attacked, student):
    assignment = A.SCALED if student in ("a_label_lookup", "z_honest_scaled") else A.LAYERS
    return html.unescape(feedback_page(attacked["out"] / assignment, student, assignment).read_text())


def seen(attacked, student):
    m = re.search(r"SEEN (\{[^\n]*\})", feedback(attacked, student))
    assert m, f"{student} did not print what it saw"
    return json.loads(m.group(1))


def test_every_attack_scores_no_more_than_the_empty_exercise(attacked):
    """Whatever it does, an attack built on the empty exercise gets what the empty exercise gets: nothing."""
    for student in _attackers(attacked):
        rec = attacked["records"][student]
        assert rec["score"] in (0, 0.0, None), f"{student} scored {rec['score']}: {rec['reason']}"
    for name, (result, _) in attacked["single"].items():
        assert result["score"] == 0 and not any(t["passed"] for t in result["tests"]), f"grade {name}: {result}"


def test_honest_students_after_the_attacks_keep_full_marks(attacked):
    """Honest students graded in the same batch, in the middle and after every attack, get every point."""
    recs = attacked["records"]
    for student in ("m_honest", "z_honest", "z_honest_scaled"):
        assert recs[student]["status"] == "graded" and recs[student]["score"] == recs[student]["max_score"], recs[student]
    from nbgrader.api import Gradebook
    with Gradebook(gradebook_url(attacked['out'] / A.LAYERS)) as gb:
        assert gb.find_submission(A.LAYERS, "z_honest").score == recs["z_honest"]["max_score"]
        assert gb.find_submission(A.LAYERS, "a_replay").score == 0


def test_canaries_outside_the_kernel_are_unchanged(attacked):
    """Links planted by the kernel never lead the grader to write: every canary keeps its bytes."""
    for path, digest in attacked["canaries"].items():
        assert _sha(path) == digest, f"{path} changed"
    assert attacked["listener"].hits == 0, "a kernel reached the host's loopback"


def _texts(attacked):
    out = attacked["out"]
    files = [*(p for p in out.rglob("*.html") if "feedback" in p.parts), *out.rglob("results/*.json"),
             *out.rglob("grades.csv")]
    files += [fb for _, fb in attacked["single"].values()]
    texts = {str(f): html.unescape(f.read_text(errors="replace")) for f in files}
    texts.update({f"grade {k}": json.dumps(r) for k, (r, _) in attacked["single"].items()})
    return texts


def test_no_secret_and_no_hidden_test_in_any_output(attacked):
    """The grader's secret variable, and every hidden test line in five encodings, are nowhere to be found."""
    needles = {"secret": A.SECRET}
    for assignment in (A.LAYERS, A.SCALED):
        for line in A.Assignment(assignment).hidden_lines:
            for how, text in A.encodings(line).items():
                needles[f"{how} of {line!r}"] = text
    for where, text in _texts(attacked).items():
        for what, needle in needles.items():
            assert needle not in text, f"{what} appears in {where}"


def test_the_kernel_sees_only_its_allowlist(attacked):
    """Solutions, the grader's folders, earlier output, the names (labels) and other processes are out of sight;
    the environment is the short allowlist; the kernel is an unprivileged user."""
    s = seen(attacked, "a_snoop")
    for path in (str(ROOT / "solutions"), str(ROOT / ".nbgrader_work"), str(attacked["out"]),
                 str(attacked["home_canary"]), str(ROOT / "data" / "names.txt"), "../../../source",
                 str(attacked["canary"])):
        assert s[path] in ("FileNotFoundError", "PermissionError", []), f"{path}: {s[path]}"
    assert s["secret"] == "absent" and A.SECRET_VAR not in s["env"]
    assert set(s["env"]) <= {"PATH", "HOME", "TMPDIR", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "IPYTHONDIR",
                             "MPLCONFIGDIR", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NBGRADER_EXECUTION",
                             "WAVENET_PROBE_DIR", "LANG", "LC_ALL", "TZ", "PWD", "LC_CTYPE", "JPY_SESSION_NAME",
                             "PYDEVD_USE_FRAME_EVAL", "CLICOLOR", "CLICOLOR_FORCE", "PAGER", "GIT_PAGER", "TERM", "MPLBACKEND",
                             "FORCE_COLOR", "COLUMNS", "LINES", "SHLVL", "_"}, s["env"]
    assert max(s["proc"]) < 100, "the kernel sees processes outside its own pid namespace"
    assert s["names"] != 32033 and s["wavenet.models"] == "ModuleNotFoundError" and s["autograder"] == "ModuleNotFoundError"
    if KIND == "root":
        assert s["uid"] == 65534


def test_the_course_answers_are_not_importable(attacked):
    """wavenet.nn's Linear (this exercise's answer) is not in the kernel, by any route."""
    s = seen(attacked, "a_course_import")
    assert not any(isinstance(v, list) and v for v in s.values()), s


def test_planted_links_and_socket_swaps_fail(attacked):
    """The kernel's own folder takes links (they lead nowhere the grader goes); its socket folder is locked."""
    s = seen(attacked, "a_symlinks")
    swapped = {k: v for k, v in s.items() if k.startswith("/") and v == "swapped"}
    if KIND == "root":
        assert not swapped, f"the kernel swapped its sockets: {swapped}"


def test_no_network(attacked):
    """Connections to the host's loopback and to the internet fail; the host's listener saw nobody."""
    s = seen(attacked, "a_network")
    assert all(v != "connected" for v in s.values()), s
    assert attacked["listener"].hits == 0


@pytest.mark.cgroup  # per-submission limits need a cgroup tree
def test_limits_hold_for_the_whole_submission(attacked):
    """Two processes that each fit the memory limit do not fit together; bytes written stop at the disk limit;
    a fork bomb stops at the process limit; a CPU burner is stopped at its CPU time."""
    assert seen(attacked, "a_memory")["killed"] >= 1
    assert seen(attacked, "a_disk")["written_mb"] <= 96
    assert seen(attacked, "a_fork_bomb")["forks"] < 128
    assert "CPU time" in attacked["records"]["a_cpu_burn"]["reason"], attacked["records"]["a_cpu_burn"]


def test_no_privilege_to_gain(attacked):
    """Nothing outside is writable, no signal reaches the sandbox's init, su/mount/unshare fail."""
    s = seen(attacked, "a_escalate")
    for path in ("/course/wavenet/checks/wire.py", "/grader/run.json", "/usr/bin/x"):
        assert s[path] != "writable", s
    assert s["mount"] != 0 and s["su"] != 0, s


def test_labels_never_reach_the_kernel(attacked):
    """A model that looks the validation labels up (the course's data, chained windows) learns nothing from it:
    the kernel gets no data and trains nothing; a model with no ``layers`` gives the grader nothing to train."""
    rec = attacked["records"]["a_label_lookup"]
    val = next(t for t in rec["tests"] if t["id"] == "test_val_loss")
    assert not val["passed"] and "has no attribute `layers`" in val["message"], val


def test_unreadable_messages_stop_the_kernel_not_the_grader(attacked):
    """JSON nested 200,000 deep and bytes that are not UTF-8, sent down the kernel's own socket: the grader's
    client bounds a message before parsing it (autograder/bounded_json.py), so it stops that kernel, names
    why, and grades what ran; the record is final."""
    rec = attacked["records"]["a_raw_messages"]
    assert rec["status"] == "graded" and rec["final"] and "the kernel sent a message that" in rec["reason"], rec


def test_forged_and_oversized_records_fail_with_a_reason(attacked):
    """Forged, replayed, multiplied, oversized records and forged events each fail with a reason."""
    recs = attacked["records"]
    expect = {"a_fake_check": "reported 2 results", "a_replay": "", "a_multi": "reported 3 results",
              "a_huge_record": "", "a_fake_events": "could not start", "a_forged_metadata": "NotImplementedError"}
    for student, words in expect.items():
        for t in recs[student]["tests"]:
            assert not t["passed"] and t["message"], (student, t)
        assert words in recs[student]["reason"], (student, recs[student]["reason"])
