"""Submissions in the folder layouts instructors download: found with the right ids, or refused loudly.

Moodle's "Download all submissions" gives a folder per student
(``<Full Name>_<participant id>_assignsubmission_file_/``), Canvas's flat files
(``<name>[_LATE]_<user id>_<submission id>_<file>``); the LMS id becomes the
student's id (what an LMS import matches on), the name is kept in the note. A
folder in which no layout finds a student is an error listing what it holds,
and ``grade-all`` exits 2 on it before anything is written.
"""
import subprocess
import sys

import pytest

from autograder.assignments import ROOT, GradingError
from autograder.classroom.students import discover

A = "01_layers"


def test_moodle_download(tmp_path):
    for folder, files in {"Jane Smith_123456_assignsubmission_file_": ["01_layers.ipynb"],
                          "Bo Li_777_assignsubmission_file_": [],
                          "Ann O'Neil_31_assignsubmission_file_": ["my work.ipynb"]}.items():
        (tmp_path / folder).mkdir()
        for f in files:
            (tmp_path / folder / f).write_text("{}")
    got = {s: (p and p.name, n) for s, p, n in discover(A, tmp_path)}
    assert set(got) == {"123456", "777", "31"}
    assert got["123456"] == ("01_layers.ipynb", "Moodle: Jane Smith (participant 123456)")
    assert got["777"][0] is None and "no notebook" in got["777"][1] and "Bo Li" in got["777"][1]
    assert got["31"][0] == "my work.ipynb" and "named my work.ipynb" in got["31"][1]


def test_canvas_download(tmp_path):
    for name in ("smithjane_12345_67890_01_layers.ipynb", "libo_LATE_222_333_01_layers-1.ipynb"):
        (tmp_path / name).write_text("{}")
    got = {s: (p and p.name, n) for s, p, n in discover(A, tmp_path)}
    assert got == {"12345": ("smithjane_12345_67890_01_layers.ipynb", "Canvas: smithjane (user 12345)"),
                   "222": ("libo_LATE_222_333_01_layers-1.ipynb", "Canvas: libo (user 222); Canvas marked it late")}


def test_a_folder_without_submissions_is_an_error_that_lists_it(tmp_path):
    download = tmp_path / "download"
    (download / "notes").mkdir(parents=True)
    (download / "notes" / "todo.txt").write_text("")
    with pytest.raises(GradingError, match="no submissions found .* it holds notes/"):
        discover(A, download)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", A, str(download), "--out",
                           str(tmp_path / "course"), "--unsafe"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "notes/" in proc.stderr and len(proc.stderr.splitlines()) <= 5, proc.stderr
    assert not (tmp_path / "course").exists(), "something was written before the refusal"


def test_a_timestamp_counts_only_in_its_own_submission_folder(tmp_path):
    """nbgrader's ``<student>/<assignment>/timestamp.txt`` travels into the course with its notebook; one lying
    in a flat class folder belongs to nobody, and would give every student its date (a late penalty for all,
    or none for anyone)."""
    from autograder.classroom.batch import _file_in

    stamp = "2020-01-01 00:00:00.000000 UTC"
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("ann", "bob"):
        (flat / f"{name}.ipynb").write_text("{}")
    (flat / "timestamp.txt").write_text(stamp)
    own = tmp_path / "submitted-elsewhere" / "cy" / A
    own.mkdir(parents=True)
    (own / f"{A}.ipynb").write_text("{}")
    (own / "timestamp.txt").write_text(stamp)
    out = tmp_path / "course"
    for student, path in (("ann", flat / "ann.ipynb"), ("bob", flat / "bob.ipynb"), ("cy", own / f"{A}.ipynb")):
        _file_in(out, A, student, path, b"{}")
    assert not (out / "submitted" / "ann" / A / "timestamp.txt").exists()
    assert not (out / "submitted" / "bob" / A / "timestamp.txt").exists()
    assert (out / "submitted" / "cy" / A / "timestamp.txt").read_text() == stamp


def test_two_students_recorded_under_one_name_are_both_refused(tmp_path):
    """``ann?`` is recorded as ``ann_-<digest>``; a student who names a file exactly that must not take ann's
    place (red team 2: the first file was dropped without a word): neither is graded, and the note names both."""
    from autograder.classroom.students import student_name

    odd = "ann?"
    safe, _ = student_name(odd)
    (tmp_path / f"{odd}.ipynb").write_text("{}")
    (tmp_path / f"{safe}.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    got = {s: (p, n) for s, p, n in discover(A, tmp_path)}
    assert set(got) == {safe, "bob"}
    path, note = got[safe]
    assert path is None and "'ann?'" in note and repr(safe) in note
    assert got["bob"][0] is not None
