"""``make student-release`` refuses a release whose exercises would send Colab users nowhere: an unset package
location, or exercises that name another location than pyproject.toml (``autograder/authoring/student_release.py``)."""
import subprocess

import pytest

from autograder.authoring import student_release
from autograder.assignments import ROOT, names
from autograder.authoring.release import PACKAGE_TOKEN


@pytest.mark.parametrize("location, is_placeholder", [("", True), ("  ", True), (PACKAGE_TOKEN, True),
                                                      ("https://example.org/building_a_wavenet-1.0.0-py3-none-any.whl",
                                                       False)])
def test_placeholder(location, is_placeholder):
    assert student_release.placeholder(location) is is_placeholder


def test_an_unset_location_is_refused_unless_local_only(monkeypatch):
    """An empty location stops the release, with one error naming what to set; LOCAL_ONLY lets it through."""
    monkeypatch.setattr(student_release, "package_location", lambda: "")
    found = student_release.problems(local_only=False)
    assert any("package-location" in p and "LOCAL_ONLY=1" in p and "pyproject.toml" in p for p in found), found
    assert not [p for p in student_release.problems(local_only=True) if "package-location in" in p]


def test_exercises_that_name_another_location_are_stale(monkeypatch):
    """A location set in pyproject.toml but not yet written into the exercises: each one is named, with the fix."""
    monkeypatch.setattr(student_release, "package_location", lambda: "https://example.org/w.whl")
    found = student_release.problems(local_only=False)
    assert len(found) == len(names()) and all("stale, run `make exercises`" in p for p in found), found


def test_make_student_release_refuses_before_building_anything(tmp_path):
    """With the repository's location (empty until an instructor sets it), `make student-release` stops at the
    check, before the wheel or the book is built, and says what to set; exit status non-zero, no release."""
    if not student_release.placeholder(student_release.package_location()):
        pytest.skip("pyproject.toml sets a package location: this repository's release is not refused")
    out = tmp_path / "release"
    run = subprocess.run(["make", "-s", "student-release", f"STUDENT_RELEASE={out}", f"BOOK_HTML={tmp_path}",
                          f"DIST={tmp_path / 'dist'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and not out.exists() and not (tmp_path / "dist").exists(), run.stdout + run.stderr
    assert "package-location" in run.stderr and "LOCAL_ONLY=1" in run.stderr, run.stderr
