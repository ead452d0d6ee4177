"""More attacks (tests/attacks/extra.py), one ``grade-all`` batch with an honest student last.

They come from a hostile review of 71f447f; each hole it found is closed here
or pinned where the threat model admits it (autograder/README.md):

- new angles that must stay worth nothing: display-id updates, partial credit from an
  execute_result, flipped nbgrader flags, a chatty thread, markup in the feedback;
- forging from the seed (admitted for structural tests, and for value tests whose right
  function a kernel writes itself): the points an empty notebook gets that way are pinned,
  so they can only go down; the grader's references are not in the kernel;
- NaN where numbers are judged; the grader's memory (outputs the output cap did not see);
  the kernel's stderr.

The submission folder itself (links, FIFOs, names, CSV cells, scratch folders) is tested
with grade-all's student discovery, elsewhere.

Hidden lines and secrets are searched in the *decoded* records and CSV cells: a hidden
line holds quotes, which JSON writes as ``\\"`` and CSV as ``""``, so a raw text search
of those files never finds it (tests/test_attacks.py searches raw text).
"""
import csv
import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import attacks as A
from attacks import extra as X
from autograder.assignments import ROOT
from batch_cli import feedback_page, grades_csv, gradebook_url, results_dir  # noqa: F401  (grade-all's layout)

pytestmark = pytest.mark.sandbox  # fails without bubblewrap (tests/needs.py)
LIMITS = ["--cell-timeout", "40", "--notebook-timeout", "150", "--memory", "2G", "--processes", "128",
          "--disk", "96M", "--cpu-seconds", "30"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", **{A.SECRET_VAR: A.SECRET})
HONEST = "z_honest"
EMPTY_SCORE = 0.0
STRUCTURAL_POINTS = 7.0  # 01_layers: what an empty notebook gets by answering the structural tests from the seed
# 01_layers' value tests whose right function is one torch call (x @ W + b, torch.tanh): linear_forward,
# linear_no_bias, tanh. A kernel that writes them outside the learner's class gets them (the threat model says so).
ONE_CALL_VALUE_POINTS = 3.0
ORACLE_VALUE_TESTS = ("test_batchnorm_train_output", "test_batchnorm_running_stats", "test_batchnorm_eval")


def grade_all(folder, out, timeout=1200):
    return subprocess.run([sys.executable, "-m", "autograder", "grade-all", A.LAYERS, str(folder),
                           "--out", str(out), "--workers", "2", "--json", *LIMITS], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extra")
    X.write(tmp / "in", {"honest": f"{HONEST}.ipynb"})
    proc = grade_all(tmp / "in", tmp / "out")
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"
    records = {p.stem: json.loads(p.read_text()) for p in results_dir(tmp / "out", A.LAYERS).glob("*.json")}
    return {"records": records, "out": tmp / "out", "tmp": tmp}


def _feedback(batch, student):
    return feedback_page(batch["out"], student, A.LAYERS).read_text()


def _strings(obj):
    """Every string in a decoded JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _texts(batch):
    """``{where: text}`` with records and CSV decoded (their quoting hides quoted hidden lines)."""
    out = batch["out"]
    texts = {str(f): html.unescape(f.read_text(errors="replace")) for f in out.glob("feedback/*.html")}
    for f in results_dir(out, A.LAYERS).glob("*.json"):
        texts[str(f)] = "\n".join(_strings(json.loads(f.read_text())))
    with open(grades_csv(out, A.LAYERS), newline="") as f:
        texts["grades.csv"] = "\n".join(cell for row in csv.reader(f) for cell in row)
    return texts


def _leaks(batch):
    needles = {"secret": A.SECRET}
    for line in A.Assignment(A.LAYERS).hidden_lines:
        for how, text in A.encodings(line).items():
            needles[f"{how} of {line!r}"] = text
    return [(where, what) for where, text in _texts(batch).items() for what, needle in needles.items()
            if needle in text]


# ---------------------------------------------------------------- defences that held

def test_honest_student_after_the_attacks_keeps_full_marks(batch):
    rec = batch["records"][HONEST]
    assert rec["status"] == "graded" and rec["score"] == rec["max_score"] == 16, rec


@pytest.mark.parametrize("student", ["a_display_id_leak", "a_record_id_leak", "a_feedback_xss", "a_partial_credit",
                                     "a_metadata_flags", "a_thread_output"])
def test_new_angles_score_no_more_than_the_empty_exercise(batch, student):
    """Display-id updates, an execute_result of 1.0 / a shown "16.0" in every test cell, test cells whose nbgrader
    flags say "answer" or "not graded" or whose type is markdown, a bonus grade cell, a thread that keeps printing:
    nothing of it is worth a point."""
    rec = batch["records"][student]
    assert rec["score"] in (EMPTY_SCORE, None), (student, rec["score"], rec["reason"])


def test_a_thread_started_before_the_hidden_tests_carries_nothing_out(batch):
    """Its later prints belong to no cell that is shown (the kernel routes them nowhere the grader keeps)."""
    assert _feedback(batch, "a_thread_output").count("THREAD \n") <= 1


def test_structural_forging_is_pinned(batch):
    """Admitted by the threat model: a kernel that knows its seed answers the structural tests (shapes, counts,
    flags, constants) without the learner's code. On 01_layers that is 7 of 16 points; it must not grow."""
    assert batch["records"]["a_forge_struct"]["score"] <= STRUCTURAL_POINTS


# ---------------------------------------------------------------- the hostile review's holes, closed

def test_display_id_updates_carry_no_hidden_test_out(batch):
    """Was HOLE 1: update_display_data from a cell after the hidden tests rewrote the output of a cell (a learner
    cell, or a test cell's record) that ran before them, whose text the feedback and the message keep. The
    grader applies no display-id update now (autograder/notebook/execute.py)."""
    leaks = [(w, what) for w, what in _leaks(batch) if "id_leak" in w]
    assert not leaks, leaks


def test_value_forging_from_the_seed_is_pinned(batch):
    """Was HOLE 2a: the course view shipped the grader's references (wavenet.checks.oracle), so an empty notebook
    answered every value test from the probes' inputs: 16/16 without a line of Linear, BatchNorm1d or Tanh.
    The kernel's oracle.py now holds no reference (autograder/notebook/course_view.py): the BatchNorm value tests fail.
    What stays, and the threat model admits: a kernel knows the probes' inputs (it must run the learner's code
    on them), so it can compute a right answer itself, here x @ W + b and torch.tanh; pinned, so it can only
    go down."""
    rec = batch["records"]["a_forge_values"]
    passed = {t["id"] for t in rec["tests"] if t["passed"]}
    assert not passed & set(ORACLE_VALUE_TESTS), passed
    assert rec["score"] <= STRUCTURAL_POINTS + ONE_CALL_VALUE_POINTS, passed


def test_a_notebook_that_replaces_check_is_flagged_for_review(batch):
    """Was HOLE 2b: a forger that emits through wavenet.checks.context.emit got no review note at all. Now its
    own `check` and its imports of the tests' machinery are noted (autograder/notebook/notes.py)."""
    for student in ("a_forge_struct", "a_forge_values"):
        review = " ".join(batch["records"][student]["review"])
        assert "defines its own `check`" in review and "wavenet.checks.context" in review, (student, review)


def test_nan_weights_do_not_pass_linear_init(batch):
    """Was HOLE 2c: linear_init compares abs(std * sqrt(fan_in) - 1) > 0.05, which is False for NaN: a Linear
    whose weight was all NaN passed it. Now no test passes on data holding NaN or infinity
    (wavenet.checks.verdict, whatever the judge)."""
    rec = batch["records"]["a_nan_linear"]
    assert rec["score"] == EMPTY_SCORE, [t for t in rec["tests"] if t["passed"]]


class _Active(HTMLParser):
    """Active content in a page: scripts that alert, event handlers, javascript: URLs, frames, forms, overlays."""

    def __init__(self):
        super().__init__()
        self.found, self._script = [], False

    def handle_starttag(self, tag, attrs):
        self._script = tag == "script"
        for k, v in attrs:
            v = (v or "").strip().lower()
            if k.startswith("on"):
                self.found.append(f"<{tag} {k}=...>")
            if k in ("href", "src", "action", "formaction", "xlink:href") and v.startswith(("javascript:", "data:text/html")):
                self.found.append(f"<{tag} {k}={v[:30]}>")
            if k == "style" and "position:fixed" in v.replace(" ", ""):
                self.found.append(f"<{tag} style=position:fixed>")
        if tag in ("iframe", "form", "object", "embed"):
            self.found.append(f"<{tag}>")

    def handle_data(self, data):
        if self._script and "alert(" in data:
            self.found.append(f"<script>{data[:40]}</script>")

    def handle_endtag(self, tag):
        self._script = False


def test_the_feedback_page_carries_no_active_content(batch):
    """Was HOLE 4: nbgrader's feedback template renders markdown cells without nbconvert's clean_html, so
    HTMLExporter.sanitize_html did not reach them: a learner's markdown put <script>, onerror=, iframes,
    forms and full-page overlays into the page a teacher opens. Now they are cleaned (autograder/notebook/feedback.py)."""
    assert feedback_page(batch["out"], "a_feedback_xss", A.LAYERS).exists()
    bad = {}
    for page in batch["out"].glob("feedback/*.html"):
        p = _Active()
        p.feed(page.read_text())
        if p.found:
            bad[page.name] = p.found
    assert not bad, bad


@pytest.fixture(scope="module")
def one_grade(tmp_path_factory):
    """One `grade --keep` of a notebook holding the output-cap attacks and, last, the stderr flood: the
    autograded notebook it leaves, and what reached the grader's stderr."""
    tmp = tmp_path_factory.mktemp("one")
    nb = X.big_update(n=4_000_000, k=6)
    nb = A.insert_after(nb, "setup", X.MANY_OUTPUTS.replace("1_000_000", "2_000_000").format(n_meta=6))
    nb = A.insert_after(nb, "setup", X.MANY_RECORDS.format(n=3))
    for _ in range(12):  # 10.8 MB in cells each under the per-cell cap: the notebook's cap (3 MB here) holds
        nb = A.insert_after(nb, "setup", X.CELL_UNDER_CAP)
    nb = X.append(nb, X.STDERR.format(mb=5))
    path = tmp / "bloat.ipynb"
    path.write_bytes(A.dumps(nb))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A.LAYERS, str(path), "--json", "--keep",
                           *LIMITS, "--notebook-output", "3000000"], cwd=ROOT,
                          env=dict(ENV, AUTOGRADER_WORK=str(tmp / "work")),
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-1500:]
    graded = list((tmp / "work").glob(f"*/autograded/learner/{A.LAYERS}/{A.LAYERS}.ipynb"))
    assert len(graded) == 1, graded
    return {"result": json.loads(proc.stdout), "stderr": proc.stderr, "graded": graded[0]}


def test_outputs_the_cap_did_not_see_stay_out_of_the_grader(one_grade):
    """Was HOLE 3: update_display_data is applied by nbclient before Execute.output (no cap), and the cap counted
    neither a display's metadata nor empty displays, and probe records (up to 8 MB each) were exempt with no count.
    Scaled down here (6 x 4 MB updates, 6 x 2 MB of metadata, 3 x 7 MB records in a learner cell, and
    12 cells of 0.9 MB each, under the per-cell cap: the notebook's own cap stops them);
    at full size (6 x 50 MB updates) the grader's own process peaked at 1.8 GB while the kernel held 50 MB, and
    100,000 empty displays cost the grader 2 min of its own CPU. The autograded notebook must stay near the cap.
    (The messages still reach the grader's client, which reads each before dropping it: the time limits bound
    that cost.)"""
    size = one_grade["graded"].stat().st_size
    assert one_grade["result"]["score"] == EMPTY_SCORE
    assert size < 4_000_000, f"the autograded notebook holds {size:,} bytes of output the cap did not count"


def test_the_kernels_stderr_stays_out_of_the_graders(one_grade):
    """Was HOLE 8: the kernel's stderr was inherited by the grader: `grade` passed whatever the kernel writes to
    fd 2 to the teacher's terminal, raw and unbounded (an xterm title escape, the input history, 5 MB here; 50 MB
    took no longer); grade-all wrote it to a per-student log on the grader's disk (not the kernel's --disk),
    whose tail becomes the record's reason when the grading process crashes. Now it goes to /dev/null
    (autograder/sandbox/bwrap.py)."""
    err = one_grade["stderr"]
    assert b"KERNEL-STDERR" not in err and b"\x1b]0;" not in err
    assert len(err) < 100_000, f"{len(err):,} bytes of the kernel's stderr reached the grader's"
