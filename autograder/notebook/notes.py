"""Static reading of a submission: notes for a person, not a defence.

The grade never depends on what a submission's code looks like: the grader
judges the data its kernel returns (autograder/notebook/judge.py), and the sandbox
decides what that kernel can reach. Reading the code still finds what a
teacher may want to look at, and :func:`review` lists it in the student's
record (``review``), each note naming the cell and line:

- the exercise's own layer taken from torch (``F.batch_norm`` inside
  ``BatchNorm1d``, ``torch.nn.Linear`` inside ``Linear``): correct data, but
  not the learner's code; the tests cannot tell (see the README's threat model);
- the course's own answers imported (``wavenet.models``, or ``wavenet.nn``
  names the exercise asks for): they are not in the graded kernel, so such a
  notebook fails there, and the note says why;
- the notebook's machinery: IPython, ``sys.modules``, ``importlib``,
  ``inspect``, ``gc``, ``ctypes``, builtins: no answer needs them;
- the tests' own machinery: a ``check`` of the notebook's own, the course's
  probes, seeds or record format (``wavenet.checks.context``, ``probe``,
  ``wire``, the record's MIME type): a learner calls ``check`` and nothing
  else of it, so such code is most likely answering the tests itself.

An honest ``import os`` is not a note.
"""
import ast

from autograder.assignments import nbgrader_meta
from autograder.notebook.repair import _python, answer_names, released
from wavenet.checks.wire import MIME

# torch's own version of each layer the course asks for: (the class it stands in for, torch names)
TORCH_LAYERS = {
    "Linear": {"nn.Linear", "torch.nn.Linear", "F.linear", "torch.nn.functional.linear"},
    "BatchNorm1d": {"nn.BatchNorm1d", "torch.nn.BatchNorm1d", "F.batch_norm", "torch.nn.functional.batch_norm",
                    "torch.batch_norm", "nn.functional.batch_norm"},
    "Embedding": {"nn.Embedding", "torch.nn.Embedding"},
    "Sequential": {"nn.Sequential", "torch.nn.Sequential"},
    "CausalConv1d": {"nn.Conv1d", "torch.nn.Conv1d", "F.conv1d", "torch.nn.functional.conv1d", "torch.conv1d"},
    "WaveNet": {"nn.Conv1d", "torch.nn.Conv1d"},
}
MACHINERY = {"get_ipython", "IPython", "sys.modules", "importlib", "inspect", "gc", "ctypes", "__builtins__",
             "builtins", "sys.settrace", "sys.setprofile", "sys._getframe", "__import__", "__globals__",
             "__code__", "__subclasses__", "_ih", "In", "Out", "exec", "eval"}
MACHINERY_MODULES = {"IPython", "importlib", "inspect", "gc", "ctypes", "builtins", "ipykernel", "traitlets"}
CHECKS_API = {"check", "val_loss", "CheckFailed", "load_target"}  # what a learner uses of wavenet.checks
RECORD_MIME = MIME.split("/", 1)[1].rsplit(".v", 1)[0]  # "vnd.wavenet.probe": any version of the record type
TEST_MACHINERY = {".context", ".probe", ".wire", ".verdict", ".oracle"}  # wavenet.checks' modules
COURSE = ("wavenet", "autograder", "solutions", "exercises", "tests")


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return ".".join(reversed(parts))


def _scan(source, label, asked):
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return []
    found = []
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    for cls in classes:
        for base in cls.bases:
            if _dotted(base).split(".")[-1] in asked and "." in _dotted(base):
                found.append(f"{label}, line {cls.lineno}: `{cls.name}` builds on `{_dotted(base)}`, the course's "
                             "own answer, which a graded kernel does not have")
        torch_names = TORCH_LAYERS.get(cls.name, set())
        for node in ast.walk(cls):
            if isinstance(node, (ast.Attribute, ast.Name)) and _dotted(node) in torch_names:
                found.append(f"{label}, line {node.lineno}: `{cls.name}` uses torch's own `{_dotted(node)}`; the "
                             "tests cannot tell it from the learner's own code")
                break
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            for a in node.names:
                name = f"{mod}.{a.name}" if mod else a.name
                top = name.split(".")[0]
                if top in COURSE and not name.startswith(("wavenet.checks", "wavenet.nn", "wavenet.train",
                                                          "wavenet.config")):
                    found.append(f"{label}, line {node.lineno}: imports the course's `{name}`, which a graded "
                                 "kernel does not have")
                elif mod == "wavenet.nn" and a.name in asked:
                    found.append(f"{label}, line {node.lineno}: imports the course's `{a.name}`, this exercise's "
                                 "answer, which a graded kernel does not have")
                elif top in MACHINERY_MODULES:
                    found.append(f"{label}, line {node.lineno}: imports `{name}` (the notebook's machinery)")
                if name.startswith("wavenet.checks.") and name.split(".")[-1] not in CHECKS_API:
                    found.append(f"{label}, line {node.lineno}: imports `{name}`, the tests' own machinery "
                                 "(a learner only calls `check`)")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == "check" or \
                isinstance(node, ast.Name) and node.id == "check" and isinstance(node.ctx, ast.Store):
            found.append(f"{label}, line {node.lineno}: defines its own `check`, the tests' entry point")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RECORD_MIME in node.value:
            found.append(f"{label}, line {node.lineno}: writes the type of the tests' records "
                         f"(`{RECORD_MIME}`) itself")
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(getattr(node, "ctx", None), ast.Load):
            d = _dotted(node)
            if d in MACHINERY:
                found.append(f"{label}, line {node.lineno}: uses `{d}` (the notebook's machinery)")
            elif isinstance(node, ast.Attribute) and f".{node.attr}" in TEST_MACHINERY and "checks" in d.split("."):
                found.append(f"{label}, line {node.lineno}: uses `{d}`, the tests' own machinery "
                             "(a learner only calls `check`)")
    return found


def review(nb, assignment):
    """Notes on the code a student wrote in (repaired) ``nb``, one per finding, for a person to read."""
    release = released(assignment).cells
    ref = {nbgrader_meta(c)["grade_id"]: c for c in release if nbgrader_meta(c).get("grade_id")}
    given = {c.source.strip() for c in release if c.cell_type == "code"}  # the course's cells, as handed out
    asked = set().union(*answer_names(assignment).values())
    notes = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in ref and nbgrader_meta(ref[gid]).get("locked"):
            continue  # read-only and test cells: nbgrader runs the exercise's own source
        if cell.source.strip() in given:
            continue  # a cell the learner left as released (a try-it cell, say) is the course's code, not theirs
        notes += _scan(cell.source, f"cell {gid!r}" if gid else f"cell {i + 1}", asked)
    return list(dict.fromkeys(notes))
