"""More attacks (tests/attacks/extra.py), one ``grade-all`` batch with an honest student last.

Tests marked HOLE assert the *safe* behaviour and fail until the grader is fixed
(see the hostile review's report); the others guard defences that held.

- new angles that must stay worth nothing: display-id updates, partial credit from an
  execute_result, flipped nbgrader flags, a chatty thread, markup in the feedback;
- forging from the seed (admitted by the threat model for structural tests): the
  number of points an empty notebook gets is pinned, so it can only go down;
- the submission folder itself: links to another student's notebook or to a grader's
  file, a name a spreadsheet runs as a formula, a FIFO and /dev/zero;
- the grader's own memory: outputs the output cap does not see.

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
from pathlib import Path

import pytest

import attacks as A
from attacks import extra as X
from autograder.assignments import ROOT
from autograder.sandbox import mode

KIND, WHY = mode()
pytestmark = pytest.mark.skipif(KIND is None, reason=f"no sandbox here: {WHY}")
LIMITS = ["--cell-timeout", "40", "--notebook-timeout", "150", "--memory", "2G", "--processes", "128",
          "--disk", "96M", "--cpu-seconds", "30"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", **{A.SECRET_VAR: A.SECRET})
HONEST = "z_honest"
EMPTY_SCORE = 0.0
STRUCTURAL_POINTS = 7.0  # 01_layers: what an empty notebook gets by answering the structural tests from the seed


def grade_all(folder, out, timeout=1200, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", "autograder", "grade-all", A.LAYERS, str(folder),
                           "--out", str(out), "--workers", "2", "--json", *LIMITS], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extra")
    secret = tmp / "grader-secret.txt"  # a file only the grader should ever read
    secret.write_text(A.SECRET + "\n")
    X.write(tmp / "in", {"secret_file": str(secret), "honest": f"{HONEST}.ipynb"})
    proc = grade_all(tmp / "in", tmp / "out")
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"
    records = {p.stem: json.loads(p.read_text()) for p in (tmp / "out" / "results").glob("*.json")}
    return {"records": records, "out": tmp / "out", "tmp": tmp}


def _feedback(batch, student):
    return (batch["out"] / "feedback" / f"{student}.html").read_text()


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
    for f in out.glob("results/*.json"):
        texts[str(f)] = "\n".join(_strings(json.loads(f.read_text())))
    with open(out / "grades.csv", newline="") as f:
        texts["grades.csv"] = "\n".join(cell for row in csv.reader(f) for cell in row)
    return texts


def _leaks(batch):
    needles = {"secret": A.SECRET}
    for line in A.hidden_lines(A.LAYERS):
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


# ---------------------------------------------------------------- HOLES: these fail until fixed

def test_hole_display_id_updates_carry_no_hidden_test_out(batch):
    """HOLE 1: update_display_data from a cell after the hidden tests rewrites the output of a cell (a learner
    cell, or a test cell's record) that ran before them, whose text the feedback and the message keep."""
    leaks = [(w, what) for w, what in _leaks(batch) if "id_leak" in w]
    assert not leaks, leaks


def test_hole_value_tests_cannot_be_forged_from_the_seed(batch):
    """HOLE 2a: the course view ships the grader's oracle (wavenet.checks.oracle) and the probes' inputs, so an
    empty notebook answers the value tests too: 16/16 without a line of Linear, BatchNorm1d or Tanh."""
    assert batch["records"]["a_forge_values"]["score"] <= STRUCTURAL_POINTS


def test_hole_a_notebook_that_replaces_check_is_flagged_for_review(batch):
    """HOLE 2b: a forger that emits through wavenet.checks.context.emit gets no review note at all."""
    for student in ("a_forge_struct", "a_forge_values"):
        assert batch["records"][student]["review"], student


def test_hole_nan_weights_do_not_pass_linear_init(batch):
    """HOLE 2c: linear_init compares abs(std * sqrt(fan_in) - 1) > 0.05, which is False for NaN: a Linear
    whose weight is all NaN passes it."""
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


def test_hole_the_feedback_page_carries_no_active_content(batch):
    """HOLE 4: nbgrader's feedback template renders markdown cells without nbconvert's clean_html, so
    HTMLExporter.sanitize_html does not reach them: a learner's markdown puts <script>, onerror=, iframes,
    forms and full-page overlays into the page a teacher opens."""
    bad = {}
    for page in batch["out"].glob("feedback/*.html"):
        p = _Active()
        p.feed(page.read_text())
        if p.found:
            bad[page.name] = p.found
    assert not bad, bad


def test_hole_links_in_the_submission_folder_are_not_followed(batch):
    """HOLE 5: grade-all follows links in the submission folder: a link to another student's notebook gets that
    student's grade, and a link to any file the grader can read shows its first 39 characters in the reason
    (nbformat's NotJSONError quotes them) in the record, the CSV and the feedback."""
    recs = batch["records"]
    assert recs["l_link_to_honest"]["score"] in (EMPTY_SCORE, None), recs["l_link_to_honest"]
    leaks = [(w, what) for w, what in _leaks(batch) if what == "secret"]
    assert not leaks, leaks


def test_hole_the_csv_has_no_formula_cells(batch):
    """HOLE 6: a student named by their file (or folder) puts a formula into grades.csv, in the student column
    and again at the start of the reason ("=HYPERLINK(1+2).ipynb is empty")."""
    with open(batch["out"] / "grades.csv", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    formulas = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]
    assert not formulas, formulas


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_hole_device_files_and_fifos_in_the_submission_folder(tmp_path):
    """HOLE 5b: in nbgrader's submitted/<student>/<assignment>/ layout any single *.ipynb is taken, and read
    before anything checks what it is: a link to /dev/zero reads until memory runs out (here: MemoryError under a
    3 GB address-space limit, the batch dies), a FIFO blocks the batch forever. Both should be a record saying
    "not a notebook" and the batch should go on."""
    sub = tmp_path / "in" / "submitted"
    (sub / "a_zero" / A.LAYERS).mkdir(parents=True)
    (sub / "a_zero" / A.LAYERS / "mine.ipynb").symlink_to("/dev/zero")
    (sub / "b_fifo" / A.LAYERS).mkdir(parents=True)
    os.mkfifo(sub / "b_fifo" / A.LAYERS / f"{A.LAYERS}.ipynb")
    try:
        proc = grade_all(tmp_path / "in", tmp_path / "out", timeout=120, prefix=("prlimit", "--as=3000000000", "--"))
    except subprocess.TimeoutExpired:
        pytest.fail("grade-all blocked on a FIFO in the submission folder")
    assert proc.returncode == 0, proc.stderr[-1500:]
    results = {p.stem for p in (tmp_path / "out" / "results").glob("*.json")}
    assert results == {"a_zero", "b_fifo"}, results


def test_hole_outputs_the_cap_does_not_see_stay_out_of_the_grader(tmp_path):
    """HOLE 3: update_display_data is applied by nbclient before Execute.output (no cap), and the cap counts
    neither a display's metadata nor empty displays, and probe records (up to 8 MB each) are exempt with no count.
    Scaled down here (6 x 4 MB updates, 6 x 2 MB of metadata, 3 x 7 MB records in a learner cell);
    at full size (6 x 50 MB updates) the grader's own process peaked at 1.8 GB while the kernel held 50 MB, and
    100,000 empty displays cost the grader 2 min of its own CPU. The autograded notebook must stay near the cap."""
    from autograder.grade import grade_notebook
    from autograder.limits import Limits

    nb = X.big_update(n=4_000_000, k=6)
    nb = A.insert_after(nb, "setup", X.MANY_OUTPUTS.replace("1_000_000", "2_000_000").format(n_meta=6))
    nb = A.insert_after(nb, "setup", X.MANY_RECORDS.format(n=3))
    path = tmp_path / "bloat.ipynb"
    path.write_bytes(A.dumps(nb))
    result = grade_notebook(A.LAYERS, path, workdir=tmp_path / "work", keep=True,
                            limits=Limits(cell_timeout=60, notebook_timeout=200, cpu_seconds=60))
    kept = next(n for n in result.notes if "scratch course kept in" in n).split(" kept in ")[1]
    graded = Path(kept) / "autograded" / "learner" / A.LAYERS / f"{A.LAYERS}.ipynb"
    size = graded.stat().st_size
    assert result.score == EMPTY_SCORE
    assert size < 4_000_000, f"the autograded notebook holds {size:,} bytes of output the cap did not count"


def test_hole_names_in_the_submission_folder_cannot_stop_the_batch(tmp_path):
    """HOLE 7: grade-all keeps each student's scratch folder in <work>/<student> next to the class's course view,
    <work>/course: a student named "course" makes mkdir fail in the worker thread, the exception ends the batch
    (exit 1) and nobody gets a record. And a file name's control characters reach the teacher's terminal raw
    (the progress line prints the student's name): here a title change and a screen clear."""
    folder = tmp_path / "in"
    folder.mkdir()
    esc = "x\x1b]0;PWNED\x07\x1b[2Jy"
    for name in ("course", "zoe", esc):
        (folder / f"{name}.ipynb").write_bytes(b"")  # empty: not graded, no kernel needed
    proc = grade_all(folder, tmp_path / "out", timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    results = {p.stem for p in (tmp_path / "out" / "results").glob("*.json")}
    assert {"course", "zoe"} <= results, results
    assert "\x1b" not in proc.stderr + proc.stdout, "a file name's escape sequences reach the terminal"


def test_hole_the_kernels_stderr_stays_out_of_the_graders(tmp_path):
    """HOLE 8: the kernel's stderr is inherited by the grader: `grade` passes whatever the kernel writes to fd 2
    to the teacher's terminal, raw and unbounded (an xterm title escape, the input history, 5 MB here; 50 MB
    took no longer). grade-all writes it to a per-student log on the grader's disk (not the kernel's --disk),
    whose tail becomes the record's reason when the grading process crashes."""
    path = tmp_path / "stderr.ipynb"
    path.write_bytes(A.dumps(X.stderr_flood(mb=5)))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A.LAYERS, str(path), "--json", *LIMITS],
                          cwd=ROOT, env=ENV, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert b"KERNEL-STDERR" not in proc.stderr and b"\x1b]0;" not in proc.stderr
    assert len(proc.stderr) < 100_000, f"{len(proc.stderr):,} bytes of the kernel's stderr reached the grader's"
