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
