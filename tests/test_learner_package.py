"""The learner package, as a learner gets it: the wheel `make dist` builds, in a fresh venv outside the repository.

The session builds the wheel once and makes one venv with torch (the local
2.13.0 wheel) and the wheel's other requirements, but not the wheel itself:
exercise 1's setup cell installs it, as it would on Colab. Then every released
exercise runs there with nbclient, two at a time, in a folder of its own, with
no repository on the path, no NAMES_TXT and every HTTP proxy pointing nowhere:
its visible tests fail as designed, and once the reference answers are filled
in every cell runs and every visible test passes.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.assignments import ROOT, graded_cells, names, release_path, source_path
from autograder.authoring.release import package_location
from data.names import NAMES_SHA256
from tests.submissions import solved

pytestmark = pytest.mark.slow  # builds the wheel and a fresh venv, runs every exercise there
ASSIGNMENTS = names()
FIRST = ASSIGNMENTS[0]  # its setup cell installs the package; the others find it installed
OFFLINE = "http://127.0.0.1:9"  # a proxy that refuses: any download fails
PACKAGES = ("data", "wavenet")
KEEP_OUT = ("autograder", "solutions", "tests", "bench", "book", "exercises")


def visible_tests(nb):
    """``{grade_id: test name}`` of the test cells that call ``check`` (hidden ones are only a comment here)."""
    out = {}
    for cell in graded_cells(nb):
        m = re.search(r'^check\("(\w+)"', cell.source, re.M)
        if m:
            out[cell.metadata["nbgrader"]["grade_id"]] = m.group(1)
    return out


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel `make dist` builds (once per session)."""
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run(["make", "-s", "dist", f"DIST={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"make dist failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, f"make dist wrote {wheels}"
    return wheels[0]


def requirements(wheel):
    """The wheel's own Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return [line.split(":", 1)[1].strip() for line in z.read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]


def outside_env(venv, home):
    """The environment of anything run in the fresh venv: nothing of the repository, no network for downloads."""
    drop = ("PYTHONPATH", "NAMES_TXT", "COURSE_FAST", "NBGRADER_EXECUTION", "VIRTUAL_ENV", "WAVENET_PROBE_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_CONFIG_DIR=str(home / "config"), IPYTHONDIR=str(home / "ipython"),
               http_proxy=OFFLINE, https_proxy=OFFLINE, HTTP_PROXY=OFFLINE, HTTPS_PROXY=OFFLINE, no_proxy="")
    return env


@pytest.fixture(scope="session")
def venv(tmp_path_factory, wheel):
    """A fresh venv with torch==2.13.0 and the wheel's requirements (pip may use its cache); removed afterwards."""
    where = tmp_path_factory.mktemp("fresh")
    path = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    # torch==2.13.0 is the local CPU wheel (pip's find-links); the others come from the index or pip's cache
    reqs = ["torch==2.13.0"] + [r for r in requirements(wheel) if not r.startswith("torch")]
    run = subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", *reqs],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"pip install {reqs} failed:\n{run.stderr[-3000:]}"
    yield path, outside_env(path, where / "home")
    shutil.rmtree(where, ignore_errors=True)  # 1 GB of torch: not one of pytest's kept temp folders


def execute(path, env, timeout=900):
    """Run the notebook at ``path`` in the venv with ``jupyter execute`` (kernel in its folder); the result."""
    run = subprocess.run([shutil.which("jupyter-execute", path=env["PATH"]), "--inplace", "--allow-errors",
                          "--timeout=600", "--startup_timeout=120", "--kernel_name=python3", str(path)],
                         cwd=path.parent, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"jupyter execute {path.name} failed:\n{run.stderr[-3000:]}"
    return nbformat.read(str(path), as_version=4)


@pytest.fixture(scope="session")
def runs(venv, wheel, tmp_path_factory):
    """``{(assignment, "release" | "completed"): executed notebook}``, every exercise run in the fresh venv.

    The completed notebooks run with ``COURSE_FAST=1``, so their try-it cells train 100x shorter.
    """
    path, env = venv
    folder = tmp_path_factory.mktemp("exercises")
    jobs = {}
    for assignment in ASSIGNMENTS:
        for kind, nb in (("release", nbformat.read(str(release_path(assignment)), as_version=4)),
                         ("completed", solved(assignment))):
            nb_path = folder / f"{assignment}-{kind}" / f"{assignment}.ipynb"
            nb_path.parent.mkdir()
            nbformat.write(nb, str(nb_path))
            jobs[(assignment, kind)] = (nb_path, dict(env, WAVENET_PACKAGE=str(wheel),
                                                      **({"COURSE_FAST": "1"} if kind == "completed" else {})))
    first = (FIRST, "release")
    done = {first: execute(*jobs.pop(first))}  # installs the package: alone, before the others look for it
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(execute, *job) for key, job in jobs.items()}
        done.update({key: f.result() for key, f in futures.items()})
    return done


def test_wheel_holds_the_learner_side_only(wheel):
    """The wheel holds data/ (names.txt inside, verified), wavenet/ with the checks' targets, and nothing of the
    grader, the solutions or the tests: no notebook, no solution or hidden-test region."""
    with zipfile.ZipFile(wheel) as z:
        files = z.namelist()
        tops = {n.split("/")[0] for n in files}
        assert {t for t in tops if not t.endswith(".dist-info")} == set(PACKAGES), tops
        assert hashlib.sha256(z.read("data/names.txt")).hexdigest() == NAMES_SHA256
        targets = sorted(p.name for p in (ROOT / "wavenet" / "checks" / "targets").glob("*.json"))
        assert sorted(Path(n).name for n in files if n.startswith("wavenet/checks/targets/")) == targets
        repo = sorted(p.relative_to(ROOT).as_posix() for top in PACKAGES for p in (ROOT / top).rglob("*.py")
                      if "__pycache__" not in p.parts)
        assert sorted(n for n in files if n.endswith(".py")) == repo, "the wheel's modules differ from the repository's"
        for name in files:
            assert not name.endswith(".ipynb") and name.split("/")[0] not in KEEP_OUT, name
            if name.endswith((".py", ".json", ".txt")):
                body = z.read(name).decode()
                for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                    assert marker not in body, f"{name} holds {marker!r}"


def test_build_refuses_a_wrong_names_txt(tmp_path):
    """A names.txt whose sha256 is not the course's stops `make dist`, and the message says how to supply one."""
    bad = tmp_path / "names.txt"
    bad.write_text("emma\nolivia\n")
    run = subprocess.run(["make", "-s", "dist", f"DIST={tmp_path / 'dist'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, NAMES_TXT=str(bad)))
    assert run.returncode != 0 and not list((tmp_path / "dist").glob("*.whl"))
    assert "sha256" in run.stdout + run.stderr and "NAMES_TXT" in run.stdout + run.stderr


def test_setup_cell_installs_the_missing_package(runs, venv):
    """Exercise 1's setup cell found no `wavenet` in the fresh venv and pip-installed the wheel into it."""
    path, env = venv
    setup = next(c for c in runs[(FIRST, "release")].cells if c.get("id") == "setup")
    assert not errors(setup), errors(setup)
    where = subprocess.run([str(path / "bin" / "python"), "-c", "import wavenet; print(wavenet.__file__)"],
                           capture_output=True, text=True, env=env, cwd=path.parent, timeout=120)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(path), where


def test_installed_package_needs_no_repository_or_network(runs, venv):
    """Installed, `data.read_words()` reads the bundled names (no NAMES_TXT, downloads would fail), and the checks
    judge the visible tests only: no judge of a hidden test ships."""
    path, env = venv
    probe = ("import json, data, wavenet.checks.verdict as v; "
             "print(json.dumps({'file': data.__file__, 'words': len(data.read_words()), 'judges': sorted(v.JUDGES)}))")
    run = subprocess.run([str(path / "bin" / "python"), "-c", probe], capture_output=True, text=True, env=env,
                         cwd=path.parent, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert Path(got["file"]).is_relative_to(path) and got["words"] == 32033
    visible = {t for a in ASSIGNMENTS for t in visible_tests(nbformat.read(str(release_path(a)), as_version=4)).values()}
    hidden = {t for a in ASSIGNMENTS for t in re.findall(r'^check\("(\w+)"', "\n".join(
        c.source for c in graded_cells(nbformat.read(str(source_path(a)), as_version=4))),
        re.M)} - visible
    assert hidden and not hidden & set(got["judges"]), f"judges of hidden tests ship: {hidden & set(got['judges'])}"
    assert visible <= set(got["judges"]), f"visible tests without a judge: {visible - set(got['judges'])}"


def test_validate_runs_from_the_package(runs, venv, tmp_path):
    """The installed `python -m wavenet.checks.validate` passes a completed exercise and lists what a release lacks."""
    path, env = venv
    done, todo = tmp_path / "done.ipynb", tmp_path / "todo.ipynb"
    nbformat.write(solved(FIRST), str(done))
    shutil.copy(release_path(FIRST), todo)
    for nb, status, says in ((done, 0, "Success"), (todo, 1, "raise NotImplementedError()")):
        run = subprocess.run([str(path / "bin" / "python"), "-m", "wavenet.checks.validate", str(nb)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert run.returncode == status and says in run.stdout, f"{nb.name}: {run.returncode}\n{run.stdout[-2000:]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_fails_its_visible_tests_as_designed(runs, assignment):
    """On the untouched release the setup cell runs, and every visible test fails with CheckFailed pointing at
    the `raise NotImplementedError()` still to replace; hidden test cells hold nothing to run."""
    nb = runs[(assignment, "release")]
    tests = visible_tests(nb)
    assert tests, f"{assignment} has no visible test"
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("id") == "setup":
            assert not errors(cell), errors(cell)
        elif meta.get("grade_id") in tests:
            errs = errors(cell)
            assert errs and errs[0]["ename"] == "CheckFailed", f"{meta['grade_id']}: {errs or text(cell)}"
            assert "NotImplementedError" in errs[0]["evalue"], f"{meta['grade_id']}: {errs[0]['evalue']}"
        elif meta.get("grade"):
            assert not cell.get("outputs"), f"hidden test {meta['grade_id']} printed {cell.outputs}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_completed_exercise_runs_and_passes(runs, assignment):
    """With the reference answers filled in, every cell runs (try-it cells too) and every visible test passes."""
    nb = runs[(assignment, "completed")]
    for cell in nb.cells:
        assert not errors(cell), f"cell {cell.get('id')!r} raised {errors(cell)[0]['ename']}: {errors(cell)[0]['evalue']}"
    for cell in graded_cells(nb):
        name = visible_tests(nb).get(cell.metadata["nbgrader"]["grade_id"])
        if name:
            assert f"passed: {name}" in text(cell), f"{name}: {text(cell)!r}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_names_the_package_location(assignment):
    """Every release's setup cell installs from the one location pyproject.toml sets, and only when `wavenet` is
    missing; its imports of the course library stay at the top level (the grader reads them)."""
    setup = next(c for c in nbformat.read(str(release_path(assignment)), as_version=4).cells if c.get("id") == "setup")
    assert f'PACKAGE = "{package_location()}"' in setup.source and "@PACKAGE_LOCATION@" not in setup.source
    assert 'if importlib.util.find_spec("wavenet") is None:' in setup.source
    assert re.search(r"^from wavenet\.checks import check\b", setup.source, re.M)
