"""The class report (autograder/export/report.py): the class of tests/submissions graded by grade-all (conftest's
fc_graded), made late for one student by nbgrader's own fields, plus a second assignment written with nbgrader's
API (the cross-assignment view, a student named with markup); the page opened in headless Chromium: every image
loads, every count equals the gradebook's, no hidden test source and no student code on the page."""
import datetime
import re
import shutil
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup

import submissions as S
from autograder.assignments import ROOT, Assignment

A, B = S.FC, "01_layers"
LATE = "alice"
MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def course(fc_graded, tmp_path_factory):
    """fc_graded's course directory, copied: alice's submission 30 h after a due date with a late penalty of 1
    (as nbgrader's ``AssignLatePenalties`` stores one), and 01_layers with three submissions, one by ``MARKUP``."""
    from nbgrader.api import Gradebook

    from autograder.classroom.gradebook import _quiet

    root = tmp_path_factory.mktemp("report") / "course"
    shutil.copytree(fc_graded[1], root)
    due = datetime.datetime(2026, 1, 10, 12, 0)
    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        gb.update_or_create_assignment(A, duedate=due)
        sub = gb.find_submission(A, LATE)
        sub.timestamp = due + datetime.timedelta(hours=30)
        sub.notebooks[0].late_submission_penalty = 1.0
        gb.update_or_create_assignment(B, duedate=due)
        gb.update_or_create_notebook(B, B)
        for name, points in (("test_linear_shapes", 2), ("test_tanh", 1)):
            gb.update_or_create_grade_cell(name, B, B, max_score=points, cell_type="code")
        for student, scores in (("alice", (2, 1)), ("bob", (0, 1)), (MARKUP, (2, 0))):
            gb.update_or_create_student(student)
            sub = gb.update_or_create_submission(B, student, timestamp=due - datetime.timedelta(hours=1))
            for name, value in zip(("test_linear_shapes", "test_tanh"), scores):
                gb.find_grade(name, B, B, student).auto_score = value
        gb.db.commit()
    return root


def load_record(root, student):
    from autograder.records import load
    return load(root / "grades" / A / "results" / f"{student}.json")


def expected(root, assignment):
    """The counts, straight from the gradebook: submissions, late, full marks, passes per test."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.classroom.gradebook import _quiet

    out = {"submissions": 0, "late": 0, "full marks": 0, "passes": {}}
    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        a = gb.find_assignment(assignment)
        for s in gb.students:
            try:
                sub = gb.find_submission(assignment, s.id)
            except MissingEntry:
                continue
            out["submissions"] += 1
            out["late"] += sub.total_seconds_late > 0
            out["full marks"] += max(0, sub.score - sub.late_submission_penalty) >= a.max_score
            for g in sub.notebooks[0].grades:
                out["passes"][g.name] = out["passes"].get(g.name, 0) + (g.score >= g.max_score > 0)
    return out


def chromium_dom(browser, page, tmp_path):
    """The page as Chromium leaves it after load, with each image's naturalWidth in ``body[data-widths]`` (a copy
    whose policy also lets this one inline script run; images stay under the page's own ``img-src data:``)."""
    probe = tmp_path / "probe.html"
    text = page.read_text().replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    script = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-widths', "
              "[...document.images].map(i => i.complete ? i.naturalWidth : 0).join(',')))</script>")
    probe.write_text(text.replace("</body>", script + "</body>"))
    browser.open(probe.as_uri(), ready="document.body && document.body.hasAttribute('data-widths')")
    return BeautifulSoup(browser.dom(), "html.parser")


@pytest.mark.sandbox
@pytest.mark.browser
def test_report_in_chromium(course, fc_graded, browser, tmp_path):
    page = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "autograder", "report", "--course", str(course), "--to", str(page)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    dom = chromium_dom(browser, page, tmp_path)
    widths = dom.body["data-widths"].split(",")
    assert len(widths) == 2 * 2 + 1 and all(int(w) > 0 for w in widths), widths  # 2 per assignment + across

    for assignment in (A, B):
        want = expected(course, assignment)
        sec = dom.find("section", id=assignment)
        got = {b["data-count"]: b.text for b in sec.find_all(attrs={"data-count": True})}
        for key in ("submissions", "late", "full marks"):
            assert int(got[key]) == want[key], (assignment, key, got)
        assert {s["data-pass"]: int(s.text) for s in sec.find_all(attrs={"data-pass": True})} == want["passes"]
    fc = dom.find("section", id=A)
    assert int(fc.find(attrs={"data-count": "not graded"}).text) == 2  # dave's broken JSON, erin's empty file
    assert int(fc.find(attrs={"data-count": "late"}).text) == 1
    troubles = fc.find("h3", string="Errors and timeouts").find_next("table").get_text(" ")
    for student in ("dave", "erin", "walter", "victor"):  # not a notebook, empty, the time limit, no answer
        assert student in troubles, student
    rows = {tr.find("td").get_text(): int(tr.find(attrs={"data-mistake": True}).text)
            for tr in fc.find("h3", string="Most common mistakes").find_next("table").find_all("tr")[1:]}
    squeeze = [c for c in rows if "squeeze it" in c]
    records = fc_graded[0]
    assert len(squeeze) == 1 and rows[squeeze[0]] == sum(  # the students grade-all failed on it, from the records
        any("squeeze it" in t["message"] for t in load_record(course, s).tests) for s in records
        if records[s]["status"] == "graded"), rows

    text = page.read_text()
    assert MARKUP not in text and "&lt;img src=x onerror=alert(1)&gt;" in text  # escaped, shown as text
    assert not dom.find_all("script", src=True) and not re.search(r"<img(?![^>]*src=\"data:image/png;base64,)", text)
    assert not [line for line in Assignment(A).hidden_lines + Assignment(B).hidden_lines if line in text], "hidden test source"
    code = [l.strip() for src in (S.WRONG_FC, S.CHEAT_IMPORT, S.PATCH_TORCH, S.READ_HIDDEN) for l in src.splitlines()
            if len(l.strip()) > 24]
    assert code and not [l for l in code if l in text], "student code on the page"


def test_concept_groups_messages_by_the_mistake_not_the_values():
    from autograder.export.report import concept

    a = "FlattenConsecutive(8) on a (356, 8, 6) input gave (356, 1, 48): when T == n squeeze it (x.squeeze(1))"
    b = "FlattenConsecutive(4) on a (12, 4, 3) input gave (12, 1, 12): when T == n squeeze it (x.squeeze(1))"
    assert concept(a) == concept(b) == "when T == n squeeze it (x.squeeze(#))"
    knock_on = ("the test could not start: NameError (name 'Linear' is not defined): the cell that defines what it "
                "tests did not run, or raised an error")
    assert concept(knock_on) == concept(knock_on + " (the same error as in test_linear_shapes: fix that first)") == \
        "the cell that defines what it tests did not run, or raised an error"
    bound = a + " (every test of it also checks the values it computes)"
    assert concept(bound) == concept(bound + " (the same error as in test_fc_shapes: fix that first)") == concept(a)
    secret = "Linear raised NameError: at cell 'Linear', line 3: `w = secret_helper(fan_in)`"
    assert "secret_helper" not in concept(secret) and concept(secret) == "at cell 'Linear', line #"
    kept = "Tanh raised NotImplementedError: replace `raise NotImplementedError()` with your code"
    assert concept(kept, public="    raise NotImplementedError()\n") == \
        "replace `raise NotImplementedError()` with your code"


def test_a_student_graded_by_plain_nbgrader_autograde_is_in_the_report(tmp_path):
    """A student with no record (graded by plain ``nbgrader autograde``): their failing tests' messages and the
    limit their run hit come from the Judge's metadata in the judged notebook; the cells are never read."""
    import json

    from nbgrader.api import Gradebook

    from autograder.classroom.gradebook import _quiet, fast_gradebooks
    from autograder.export.report import gather, mistakes, trouble

    fast_gradebooks()
    root = tmp_path / "course"
    root.mkdir()
    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        gb.update_or_create_assignment(B)
        gb.update_or_create_notebook(B, B)
        for name in ("test_linear_shapes", "test_tanh"):
            gb.update_or_create_grade_cell(name, B, B, max_score=1, cell_type="code")
        gb.update_or_create_student("carol")
        gb.update_or_create_submission(B, "carol")
        gb.find_grade("test_linear_shapes", B, B, "carol").auto_score = 1
        gb.db.commit()
    message = "Tanh gave values outside (-1, 1): use torch.tanh"
    secret = "SECRET_CELL_SOURCE"
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "a", "source": secret, "metadata": {}, "outputs": [], "execution_count": None}],
        "metadata": {"autograder": {"tests": {"test_linear_shapes": {"passed": True, "message": ""},
                                              "test_tanh": {"passed": False, "message": message}},
                                    "events": [[0, "timeout", "this cell ran longer than 40 s and the kernel stopped responding"]]}}}
    judged = root / "autograded" / "carol" / B / f"{B}.ipynb"
    judged.parent.mkdir(parents=True)
    judged.write_text(json.dumps(nb))
    (a,) = gather(root, [B])
    assert a.submissions[0].messages == {"test_tanh": message}
    assert mistakes(a) == [("use torch.tanh", ["test_tanh"], ["carol"])]
    assert [who for who, what in trouble(a) if "40 s" in what] == ["carol"]
    assert secret not in repr(a)


@pytest.mark.sandbox
def test_grade_all_leaves_the_class_report_in_the_grades_folder(fc_graded):
    """grade-all rewrites grades/report.html (every assignment of the gradebook) after its run: the page an
    instructor finds next to grades.csv, with the class's submissions counted."""
    from autograder.export.report import page

    soup = BeautifulSoup(page(fc_graded[1]).read_text(), "html.parser")
    counted = soup.find("section", id=A).find(attrs={"data-count": "submissions"})
    assert int(counted.text) == len(fc_graded[0]), counted
