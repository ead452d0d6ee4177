"""The released exercises: regenerated from solutions/ without drift, and well formed.

Also the structure every assignment must follow (so adding one is adding a
notebook): answer cells with solution markers, one-line test cells that call
one of :mod:`wavenet.checks`'s tests, and a calibrated target for every
validation-loss test.
"""
import ast

import pytest

from autograder.assignments import EXERCISES, answer_cells, Assignment, names, nbgrader_meta, read_notebook, release_path, source_path, graded_cells
from autograder.notebook.judge import probe_call
from autograder.authoring.release import generate
from wavenet.checks import VAL_LOSS_TESTS, load_target, probe

ASSIGNMENTS = names()
REQUIRED = ["01_layers", "02_modules", "03_flatten_consecutive", "04_hierarchical", "05_scaled_up"]


def comparable(nb):
    """What must not drift: cell types, sources, metadata (nbgrader's included) and notebook metadata."""
    return {"metadata": dict(nb.metadata),
            "cells": [(c.cell_type, c.get("id"), c.source, dict(c.metadata)) for c in nb.cells]}


def test_assignments_are_the_books():
    """The five assignments the book links to exist under these exact names."""
    assert set(REQUIRED) <= set(ASSIGNMENTS), f"missing: {set(REQUIRED) - set(ASSIGNMENTS)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_solutions(assignment):
    """exercises/ is exactly what `make exercises` makes from solutions/ now (regenerate it if this fails)."""
    committed = release_path(assignment)
    assert committed.is_file(), f"{committed} is missing: run `make exercises`"
    fresh, old = comparable(generate(assignment)), comparable(read_notebook(committed))
    assert fresh["metadata"] == old["metadata"], "notebook metadata drifted: run `make exercises`"
    assert len(fresh["cells"]) == len(old["cells"]), "cells added or removed: run `make exercises`"
    for new, was in zip(fresh["cells"], old["cells"]):
        assert new == was, f"cell {was[1]!r} of {committed} drifted from solutions/: run `make exercises`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_says_it_is_generated(assignment):
    """The do-not-edit note naming its source is in the notebook's metadata, and in no cell (learners see none of it)."""
    nb = read_notebook(release_path(assignment))
    meta = nb.metadata["autograder"]
    source = f"solutions/{assignment}/{assignment}.ipynb"
    assert meta["do_not_edit"] is True and meta["generated_from"] == source
    assert source in meta["note"] and "make exercises" in meta["note"]
    for cell in nb.cells:
        assert "Generated file" not in cell.source and "make exercises" not in cell.source, (
            f"cell {cell.get('id')!r} of the release speaks to maintainers")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(assignment):
    """No solution code or hidden test survives in the release; every answer is a stub."""
    text = release_path(assignment).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{marker} leaked into the release of {assignment}"
    hidden = Assignment(assignment).hidden_lines
    released = read_notebook(release_path(assignment))
    released_tests = "\n".join(c.source for c in graded_cells(released))
    for line in hidden:
        assert line not in released_tests, f"hidden test {line!r} is visible in the release"


def _signatures(source):
    """{name: (kind, [(method, args)])} of the top-level classes and functions."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = ("class", [(f.name, ast.unparse(f.args)) for f in node.body if isinstance(f, ast.FunctionDef)])
        elif isinstance(node, ast.FunctionDef):
            out[node.name] = ("def", [(node.name, ast.unparse(node.args))])
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_keep_names_and_signatures(assignment):
    """Each answer cell of the release keeps the solution's class/function names and signatures, with stubs."""
    sol = {nbgrader_meta(c)["grade_id"]: c for c in answer_cells(read_notebook(source_path(assignment)))}
    rel = {nbgrader_meta(c)["grade_id"]: c for c in answer_cells(read_notebook(release_path(assignment)))}
    assert sol.keys() == rel.keys()
    for cid, cell in rel.items():
        assert "# YOUR CODE HERE" in cell.source and "raise NotImplementedError()" in cell.source, cid
        assert _signatures(cell.source) == _signatures(sol[cid].source), f"{cid}: names or signatures changed"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_structure(assignment):
    """Answer cells carry solution markers and one class or function; a test cell has positive points, a
    unique id and one line the learner sees: a call of a known test (hidden ones: a comment saying what runs)."""
    nb = read_notebook(source_path(assignment))
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for cell in answer_cells(nb):
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        assert len(_signatures(cell.source)) == 1, f"{nbgrader_meta(cell)['grade_id']}: one class or function per answer cell"
    tests = graded_cells(nb)
    assert tests, "an assignment needs test cells"
    for cell in tests:
        meta = nbgrader_meta(cell)
        assert meta["points"] > 0 and meta["locked"] and meta["grade_id"].startswith("test_")
        call = probe_call(cell.source)
        assert call and call[0] in probe.PROBES, f"{meta['grade_id']}: one check(\"name\", ...) call of a known test"
        visible = [l for l in cell.source.splitlines() if l.strip()]
        if "BEGIN HIDDEN TESTS" in cell.source:
            assert visible[0].startswith("# hidden test:") and len(visible) == 4, meta["grade_id"]
        else:
            assert len(visible) == 1 and visible[0].startswith("check("), f"{meta['grade_id']}: one line"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_val_loss_targets_are_calibrated(assignment):
    """Every validation-loss test has a target calibrated with the grader's current recipe."""
    for cell in graded_cells(read_notebook(source_path(assignment))):
        name, options = probe_call(cell.source)
        if name not in VAL_LOSS_TESTS:
            continue
        assert options["assignment"] == assignment
        target = load_target(assignment)
        assert target["recipe"] == VAL_LOSS_TESTS[name]["recipe"], \
            f"recalibrate: python -m autograder calibrate {assignment}"
        losses = target["val_losses"]
        assert len(losses) >= 3 and target["threshold"] > max(losses), "threshold must clear every calibration seed"
        assert target["threshold"] >= target["mean"] + 0.02 - 1e-9


def test_exercises_hold_only_releases():
    """exercises/ holds one generated notebook per assignment and nothing hand-made."""
    found = sorted(p.relative_to(EXERCISES).as_posix() for p in EXERCISES.rglob("*.ipynb"))
    assert found == [f"{a}/{a}.ipynb" for a in ASSIGNMENTS]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_prefilled_cells_import_what_exists(assignment):
    """Pre-filled cells compile, and every name they import exists (the course library may change under them)."""
    import importlib

    for cell in read_notebook(source_path(assignment)).cells:
        if cell.cell_type != "code" or nbgrader_meta(cell).get("solution") or nbgrader_meta(cell).get("grade"):
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{cell.get('id')}: {node.module} has no {alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
