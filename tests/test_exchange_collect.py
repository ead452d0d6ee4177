"""``nbgrader collect`` in the course (``autograder/classroom/exchange.py``'s ``SafeCollect``): what a student
puts into the exchange's ``inbound/`` by hand (a link to the solution, a forged ``timestamp.txt``, a folder
named after someone else) does not reach ``submitted/``; an honest ``nbgrader submit`` does, as before."""
import datetime
import os
import subprocess
import sys

import nbformat
import pytest

from autograder.assignments import source_path
from nbgrader.utils import parse_utc
from test_nbgrader_course import ASSIGNMENT, COURSE_ID, ENV, released_course

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
NOBODY = 65534


def nbgrader(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}"
    return proc


def stamp(when):
    """``when`` (aware) as nbgrader writes a time into a folder name or ``timestamp.txt``."""
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exchange-collect")
    root, exchange = released_course(tmp)
    return {"root": root, "exchange": exchange, "inbound": exchange / COURSE_ID / "inbound", "tmp": tmp}


def submit(course, student):
    """``student`` fetches the release and submits it through the exchange; the notebook's bytes."""
    home = course["tmp"] / "home" / student
    home.mkdir(parents=True)
    exchange = f"--Exchange.root={course['exchange']}"
    nbgrader("fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, exchange, cwd=home)
    nbgrader("submit", ASSIGNMENT, "--course", COURSE_ID, "--student", student, exchange, cwd=home)
    return (home / ASSIGNMENT / NOTEBOOK).read_bytes()


def inbound_folder(course, student, when):
    """A folder of ``student`` made by hand in the exchange's ``inbound/``, named with the time ``when``."""
    folder = course["inbound"] / f"{student}+{ASSIGNMENT}+{stamp(when)}+forged"
    folder.mkdir()
    return folder


def collect(course, student):
    return nbgrader("collect", ASSIGNMENT, "--student", student, cwd=course["root"])


def collected(course, student):
    return course["root"] / "submitted" / student / ASSIGNMENT


def collected_time(course, student):
    return parse_utc((collected(course, student) / "timestamp.txt").read_text())


def test_an_honest_submission_is_collected(course):
    """`nbgrader submit` then `collect`: the student's notebook, with the time it reached the exchange."""
    notebook = submit(course, "honest")
    collect(course, "honest")
    assert (collected(course, "honest") / NOTEBOOK).read_bytes() == notebook
    assert abs(collected_time(course, "honest") - parse_utc(stamp(now()))) < datetime.timedelta(minutes=1)


def test_a_link_to_the_solution_is_refused(course):
    """A notebook in the inbound folder that links to the solution: nothing of the folder is collected, and
    the log names the student and the link."""
    folder = inbound_folder(course, "linker", now())
    (folder / NOTEBOOK).symlink_to(source_path(ASSIGNMENT))
    (folder / "timestamp.txt").write_text(stamp(now()))
    proc = collect(course, "linker")
    assert not (course["root"] / "submitted" / "linker").exists()
    assert "linker" in proc.stderr and f"{folder / NOTEBOOK} is a link" in proc.stderr, proc.stderr


def test_a_forged_timestamp_is_replaced_by_the_exchange_time(course):
    """A folder (and its timestamp.txt) dated two days early: the collected timestamp.txt holds the time the
    folder reached the exchange (now), and the log says the two disagree."""
    early = now() - datetime.timedelta(days=2)
    folder = inbound_folder(course, "forger", early)
    nbformat.write(nbformat.v4.new_notebook(), str(folder / NOTEBOOK))
    (folder / "timestamp.txt").write_text(stamp(early))
    proc = collect(course, "forger")
    assert (collected(course, "forger") / NOTEBOOK).read_bytes() == (folder / NOTEBOOK).read_bytes()
    assert abs(collected_time(course, "forger") - parse_utc(stamp(now()))) < datetime.timedelta(minutes=1)
    assert "which is what late penalties use" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder of another user needs root")
def test_a_folder_of_another_user_named_after_a_student_is_refused(course):
    """The victim submits; another user (uid 65534) then puts a later folder named after the victim into
    inbound/: the victim's own submission is collected, and the log names the owner and the student."""
    notebook = submit(course, "victim")
    folder = inbound_folder(course, "victim", now() + datetime.timedelta(hours=1))
    nbformat.write(nbformat.v4.new_notebook(), str(folder / NOTEBOOK))
    for path in (folder, folder / NOTEBOOK):
        os.chown(path, NOBODY, NOBODY)
    proc = collect(course, "victim")
    assert (collected(course, "victim") / NOTEBOOK).read_bytes() == notebook
    owner = proc.stderr.split("owned by ", 1)[-1]
    assert str(folder) in proc.stderr and owner.startswith(("nobody", f"uid {NOBODY}")), proc.stderr
    assert "not by the student it names (victim)" in proc.stderr, proc.stderr
