"""`make student-release`: one folder a student gets, holding nothing an instructor keeps private.

Built once with the fast book (``make book-fast``; ``make test`` builds it first)
in place of the full one, into a temporary folder; local-only (``LOCAL_ONLY=1``)
where pyproject.toml sets no package location (the check that refuses it
otherwise: tests/test_student_release_check.py).
"""
import subprocess
import zipfile

import pytest

from autograder.assignments import ROOT, graded_cells, names, read_notebook, release_path, source_path
from autograder.authoring.release import PACKAGE_TOKEN, package_location
from autograder.authoring.student_release import placeholder
from test_book_render import HTML

pytestmark = pytest.mark.slow  # builds the wheel and needs the fast book (make book-fast)

PRIVATE = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML.relative_to(ROOT)}: run `make book-fast` first")
    out = tmp_path_factory.mktemp("student") / "release"
    dist = tmp_path_factory.mktemp("dist")
    local = ["LOCAL_ONLY=1"] if placeholder(package_location()) else []
    run = subprocess.run(["make", "-s", "student-release", f"STUDENT_RELEASE={out}", f"BOOK_HTML={HTML}",
                          f"DIST={dist}", *local], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"make student-release failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    return out


def hidden_lines(assignment):
    """The test calls that only the solution's hidden-test regions hold."""
    out, inside = [], False
    for cell in graded_cells(read_notebook(source_path(assignment))):
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and line.strip():
                out.append(line.strip())
    return out


def test_release_holds_exercises_book_wheel_and_readme(release):
    """Exactly the released exercises (byte for byte), the book, one wheel, the students' README and the learner
    settings its `jupyter lab` command uses (learner/jupyter as jupyter/, the news pop-up off)."""
    assert sorted(p.name for p in release.iterdir() if not p.name.endswith(".whl")) == \
        ["README.md", "book", "exercises", "jupyter"]
    settings = sorted(p.relative_to(ROOT / "learner" / "jupyter").as_posix()
                      for p in (ROOT / "learner" / "jupyter").rglob("*") if p.is_file())
    assert settings and sorted(p.relative_to(release / "jupyter").as_posix()
                               for p in (release / "jupyter").rglob("*") if p.is_file()) == settings
    for rel in settings:
        assert (release / "jupyter" / rel).read_bytes() == (ROOT / "learner" / "jupyter" / rel).read_bytes()
    assert "announcements" in (release / "jupyter" / "labconfig" / "page_config.json").read_text()
    assert "JUPYTER_CONFIG_PATH=jupyter jupyter lab" in (release / "README.md").read_text()
    assert len(list(release.glob("building_a_wavenet-*.whl"))) == 1
    assert (release / "README.md").read_text() == (ROOT / "learner" / "README.md").read_text()
    assert (release / "book" / "index.html").is_file() and (release / "book" / "book" / "01_mlp_recap.html").is_file()
    found = sorted(p.relative_to(release / "exercises").as_posix() for p in (release / "exercises").rglob("*") if p.is_file())
    assert found == [f"{a}/{a}.ipynb" for a in names()]
    for a in names():
        assert (release / "exercises" / a / f"{a}.ipynb").read_bytes() == release_path(a).read_bytes()


def test_release_holds_nothing_private(release):
    """No file (the wheel's members included) holds a solution or hidden-test region, a hidden test's call,
    or comes from solutions/, tests/ or autograder/."""
    hidden = [line for a in names() for line in hidden_lines(a)]
    assert hidden, "the solutions have hidden tests: this test must look for them"
    texts = {}
    for path in release.rglob("*"):
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    assert name.split("/")[0] not in ("autograder", "solutions", "tests"), name
                    texts[f"{path.name}:{name}"] = z.read(name).decode(errors="replace")
        elif path.is_file():
            texts[str(path.relative_to(release))] = path.read_text(errors="replace")
    for where, body in texts.items():
        for marker in PRIVATE + tuple(hidden):
            assert marker not in body, f"{where} holds {marker!r}"


def test_release_holds_no_placeholder_location(release):
    """No exercise of the release names the source's placeholder; each names pyproject.toml's location."""
    for a in names():
        path = release / "exercises" / a / f"{a}.ipynb"
        assert PACKAGE_TOKEN not in path.read_text(), a
        setup = next(c for c in read_notebook(path).cells if c.get("id") == "setup")
        assert f'PACKAGE = "{package_location()}"' in setup.source, a
