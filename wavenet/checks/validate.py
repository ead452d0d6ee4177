"""``python -m wavenet.checks.validate NOTEBOOK``: a learner's check before submitting.

It runs every cell of the notebook in a fresh kernel, top to bottom, as the
grader will (try-it cells are skipped, as when grading), and lists every
problem: a visible test that fails, with its message, and an error in *any*
cell, with the line of the learner's code that raised it. A pre-filled cell
that fails because of the learner's code (``layer.out`` missing, say) shows
up too. Exit status 0: nothing to fix; 1: problems (listed); 2: the file is
not a notebook.

Hidden tests are not in the learner's notebook; they run when it is graded.

From inside the notebook, its last cell calls :func:`here`: the same check,
run by the kernel's own interpreter on the notebook's own file, wherever
JupyterLab, the hub or Colab put it. Inside a grading run, and inside the
check's own run of the notebook, :func:`here` does nothing.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_CALL = re.compile(r'^\s*check\(\s*"([A-Za-z0-9_]+)"', re.M)  # a visible test cell's call


def _first_line(source):
    return next((l for l in source.splitlines() if l.strip()), "").strip()[:100]


def _is_test(cell):
    nb = cell.get("metadata", {}).get("nbgrader", {})
    return bool(nb.get("grade")) and not nb.get("solution")


def _label(cell, i):
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell '{gid}'" if gid else f"cell {i + 1}"


def learner_line(traceback):
    """``"line 12: self.out = x @ self.weight"`` from an IPython traceback: the last arrow in the notebook's code."""
    found = None
    for entry in traceback or []:
        lines = ANSI.sub("", entry).splitlines()
        if lines and ("Cell In[" in lines[0] or "ipython-input" in lines[0]):
            for line in lines:
                m = re.match(r"^-*>\s*(\d+)\s(.*)$", line)
                if m:
                    found = f"line {m.group(1)}: {m.group(2).strip()}"
    return found


def problems_of(nb):
    """One line per problem in an executed notebook."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        call = CHECK_CALL.search(cell.source) if _is_test(cell) else None
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if call and not errors and f"passed: {call.group(1)}" not in printed:  # what the grader will say too
            out.append(f"test did not report a result ({_label(cell, i)}: {_first_line(cell.source)}): the "
                       "notebook replaced or silenced the course's check")
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            ename, evalue = o.get("ename", "Error"), str(o.get("evalue", "")).strip()
            if ename == "HiddenTest" and _is_test(cell):
                break  # a source notebook's hidden test: the grader decides it (it fails closed elsewhere)
            if _is_test(cell):
                out.append(f"test failed ({_label(cell, i)}: {_first_line(cell.source)}): {evalue or ename}")
            else:
                where = learner_line(o.get("traceback"))
                out.append(f"{_label(cell, i)} raised {ename}: {evalue[:200]}" + (f" (at {where})" if where else ""))
            break
    return out


def edited_cells(nb):
    """Read-only or test cells the learner changed (the grader puts the original back), where nbgrader is at hand."""
    try:
        from nbgrader.utils import compute_checksum
    except ImportError:
        return []
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and meta.get("checksum") and compute_checksum(cell) != meta["checksum"]:
            out.append(f"{_label(cell, i)} is read-only but was edited: the grader runs the original")
    return out


def validate(path, timeout=300):
    """Run the notebook at ``path``; return the list of problems (empty: nothing to fix)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    edited = edited_cells(nb)
    old = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"  # try-it cells skip themselves, as when graded
    try:
        # this interpreter's own kernel (ipykernel's built-in spec): never another python3 kernelspec of the machine
        km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
        NotebookClient(nb, km=km, timeout=timeout, allow_errors=True, kernel_name="python3",
                       extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter
                       resources={"metadata": {"path": str(os.path.dirname(os.path.abspath(path)))}}).execute()
    finally:
        if old is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old
    return edited + problems_of(nb)


def report(problems):
    if not problems:
        return "Success: every cell ran and every visible test passes (hidden tests run when graded)"
    return "\n".join(problems + [f"{len(problems)} problem(s): fix them before you submit"])


def in_grading_run():
    """True in the grader's kernel, under the course's in-process runner, and in the check's own run of a
    notebook (``NBGRADER_EXECUTION`` set): there a notebook must never check itself again."""
    from wavenet.checks import context

    return bool(os.environ.get("NBGRADER_EXECUTION")) or context.current() is not None


def _colab_copy(name):
    """On Colab, the notebook as the browser holds it (saved or not), written to a temporary file; else ``None``."""
    try:
        from google.colab import _message  # only on Colab
    except ImportError:
        return None
    import json

    nb = _message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"]
    path = Path(tempfile.mkdtemp(prefix="validate-")) / name
    path.write_text(json.dumps(nb))
    return path


def notebook_path(name=None, namespace=None):
    """The file of the notebook this kernel runs, or ``None``.

    First match wins: ``__session__`` (JupyterLab and the hub set it: ``JPY_SESSION_NAME``), VS Code's
    ``__vsc_ipynb_file__``, ``name`` in the working folder, Colab's copy of the open notebook.
    """
    namespace = namespace if namespace is not None else _user_namespace()
    found = [namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME"), namespace.get("__vsc_ipynb_file__"),
             name and os.path.join(os.getcwd(), name)]
    for candidate in found:
        if candidate and candidate.endswith(".ipynb") and os.path.isfile(candidate):
            return Path(candidate).resolve()
    return _colab_copy(name or "notebook.ipynb")


def _user_namespace():
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def here(name=None, timeout=300):
    """Check the notebook this cell runs in, as ``python -m wavenet.checks.validate`` does; print the report.

    ``name`` (the exercise's file name) is where to look when the front end does not say: the working
    folder. Save the notebook first: the check reads the file (on Colab, the open notebook). It prints;
    it returns nothing (a cell's last line shows no value).
    """
    if in_grading_run():
        return
    path = notebook_path(name)
    if path is None:
        where = f" ({name} is not in {os.getcwd()})" if name else ""
        print(f"Could not find this notebook's file{where}: save it, then run in a terminal "
              f"`{sys.executable} -m wavenet.checks.validate PATH/TO/NOTEBOOK.ipynb`")
        return
    print(f"Checking {path} as last saved (save first: Ctrl+S / Cmd+S); this runs every cell again ...", flush=True)
    run = subprocess.run([sys.executable, "-m", "wavenet.checks.validate", str(path), "--timeout", str(timeout)],
                         cwd=path.parent, capture_output=True, text=True)
    print((run.stdout + run.stderr).strip())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m wavenet.checks.validate", description=__doc__.splitlines()[0])
    p.add_argument("notebook")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    args = p.parse_args(argv)
    if not os.path.isfile(args.notebook):
        print(f"error: no such file: {args.notebook}", file=sys.stderr)
        return 2
    try:
        problems = validate(args.notebook, args.timeout)
    except Exception as e:  # not JSON, not a notebook
        print(f"error: {args.notebook} could not be run as a notebook: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(report(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
