"""The submission folder is the students' too: links, FIFOs, devices and odd names in it (the hostile review's
holes 5, 5b, 6 and 7, taken over from ``tests/test_attacks_extra.py``).

- HOLE 5: a link to another student's notebook must not get that student's grade, and a link to a file of
  the grader's must not show its first bytes (nbformat quotes them) in a record, the CSV or a feedback page;
- HOLE 5b: a FIFO blocks a reader forever and ``/dev/zero`` never ends: both are a record saying what they
  are, and the batch goes on;
- HOLE 6: a student's name (a file or folder name) that a spreadsheet runs as a formula is text in
  ``grades.csv``, as OWASP recommends (a leading ``'`` for cells starting with ``= + - @``, tab or CR);
- HOLE 7: a student named like the grader's own folders (``course``) or with escape sequences in the name
  does not stop the batch, and the escapes never reach the teacher's terminal;
- issue 18, hole 2: ``bob.0.ipynb`` next to ``bob.ipynb`` (both student ``bob``) does not silently decide
  bob's grade: two notebooks of one student are refused, naming both.

Most of it is discovery and CSV code, tested directly and quickly. One module fixture runs the real
``grade-all`` once on a flat class where no file needs a kernel (every notebook is empty or a link), and
one runs the Python ``grade_all`` on nbgrader's layout where every entry is refused before any grading.
"""
import csv
import json
import os
import stat
import subprocess
import sys

import pytest

from autograder.assignments import ROOT
from autograder.classroom.batch import grade_all
from autograder.classroom.gradebook import write_csv
from autograder.records import Record
from autograder.safe_io import read_regular
from autograder.classroom.students import discover, student_name
import submissions as S
from batch_cli import feedback_page, grades_csv, gradebook_url, results_dir  # noqa: F401  (grade-all's layout)

FC = S.FC
SECRET = "s3cr3t-0f-the-grader-7f1d"
ESC = "x\x1b]0;PWNED\x07\x1b[2Jy"        # a title change and a screen clear
FORMULA = "=HYPERLINK(1+2)"


def _device(path):
    """A character device like /dev/null at ``path`` (needs root); ``False`` where it cannot be made."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return True
    except OSError:
        return False


def _texts(out):
    """Every file grade-all wrote, as text (records and CSV decoded, so quoting hides nothing)."""
    texts = {str(p): p.read_text(errors="replace") for p in out.rglob("*.html")}
    for p in results_dir(out).glob("*.json"):
        texts[str(p)] = json.dumps(json.loads(p.read_text()), ensure_ascii=False)
    with open(grades_csv(out), newline="") as f:
        texts["grades.csv"] = "\n".join(c for row in csv.reader(f) for c in row)
    return texts


def _formulas(csv_path):
    with open(csv_path, newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    return [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- the real command line, once

@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """grade-all (a local cluster of one worker) on a flat class of empty notebooks, links and a FIFO."""
    tmp = tmp_path_factory.mktemp("flat")
    secret = tmp / "grader-secret.txt"  # a file only the grader should ever read
    secret.write_text(SECRET + "\n")
    folder = tmp / "in"
    folder.mkdir()
    (folder / "z_honest.ipynb").write_bytes(S.dumps(S.solved(FC))[:40])  # cut short: an error, no kernel
    for name in ("course", "results", "zoe", ESC, FORMULA):
        (folder / f"{name}.ipynb").write_bytes(b"")  # empty: not graded, no kernel needed
    (folder / "l_link_to_honest.ipynb").symlink_to("z_honest.ipynb")
    (folder / "bob.ipynb").write_bytes(b"")  # bob's own (empty), and a full solution under a name bob's too:
    (folder / "bob.0.ipynb").write_bytes(S.dumps(S.solved(FC)))  # refused unread, so no kernel
    (folder / "l_link_to_secret.ipynb").symlink_to(secret)
    (folder / "l_link_to_zero.ipynb").symlink_to("/dev/zero")
    os.mkfifo(folder / "f_fifo.ipynb")
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", FC, str(folder), "--out", str(out),
                           "--workers", "1", "--json"], cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, timeout=600)
    records = {p.stem: json.loads(p.read_text()) for p in results_dir(out).glob("*.json")}
    return proc, records, out


@pytest.mark.sandbox
def test_links_are_not_followed(flat):
    """HOLE 5: a link to another student's notebook or to a grader's file is an error saying it is a link; the
    file it points to is never read, so its bytes are nowhere in what grade-all wrote."""
    proc, records, out = flat
    assert proc.returncode == 0, proc.stderr[-1500:]
    for s in ("l_link_to_honest", "l_link_to_secret", "l_link_to_zero"):
        rec = records[s]
        assert (rec["status"], rec["score"], rec["sha256"]) == ("error", 0.0, None), rec
        assert "is a link" in rec["reason"], rec["reason"]
    leaks = [where for where, text in _texts(out).items() if SECRET in text]
    assert not leaks, leaks


@pytest.mark.sandbox
def test_a_fifo_is_a_record_and_the_batch_goes_on(flat):
    """HOLE 5b (flat layout): a FIFO is not opened for reading (that would block the batch); it is an error."""
    proc, records, _ = flat
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "is a FIFO" in records["f_fifo"]["reason"] and records["f_fifo"]["status"] == "error"


@pytest.mark.sandbox
def test_names_cannot_stop_the_batch_or_reach_the_terminal(flat):
    """HOLE 7: students named like the grader's folders are graded like anyone; a name with escape sequences
    gets a printable name, and nothing grade-all prints carries an escape."""
    proc, records, _ = flat
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert {"course", "results", "zoe", "z_honest"} <= set(records), sorted(records)
    assert records["course"]["status"] == "error" and "is empty" in records["course"]["reason"]
    renamed = [s for s in records if s.startswith("x__0;PWNED")]  # control and glob characters become _
    assert len(renamed) == 1 and "cannot be used as is" in records[renamed[0]]["reason"], sorted(records)
    assert b"\x1b" not in proc.stderr + proc.stdout, "a file name's escape sequences reach the terminal"
    listed = [r["student"] for r in json.loads(proc.stdout)]
    assert sorted(listed) == sorted(records), "a student without a record, or one listed twice"


@pytest.mark.sandbox
def test_two_notebooks_of_one_student_are_refused(flat):
    """Issue 18, hole 2: bob.0.ipynb next to bob.ipynb: bob gets an error naming both files, no grade."""
    proc, records, _ = flat
    assert proc.returncode == 0, proc.stderr[-1500:]
    rec = records["bob"]
    assert (rec["status"], rec["score"], rec["sha256"]) == ("error", 0.0, None), rec
    assert "several files are bob's (bob.0.ipynb, bob.ipynb)" in rec["reason"], rec["reason"]
    assert [r["student"] for r in json.loads(proc.stdout)].count("bob") == 1


def test_one_notebook_among_other_files_is_graded_with_a_note(tmp_path):
    """Issue 18, hole 2: one .ipynb among a student's other files is the one graded, and the note names the
    others; two non-notebooks without a notebook are refused like two notebooks."""
    for name in ("amy.ipynb", "amy.txt", "amy.0.txt", "cy.0.txt", "cy.txt", "di.ipynb", "di.1.ipynb", "di.txt"):
        (tmp_path / name).write_text("{}")
    got = {s: (p and p.name, n) for s, p, n in discover(FC, tmp_path)}
    assert got["amy"] == ("amy.ipynb", "graded amy.ipynb; ignored amy.0.txt, amy.txt")
    assert got["cy"] == (None, "several files are cy's (cy.0.txt, cy.txt), so none was graded: hand in one "
                               "notebook named cy.ipynb")
    assert got["di"][0] is None and "(di.1.ipynb, di.ipynb, di.txt)" in got["di"][1]


@pytest.mark.sandbox
def test_the_csv_has_no_formula_cells(flat):
    """HOLE 6: the student named by a formula and the reason that quotes the file name are text cells."""
    _, records, out = flat
    assert FORMULA in records, sorted(records)
    assert not _formulas(grades_csv(out))
    with open(grades_csv(out), newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["'" + FORMULA]["reason"].startswith("'" + FORMULA)


# ---------------------------------------------------------------- nbgrader's layout, refused before grading

@pytest.fixture(scope="module")
def nbgrader_layout(tmp_path_factory):
    """grade_all on submitted/<student>/<assignment>/ where no entry may be read: nothing reaches a worker."""
    tmp = tmp_path_factory.mktemp("nbgrader")
    sub = tmp / "course" / "submitted"
    (tmp / "elsewhere" / FC).mkdir(parents=True)
    (tmp / "elsewhere" / FC / f"{FC}.ipynb").write_bytes(S.dumps(S.solved(FC)))
    for s in ("a_zero", "b_fifo", "c_device", "d_link_nb"):
        (sub / s / FC).mkdir(parents=True)
    (sub / "a_zero" / FC / "mine.ipynb").symlink_to("/dev/zero")
    os.mkfifo(sub / "b_fifo" / FC / f"{FC}.ipynb")
    device = _device(sub / "c_device" / FC / f"{FC}.ipynb")
    (sub / "d_link_nb" / FC / f"{FC}.ipynb").symlink_to(tmp / "elsewhere" / FC / f"{FC}.ipynb")
    (sub / "e_link_student").symlink_to(tmp / "elsewhere")            # a whole student folder
    (sub / "f_link_assignment").mkdir()
    (sub / "f_link_assignment" / FC).symlink_to(tmp / "elsewhere" / FC)  # the assignment folder
    (sub / FORMULA / FC).mkdir(parents=True)
    os.mkfifo(sub / FORMULA / FC / f"{FC}.ipynb")
    records = grade_all(FC, tmp / "course", out=tmp / "out", quiet=True)
    return {r.student: r for r in records}, tmp / "out", device


@pytest.mark.sandbox
def test_special_files_and_links_in_nbgrader_layout(nbgrader_layout):
    """HOLE 5b: a link to /dev/zero, a FIFO, a device, a link to a notebook, a student folder or an assignment
    folder that is a link: each is a record saying what it is, and none was read (the batch did not block)."""
    records, out, device = nbgrader_layout
    want = {"a_zero": "is a link", "b_fifo": "is a FIFO", "d_link_nb": "is a link", "e_link_student": "is a link",
            "f_link_assignment": "is a link"}
    if device:
        want["c_device"] = "is a device"
    for s, words in want.items():
        assert (records[s].status, records[s].score, records[s].sha256) == ("error", 0.0, None), records[s]
        assert words in records[s].reason, (s, records[s].reason)
    assert {p.stem for p in results_dir(out).glob("*.json")} == set(records)


@pytest.mark.sandbox
def test_nbgrader_layout_csv_has_no_formula_cells(nbgrader_layout):
    """HOLE 6: a student folder named by a formula is text in grades.csv."""
    records, out, _ = nbgrader_layout
    assert FORMULA in records
    assert not _formulas(grades_csv(out))


# ---------------------------------------------------------------- fast checks, no grading

def test_discover_gives_paths_only_for_regular_files(tmp_path):
    """A path is given for a regular file only; a link, a FIFO or a device in its place is a note instead."""
    (tmp_path / "amy.ipynb").write_text("{}")
    (tmp_path / "ben.ipynb").symlink_to(tmp_path / "amy.ipynb")
    os.mkfifo(tmp_path / "cy.ipynb")
    device = _device(tmp_path / "di.ipynb")
    found = {s: (p, n) for s, p, n in discover(FC, tmp_path)}
    assert found["amy"] == (tmp_path / "amy.ipynb", "")
    assert found["ben"][0] is None and "ben.ipynb is a link" in found["ben"][1]
    assert found["cy"][0] is None and "cy.ipynb is a FIFO" in found["cy"][1]
    if device:
        assert found["di"][0] is None and "di.ipynb is a device" in found["di"][1]


def test_read_regular_refuses_links_fifos_and_devices(tmp_path):
    """The grader's one way to read a submission: never a link, never blocks, never more than the limit + 1."""
    (tmp_path / "nb.ipynb").write_bytes(b"x" * 100)
    assert read_regular(tmp_path / "nb.ipynb", 10) == b"x" * 11
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "nb.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    for bad in (tmp_path / "link.ipynb", tmp_path / "fifo.ipynb", "/dev/zero"):
        with pytest.raises(OSError):
            read_regular(bad, 10)


@pytest.mark.parametrize("raw", [ESC, "a" * 300, "bad\udcff", " padded ", "two\nlines", "tab\there"])
def test_odd_names_become_safe_names(raw):
    """A name with control characters, undecodable bytes, outer spaces or 300 characters is replaced by a
    printable one of at most 109 characters, with a note naming the original."""
    name, note = student_name(raw)
    assert name != raw and name.isprintable() and len(name) <= 109 and name == name.strip()
    assert ascii(raw) in note and name in note
    name.encode("utf-8")  # a file name, a CSV cell and a gradebook row take it


def test_safe_names_stay_distinct_and_plain_names_unchanged():
    assert student_name("alice")[0] == "alice" and student_name("=HYPERLINK(1+2)") == ("=HYPERLINK(1+2)", "")
    assert student_name("a\x1bb")[0] != student_name("a\x07b")[0], "two odd names became one student"


def test_csv_cells_never_start_a_formula(tmp_path):
    """OWASP's rule for CSV injection: text starting with = + - @ tab or CR gets a leading ', numbers stay numbers,
    and control characters in a cell are shown as ?."""
    recs = [Record(s, FC, reason=s, max_score=7.0) for s in ("=1+2", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx")]
    recs.append(Record("ok", FC, reason="fine \x1b[2J", max_score=7.0, score=-1.0))
    write_csv(tmp_path / "grades.csv", recs, ["test_a"])
    assert not _formulas(tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows[:4]] == ["'=1+2", "'+1", "'-cmd", "'@SUM(A1)"]
    assert rows[-1]["score"] == "-1.0" and rows[-1]["reason"] == "fine ?[2J"
