"""JupyterLab as a learner opens an exercise (`make lab`): the notebook renders, and no nbgrader menu shows.

Each case starts ``jupyter lab`` on a copy of exercise 1 with a private user
configuration, loads it in headless Chromium and reads the DOM the page ends
with. The learner's case adds ``learner/jupyter`` to ``JUPYTER_CONFIG_PATH``,
as ``make lab`` does; the instructor's case (the same environment without it)
shows the nbgrader menu, so the test can see one when it is there.
Screenshots land in _build/fast/screenshots/.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autograder.assignments import ROOT, release_path
from test_book_render import SHOTS

pytestmark = pytest.mark.browser  # headless chromium: fails without it unless ALLOW_SKIP=browser

EXERCISE = "01_layers"
NBGRADER_UI = ("Nbgrader", "Formgrader", "Course List", "Create Assignment", "Assignment List")


class VisibleText(HTMLParser):
    """The text of a DOM outside <script> and <style> (the page's config lists disabled extensions by name)."""

    def __init__(self):
        super().__init__()
        self.skip, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(dom):
    parser = VisibleText()
    parser.feed(dom)
    return " ".join(parser.parts)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the server is local: no proxy


def get(url):
    """The HTTP status of ``url``, or ``None`` while nothing listens."""
    try:
        with DIRECT.open(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError:
        return None


# Lab has opened the exercise: its cells are on the page and the menu bar is drawn (the extensions that add menus
# are activated before a document opens)
LAB_READY = ("document.querySelector('.jp-Notebook .jp-Cell') && document.querySelector('.lm-MenuBar-content') && "
             "document.body.innerText.includes('Exercise 1')")


def open_in_lab(browser, learner, shot, config="jupyter"):
    """Start JupyterLab on a copy of the exercise (with ``learner/<config>`` when ``learner``), load it in
    Chromium; ``(dom, status of /formgrader)``, and with ``config="hub"`` the status of the students'
    ``/assignments`` too."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "root").mkdir()
        shutil.copy(release_path(EXERCISE), tmp / "root")
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "user"), JUPYTER_DATA_DIR=str(tmp / "data"))
        env.pop("JUPYTER_CONFIG_PATH", None)
        if learner:
            env["JUPYTER_CONFIG_PATH"] = str(ROOT / "learner" / config)
        port = free_port()
        args = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.token=",
                "--ServerApp.password=", f"--ServerApp.root_dir={tmp / 'root'}"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        lab = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 90
            while get(f"{base}/api/status") != 200:
                assert lab.poll() is None and time.time() < deadline, "jupyter lab did not start"
                time.sleep(0.5)
            browser.resize(1400, 900)
            browser.open(f"{base}/lab/tree/{EXERCISE}.ipynb?reset", ready=LAB_READY, timeout=120)
            time.sleep(3)  # what Lab still draws after the notebook (status bar, side panels)
            dom = browser.dom()
            browser.screenshot(shot)
            if config == "hub":
                return dom, get(f"{base}/formgrader"), get(f"{base}/assignments")
            return dom, get(f"{base}/formgrader")
        finally:
            lab.terminate()
            lab.wait(timeout=30)


@pytest.fixture(scope="module")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def test_learner_lab_renders_the_exercise_without_nbgrader(browser, shots):
    """With learner/jupyter, Lab shows the exercise's cells and its usual menus, no nbgrader menu or panel,
    and the formgrader's page does not exist; the screenshot is not blank."""
    shot = shots / "lab-learner.png"
    dom, formgrader = open_in_lab(browser, learner=True, shot=shot)
    text = visible_text(dom)
    assert "jp-Notebook" in dom and "Exercise 1" in text and "YOUR CODE HERE" in text, "the notebook did not render"
    assert "File" in text and "Kernel" in text, "Lab's menu bar did not render"
    shown = [label for label in NBGRADER_UI if label in text]
    assert not shown, f"the learner's Lab shows nbgrader's {shown}"
    assert formgrader == 404, f"/formgrader answered {formgrader}: the server extension is on"
    with Image.open(shot) as im:
        gray = np.asarray(im.convert("L"))
    assert (gray < 200).any(axis=1).sum() > 300, f"{shot.name} is blank"


def test_instructor_lab_shows_the_nbgrader_menu(browser, shots):
    """The same environment without learner/jupyter shows nbgrader's menu: what the learner's case looks for."""
    dom, formgrader = open_in_lab(browser, learner=False, shot=shots / "lab-instructor.png")
    assert "Nbgrader" in visible_text(dom) and formgrader != 404


def test_hub_student_lab_keeps_assignments_and_hides_formgrader(browser, shots):
    """With learner/hub (a student's Lab on a hub), nbgrader's Assignments server extension answers (fetch,
    validate, submit) while formgrader's page does not exist and its menu entries are gone."""
    dom, formgrader, assignments = open_in_lab(browser, learner=True, shot=shots / "lab-hub-student.png",
                                               config="hub")
    text = visible_text(dom)
    assert "jp-Notebook" in dom and "Exercise 1" in text, "the notebook did not render"
    assert formgrader == 404, f"/formgrader answered {formgrader}: the instructor's extension is on"
    assert assignments not in (None, 404), f"/assignments answered {assignments}: students cannot fetch or submit"
    assert "Formgrader" not in text, "the student's Lab shows formgrader"
