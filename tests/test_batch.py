"""Grading a whole class: ``python -m autograder grade-all``, with broken and hostile submissions.

A module fixture runs the real command line, two workers at a time, with
short limits (25 s a cell, 60 s a notebook, 2 GB; tests/batch_cli.py): the class of
``tests/submissions`` (``fc_class``): good, partial and empty answers, files
that are not notebooks, stripped or corrupted nbgrader metadata, duplicated,
deleted and edited cells, infinite loops, a kernel that dies, memory
exhaustion, megabytes of output, and cheats. Each student's test checks the
status, score and reason it must end with.

Then: re-running skips what is done, ``--force`` regrades, a batch killed
half-way and run again ends with the same grades and leaves no process behind.
The repair and the reviewer's notes have fast unit tests at the end. The
attacks on the sandbox and on the verdict are in ``tests/test_attacks.py``.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from autograder.assignments import ROOT, Assignment
from autograder.classroom.batch import grade_all
from autograder.notebook.notes import review
from autograder.notebook.repair import repair
from autograder.classroom.students import discover
import batch_cli
from batch_cli import CLASS_LIMITS as LIMITS
import submissions as S
from processes import kernel_pids, marked
from batch_cli import feedback_page, grades_csv, gradebook_url, results_dir  # noqa: F401  (grade-all's layout)

FC = S.FC
ENV = dict(os.environ, OMP_NUM_THREADS="1")
# the tests that grade (those of ``graded`` and the re-runs) are marked ``sandbox``: without bubblewrap they
# fail (tests/needs.py); the repair, notes and discovery unit tests at the end run anywhere


def grade_all_cli(folder, out, *extra, timeout=900):
    return batch_cli.grade_all_cli(folder, out, "--workers", "2", *extra, timeout=timeout)


@pytest.fixture(scope="module")
def graded(fc_graded):
    """(records by student, out folder, class folder) for one grade-all run over ``fc_class`` (conftest.py:
    the same run is tests/test_cluster.py's local reference)."""
    return fc_graded


EXPECTED = {name.split(".")[0]: exp for name, (_, *exp) in S.fc_class({}).items() if exp[0]}


@pytest.mark.sandbox
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_student_outcome(graded, student):
    """Each student ends with the status, score and reason their submission deserves."""
    records, _, _ = graded
    status, score, words = EXPECTED[student]
    rec = records[student]
    assert rec["status"] == status, f"{student}: {rec}"
    assert rec["score"] == score, f"{student}: score {rec['score']}, want {score}: {rec['reason']}"
    for w in words:
        assert w.lower() in rec["reason"].lower(), f"{student}: reason lacks {w!r}: {rec['reason']}"


@pytest.mark.sandbox
def test_every_student_has_a_grade_or_a_reason(graded):
    """No crash and no silent zero: every student is listed, and every zero or error comes with a reason."""
    records, _, _ = graded
    assert set(records) == set(EXPECTED), "students missing from (or extra in) the results"
    for s, rec in records.items():
        assert rec["status"] in ("graded", "error")
        assert rec["max_score"] == 7.0
        if rec["status"] == "error" or rec["score"] < rec["max_score"]:
            assert rec["reason"].strip(), f"{s} lost points without a reason"


@pytest.mark.sandbox
def test_json_has_the_documented_keys(graded):
    """--json prints student, status, score, max_score and reason for each student."""
    records, _, _ = graded
    assert all(set(r) == {"student", "status", "score", "max_score", "reason"} for r in records.values())


@pytest.mark.sandbox
def test_csv_row_per_student(graded):
    """grades.csv has one row per student with the same status and score as the JSON, and a column per test."""
    records, out, _ = graded
    with open(grades_csv(out)) as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(records)
    for s, r in rows.items():
        assert r["status"] == records[s]["status"] and float(r["score"]) == records[s]["score"]
    assert "test_fc_values" in next(iter(rows.values())), "no per-test columns"


@pytest.mark.sandbox
def test_feedback_for_everyone_without_hidden_tests(graded):
    """Every student gets an HTML page; none shows hidden test code or the grader's guard cells."""
    records, out, _ = graded
    hidden = Assignment(FC).hidden_lines
    assert hidden, "the assignment should have hidden tests for this test to mean anything"
    for s in records:
        page = feedback_page(out, s).read_text()
        for line in hidden:
            assert line not in page, f"{s}'s feedback shows hidden test code: {line}"


@pytest.mark.sandbox
def test_gradebook_holds_the_grades(graded):
    """The class gradebook (nbgrader's own database) has each student's score, flagged ones at zero."""
    from nbgrader.api import Gradebook

    records, out, _ = graded
    with Gradebook(gradebook_url(out)) as gb:
        scores = {s.id: gb.find_submission(FC, s.id).score for s in gb.students}
    assert scores == {s: r["score"] for s, r in records.items()}


@pytest.mark.sandbox
def test_rerun_skips_students_already_graded(graded):
    """A second run grades nobody again: the results on disk are kept as they are."""
    records, out, folder = graded
    before = {p.name: p.stat().st_mtime_ns for p in results_dir(out).glob("*.json")}
    again = grade_all_cli(folder, out)
    assert again == records
    after = {p.name: p.stat().st_mtime_ns for p in results_dir(out).glob("*.json")}
    assert after == before, "a re-run rewrote results it should have skipped"


@pytest.mark.sandbox
def test_force_regrades(graded, tmp_path):
    """--force grades a student again even though a result exists (same file, same grade). Erin's empty
    notebook needs no kernel: the run costs only the local cluster."""
    records, out, folder = graded
    shutil.copytree(out, tmp_path / "grades")  # the class's own results stay as they are for the other tests
    result = results_dir(tmp_path / "grades") / "erin.json"
    before = result.stat().st_mtime_ns
    again = grade_all_cli(folder, tmp_path / "grades", "--force", "--student", "erin")
    assert result.stat().st_mtime_ns != before, "--force did not regrade"
    assert again["erin"] == records["erin"]


@pytest.mark.sandbox
def test_changed_file_is_regraded(graded, tmp_path):
    """A student who hands in a new file is graded again without --force (erin's empty file replaced by one
    that is not JSON: a new reason, and no kernel needed), and the others are not."""
    records, out, folder = graded
    shutil.copytree(out, tmp_path / "grades")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "erin.ipynb").write_bytes(b'{"cells": [')
    shutil.copy(folder / "bob.ipynb", tmp_path / "subs" / "bob.ipynb")
    bob = results_dir(tmp_path / "grades") / "bob.json"
    before = bob.stat().st_mtime_ns
    again = grade_all_cli(tmp_path / "subs", tmp_path / "grades")
    assert "empty" in records["erin"]["reason"] and "not a valid Jupyter notebook" in again["erin"]["reason"]
    assert bob.stat().st_mtime_ns == before and again["bob"] == records["bob"], "bob's unchanged file was regraded"


# ---------------------------------------------------------------- a batch killed half-way

def _batch_processes(out, kernels_before):
    """Pids of the batch writing to ``out``: its graders and workers (they carry AUTOGRADER_BATCH=out) and the
    kernels that were not there before it started."""
    return marked(f"AUTOGRADER_BATCH={out}") + sorted(kernel_pids() - kernels_before)


@pytest.mark.sandbox
def test_killed_batch_resumes_to_the_same_grades(graded, tmp_path):
    """Kill a batch (nbgrader's submitted/ layout) after its first result: nothing of it keeps running, and
    a second run grades only the rest and gives every student what one clean run gave."""
    records, _, _ = graded
    good, wrong = S.dumps(S.solved(FC)), S.dumps(S.with_answer(S.solved(FC), "FlattenConsecutive", S.WRONG_FC))
    layout = {"alice": ("03_flatten_consecutive.ipynb", good), "bob": ("03_flatten_consecutive.ipynb", wrong),
              "carol": ("my work.ipynb", b'{"cells": ['), "dan": ("03_flatten_consecutive.ipynb", wrong)}
    for s, (name, data) in layout.items():
        d = tmp_path / "course" / "submitted" / s / FC
        d.mkdir(parents=True)
        (d / name).write_bytes(data)
    (tmp_path / "course" / "submitted" / "erin" / "00_other").mkdir(parents=True)  # handed in something else
    out = tmp_path / "grades"
    cmd = [sys.executable, "-m", "autograder", "grade-all", FC, str(tmp_path / "course"), "--out", str(out),
           "--workers", "2", "--json", *LIMITS]
    before = kernel_pids()
    batch = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(results_dir(out).glob("*.json")) and batch.poll() is None:
        time.sleep(0.2)
    done_before = {p.stem for p in results_dir(out).glob("*.json")}
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    # SIGKILL travels down: batch -> workers -> fork servers -> graders -> kernels; a fork server, torch and
    # nbgrader imported, takes a few seconds of CPU to exit (more on a loaded machine)
    deadline = time.time() + 30
    while _batch_processes(out, before) and time.time() < deadline:
        time.sleep(0.2)
    assert not _batch_processes(out, before), "graders or kernels of the killed batch are still running"
    assert done_before and done_before != set(layout) | {"erin"}, "the kill came too late to test anything"

    final = grade_all_cli(tmp_path / "course", out)
    assert set(final) == set(layout) | {"erin"}
    assert final["erin"]["status"] == "error" and "no 03_flatten_consecutive/ folder" in final["erin"]["reason"]
    assert "my work.ipynb" in final["carol"]["reason"]
    for s in ("alice", "bob", "carol", "dan"):
        want = records[{"dan": "bob", "carol": "dave"}.get(s, s)]  # dan handed in bob's notebook, carol dave's
        assert (final[s]["status"], final[s]["score"]) == (want["status"], want["score"]), s


# ---------------------------------------------------------------- fast checks, no kernel

@pytest.mark.parametrize("assignment", ["01_layers", "02_modules", FC, "04_hierarchical", "05_scaled_up"])
def test_reference_answers_need_no_review(assignment):
    """The reviewer's notes find nothing in the reference answers, and repair changes nothing in them."""
    nb, notes = repair(S.solved(assignment), assignment)
    assert notes == [] and review(nb, assignment) == []


@pytest.mark.parametrize("source, words", [
    (S.CHEAT_IMPORT, "this exercise's answer"), (S.CHEAT_SUBCLASS, "the course's own answer"),
    ("import torch.nn.functional as F\nclass FlattenConsecutive:\n    pass\nclass Linear:\n    def __call__(self, x):\n        return F.linear(x, self.w)\n", "torch's own `F.linear`"),
    ("import importlib\n", "importlib"), ("get_ipython().events\n", "get_ipython"), ("import sys\nsys.modules['x'] = 1\n", "sys.modules"),
])
def test_review_notes_name_what_a_person_should_look_at(source, words):
    """Code worth a look (torch's own layer, the course's answers, the notebook's machinery) gets a note
    naming it; a note changes no grade."""
    nb = S.with_answer(S.solved(FC), "FlattenConsecutive", source)
    found = review(repair(nb, FC)[0], FC)
    assert any(words in f for f in found), found


def test_an_honest_import_os_is_not_a_note():
    """`import os` is what honest code does; it is not worth a reviewer's time."""
    nb = S.with_answer(S.solved(FC), "FlattenConsecutive", S.HONEST_OS)
    assert review(repair(nb, FC)[0], FC) == []


def test_repair_without_metadata_or_ids_finds_the_cells():
    """With every nbgrader metadata and cell id gone, cells are matched by content and the answer by its class."""
    nb, notes = repair(S.strip_metadata(S.solved(FC), ids=True), FC)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells if c.cell_type == "code"]
    assert ids == [c.metadata["nbgrader"]["grade_id"] for c in S.solved(FC).cells if c.cell_type == "code"]
    assert any("metadata was missing" in n for n in notes)


def test_repair_puts_deleted_cells_back_in_place():
    """Deleted test cells come back right after the cell that preceded them in the exercise."""
    nb, notes = repair(S.delete(S.solved(FC), "test_fc_pairs", "test_fc_values"), FC)
    order = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells if c.cell_type == "code"]
    assert order == [c.metadata["nbgrader"]["grade_id"] for c in S.solved(FC).cells if c.cell_type == "code"]
    assert any("restored" in n for n in notes)


def test_repair_reports_a_deleted_answer():
    """A deleted answer cell is put back empty, and the note tells the student what to do."""
    nb, notes = repair(S.delete(S.solved(FC), "FlattenConsecutive"), FC)
    assert any("FlattenConsecutive" in n and "re-download" in n for n in notes)


def test_discover_layouts(tmp_path):
    """Flat folders and nbgrader's submitted/ layout give one entry per student, with notes for odd names."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("amy.ipynb", "amy.txt", "ben.txt", ".hidden.ipynb"):
        (flat / name).write_text("{}")
    assert [(s, p.name, n) for s, p, n in discover(FC, flat)] == [
        ("amy", "amy.ipynb", "graded amy.ipynb; ignored amy.txt"), ("ben", "ben.txt", "")]
    sub = tmp_path / "course" / "submitted"
    for student, files in {"amy": [f"{FC}.ipynb"], "ben": ["mine.ipynb"], "cy": ["a.ipynb", "b.ipynb"], "di": []}.items():
        (sub / student / FC).mkdir(parents=True)
        for f in files:
            (sub / student / FC / f).write_text("{}")
    found = {s: (p and p.name, n) for s, p, n in discover(FC, tmp_path / "course")}
    assert found["amy"] == (f"{FC}.ipynb", "")
    assert found["ben"][0] == "mine.ipynb" and "mine.ipynb" in found["ben"][1]
    assert found["cy"][0] is None and "several notebooks" in found["cy"][1]
    assert found["di"][0] is None and "no notebook" in found["di"][1]


@pytest.mark.sandbox  # without one, grade_all refuses for that reason first
def test_out_inside_the_class_folder_is_refused(tmp_path):
    """Writing results into the submissions folder would make them look like students: refused."""
    from autograder.assignments import GradingError
    with pytest.raises(GradingError, match="inside the submissions folder"):
        grade_all(FC, tmp_path, out=tmp_path / "grades")


@pytest.mark.sandbox
def test_results_from_another_machine_are_merged(graded, tmp_path):
    """grade-submission (the per-submission command) writes a record that grade-all then counts as done:
    the student is not graded again and appears in grades.csv and the gradebook."""
    from nbgrader.api import Gradebook

    records, _, folder = graded
    out = tmp_path / "grades"
    results_dir(out).mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"  # another machine's copy of the file
    elsewhere.mkdir()
    (elsewhere / "dave.ipynb").write_bytes((folder / "dave.ipynb").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-submission", FC, str(elsewhere / "dave.ipynb"),
                           "--out", str(results_dir(out) / "dave.json"), *LIMITS],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = results_dir(out) / "dave.json"
    assert json.loads(record.read_text())["reason"] == records["dave"]["reason"]
    before = record.stat().st_mtime_ns
    merged = grade_all_cli(folder, out, "--student", "dave")
    assert record.stat().st_mtime_ns == before, "dave was graded again"
    assert merged["dave"] == records["dave"]
    assert "dave,error,0.0" in grades_csv(out).read_text()
    with Gradebook(gradebook_url(out)) as gb:
        assert gb.find_submission(FC, "dave").score == 0.0


def test_repair_defuses_hidden_test_markers_in_a_learners_cell():
    """nbgrader's hidden-test markers in a learner's answer made generate_feedback fail for that student and
    grade-all record "the grader failed" on every rerun (red team 2): the grader changes them so they mark
    nothing, says so, and leaves the real test cells' markers alone."""
    nb = S.solved(FC)
    S.cell(nb, "FlattenConsecutive").source += "\n# ### BEGIN HIDDEN TESTS\nx = 1\n# ### END HIDDEN TESTS\n"
    fixed, notes = repair(nb, FC)
    answer = next(c for c in fixed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "FlattenConsecutive")
    assert "BEGIN HIDDEN TESTS" not in answer.source and "BEGIN_HIDDEN_TESTS" in answer.source
    assert any("hidden-test markers" in n for n in notes)
    tests = [c.source for c in fixed.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    assert sum("BEGIN HIDDEN TESTS" in s for s in tests) == sum(
        "BEGIN HIDDEN TESTS" in c.source for c in S.solved(FC).cells if c.cell_type == "code")
