"""The real nbgrader path, through the command line a learner or a course runner uses.

One module-level fixture grades, two at a time, with ``python -m autograder``:
every solution (full marks expected), every released exercise (zero on every
test expected), two mutants (the lecture's 3-D BatchNorm bug, and a notebook
that tries to switch the checks off), and validates a solution and an
exercise. The tests then read those results: they are marked ``sandbox`` (``grade`` refuses without
bubblewrap; tests/needs.py says so and how to fix it). The command line's refusals run anywhere.
"""
import html
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import kernel_input
from autograder.assignments import ROOT, Assignment, graded_cells, names, read_notebook, release_path, source_path
from autograder.cli import _table
from autograder.authoring.runner import run_notebook
from mutants import all_mutants

ASSIGNMENTS = names()
MUTANTS = {(m.assignment, m.name): m for m in all_mutants()}
NBGRADED_MUTANTS = [("04_hierarchical", "bn_dim0_only"), ("01_layers", "switches_the_checks_off")]
ENV = dict(os.environ, OMP_NUM_THREADS="1")  # two jobs at a time on a shared machine


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{job key: CompletedProcess} for every nbgrader run the tests below need."""
    tmp = tmp_path_factory.mktemp("graded")
    jobs = {}
    for a in ASSIGNMENTS:
        jobs[("solution", a)] = ("grade", a, source_path(a), "--json")
        jobs[("release", a)] = ("grade", a, release_path(a), "--json", "--feedback", tmp / f"release-{a}.html")
    for key in NBGRADED_MUTANTS:
        path = tmp / f"{key[1]}" / "submission.ipynb"  # any file name will do
        path.parent.mkdir()
        nbformat.write(MUTANTS[key].notebook(), str(path))
        jobs[("mutant", *key)] = ("grade", key[0], path, "--json", "--feedback", tmp / f"mutant-{key[1]}.html")
    jobs[("validate", "solution")] = ("validate", source_path("01_layers"))
    jobs[("validate", "release")] = ("validate", release_path("01_layers"))
    # the slowest (the val-loss training) first, so two workers finish together
    order = sorted(jobs, key=lambda k: k != ("solution", "05_scaled_up"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(cli, *jobs[k]) for k in order}
        return {k: f.result() for k, f in futures.items()}


def result_of(graded, key):
    proc = graded[key]
    assert proc.returncode == 0, f"{key}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def failures(result):
    return {t["id"]: t["message"] for t in result["tests"] if not t["passed"]}


@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_scores_full_marks(graded, assignment):
    """nbgrader autograde gives every solution notebook every point, hidden tests included."""
    result = result_of(graded, ("solution", assignment))
    assert not failures(result), f"the solution of {assignment} lost points: {failures(result)}"
    assert result["score"] == result["max_score"] > 0
    n_tests = len(graded_cells(read_notebook(source_path(assignment))))
    assert len(result["tests"]) == n_tests, "every test cell should be reported"


@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_scores_zero_on_every_test(graded, assignment):
    """An untouched exercise gets zero on every graded cell, each with the stub hint, and the grader copes."""
    result = result_of(graded, ("release", assignment))
    assert result["score"] == 0 and result["max_score"] > 0
    for t in result["tests"]:
        assert t["points"] == 0 and not t["passed"], f"{t['id']} gave points to an empty exercise"
        assert "NotImplementedError" in t["message"], f"{t['id']}: {t['message']!r} should point at the stub"


@pytest.mark.sandbox
def test_json_result_shape(graded):
    """--json prints one object with the documented keys and per-test fields."""
    result = result_of(graded, ("solution", "01_layers"))
    assert {"assignment", "score", "max_score", "tests"} <= result.keys()
    assert result["assignment"] == "01_layers"
    for t in result["tests"]:
        assert set(t) == {"id", "points", "max_points", "passed", "message"}
        assert isinstance(t["passed"], bool) and isinstance(t["message"], str)
    assert result["score"] == sum(t["points"] for t in result["tests"])


@pytest.mark.sandbox
@pytest.mark.parametrize("key", NBGRADED_MUTANTS, ids=lambda k: f"{k[0]}/{k[1]}")
def test_mutant_under_nbgrader_matches_the_runner(graded, key):
    """Under real nbgrader a mutant loses the expected tests with the expected messages, exactly as the
    in-process runner says (so the runner is a faithful stand-in for the mutant library)."""
    mutant = MUTANTS[key]
    got = failures(result_of(graded, ("mutant", *key)))
    assert not mutant.unexpected(got) and not mutant.missing(got), (
        f"nbgrader: unexpected failures {sorted(mutant.unexpected(got))}, missing or unnamed "
        f"{sorted(mutant.missing(got))} (expected {mutant.fails}); messages: {got}")
    result = result_of(graded, ("mutant", *key))
    seed = kernel_input.seed(key[0], Path(result["notebook"]).read_bytes())  # the seed grade used
    runner = run_notebook(mutant.notebook(), key[0], skip=("test_val_loss",), seed=seed)
    assert failures(runner) == got, "the in-process runner and nbgrader disagree"


@pytest.mark.sandbox
def test_lecture_bug_message(graded):
    """The lecture's 3-D BatchNorm bug is reported in the learner's terms: L*C values for C channels."""
    got = failures(result_of(graded, ("mutant", "04_hierarchical", "bn_dim0_only")))["test_bn_3d_stats_count"]
    m = re.search(r"running_mean has (\d+) values for (\d+) channels after a \((\d+), (\d+), (\d+)\) batch", got)
    assert m, got
    n, C, _, L, C2 = map(int, m.groups())
    assert C == C2 and n == L * C and "reduce over dims (0, 1)" in got


def _visible_text(html_text):
    """The feedback page as a reader sees it: styles and tags (syntax-highlighting spans) removed."""
    html_text = re.sub(r"<style.*?</style>", "", html_text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_never_shows_hidden_tests(graded, assignment):
    """nbgrader's feedback HTML shows the visible tests and one-line errors, never hidden test source."""
    proc = graded[("release", assignment)]
    out = json.loads(proc.stdout)
    page = _visible_text(Path(out["feedback"]).read_text())
    assert "NotImplementedError" in page, "the feedback should show why tests failed"
    hidden = Assignment(assignment).hidden_lines
    assert hidden, f"{assignment} should have hidden tests"
    for line in hidden:
        assert line not in page, f"hidden test {line!r} shows in the feedback of {assignment}"
    assert "BEGIN HIDDEN TESTS" not in page
    # test cells show the grader's one-line verdict: no traceback from the kernel
    assert "Traceback" not in page and "wavenet/checks/" not in page


@pytest.mark.sandbox
def test_mutant_feedback_never_shows_hidden_tests(graded):
    """Feedback on a partly right submission (failing hidden tests) hides them too."""
    for key in NBGRADED_MUTANTS:
        out = result_of(graded, ("mutant", *key))
        page = _visible_text(Path(out["feedback"]).read_text())
        for line in Assignment(key[0]).hidden_lines:
            assert line not in page, f"hidden test {line!r} shows in the feedback of {key}"
        assert "Traceback" not in page


@pytest.mark.sandbox
def test_validate_exit_codes(graded):
    """`validate` exits 0 on a notebook whose visible tests pass and 1 (listing them) on one whose tests fail."""
    ok, bad = graded[("validate", "solution")], graded[("validate", "release")]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "test failed" in bad.stdout and "NotImplementedError" in bad.stdout
    assert "Success" in ok.stdout


@pytest.mark.parametrize("args, expected", [
    (("grade", "99_nope", "solutions/01_layers/01_layers.ipynb"), "unknown assignment"),
    (("grade", "01_layers", "no/such/file.ipynb"), "no such file"),
    (("grade", "01_layers", "Makefile"), "not a valid Jupyter notebook"),
    (("validate", "Makefile"), "not a valid Jupyter notebook"),
])
def test_cli_rejects_input_it_cannot_grade(args, expected):
    """Input that cannot be graded gives exit status 2 and a one-line reason on stderr."""
    proc = cli(*args, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_no_sandbox_refuses_unless_unsafe(tmp_path):
    """Where bubblewrap cannot run, `grade` refuses untrusted work (exit 2, saying why) unless --unsafe is given."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in Path("/usr/bin").iterdir():  # the machine's tools, bubblewrap left out
        if tool.name != "bwrap":
            (bin_ / tool.name).symlink_to(tool)
    env = dict(ENV, PATH=str(bin_))
    nb = source_path("03_flatten_consecutive")
    refused = subprocess.run([sys.executable, "-m", "autograder", "grade", "03_flatten_consecutive", str(nb), "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "no sandbox" in refused.stderr and "--unsafe" in refused.stderr, refused.stderr
    unsafe = subprocess.run([sys.executable, "-m", "autograder", "grade", "03_flatten_consecutive", str(nb), "--json",
                             "--unsafe"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert unsafe.returncode == 0, unsafe.stderr[-2000:]
    assert json.loads(unsafe.stdout)["score"] == 9.0


def test_table_lists_every_test():
    """The default output is a table with one row per test, its points, and the message of a failure."""
    result = {"assignment": "01_layers", "notebook": "x.ipynb", "score": 1.0, "max_score": 3.0, "tests": [
        {"id": "test_a", "points": 1.0, "max_points": 1.0, "passed": True, "message": ""},
        {"id": "test_b", "points": 0.0, "max_points": 2.0, "passed": False, "message": "use x.view"}]}
    lines = _table(result).splitlines()
    assert any(l.startswith("test_a") and "1/1" in l and "pass" in l for l in lines)
    assert any(l.startswith("test_b") and "0/2" in l and "FAIL" in l and "use x.view" in l for l in lines)
    assert lines[-1] == "score 1 / 3"
