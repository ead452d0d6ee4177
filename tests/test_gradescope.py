"""Gradescope (autograder/export/gradescope.py, autograder/export/gradescope_run.py): the zip built by the command line, unpacked
into a simulated /autograder tree, its run_autograder run there with this venv's python (setup.sh's network part is
not run), results.json checked against Gradescope's documented schema and, test by test, against
``python -m autograder grade --json`` of the same notebook: an honest solution, the empty exercise, a one-bug mutant."""
import json
import os
import stat
import subprocess
import sys
import zipfile

import pytest

import submissions as S
from autograder.assignments import ROOT, Assignment, graded_cells, read_notebook, source_path
from mutants.a03_flatten_consecutive import MUTANTS

A = S.FC

# Gradescope's "Autograder specifications" (gradescope-autograders.readthedocs.io/en/latest/specs/), output format:
# the fields of results.json and of each test, with their types; visibility takes one of four values.
TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
       "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
       "extra_data": dict, "tests": list, "leaderboard": list}
TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
        "number": str, "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
STATUS = {"passed", "failed"}


def schema_errors(results):
    """What in ``results`` breaks Gradescope's schema (an empty list when nothing does)."""
    errors = [f"unknown field {k!r}" for k in results if k not in TOP]
    errors += [f"{k} is {type(v).__name__}" for k, v in results.items() if k in TOP and not isinstance(v, TOP[k])]
    if "score" not in results and not all("score" in t for t in results.get("tests", [])):
        errors.append("no score, neither overall nor on every test")
    if results.get("visibility", "visible") not in VISIBILITY:
        errors.append(f"visibility {results['visibility']!r}")
    for i, t in enumerate(results.get("tests", [])):
        errors += [f"test {i}: unknown field {k!r}" for k in t if k not in TEST]
        errors += [f"test {i}: {k} is {type(v).__name__}" for k, v in t.items() if k in TEST and not isinstance(v, TEST[k])]
        if t.get("visibility", "visible") not in VISIBILITY:
            errors.append(f"test {i}: visibility {t['visibility']!r}")
        if t.get("status", "passed") not in STATUS:
            errors.append(f"test {i}: status {t['status']!r}")
        if "score" in t and "max_score" in t and not 0 <= t["score"] <= t["max_score"]:
            errors.append(f"test {i}: score {t['score']} outside 0..{t['max_score']}")
    return errors


def mutant_notebook():
    """The solved exercise with fc_no_squeeze's one bug (tests/mutants): a learner's notebook, not the source."""
    m = next(m for m in MUTANTS if m.name == "fc_no_squeeze")
    return S.with_answer(S.solved(A), "FlattenConsecutive", S._answer(m.replacements()["FlattenConsecutive"]))


NOTEBOOKS = {"honest": lambda: S.solved(A), "empty": lambda: S.exercise(A), "mutant": mutant_notebook}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    """The zip, as ``python -m autograder gradescope`` writes it (no wheel: ``make gradescope`` adds it)."""
    out = tmp_path_factory.mktemp("gradescope") / f"{A}.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", A, "--to", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def simulated_tree(zip_path, tmp, files):
    """``tmp`` laid out as Gradescope's /autograder: the zip in source/, run_autograder copied to the root (as
    Gradescope does), the submission's ``files`` (name -> bytes) in submission/."""
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp / "source")
        for info in z.infolist():  # extractall drops the Unix mode; Gradescope keeps it
            os.chmod(tmp / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (tmp / "run_autograder").write_bytes((tmp / "source" / "run_autograder").read_bytes())
    (tmp / "run_autograder").chmod(0o755)
    (tmp / "submission").mkdir()
    for name, data in files.items():
        (tmp / "submission" / name).write_bytes(data)
    return tmp


def run_autograder(tree):
    env = dict(os.environ, GRADESCOPE_ROOT=str(tree), AUTOGRADER_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)  # run_autograder sets it to the tree's source/: the zip's grader, not this checkout's
    proc = subprocess.run([str(tree / "run_autograder")], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tree / "results" / "results.json").read_text())


def grade_json(path, key):
    """``grade --json`` with the zip's key (``AUTOGRADER_KEY``): the same seed, so the same probes and messages."""
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A, str(path), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1", AUTOGRADER_KEY=key))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_zip_holds_one_assignment_and_runs_as_gradescope_expects(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as z:
        names = set(z.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        key = z.read(".nbgrader_work/grader.key").decode()
        runner = z.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", f"solutions/{A}/{A}.ipynb", f"exercises/{A}/{A}.ipynb",
            "data/names.txt", "autograder/export/gradescope_run.py", "wavenet/checks/verdict.py", "constraints.txt"} <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR, "Gradescope runs both"
    assert not [n for n in names if n.startswith("solutions/") and A not in n], "another assignment's hidden tests"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert f'autograder.export.gradescope_run "{A}"' in runner
    from autograder.notebook.kernel_input import key as course_key
    assert bytes.fromhex(key) != course_key(), "the zip must carry a key of its own, not the course's"


def test_scripts_parse_and_name_modules_that_exist(autograder_zip, tmp_path):
    """setup.sh cannot run here (apt, PyPI): both scripts must at least parse, and every course module they run
    must exist (a module moved in the grader would break Gradescope's image build, not this checkout)."""
    import importlib
    import re

    with zipfile.ZipFile(autograder_zip) as z:
        scripts = {name: z.read(name).decode() for name in ("setup.sh", "run_autograder")}
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
        proc = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stderr)
    text = "\n".join(scripts.values())
    modules = re.findall(r"-m (autograder[\w.]*)", text) + re.findall(r"from (autograder[\w.]*) import (\w+)", text)
    assert len(modules) >= 2, modules
    for m in modules:
        module = importlib.import_module(m[0] if isinstance(m, tuple) else m)
        assert not isinstance(m, tuple) or hasattr(module, m[1]), m


@pytest.mark.sandbox
@pytest.mark.parametrize("kind", list(NOTEBOOKS))
def test_results_json_matches_grade(kind, autograder_zip, tmp_path):
    data = S.dumps(NOTEBOOKS[kind]())
    tree = simulated_tree(autograder_zip, tmp_path / "autograder", {f"{A}.ipynb": data})
    results = run_autograder(tree)
    assert schema_errors(results) == []

    (tmp_path / "alone.ipynb").write_bytes(data)
    graded = grade_json(tmp_path / "alone.ipynb", (tree / "source" / ".nbgrader_work" / "grader.key").read_text())
    assert results["score"] == graded["score"], kind
    hidden = {c.metadata.nbgrader.grade_id for c in graded_cells(read_notebook(source_path(A)))
              if "BEGIN HIDDEN TESTS" in c.source}
    assert [t["name"] for t in results["tests"]] == [t["id"] for t in graded["tests"]]
    for gs, t in zip(results["tests"], graded["tests"]):
        assert (gs["score"], gs["max_score"]) == (t["points"], t["max_points"]), (kind, t["id"])
        assert gs["status"] == ("passed" if t["passed"] else "failed"), (kind, t["id"])
        assert gs["output"] == (t["message"] or "passed"), (kind, t["id"])  # the course's message
        assert gs["visibility"] == ("after_published" if t["id"] in hidden else "visible"), t["id"]
    text = json.dumps(results)
    assert not [line for line in Assignment(A).hidden_lines if line in text], "hidden test source in results.json"
    assert "sandbox (bubblewrap)" in results["output"]
    if kind == "mutant":
        assert results["score"] < sum(t["max_score"] for t in results["tests"])  # (0 since every test binds values)
        assert "squeeze it" in next(t["output"] for t in results["tests"] if t["name"] == "test_fc_full")


@pytest.mark.parametrize("files,says", [({}, "no notebook"),
                                        ({"a.ipynb": b"{}", "b.ipynb": b"{}"}, "2 notebooks"),
                                        ({f"{A}.ipynb": b'{"cells": ['}, "not a valid Jupyter notebook")])
def test_ungradable_submission_scores_zero_and_says_why(files, says, autograder_zip, tmp_path, monkeypatch):
    """No kernel starts for these: the results still follow the schema, every test 0, the reason shown."""
    from autograder.export import gradescope_run

    monkeypatch.setattr(gradescope_run, "sandbox_choice",  # none starts
                        lambda: gradescope_run.Choice(True, None, "no kernel", "no kernel"))
    tree = simulated_tree(autograder_zip, tmp_path / "autograder", files)
    results = gradescope_run.run(A, tree)
    assert schema_errors(results) == []
    assert json.loads((tree / "results" / "results.json").read_text()) == results
    assert results["score"] == 0 and all(t["score"] == 0 for t in results["tests"])
    assert says in results["output"] and all(says in t["output"] for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == Assignment(A).max_score


def test_without_bubblewrap_the_container_is_the_boundary(monkeypatch):
    """Where bubblewrap cannot run (Gradescope's container without user namespaces) the kernel runs unsandboxed,
    as nobody when the grader is root, as the grader's user otherwise, and the submission's output says which;
    where it can, the sandbox is used."""
    from autograder.export import gradescope_run
    from autograder.sandbox import bwrap as sandbox

    monkeypatch.setattr(sandbox, "mode", lambda: (None, "bubblewrap cannot make a sandbox here: no namespaces"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    choice = gradescope_run.sandbox_choice()
    assert choice.unsafe and choice.kernel_uid == 65534 and choice.mode == "unsandboxed, kernel as nobody"
    assert "no namespaces" in choice.note and "as the unprivileged user nobody" in choice.note
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    choice = gradescope_run.sandbox_choice()
    assert choice.unsafe and choice.kernel_uid is None and "grader's user (uid 1000" in choice.mode
    assert "container being the boundary" in choice.note and "uid 1000: not root" in choice.note
    monkeypatch.setattr(sandbox, "mode", lambda: ("root", ""))
    assert gradescope_run.sandbox_choice() == (False, None, "sandboxed", gradescope_run.SANDBOXED)


CHEAT = """
import json, os, subprocess
found = {{"uid": os.getuid()}}
for name, path in {{"key": {key!r}, "solution": {solution!r}}}.items():
    try:
        with open(path) as f:
            found[name] = f.read()
    except OSError as e:
        found[name] = type(e).__name__
try:
    with open({results!r}, "w") as f:
        f.write('{{"score": 1000, "tests": []}}')
    found["results"] = "written"
except OSError as e:
    found["results"] = type(e).__name__
subprocess.Popen(["sleep", "600"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open({drop!r}, "w") as f:
    json.dump(found, f)
print(found)
"""


@pytest.mark.sandbox
def test_without_bubblewrap_as_root_the_kernel_cannot_reach_the_zip(autograder_zip, monkeypatch):
    """Gradescope without bubblewrap, simulated as root (``mode()`` says no sandbox): the kernel runs as another
    uid (a free one here, not nobody, whose processes on this machine may be other graders' sandboxed kernels).
    A submission that tries to read the zip's grader key and hidden tests and to write results.json is refused
    each (PermissionError, said from inside the kernel), scores what the empty exercise scores, leaks nothing
    into results.json, and leaves no process behind; the honest solution still gets full marks."""
    import shutil
    import tempfile
    from pathlib import Path

    import nbformat

    from autograder.export import gradescope_run
    from autograder.sandbox import bwrap as sandbox

    if os.geteuid() != 0:
        pytest.skip("the kernel changes user only when the grader is root")
    uid = next(u for u in range(61000, 62000) if not gradescope_run.processes_of(u))
    monkeypatch.setattr(sandbox, "mode", lambda: (None, "simulated: no user namespaces"))
    monkeypatch.setattr(gradescope_run, "KERNEL_UID", uid)
    base = Path(tempfile.mkdtemp(prefix="gs-", dir="/tmp"))  # pytest's tmp_path is closed to others already
    try:
        base.chmod(0o755)
        drop = base / "drop"
        drop.mkdir()
        drop.chmod(0o777)
        tree = simulated_tree(autograder_zip, base / "autograder", {})
        for p in [tree, *tree.rglob("*")]:  # as an unpack that drops the zip's modes would leave it: all readable
            p.chmod(0o755 if p.is_dir() else 0o644)
        key_file = tree / "source" / ".nbgrader_work" / "grader.key"
        solution = tree / "source" / "solutions" / A / f"{A}.ipynb"
        cheat = S.exercise(A)
        cheat.cells.append(nbformat.v4.new_code_cell(CHEAT.format(
            key=str(key_file), solution=str(solution), results=str(tree / "results" / "results.json"),
            drop=str(drop / "found.json"))))

        def grade(nb):
            (tree / "submission" / f"{A}.ipynb").write_bytes(S.dumps(nb))
            out = gradescope_run.run(A, tree)
            assert json.loads((tree / "results" / "results.json").read_text()) == out
            assert schema_errors(out) == []
            return out

        cheated = grade(cheat)
        found = json.loads((drop / "found.json").read_text())
        assert found == {"uid": uid, "key": "PermissionError", "solution": "PermissionError",
                         "results": "PermissionError"}
        assert gradescope_run.processes_of(uid) == [], "the kernel's detached sleep outlived the run"
        key = key_file.read_text()
        assert key not in json.dumps(cheated)
        assert gradescope_run.sandbox_choice().mode == f"unsandboxed, kernel as {uid}"
        assert "can read neither the hidden tests nor the grader's key" in cheated["output"]
        empty = grade(S.exercise(A))
        assert cheated["score"] == empty["score"] < sum(t["max_score"] for t in empty["tests"])
        assert [t["score"] for t in cheated["tests"]] == [t["score"] for t in empty["tests"]]
        honest = grade(S.solved(A))
        assert honest["score"] == sum(t["max_score"] for t in honest["tests"]) > 0
        assert all(t["status"] == "passed" for t in honest["tests"])
        assert stat.S_IMODE(key_file.parent.parent.stat().st_mode) == 0o711  # source/: passable, not listable
        assert stat.S_IMODE(key_file.parent.stat().st_mode) & 0o077 == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_schema_checker_catches_what_gradescope_refuses():
    """The checker above is not vacuous: each broken field is named."""
    good = {"score": 1.0, "tests": [{"name": "t", "score": 1.0, "max_score": 1.0, "visibility": "visible"}]}
    assert schema_errors(good) == []
    assert schema_errors({**good, "visibility": "later"}) == ["visibility 'later'"]
    assert schema_errors({"tests": [{"name": "t", "score": 2.0, "max_score": 1.0, "visibility": "hidden",
                                     "points": 1}]}) == ["test 0: unknown field 'points'", "test 0: score 2.0 outside 0..1.0"]
    assert schema_errors({"score": "1", "tests": []}) == ["score is str"]
