"""The course directory: one nbgrader course where a class's work lives, and its configuration.

nbgrader's layout, under ``root`` (the repository by default; ``grade-all --out DIR`` makes another)::

    nbgrader_config.py                         this configuration (the repository's is committed)
    solutions/<a>/<a>.ipynb                    the source notebooks (``source_directory``)
    release/<a>/                               ``nbgrader generate_assignment`` (what ``release_assignment`` sends)
    submitted/<student>/<a>/<a>.ipynb          what students handed in (``collect``, or ``grade-all`` from a folder)
    autograded/<student>/<a>/<a>.ipynb         the judged notebooks formgrader shows
    feedback/<student>/<a>/<a>.html            the course's feedback pages (``release_feedback`` sends them)
    gradebook.db                               nbgrader's gradebook: every score, manual grade and late penalty
    grades/<a>/grades.csv, results/<student>.json    what ``grade-all`` derives from the gradebook

Every folder of student data is git-ignored in the repository.
"""
import os
from pathlib import Path

from autograder.assignments import ROOT, SOLUTIONS

COURSE_ID = "building-a-wavenet"  # the exchange's name for this course; WAVENET_COURSE_ID changes it
CONFIG_FILE = "nbgrader_config.py"


def configure(c, root=None, limits=None, unsafe=False):
    """Make the traitlets config ``c`` an nbgrader course of this course at ``root`` (default: its own folder,
    the repository). Returns ``c``."""
    from autograder.notebook import pipeline

    root = Path(root or ROOT).resolve()
    c.CourseDirectory.root = str(root)
    # the repository's solutions/ are the source; another course folder names them by absolute path
    c.CourseDirectory.source_directory = "solutions" if root == ROOT else str(SOLUTIONS)
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.db_url = f"sqlite:///{root}/gradebook.db"
    c.CourseDirectory.course_id = os.environ.get("WAVENET_COURSE_ID", COURSE_ID)
    # collect refuses links and forged owners, and takes the time a submission reached the exchange
    c.ExchangeFactory.collect = "autograder.classroom.exchange.SafeCollect"
    # formgrader shows the instructor each learner's notebook: its markdown and rich outputs are rendered
    # sanitized (no script, no event handler, no javascript output), through the feedback page's allowlist
    # (formgrader's own template renders markdown with markdown2html alone: that filter is replaced too)
    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {"clean_html": "autograder.notebook.feedback.clean",
                              "markdown2html": "autograder.notebook.feedback.markdown_clean"}
    pipeline.configure(c, limits=limits, unsafe=unsafe)
    return c


def config(root=None, limits=None, unsafe=False):
    """A fresh traitlets ``Config`` of the course at ``root`` (see :func:`configure`)."""
    from traitlets.config import Config

    c = configure(Config(), root=root, limits=limits, unsafe=unsafe)
    c.NbGraderAPI.log_level = "WARN"
    return c


def load(root):
    """The configuration nbgrader's own commands use in the course at ``root``: its ``nbgrader_config.py``
    (which applies :func:`configure` and the instructor's settings: late policy, course id, exchange), or
    :func:`config` where it has none."""
    from traitlets.config.loader import PyFileConfigLoader

    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        return config(root)
    c = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    c.NbGraderAPI.log_level = "WARN"
    return c


def write_config(root):
    """``root/nbgrader_config.py`` for a course folder outside the repository, so that nbgrader's commands
    (``export``, ``formgrader``, ``release_feedback``) run there with the course's pipeline too."""
    path = Path(root) / CONFIG_FILE
    if not path.exists():
        path.write_text(
            '"""An nbgrader course of Building a WaveNet (made by `python -m autograder grade-all`)."""\n'
            "import os\nimport sys\n\n"
            f"sys.path.insert(0, {str(ROOT)!r})  # the course's code\n"
            "from autograder.course import configure  # noqa: E402\n\n"
            "configure(get_config(), root=os.path.dirname(os.path.abspath(__file__)))  # noqa: F821\n")
    return path
