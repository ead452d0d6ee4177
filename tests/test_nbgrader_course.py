"""nbgrader's own commands grade with the course's judge, in one course directory.

One class goes the way an instructor on a hub sends it: ``generate_assignment``,
``release_assignment`` to an exchange, each student ``fetch_assignment`` and
``submit --student``, then ``collect``. The collected ``submitted/`` folder is
graded twice: by plain ``nbgrader autograde`` in the course directory (its
``nbgrader_config.py`` names the course's pipeline), and by ``grade-all`` into
a second course directory. Both must give every student the same points, test
by test: the honest solution everything, the empty release, a notebook whose
``check`` is a ``lambda`` and one with an input transformer nothing, and a
late submission what the course's penalty (``zero``) leaves. The second review's notebook attacks
(``tests/attacks/red2.py``) are handed in through the exchange with them, so both commands grade them. Every
attack of ``tests/attacks`` on exercise 1 also goes through plain ``nbgrader autograde``.
Then nbgrader's feedback, export and a manual grade work on ``grade-all``'s
course as on any nbgrader course.
"""
import csv
import datetime
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import nbformat
import pytest

import attacks as A
from attacks import red2
from attacks.structure import seed_only
from autograder.assignments import ROOT, graded_cells, nbgrader_meta, read_notebook, source_path
from batch_cli import grades_csv, gradebook_url
from nbgrader_cli import COURSE_ID, ENV, LIMITS, export, make_course, nbgrader, points
from submissions import solved

ASSIGNMENT = A.LAYERS
LATE = "late_honest"
RED2 = {"r2_malformed": red2.malformed, "r2_seed_forger": seed_only}  # tests/attacks/red2.py


def students():
    """``{student: notebook}``: what each student hands in."""
    empty = A.release(ASSIGNMENT)
    return {"honest": solved(ASSIGNMENT), "empty": empty,
            "lambda_check": A.insert_after(empty, "setup", 'check = lambda *a, **k: print("passed")'),
            "transformer": A.insert_after(empty, "setup", A.TRANSFORMER), LATE: solved(ASSIGNMENT)}


def released_course(tmp):
    """``(course, exchange)``: a course at ``tmp/course`` that has released exercise 1 into ``tmp/exchange``
    (open to every user, as on a hub)."""
    exchange = tmp / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    root = make_course(tmp / "course", exchange)
    nbgrader("release_assignment", ASSIGNMENT, cwd=root)
    return root, exchange


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbgrader-course")
    plain, exchange = released_course(tmp)
    handed = dict(students(), **{name: nb() for name, nb in RED2.items()})  # the second review's attacks too
    for student, nb in handed.items():  # each student in a folder of their own, as on a hub
        home = tmp / "home" / student
        home.mkdir(parents=True)
        nbgrader("fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, f"--Exchange.root={exchange}", cwd=home)
        nbformat.write(nb, str(home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
        nbgrader("submit", ASSIGNMENT, "--course", COURSE_ID, "--student", student, f"--Exchange.root={exchange}",
                 cwd=home)
    nbgrader("collect", ASSIGNMENT, cwd=plain)
    late = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    (plain / "submitted" / LATE / ASSIGNMENT / "timestamp.txt").write_text(f"{late:%Y-%m-%d %H:%M:%S.%f} UTC")

    # the same collected class, graded by grade-all into a course of its own
    batch = make_course(tmp / "batch", exchange)
    shutil.copytree(plain / "submitted", batch / "submitted")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", ASSIGNMENT, "--out", batch,
                           "--workers", "2", "--json", *LIMITS], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, f"grade-all failed:\n{proc.stderr[-3000:]}"

    # attacks join the plain course's class after collect (they need no exchange to make their point)
    canary = tmp / "canary.txt"
    canary.write_text("the grader's canary\n")
    paths = {"targets": [str(canary), str(plain / "gradebook.db")], "snoop": [str(ROOT / "solutions"), str(plain)],
             "port": 9, "memory_blocks": 8}
    attacks = [name.removesuffix(".ipynb") for name, (_, a) in A.build(paths).items()
               if a == ASSIGNMENT and name.startswith("a_")]
    for name, (data, a) in A.build(paths).items():
        if name.removesuffix(".ipynb") in attacks:
            folder = plain / "submitted" / name.removesuffix(".ipynb") / ASSIGNMENT
            folder.mkdir(parents=True)
            (folder / f"{ASSIGNMENT}.ipynb").write_bytes(data)
    canary_sha = hashlib.sha256(canary.read_bytes()).hexdigest()
    log = nbgrader("autograde", ASSIGNMENT, cwd=plain).stderr
    return {"plain": plain, "batch": batch, "exchange": exchange, "attacks": attacks, "canary": canary,
            "canary_sha": canary_sha, "records": {r["student"]: r for r in json.loads(proc.stdout)}, "log": log}


@pytest.mark.sandbox
def test_no_grading_of_the_class_hung(course):
    """No notebook's run reached the watchdog's hard limit (autograder/notebook/execute.py), which stopped it
    and logged where the grader waited: a run that did is a hang to find, whatever the points say."""
    log = course["log"]
    at = log.find("passed its hard limit")
    assert at < 0, log[max(0, at - 1000):at + 4000]


@pytest.mark.sandbox
def test_plain_nbgrader_autograde_uses_the_judge(course):
    """`nbgrader autograde` in the course directory: the honest solution gets every point, the empty release,
    the `check = lambda` notebook and the input transformer none; the late one loses everything (penalty zero)."""
    full = sum(nbgrader_meta(c)["points"] for c in graded_cells(read_notebook(source_path(ASSIGNMENT))))
    got = export(course["plain"])
    assert float(got["honest"]["score"]) == full
    for student in ("empty", "lambda_check", "transformer"):
        assert float(got[student]["raw_score"]) == 0, f"{student}: {got[student]}"
    assert float(got[LATE]["raw_score"]) == full and float(got[LATE]["late_submission_penalty"]) == full
    assert float(got[LATE]["score"]) == 0


@pytest.mark.sandbox
def test_grade_all_gives_the_same_points_test_by_test(course):
    """grade-all on the same collected folder fills its course's gradebook with the same points, cell by cell,
    and its records and grades.csv agree with `nbgrader export` (late penalty included)."""
    plain, batch = points(course["plain"]), points(course["batch"])
    assert {s: plain[s] for s in batch} == batch
    exported = export(course["batch"])
    with open(grades_csv(course["batch"], ASSIGNMENT)) as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    for student, rec in course["records"].items():
        assert float(rows[student]["score"]) == float(exported[student]["score"]) == rec["score"], student
    assert float(rows[LATE]["late_penalty"]) == float(exported[LATE]["late_submission_penalty"]) > 0


@pytest.mark.sandbox
def test_every_attack_scores_nothing_through_plain_nbgrader(course):
    """Each attack on exercise 1 of tests/attacks, graded by plain `nbgrader autograde`, scores no more than the
    empty exercise (0), and the canary outside the kernel is unchanged."""
    got = export(course["plain"])
    assert course["attacks"], "no attacks were built"
    for name in course["attacks"]:
        assert float(got[name]["raw_score"]) == 0, f"{name}: {got[name]}"
    assert hashlib.sha256(course["canary"].read_bytes()).hexdigest() == course["canary_sha"]


@pytest.mark.sandbox
@pytest.mark.parametrize("how", ["plain", "batch"])
def test_red_team_2_through_plain_nbgrader_and_grade_all(course, how):
    """The second review's notebook attacks, graded by plain `nbgrader autograde` and by grade-all, end as they do
    through `grade`: malformed kernel messages leave an honest notebook every point and no count the kernel
    chose in the judged notebook; structure without values scores 0."""
    got = export(course[how])
    full = sum(nbgrader_meta(c)["points"] for c in graded_cells(read_notebook(source_path(ASSIGNMENT))))
    assert float(got["r2_malformed"]["raw_score"]) == full, got["r2_malformed"]
    judged = course[how] / "autograded" / "r2_malformed" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    counts = [c.get("execution_count") for c in nbformat.read(str(judged), 4).cells if c.cell_type == "code"]
    assert not red2.HUGE.search(judged.read_text()) and all(n is None or n < 1000 for n in counts), counts
    assert float(got["r2_seed_forger"]["raw_score"]) == 0, got["r2_seed_forger"]


@pytest.mark.sandbox
def test_the_class_report_reads_what_plain_nbgrader_judged(course):
    """The class report of the course graded by plain `nbgrader autograde` (no records): each student's failing
    tests carry the course's message, from the Judge's metadata in the judged notebooks."""
    from autograder.export.report import gather, mistakes

    (a,) = gather(course["plain"], [ASSIGNMENT])
    subs = {s.student: s for s in a.submissions}
    failing = {t for t, (got, full) in subs["empty"].tests.items() if got < full}
    assert failing and set(subs["empty"].messages) == failing, subs["empty"].messages
    assert subs["honest"].messages == {}
    assert any("empty" in students for _, _, students in mistakes(a))


@pytest.mark.sandbox
def test_feedback_and_release_feedback_work_on_grade_alls_course(course):
    """grade-all leaves nbgrader's feedback pages in place: `nbgrader release_feedback` sends them to the
    exchange, and `fetch_feedback` gives the student the page, with no hidden test in it."""
    from autograder.assignments import Assignment

    batch = course["batch"]
    nbgrader("release_feedback", ASSIGNMENT, cwd=batch)
    home = course["exchange"].parent / "home" / "honest"
    nbgrader("fetch_feedback", ASSIGNMENT, "--course", COURSE_ID, "--student", "honest",
             f"--Exchange.root={course['exchange']}", cwd=home)
    pages = list((home / ASSIGNMENT / "feedback").rglob("*.html"))
    assert pages, "no feedback fetched"
    text = pages[0].read_text()
    assert "@PACKAGE_LOCATION@" not in text
    for line in Assignment(ASSIGNMENT).hidden_lines:
        assert line not in text


# formgrader's page has fetched its grades and comments and bound its fields (formgrade.js: loadGrades, loadComments)
FORMGRADER_READY = "window.formgrader && formgrader.grades && formgrader.grades.loaded && formgrader.comments.loaded"


class Formgrader:
    """nbgrader's formgrader (a Jupyter server with its extension) on a course directory, as a grader uses it."""

    def __init__(self, root):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={self.port}",
                "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
                f"--ServerApp.root_dir={root}"] + (["--allow-root"] if os.geteuid() == 0 else [])
        self.proc = subprocess.Popen(args, cwd=root, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 90
        while self.get("/api/status")[0] != 200:
            assert self.proc.poll() is None and time.time() < deadline, "formgrader's server did not start"
            time.sleep(0.5)

    def get(self, path):
        return self.call("GET", path)

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except urllib.error.URLError:
            return None, ""

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.mark.sandbox
@pytest.mark.browser
def test_formgrader_shows_judged_notebooks_and_its_manual_grades_reach_every_output(course, browser, tmp_path):
    """Formgrader on grade-all's course, driven in headless Chromium as a grader uses it: the submissions list
    shows the students, a submission opens as the judged notebook (the grader's verdicts in its test cells;
    screenshots kept), its Autograde button grades with the course's pipeline, and a manual score and comment
    typed into the page (saved by formgrader's own JavaScript) reach grades.csv, `nbgrader export` and the
    feedback page."""
    from nbgrader.api import Gradebook

    from test_book_render import SHOTS

    batch = tmp_path / "batch"
    shutil.copytree(course["batch"], batch)
    with Gradebook(gradebook_url(batch)) as gb:
        empty_id = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "empty").id
        honest_id = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "honest").id
    SHOTS.mkdir(parents=True, exist_ok=True)
    fg, page = Formgrader(batch), browser
    try:
        # the submissions list, as formgrader's own JavaScript fills it in
        page.open(f"{fg.base}/formgrader/manage_submissions/{ASSIGNMENT}")
        listed = page.wait(f"document.querySelectorAll('#main-table tr').length >= {len(course['records'])} && "
                           "!document.querySelector('#main-table').innerText.includes('Loading') && "
                           "document.querySelector('#main-table').innerText", what="the submissions list")
        assert all(s in listed for s in course["records"]), listed[:1000]
        page.screenshot(SHOTS / "formgrader-submissions.png")
        # one submission: the judged notebook (the grader's verdict in the test cells)
        page.open(f"{fg.base}/formgrader/submissions/{empty_id}/",
                  ready=FORMGRADER_READY)
        text = page.eval("document.body.innerText")
        assert "CheckFailed" in text and "NotImplementedError" in text, text[:500]
        page.screenshot(SHOTS / "formgrader-submission.png")
        # formgrader's Autograde button: the course's pipeline too (the lambda check scores nothing)
        status, result = fg.call("POST", f"/formgrader/api/submission/{ASSIGNMENT}/lambda_check/autograde", {})
        assert status == 200 and json.loads(result)["success"], result[-2000:]
        with Gradebook(gradebook_url(batch)) as gb:
            assert gb.find_submission(ASSIGNMENT, "lambda_check").score == 0
        # a manual score and a comment, typed into honest's page
        page.open(f"{fg.base}/formgrader/submissions/{honest_id}/",
                  ready=FORMGRADER_READY)
        note = "Tanh by hand: use torch.tanh, not a lookup table"
        commented = page.eval(f"""(() => {{
            $('#test_tanh').val(0).trigger('change');
            const box = document.querySelector('textarea.comment');
            $(box).val({json.dumps(note)}).trigger('change');
            return box.id.replace(/-comment$/, '');
        }})()""")

        def saved():
            grades = {g["name"]: g for g in json.loads(fg.get(f"/formgrader/api/grades?submission_id={honest_id}")[1])}
            comments = {c["name"]: c for c in json.loads(fg.get(f"/formgrader/api/comments?submission_id={honest_id}")[1])}
            return grades["test_tanh"]["manual_score"] == 0 and comments[commented]["manual_comment"] == note

        deadline = time.time() + 30
        while not saved():
            assert time.time() < deadline, "formgrader did not save the score and comment typed into its page"
            time.sleep(0.5)
        page.screenshot(SHOTS / "formgrader-manual-grade.png")
    finally:
        fg.close()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", ASSIGNMENT, "--out", batch,
                           "--workers", "1", "--json", *LIMITS], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    full = sum(nbgrader_meta(c)["points"] for c in graded_cells(read_notebook(source_path(ASSIGNMENT))))
    with open(grades_csv(batch, ASSIGNMENT)) as f:
        row = {r["student"]: r for r in csv.DictReader(f)}["honest"]
    assert float(row["score"]) == float(export(batch)["honest"]["score"]) == full - 1
    assert float(row["test_tanh"]) == 0
    nbgrader("generate_feedback", ASSIGNMENT, "--student", "honest", "--force", cwd=batch)
    page = (batch / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert note in page, "the manual comment is not in the feedback"


WRITTEN = "written_init"  # a written answer, graded by hand (a cell this test's course adds to exercise 1)


@pytest.mark.sandbox
@pytest.mark.browser
def test_a_written_answer_waits_for_a_person_and_its_grade_reaches_export_and_feedback(browser, tmp_path):
    """A course whose source adds a written answer (2 points, graded by hand) to exercise 1: plain `nbgrader
    autograde` flags it for manual grading (the judged tests get their points), formgrader shows it with the
    judged notebook, and the score and comment a grader saves there reach `nbgrader export` and the feedback."""
    from nbformat.v4 import new_code_cell, new_markdown_cell
    from nbgrader.api import Gradebook

    from autograder.assignments import answer_cells
    from test_book_render import SHOTS

    root = make_course(tmp_path / "written", tmp_path / "exchange", source="source",
                       edit=lambda nb: nb.cells.append(new_markdown_cell(
                           "Why are a layer's weights divided by sqrt(fan_in)?\n\n"
                           "So that the outputs keep unit variance.", metadata={"nbgrader": {
                               "grade": True, "solution": True, "locked": False, "task": False, "points": 2,
                               "grade_id": WRITTEN, "schema_version": 3}})))
    handed_in = read_notebook(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in answer_cells(solved(ASSIGNMENT))}
    for c in handed_in.cells:
        gid = nbgrader_meta(c).get("grade_id")
        c.source = answers.get(gid, c.source) if gid != WRITTEN else "To keep each layer's outputs at unit scale."
    # the learner's own cells try to run script in the instructor's formgrader page (every way one renders)
    at = next(i for i, c in enumerate(handed_in.cells) if nbgrader_meta(c).get("grade_id") == "setup") + 1
    handed_in.cells[at:at] = [
        new_markdown_cell('<script>window.xss = "markdown script"</script>'
                          '<img src="x" onerror="window.xss = \'markdown img\'">'),
        new_code_cell("from IPython.display import HTML, Javascript, display\n"
                      "display(Javascript('window.xss = \"javascript output\"'))\n"
                      "display(HTML('<img src=x onerror=\"window.xss = \\'html output\\'\">'))")]
    (root / "submitted" / "s" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(handed_in, str(root / "submitted" / "s" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    nbgrader("autograde", ASSIGNMENT, cwd=root)
    full = sum(nbgrader_meta(c)["points"] for c in graded_cells(read_notebook(source_path(ASSIGNMENT))))
    with Gradebook(gradebook_url(root)) as gb:
        sub = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "s")
        written = next(g for g in sub.grades if g.name == WRITTEN)
        assert written.needs_manual_grade and written.auto_score is None
        assert sub.score == full and sub.max_score == full + 2
        sub_id, grade_id = sub.id, written.id
        comment_id = next(c.id for c in sub.comments if c.name == WRITTEN)
    note = "Right: the variance of a sum of fan_in terms grows with fan_in."
    fg, page = Formgrader(root), browser
    try:  # the grader opens the submission in formgrader and types the score and the comment
        page.open(f"{fg.base}/formgrader/submissions/{sub_id}/",
                  ready=FORMGRADER_READY)
        assert "unit scale" in page.eval("document.body.innerText")
        time.sleep(2)  # an image's onerror fires once its load fails
        assert page.eval("window.xss === undefined"), f"a learner's script ran in formgrader: {page.eval('window.xss')}"
        page.eval(f"$('#{WRITTEN}').val(2).trigger('change'); "
                  f"$('#{WRITTEN}-comment').val({json.dumps(note)}).trigger('change'); true")
        deadline = time.time() + 30
        while not (json.loads(fg.get(f"/formgrader/api/grade/{grade_id}")[1]).get("manual_score") == 2 and
                   json.loads(fg.get(f"/formgrader/api/comment/{comment_id}")[1]).get("manual_comment") == note):
            assert time.time() < deadline, "formgrader did not save the written answer's score and comment"
            time.sleep(0.5)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(SHOTS / "formgrader-written-answer.png")
    finally:
        fg.close()
    assert float(export(root)["s"]["score"]) == full + 2
    nbgrader("generate_feedback", ASSIGNMENT, cwd=root)
    assert note in (root / "feedback" / "s" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def test_hidden_tests_fail_closed_outside_a_judged_run():
    """Outside a grading run (a learner's kernel), a hidden test raises instead of passing."""
    from autograder.judges import HIDDEN, judges
    from wavenet.checks import HiddenTest, check, context
    from wavenet.nn import Linear

    judges()
    assert context.current() is None and HIDDEN
    for name in HIDDEN:
        with pytest.raises(HiddenTest, match="hidden test"):
            check(name, Linear)


@pytest.mark.sandbox
def test_plain_nbgrader_without_the_course_pipeline_gives_no_hidden_points(tmp_path):
    """A course set up by hand, with nbgrader's default pipeline (the test cells run in the student's own
    kernel): the solution, hidden tests restored, gets the visible tests' points and none of the hidden ones."""
    root = tmp_path / "foreign"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(source_path(ASSIGNMENT), root / "source" / ASSIGNMENT)
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = "
                                             f"'sqlite:///{root}/gradebook.db'\n")
    nbgrader("generate_assignment", ASSIGNMENT, cwd=root)
    (root / "submitted" / "s" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(source_path(ASSIGNMENT), root / "submitted" / "s" / ASSIGNMENT)
    nbgrader("autograde", ASSIGNMENT, cwd=root)
    cells = graded_cells(read_notebook(source_path(ASSIGNMENT)))
    hidden = {nbgrader_meta(c)["grade_id"] for c in cells if "BEGIN HIDDEN TESTS" in c.source}
    got = points(root)["s"]
    assert hidden and all(got[g] == 0 for g in hidden), got
    assert all(got[nbgrader_meta(c)["grade_id"]] == nbgrader_meta(c)["points"] for c in cells
               if nbgrader_meta(c)["grade_id"] not in hidden), got
