"""A light in-process runner: execute a notebook's code cells in one namespace.

It mimics ``nbgrader autograde`` closely enough to test many variants of a
notebook quickly (the wrong-implementation library in ``tests/mutants``, the
calibration): code cells run in order in a fresh namespace with
``NBGRADER_EXECUTION`` set, a cell that raises does not stop the run, and a
test cell passes when it neither raises nor writes to stderr (nbgrader's rule).
Answer cells can be swapped for other source first, and expensive tests
skipped. The real nbgrader path is :func:`autograder.grade.grade_notebook`.
"""
import contextlib
import io
import os
import time

from autograder.assignments import nbgrader_meta, read_notebook


def message_for(exc):
    """One line for a failed test: the check's own message, else the exception."""
    if type(exc).__name__ == "CheckFailed":  # checks.py is reloaded per cell, so compare by name
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(notebook, assignment=None, replace=None, skip=(), skip_cells=()):
    """Run ``notebook`` (a path or a NotebookNode) in-process; return a result dict.

    Args:
        notebook: path or notebook.
        assignment: name to put in the result.
        replace: ``{grade_id: source}``; each must name a cell of the notebook.
        skip: test ids to skip (reported with ``passed: None``, not scored).
        skip_cells: grade ids of non-test cells to leave out (e.g. "try" cells).

    Returns:
        ``{"assignment", "score", "max_score", "tests": [{"id", "points",
        "max_points", "passed", "message"}], "errors": {cell id: message},
        "namespace": dict}``.
    """
    nb = read_notebook(notebook) if not hasattr(notebook, "cells") else notebook
    replace = dict(replace or {})
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
    unknown = set(replace) - ids
    if unknown:
        raise KeyError(f"no cells with grade_id {sorted(unknown)}")
    ns = {"__name__": "__main__"}
    tests, errors = [], {}
    t0 = time.time()
    with _env(NBGRADER_EXECUTION="autograde"):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = nbgrader_meta(cell)
            cid = meta.get("grade_id") or cell.get("id") or f"cell-{i}"
            if cid in skip_cells:
                continue
            is_test = meta.get("grade") and not meta.get("solution")
            if is_test and cid in skip:
                tests.append({"id": cid, "points": 0.0, "max_points": float(meta["points"]),
                              "passed": None, "message": "skipped"})
                continue
            source = replace.get(cid, cell.source)
            err = io.StringIO()
            exc = None
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    exec(compile(source, f"<cell {cid}>", "exec"), ns)
            except Exception as e:
                exc = e
            if is_test:
                msg = message_for(exc) if exc else (f"wrote to stderr: {err.getvalue().strip()[:200]}"
                                                    if err.getvalue() else "")
                passed = not msg
                mx = float(meta["points"])
                tests.append({"id": cid, "points": mx if passed else 0.0, "max_points": mx,
                              "passed": passed, "message": msg})
            elif exc is not None:
                errors[cid] = message_for(exc)
    scored = [t for t in tests if t["passed"] is not None]
    return {"assignment": assignment, "score": sum(t["points"] for t in scored),
            "max_score": sum(t["max_points"] for t in scored), "tests": tests, "errors": errors,
            "seconds": round(time.time() - t0, 2), "namespace": ns}
