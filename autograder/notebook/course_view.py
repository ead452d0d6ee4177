"""The course code a graded kernel may import: what the exercise gives, never what it asks for.

An exercise's read-only setup cell says what the learner is given, e.g.
``from wavenet.nn import Embedding, FlattenConsecutive, Linear, Sequential, Tanh``
in exercise 4, whose answer is ``BatchNorm1d``. :func:`build` writes a folder
(mounted read-only at ``/course`` in the sandbox) holding:

- ``wavenet/checks/``: the probes the test cells call, with the grader's
  references (``oracle.py``) reduced to the comparison helpers: a graded
  kernel only probes, and a kernel that could call ``oracle.bn_train`` on the
  probe's inputs (which it must know, to run the learner's code on them)
  would answer the value tests without a line of the learner's code;
- ``wavenet/train.py``, ``wavenet/config.py`` and ``data/*.py``: the training
  loop the validation-loss probe uses (``data/names.txt`` stays out: the
  kernel gets the training split from the grader, never the names);
- for each ``from wavenet.X import A, B`` in the setup cell, ``wavenet/X.py``
  cut down to ``A`` and ``B`` (with the module's imports and docstring).

So ``from wavenet.nn import BatchNorm1d`` fails in exercise 4's kernel, as
does ``import wavenet.models`` anywhere: the course's own answers are not
there to wrap.
"""
import ast
import shutil
from pathlib import Path

from autograder.assignments import ROOT, Assignment, nbgrader_meta

# what the kernel's oracle.py keeps: helpers that compare, no reference that computes an answer
ORACLE_KEPT = {"close", "maxdiff"}
ALWAYS = ["wavenet/__init__.py", "wavenet/config.py", "wavenet/train.py",
          "data/__init__.py", "data/dataset.py", "data/names.py"]


def given(assignment):
    """``{module: names}`` the exercise's setup cells import from ``wavenet``."""
    out = {}
    for cell in Assignment(assignment).notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade") or meta.get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:  # top level only: the try-it cells import inside `if`, skipped when grading
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wavenet.") \
                    and not node.module.startswith("wavenet.checks"):
                out.setdefault(node.module, set()).update(a.name for a in node.names)
    return out


def cut(source, keep):
    """``source`` with only the module docstring, the imports and the top-level definitions in ``keep``."""
    tree = ast.parse(source)
    parts = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            parts.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in keep:
            parts.append(ast.get_source_segment(source, node))
    missing = set(keep) - {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    if missing:
        raise ValueError(f"the exercise imports {sorted(missing)}, which the module does not define")
    return "\n\n\n".join(parts) + "\n"


def without_references(source):
    """``oracle.py`` for a graded kernel: its imports and constants, :data:`ORACLE_KEPT`, and every other
    function replaced by one that raises (the topic modules import them for their judges, which a graded
    kernel never runs). A reference added to the oracle later is left out too."""
    tree = ast.parse(source)
    stub = ast.parse('raise RuntimeError("the grader\'s references are not in a graded kernel")').body
    body = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in ORACLE_KEPT:
            node = ast.FunctionDef(name=node.name, args=ast.arguments(
                posonlyargs=[], args=[], vararg=ast.arg("args"), kwonlyargs=[], kw_defaults=[],
                kwarg=ast.arg("kwargs"), defaults=[]), body=stub, decorator_list=[], returns=None, type_params=[])
        body.append(node)
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))) + "\n"


def build(assignment, dest):
    """Write ``assignment``'s course view into ``dest`` (a new folder); return it."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    for rel in ALWAYS:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest / rel)
    shutil.copytree(ROOT / "wavenet" / "checks", dest / "wavenet" / "checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    oracle = dest / "wavenet" / "checks" / "oracle.py"
    oracle.write_text(without_references(oracle.read_text()))
    for module, names in given(assignment).items():
        rel = Path(*module.split(".")).with_suffix(".py")
        (dest / rel).write_text(cut((ROOT / rel).read_text(), names))
    return dest
