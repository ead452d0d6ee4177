"""Grades to an LMS (autograder/export/lms.py): a gradebook built with nbgrader's API (no kernel), exported for Canvas,
Moodle and as nbgrader's CSV; each column checked against the format's header and the gradebook's scores."""
import csv
import datetime
import math

import pytest

ANN, BO, CY, DEE, EVE = "1001", "1002", "1003", "dee", "1005"

# Canvas's gradebook import takes its export's layout (Canvas Instructor Guide, "How do I import grades in the
# Gradebook?"; OSU's "Import a CSV file to Carmen grades"): these five columns, then "<Assignment> (<id>)".
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_layers (4411)", "02_modules"]
# Moodle's "Grade import" (docs.moodle.org/en/Grade_import): its CSV export's user columns; the import maps
# "Email address" to useremail or "ID number" to useridnumber, and each named column to a grade item.
MOODLE_HEADER = ["First name", "Last name", "ID number", "Email address", "01_layers", "02_modules"]
# nbgrader's CsvExportPlugin (nbgrader/plugins/export.py, 0.9.6): its keys, in its order.
NBGRADER_HEADER = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                   "raw_score", "late_submission_penalty", "score", "max_score"]

# what the gradebook below holds, as each LMS should receive it ("" = no submission)
SCORES = {ANN: ["5", "4"],   # full marks
          BO: ["4.5", "2"],  # 01: a manual 2.5 overrides an autograded 0 on the 3-point cell
          CY: ["0", "2"],    # late by 30 h: 01 zeroed (nbgrader's 'zero' policy), 02 less 2 (a point a day begun)
          DEE: ["0", ""],    # 01 late: 1 point less 2 stops at 0; no submission of 02
          EVE: ["", ""]}     # only in the roster


def _cells(gb, assignment, notebook, points, duedate):
    gb.update_or_create_assignment(assignment, duedate=duedate)
    gb.update_or_create_notebook(notebook, assignment)
    for name, max_score in points.items():
        gb.update_or_create_grade_cell(name, notebook, assignment, max_score=max_score, cell_type="code")


def _late_policy(method):
    """A late-submission plugin as a course configures one (``LateSubmissionPlugin``): nbgrader's own
    ``zero``, or the custom kind nbgrader's documentation shows (here: a point for each day begun)."""
    from nbgrader.plugins import LateSubmissionPlugin

    class PointADay(LateSubmissionPlugin):
        def late_submission_penalty(self, student_id, score, total_seconds_late):
            return float(math.ceil(total_seconds_late / 86400))

    return LateSubmissionPlugin(penalty_method="zero") if method == "zero" else PointADay()


def _submit(gb, assignment, student, scores, late=None):
    """A submission with these autograded scores (``(auto, manual)`` pairs for a manual override); one
    ``late`` (30 hours after the due date) gets its penalty as nbgrader's ``AssignLatePenalties`` sets it: the
    policy's penalty for the notebook's score and the submission's seconds late."""
    due = gb.find_assignment(assignment).duedate
    sub = gb.update_or_create_submission(assignment, student,
                                         timestamp=due + datetime.timedelta(hours=30 if late else -1))
    nb = sub.notebooks[0]
    for name, value in scores.items():
        auto, manual = value if isinstance(value, tuple) else (value, None)
        grade = gb.find_grade(name, nb.name, assignment, student)
        grade.auto_score, grade.manual_score = auto, manual
    gb.db.commit()
    if late:
        assert sub.total_seconds_late == 30 * 3600
        nb.late_submission_penalty = _late_policy(late).late_submission_penalty(student, nb.score,
                                                                                sub.total_seconds_late)
        gb.db.commit()


@pytest.fixture
def course(tmp_path):
    """A course directory whose gradebook holds two assignments and four students (see ``SCORES``)."""
    from nbgrader.api import Gradebook

    from autograder.classroom.gradebook import _quiet, fast_gradebooks

    fast_gradebooks()  # no ``alembic heads`` subprocess for the new gradebook
    jan = datetime.datetime(2026, 1, 10, 12, 0)
    with _quiet(), Gradebook(f"sqlite:///{tmp_path}/gradebook.db") as gb:
        _cells(gb, "01_layers", "01_layers", {"a": 3, "b": 2}, jan)
        _cells(gb, "02_modules", "02_modules", {"c": 4}, jan + datetime.timedelta(days=7))
        gb.update_or_create_student(ANN, first_name="Ann", last_name="Lee", email="ann@uni.example")
        gb.update_or_create_student(BO, first_name="Bo", last_name="Ma", email="bo@uni.example", lms_user_id="77")
        gb.update_or_create_student(CY, first_name="Cy", last_name="Ng")
        gb.update_or_create_student(DEE)
        _submit(gb, "01_layers", ANN, {"a": 3, "b": 2})
        _submit(gb, "02_modules", ANN, {"c": 4})
        _submit(gb, "01_layers", BO, {"a": (0, 2.5), "b": 2})
        _submit(gb, "02_modules", BO, {"c": 2})
        _submit(gb, "01_layers", CY, {"a": 3, "b": 2}, late="zero")
        _submit(gb, "02_modules", CY, {"c": 4}, late="a point a day")
        _submit(gb, "01_layers", DEE, {"a": 1, "b": 0}, late="a point a day")
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffstudent_id,name,email,lms_user_id,sis_user_id,sis_login_id,section,id_number,notes\n"
                      f"{ANN},,,,S-1,ann.lee,Sec A,M-1,ignored\n"
                      f"{DEE},\"=HYPERLINK(1), Dee\",dee@uni.example,5004,S-4,dee.s,Sec B,M-4,\n"
                      f"{EVE},Eve Park,eve@uni.example,,,,,,\n", encoding="utf-8")
    return tmp_path, roster


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _export(kind, course, tmp_path, *extra):
    from autograder.cli import main

    out = tmp_path / f"{kind}.csv"
    assert main(["export", kind, "--to", str(out), "--course", str(course[0]), "--roster", str(course[1]),
                 *extra]) == 0
    return _read(out)


def test_canvas(course, tmp_path):
    rows = _export("canvas", course, tmp_path, "--canvas-id", "01_layers=4411")
    assert rows[0] == CANVAS_HEADER
    assert rows[1] == ["Points Possible", "", "", "", "", "5", "4"]
    by_id = {r[1] or r[0]: r for r in rows[2:]}
    assert by_id[ANN][:5] == ["Lee, Ann", ANN, "S-1", "ann.lee", "Sec A"]  # all-digit id: its own Canvas id
    assert by_id["77"][:5] == ["Ma, Bo", "77", "", "", ""]                 # the gradebook's lms_user_id
    assert by_id["5004"][:5] == ["'=HYPERLINK(1), Dee", "5004", "S-4", "dee.s", "Sec B"]  # roster; as text
    assert by_id[EVE][:1] == ["Park, Eve"]                                 # a roster row added the student
    for student, lms in ((ANN, ANN), (BO, "77"), (CY, CY), (DEE, "5004"), (EVE, EVE)):
        assert by_id[lms][5:] == SCORES[student], student
    assert len(rows) == 2 + len(SCORES)


def test_moodle(course, tmp_path):
    rows = _export("moodle", course, tmp_path)
    assert rows[0] == MOODLE_HEADER
    by_email = {r[3]: r for r in rows[1:]}
    assert by_email["ann@uni.example"][:3] == ["Ann", "Lee", "M-1"]
    assert by_email["dee@uni.example"][:3] == ["Dee", "'=HYPERLINK(1)", "M-4"]
    assert by_email[""][:3] == ["Cy", "Ng", ""]  # no email, no ID number: Moodle cannot place Cy (the teacher sees it)
    emails = {ANN: "ann@uni.example", BO: "bo@uni.example", CY: "", DEE: "dee@uni.example", EVE: "eve@uni.example"}
    for student, email in emails.items():
        assert by_email[email][4:] == SCORES[student], student
    assert len(rows) == 1 + len(SCORES)


def test_csv_is_nbgraders_own(course, tmp_path):
    """``export csv`` has nbgrader's columns and values, and its scores are the ones the LMS files carry."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    rows = _export("csv", course, tmp_path)
    assert rows[0] == NBGRADER_HEADER
    ours = {(r[0], r[3]): r for r in rows[1:]}
    assert ours[("01_layers", DEE)][4] == "'=HYPERLINK(1)"
    theirs_path = tmp_path / "nbgrader.csv"
    with Gradebook(f"sqlite:///{course[0]}/gradebook.db") as gb:
        CsvExportPlugin(to=str(theirs_path)).export(gb)
    theirs = _read(theirs_path)
    assert theirs[0] == NBGRADER_HEADER
    for r in theirs[1:]:
        mine = ours[(r[0], r[3])]
        assert [float(x) for x in mine[7:]] == [float(x) for x in r[7:]], r
        column = ["01_layers", "02_modules"].index(r[0])
        assert SCORES[r[3]][column] in ("", f"{float(r[9]):g}")  # the LMS files: nbgrader's score, or empty
    assert len(theirs) == len(rows)


def test_nbgrader_export_command(course, monkeypatch):
    """The plugin as nbgrader's own command runs it: ``nbgrader export --exporter=... --to ...``; the roster's
    ids that the gradebook has no column for come from ``--LmsExportPlugin.roster``."""
    from nbgrader.apps.exportapp import ExportApp

    root, roster = course
    monkeypatch.chdir(root)
    app = ExportApp()
    app.initialize(["--exporter=autograder.export.lms.MoodleExportPlugin", "--to", "m.csv", f"--CourseDirectory.root={root}",
                    f"--LmsExportPlugin.roster={roster}", "--assignment", "02_modules"])
    app.start()
    rows = _read(root / "m.csv")
    assert rows[0] == MOODLE_HEADER[:4] + ["02_modules"]
    assert {r[3]: r[2:] for r in rows[1:]}["ann@uni.example"] == ["M-1", "ann@uni.example", SCORES[ANN][1]]


def test_nbgrader_export_canvas_ids(course, monkeypatch):
    """Canvas's assignment ids through nbgrader's command line (a Dict trait: ``NAME=ID``)."""
    from nbgrader.apps.exportapp import ExportApp

    root, roster = course
    monkeypatch.chdir(root)
    app = ExportApp()
    app.initialize(["--exporter=autograder.export.lms.CanvasExportPlugin", "--to", "c.csv", f"--CourseDirectory.root={root}",
                    "--CanvasExportPlugin.assignment_ids", "01_layers=4411", f"--LmsExportPlugin.roster={roster}"])
    app.start()
    rows = _read(root / "c.csv")
    assert rows[0] == CANVAS_HEADER
    assert {r[1]: r for r in rows[2:]}[ANN] == ["Lee, Ann", ANN, "S-1", "ann.lee", "Sec A"] + SCORES[ANN]


def test_no_gradebook(tmp_path, capsys):
    from autograder.cli import main

    assert main(["export", "moodle", "--to", str(tmp_path / "m.csv"), "--course", str(tmp_path)]) == 2
    assert "no gradebook" in capsys.readouterr().err
    assert not (tmp_path / "gradebook.db").exists()


def test_unreadable_roster(course, tmp_path, capsys):
    from autograder.cli import main

    bad = tmp_path / "latin1.csv"
    bad.write_bytes("student_id,name\n1001,Ren\xe9\n".encode("latin-1"))
    for roster in (bad, tmp_path / "missing.csv"):
        assert main(["export", "canvas", "--to", str(tmp_path / "c.csv"), "--course", str(course[0]),
                     "--roster", str(roster)]) == 2
        assert "cannot read the roster" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()


def test_roster_names():
    from autograder.export.lms import split_name
    assert split_name("Doe, Jane") == ("Jane", "Doe")
    assert split_name("Jane van Doe") == ("Jane van", "Doe")
    assert split_name("Plato") == ("", "Plato")
