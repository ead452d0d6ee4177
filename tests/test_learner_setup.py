"""What a learner runs from inside an exercise, in this environment's kernel: the setup cell when the course
package cannot be found, and the last cell's whole-notebook check (``wavenet.checks.validate.here``).

The setup cell's install from a wheel beside the notebook needs a venv without the package:
tests/test_learner_package.py does it (slow). Here the kernel hides the course by dropping every folder
that holds ``wavenet`` from its ``sys.path``, so pip is never asked to install anything into this venv.
"""
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.assignments import ROOT, names, nbgrader_meta, read_notebook, release_path

FIRST = names()[0]
OFFLINE = "http://127.0.0.1:9"  # a proxy that refuses: any download fails fast
HIDE_COURSE = ("import sys\nfrom pathlib import Path\n"
               "sys.path[:] = [p for p in sys.path if not (Path(p or '.') / 'wavenet').is_dir()]\n"
               "assert 'wavenet' not in sys.modules")
TINY = ["x = 1", 'raise ValueError("boom in the learner\'s cell")']


def setup_source(assignment=FIRST):
    return next(c for c in read_notebook(release_path(assignment)).cells if c.get("id") == "setup").source


def run(nb, folder, env=None, timeout=600):
    """Execute ``nb`` with errors allowed, its kernel in ``folder`` and ``env`` added to this process's
    environment (the kernel inherits it); the executed notebook."""
    old = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def notebook(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def printed(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def offline(**extra):
    return {"http_proxy": OFFLINE, "https_proxy": OFFLINE, "HTTP_PROXY": OFFLINE, "HTTPS_PROXY": OFFLINE,
            "no_proxy": "", "NBGRADER_EXECUTION": None, "WAVENET_PROBE_DIR": None, "JPY_SESSION_NAME": None,
            **extra}


@pytest.mark.parametrize("given", ["nothing", "env", "env+wheel"])
def test_setup_cell_without_a_package_stops_with_one_course_message(tmp_path, given):
    """No course package on the path, offline: the setup cell tries $WAVENET_PACKAGE, then a wheel beside the
    notebook (here a broken one, so pip installs nothing), then stops with one line saying what to upload and
    what to set and which sources failed, in the order tried: no traceback."""
    source = setup_source()
    missing = tmp_path / "elsewhere" / "building_a_wavenet-1.0.0-py3-none-any.whl"
    broken = tmp_path / "building_a_wavenet-1.0.0-py3-none-any.whl"
    if "wheel" in given:
        broken.write_bytes(b"not a zip file")
    env = offline(WAVENET_PACKAGE=str(missing) if "env" in given else None)
    nb = run(notebook(HIDE_COURSE, source), tmp_path, env)
    assert not errors(nb.cells[0]), errors(nb.cells[0])
    errs = errors(nb.cells[1])
    assert len(errs) == 1 and errs[0]["ename"] == "CoursePackageMissing", errs
    shown = "\n".join(errs[0]["traceback"])
    assert len(errs[0]["traceback"]) == 1, f"a traceback, not one message:\n{shown}"
    for words in ("building_a_wavenet-*.whl", "WAVENET_PACKAGE", "run this cell again"):
        assert words in shown, f"{words!r} missing from {shown!r}"
    tried = {"nothing": "is not installed. ", "env": f"did not install from {missing}. ",
             "env+wheel": f"did not install from {missing}, {broken}. "}[given]
    assert tried in shown, shown
    assert not re.search(r"Traceback|most recent call|File \"", shown + printed(nb.cells[1])), shown


@pytest.mark.parametrize("assignment", names())
def test_every_exercise_ends_with_the_whole_notebook_check(assignment):
    """The last cell of every release is read-only and checks that notebook by its own file name, and the
    intro says to run it."""
    nb = read_notebook(release_path(assignment))
    last = nb.cells[-1]
    assert last.cell_type == "code" and nbgrader_meta(last).get("locked") and not nbgrader_meta(last).get("grade")
    assert f'here("{assignment}.ipynb")' in last.source and "from wavenet.checks.validate import here" in last.source
    assert "last cell" in nb.cells[0].source and f"python -m wavenet.checks.validate path/to/{assignment}.ipynb" \
        in nb.cells[0].source


def tiny(folder, last):
    """A notebook at ``folder/tiny.ipynb`` with one failing cell, then ``last``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.ipynb"
    nbformat.write(notebook(*TINY, last), str(path))
    return path


def test_here_from_a_cell_finds_the_notebook_as_jupyterlab_names_it(tmp_path):
    """JupyterLab gives the kernel JPY_SESSION_NAME (``__session__``): ``here()`` checks that file with this
    kernel's interpreter and prints the report, and the check's own run of the notebook does not recurse."""
    path = tiny(tmp_path / "lab", "from wavenet.checks.validate import here\nhere()")
    nb = run(nbformat.read(str(path), as_version=4), tmp_path, offline(JPY_SESSION_NAME=str(path)))
    out = printed(nb.cells[-1])
    assert not errors(nb.cells[-1]), errors(nb.cells[-1])
    assert f"Checking {path}" in out and "cell 2 raised ValueError: boom in the learner's cell" in out, out
    assert "1 problem(s)" in out, out


def test_here_falls_back_to_the_exercise_name_in_the_working_folder(tmp_path):
    """Without a front end that names the notebook, ``here("tiny.ipynb")`` finds it in the kernel's folder; a
    notebook with nothing to fix gets Success."""
    folder = tmp_path / "plain"
    folder.mkdir()
    path = folder / "tiny.ipynb"
    nbformat.write(notebook("x = 1", 'from wavenet.checks.validate import here\nhere("tiny.ipynb")'), str(path))
    nb = run(nbformat.read(str(path), as_version=4), folder, offline())
    out = printed(nb.cells[-1])
    assert f"Checking {path}" in out and "Success" in out, out


def test_here_is_silent_in_a_grading_run_and_says_what_to_do_when_lost(tmp_path):
    """In a grading run (NBGRADER_EXECUTION) ``here`` prints nothing and runs nothing; where no file can be
    found it says so and gives the terminal command with this kernel's interpreter."""
    path = tiny(tmp_path / "graded", 'from wavenet.checks.validate import here\nhere("tiny.ipynb")')
    nb = run(nbformat.read(str(path), as_version=4), path.parent, offline(NBGRADER_EXECUTION="autograde"))
    assert not nb.cells[-1].outputs, nb.cells[-1].outputs
    nb = run(notebook('from wavenet.checks.validate import here\nhere("nowhere.ipynb")'), tmp_path, offline())
    out = printed(nb.cells[-1])
    assert "Could not find this notebook's file (nowhere.ipynb is not in" in out, out
    assert "-m wavenet.checks.validate PATH/TO/NOTEBOOK.ipynb" in out and "Checking" not in out, out


def test_validate_from_another_folder(tmp_path):
    """The terminal command works from any folder, with a relative or an absolute path, and runs the notebook
    with its own interpreter even where the user's Jupyter has a `python3` kernel of another Python."""
    path = tiny(tmp_path / "a" / "b", "from wavenet.checks.validate import here\nhere()")
    other = tmp_path / "other"
    other.mkdir()
    decoy = tmp_path / "jupyter-data" / "kernels" / "python3"
    decoy.mkdir(parents=True)
    (decoy / "kernel.json").write_text(json.dumps({"argv": [str(tmp_path / "no-such-python"), "-m", "ipykernel_launcher",
                                                            "-f", "{connection_file}"],
                                                   "display_name": "another Python", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "JPY_SESSION_NAME")}
    env.update(JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), JUPYTER_PREFER_ENV_PATH="0")  # the user's kernels first
    for cwd, arg in ((tmp_path, "a/b/tiny.ipynb"), (other, str(path))):
        done = subprocess.run([sys.executable, "-m", "wavenet.checks.validate", arg], cwd=cwd, capture_output=True,
                              text=True, timeout=600, env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "cell 2 raised ValueError: boom in the learner's cell" in done.stdout, done.stdout


def test_runs_and_results_of_a_clone_stay_at_its_root():
    """In the clone the book keeps reading its committed records: runs and results live under the repository."""
    from wavenet import experiment, results, workdir

    assert workdir.CLONE == ROOT and results.ROOT == ROOT and experiment.ROOT == ROOT
    assert results.results_dir().is_relative_to(ROOT / "_build" / "results")
