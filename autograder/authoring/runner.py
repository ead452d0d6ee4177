"""A light in-process runner: execute a notebook's cells in one namespace, then judge it as the grader does.

It stands in for the kernel to test many variants of a notebook quickly (the
wrong-implementation library in ``tests/mutants``, the calibration): code
cells run in order in a fresh namespace with ``NBGRADER_EXECUTION`` set, a
cell that raises does not stop the run, and each cell's probe records and
errors become outputs shaped as a kernel's would be. Then the grader's own
:class:`autograder.notebook.judge.Judge` decides every test cell, exactly as in
``grade``. Answer cells can be swapped for other source first, and
expensive tests skipped. Only trusted code goes through here: it runs in the
caller's process. The real path is :func:`autograder.notebook.grade.grade_notebook`.
"""
import contextlib
import io
import json
import linecache
import os
import time
import traceback

import nbformat
from nbformat.v4 import new_output

from autograder.assignments import nbgrader_meta, read_notebook
from autograder.notebook.judge import Judge, is_test
from wavenet.checks import context, wire

SEED = 20261130  # the runner's default seed (grading derives one per submission)


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


def run_notebook(notebook, assignment=None, replace=None, skip=(), skip_cells=(), seed=SEED):
    """Run ``notebook`` (a path or a NotebookNode) in-process and judge it; return a result dict.

    Args:
        notebook: path or notebook.
        assignment: name to put in the result.
        replace: ``{grade_id: source}``; each must name a cell of the notebook.
        skip: test ids to skip (reported with ``passed: None``, not scored).
        skip_cells: grade ids of non-test cells to leave out (e.g. "try" cells).
        seed: the probes' seed.

    Returns:
        ``{"assignment", "score", "max_score", "tests": [{"id", "points", "max_points", "passed", "message"}],
        "errors": {cell id: message}, "namespace": dict, "seconds"}``.
    """
    nb = read_notebook(notebook) if not hasattr(notebook, "cells") else nbformat.from_dict(json.loads(json.dumps(notebook)))
    replace = dict(replace or {})
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
    unknown = set(replace) - ids
    if unknown:
        raise KeyError(f"no cells with grade_id {sorted(unknown)}")
    ns = {"__name__": "__main__"}
    errors = {}
    outputs = []
    run = context.Run(seed=seed, emit=lambda rec: outputs.append(
        new_output("display_data", data={wire.MIME: json.loads(wire.dumps(rec))})))
    t0 = time.time()
    context.configure(run)
    try:
        with _env(NBGRADER_EXECUTION="autograde"):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                meta = nbgrader_meta(cell)
                cid = meta.get("grade_id") or cell.get("id") or f"cell-{i}"
                cell.outputs = []
                if cid in skip_cells or (is_test(cell) and cid in skip):
                    cell.source = "" if cid in skip_cells else cell.source
                    continue
                cell.source = replace.get(cid, cell.source)
                name = f"<cell {cid}>"
                linecache.cache[name] = (len(cell.source), None, cell.source.splitlines(True), name)
                outputs.clear()
                try:
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        exec(compile(cell.source, name, "exec"), ns)
                except Exception as e:
                    outputs.append(new_output("error", ename=type(e).__name__, evalue=str(e),
                                              traceback=traceback.format_exception(e)))
                    if not is_test(cell):
                        errors[cid] = f"{type(e).__name__}: {e}"
                cell.outputs = list(outputs)
    finally:
        context.configure(None)
    Judge(seed=seed, assignment=assignment or "").preprocess(nb, {})
    verdicts = nb.metadata["autograder"]["tests"]
    tests = []
    for cell in nb.cells:
        if not is_test(cell):
            continue
        cid, mx = nbgrader_meta(cell)["grade_id"], float(nbgrader_meta(cell)["points"])
        if cid in skip:
            tests.append({"id": cid, "points": 0.0, "max_points": mx, "passed": None, "message": "skipped"})
            continue
        v = verdicts[cid]
        tests.append({"id": cid, "points": mx if v["passed"] else 0.0, "max_points": mx, "passed": v["passed"],
                      "message": "" if v["passed"] else v["message"]})
    scored = [t for t in tests if t["passed"] is not None]
    return {"assignment": assignment, "score": sum(t["points"] for t in scored),
            "max_score": sum(t["max_points"] for t in scored), "tests": tests, "errors": errors,
            "seconds": round(time.time() - t0, 2), "namespace": ns}
