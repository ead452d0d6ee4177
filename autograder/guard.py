"""Before and after grading: repair a submission's structure, and look for cheating.

Three jobs, all on one submission:

- :func:`repair` matches the submission's cells with the released exercise
  (by nbgrader metadata, then cell id, then source, then the names an answer
  cell defines), restores stripped or corrupted nbgrader metadata, turns
  duplicates and unknown cells into plain cells, and puts deleted test and
  read-only cells back where they belong. Without it nbgrader silently gives
  0 to a notebook whose metadata an editor removed. Every repair is a note in
  the student's result.
- :func:`static_findings` reads the code a student wrote (answer cells and
  cells they added) without running it, and lists what no honest solution of
  these exercises needs: importing the course's reference code
  (``wavenet``, ``solutions``, ``autograder``), replacing functions of
  ``torch``/``numpy``/builtins, ``setattr``, file and database access,
  ``eval``/``exec``, introspection that reaches other code
  (``__globals__``, ``__dict__`` ...), notebook history (``In``, ``_ih``) and
  shell escapes. Any finding means "flagged for review": zero points for
  that run, and a reason a person can check.
- :func:`guard_cell` is code the grader adds before every test cell and at
  the end (tagged ``autograder-guard``): inside the kernel it checks that the
  graded names were defined in the notebook (not imported, not subclasses of
  the course's code) and that ``torch``, ``numpy``, builtins and the checks
  were not replaced. It prints one line behind a random nonce;
  :func:`read_guards` collects them from the autograded notebook. It is a
  second line of defence: the sandbox and the static check come first.

:class:`DropGuardCells` and :class:`RedactHidden` keep the feedback clean: no
guard cells, and no output that quotes hidden test code.
"""
import ast
import copy
import json
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from autograder.assignments import ROOT, nbgrader_meta, read_notebook, release_path, source_path

GUARD_TAG = "autograder-guard"

# modules an answer may import; everything else is flagged (torch.* except private parts)
ALLOWED_IMPORTS = {"torch", "math", "random", "itertools", "functools", "collections", "typing", "dataclasses",
                   "operator", "string", "re", "statistics", "matplotlib", "numpy", "time", "copy", "numbers",
                   "abc", "enum", "__future__"}
COURSE_CODE = {"wavenet", "solutions", "autograder", "exercises", "tests", "data", "nbgrader"}
FORBIDDEN_NAMES = {
    "__import__": "calls __import__", "__builtins__": "touches __builtins__", "eval": "calls eval",
    "exec": "calls exec", "compile": "compiles code at run time", "open": "opens files",
    "globals": "reads globals()", "vars": "reads vars()", "breakpoint": "calls breakpoint",
    "input": "asks for input", "get_ipython": "uses get_ipython (magics, shell, the kernel)",
    "In": "reads the notebook's input history", "Out": "reads the notebook's output history",
    "_ih": "reads the notebook's input history", "_oh": "reads the notebook's output history",
    "_dh": "reads the notebook's folder history", "exit": "exits the kernel", "quit": "exits the kernel",
    "delattr": "calls delattr",
}
HISTORY = re.compile(r"^_i+\d*$|^_\d+$")
SAFE_DUNDERS = {"__init__", "__call__", "__name__", "__class__", "__len__", "__getitem__", "__setitem__",
                "__iter__", "__next__", "__repr__", "__str__", "__doc__", "__qualname__", "__enter__", "__exit__",
                "__add__", "__mul__", "__matmul__", "__sub__", "__truediv__", "__neg__", "__contains__"}
FILE_CALLS = {"load", "save", "fromfile", "loadtxt", "genfromtxt", "memmap", "from_file", "tofile", "savetxt",
              "read_text", "read_bytes", "write_text", "write_bytes"}
# attributes whose replacement on any object (``x[0].equal = ...``) is flagged: what the tests compare with
COMPARISON_NAMES = {"equal", "allclose", "isclose", "assert_close", "eq", "ne", "all", "any", "abs", "max", "min",
                    "sum", "mean", "var", "std", "sqrt", "linear", "batch_norm", "embedding", "cross_entropy",
                    "tanh", "randn", "rand", "randint", "manual_seed", "isfinite", "reload", "view", "reshape",
                    "__eq__", "__ne__", "shape", "numel", "no_grad", "Generator", "zeros", "ones", "full"}
MAGICS_OK = {"time", "timeit", "matplotlib"}
MODULE_DEFAULTS = {"torch", "F", "np", "math", "builtins", "checks", "importlib", "os", "sys", "nn", "numpy"}


# ---------------------------------------------------------------- the released exercise

def released(assignment):
    """The notebook learners download (``exercises/``), or a fresh release when it is missing."""
    path = release_path(assignment)
    if path.is_file():
        return read_notebook(path)
    from autograder.release import generate
    return generate(assignment)


def _defines(source):
    """Top-level class and function names a cell defines (empty if it does not parse)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))} | {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}


def answer_names(assignment):
    """``{grade_id: names}`` of the answer cells of the exercise (what the tests call)."""
    return {nbgrader_meta(c)["grade_id"]: _defines(c.source) for c in released(assignment).cells
            if nbgrader_meta(c).get("solution")}


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


# ---------------------------------------------------------------- repair

KEYS = ("grade", "solution", "locked", "points", "task")


def repair(nb, assignment):
    """Match ``nb``'s cells with the exercise and fix nbgrader's view of them.

    Returns ``(notebook, notes)``: a repaired copy and one sentence per repair.
    """
    nb = copy.deepcopy(nb)
    ref = released(assignment)
    ref_cells = [c for c in ref.cells if nbgrader_meta(c).get("grade_id")]
    by_id = {nbgrader_meta(c)["grade_id"]: c for c in ref_cells}
    order = [nbgrader_meta(c)["grade_id"] for c in ref_cells]
    names = {gid: _defines(c.source) for gid, c in by_id.items() if nbgrader_meta(c).get("solution")}
    claimed = {}  # grade_id -> submission cell
    restored, corrupted, demoted, edited = [], [], [], []

    def claim(cell, gid):
        want = by_id[gid]
        meta, good = nbgrader_meta(cell), nbgrader_meta(want)
        if meta and any(meta.get(k) != good.get(k) for k in KEYS + ("grade_id",) if k in good):
            corrupted.append(gid)
        elif not meta:
            restored.append(gid)
        cell.metadata["nbgrader"] = copy.deepcopy(nbgrader_meta(want))
        claimed[gid] = cell
        if nbgrader_meta(want).get("locked") and _norm(cell.source) != _norm(want.source) and cell.source.strip():
            edited.append(gid)

    def free(gid, cell):
        return gid in by_id and gid not in claimed and by_id[gid].cell_type == cell.cell_type

    pending = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(meta, dict):
            cell.metadata.pop("nbgrader", None)
            meta = {}
        if isinstance(gid, str) and free(gid, cell):
            claim(cell, gid)
        else:
            pending.append(cell)
    for cell in pending:  # no usable metadata: by cell id, then the same source, then the names it defines
        gid = cell.get("id")
        if not (isinstance(gid, str) and free(gid, cell)):
            gid = next((g for g in order if free(g, cell) and nbgrader_meta(by_id[g]).get("locked")
                        and _norm(by_id[g].source) == _norm(cell.source)), None)
        if gid is None and cell.cell_type == "code":
            defined = _defines(cell.source)
            gid = next((g for g in order if free(g, cell) and names.get(g) and names[g] <= defined), None)
        if gid is not None:
            claim(cell, gid)
        elif nbgrader_meta(cell):
            demoted.append(nbgrader_meta(cell).get("grade_id", "?"))
            cell.metadata.pop("nbgrader", None)

    missing = [g for g in order if g not in claimed]
    for gid in missing:  # put it back after the nearest earlier cell of the exercise that is present
        earlier = [g for g in order[:order.index(gid)] if g in claimed]
        pos = nb.cells.index(claimed[earlier[-1]]) + 1 if earlier else 0
        cell = copy.deepcopy(by_id[gid])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if any(c.get("id") == cell.get("id") for c in nb.cells):
            cell.id = f"{gid}-restored"
        nb.cells.insert(pos, cell)
        claimed[gid] = cell

    notes = []
    if restored:
        notes.append(f"nbgrader metadata was missing from {len(restored)} cell(s) ({', '.join(restored)}); "
                     "the grader matched them with the exercise by id or content and restored it")
    if corrupted:
        notes.append(f"nbgrader metadata was corrupted in {len(corrupted)} cell(s) ({', '.join(corrupted)}); "
                     "the grader restored it from the exercise")
    if demoted:
        notes.append(f"cell(s) with unknown or duplicated nbgrader ids ({', '.join(map(str, demoted))}) were "
                     "graded as ordinary code cells")
    lost_answers = [g for g in missing if nbgrader_meta(by_id[g]).get("solution")]
    lost_other = [g for g in missing if g not in lost_answers]
    if lost_other:
        notes.append(f"{len(lost_other)} deleted test or read-only cell(s) were restored from the exercise "
                     f"({', '.join(lost_other)})")
    if lost_answers:
        notes.append(f"your answer cell(s) {', '.join(lost_answers)} were not found (deleted, or the code was "
                     "renamed); the exercise's empty cell was put back, so their tests get no points: re-download "
                     "the exercise and paste your code into those cells")
    if edited:
        notes.append(f"read-only or test cell(s) were edited ({', '.join(edited)}); the grader ran the original")
    return nb, notes


# ---------------------------------------------------------------- static check

def _python(source):
    """Cell source as plain Python (IPython magics and ``!`` lines become ``get_ipython()`` calls)."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts)), node
    return ".".join(["<expr>"] + list(reversed(parts))), node


class _Checker(ast.NodeVisitor):
    def __init__(self, modules, label):
        self.modules = modules  # names bound to modules (imports in any cell, aliases)
        self.label = label
        self.found = []

    def flag(self, node, why):
        self.found.append(f"{self.label}, line {getattr(node, 'lineno', '?')}: {why}")

    def _import(self, node, name):
        top = name.split(".")[0]
        if top in COURSE_CODE:
            self.flag(node, f"imports the course's own code (`{name}`): write it yourself")
        elif top not in ALLOWED_IMPORTS or any(p.startswith("_") for p in name.split(".")[1:]):
            self.flag(node, f"imports `{name}`, which this exercise does not need")

    def visit_Import(self, node):
        for a in node.names:
            self._import(node, a.name)
            self.modules.add((a.asname or a.name).split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        mod = "." * node.level + (node.module or "")
        if node.level:
            self.flag(node, f"imports `{mod}` (a relative import)")
        else:
            self._import(node, mod)
        for a in node.names:
            self.modules.add(a.asname or a.name)
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self.flag(node, f"{FORBIDDEN_NAMES[node.id]} (`{node.id}`)")
        elif HISTORY.match(node.id):
            self.flag(node, f"reads the notebook's history (`{node.id}`)")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in SAFE_DUNDERS:
            self.flag(node, f"reaches into `{node.attr}`")
        self.generic_visit(node)

    def _target(self, target, node):
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node)
        elif isinstance(target, ast.Starred):
            self._target(target.value, node)
        elif isinstance(target, ast.Attribute):
            dotted, root = _dotted(target)
            if isinstance(root, ast.Name):
                if root.id in self.modules:
                    self.flag(node, f"replaces `{dotted}`, which the tests compare with")
            elif target.attr in COMPARISON_NAMES:
                self.flag(node, f"replaces `{dotted}`")
        elif isinstance(target, ast.Subscript):
            dotted, root = _dotted(target.value)
            if isinstance(root, ast.Name) and root.id in self.modules:
                self.flag(node, f"changes `{dotted}[...]`")

    def visit_Assign(self, node):
        for t in node.targets:
            self._target(t, node)
            if isinstance(t, ast.Name) and isinstance(node.value, (ast.Name, ast.Attribute)):
                dotted, root = _dotted(node.value)
                if isinstance(root, ast.Name) and root.id in self.modules:
                    self.modules.add(t.id)  # an alias of a module: `t = torch`
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    def visit_For(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id == "setattr":
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id == "self"):
                self.flag(node, "calls setattr on something other than self")
        if isinstance(f, ast.Name) and f.id == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("__")):
                self.flag(node, "calls getattr with a computed or special attribute name")
        if isinstance(f, ast.Attribute) and f.attr in FILE_CALLS:
            dotted, root = _dotted(f)
            if isinstance(root, ast.Name) and root.id in self.modules:
                self.flag(node, f"reads or writes files (`{dotted}`)")
        # allowed magics: check the code they run
        if isinstance(f, ast.Attribute) and f.attr in ("run_line_magic", "run_cell_magic") \
                and isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name) \
                and f.value.func.id == "get_ipython" and node.args and isinstance(node.args[0], ast.Constant):
            magic = str(node.args[0].value)
            code = node.args[-1].value if isinstance(node.args[-1], ast.Constant) else ""
            if magic in MAGICS_OK:
                self.found += _check_source(str(code), self.modules, self.label)
                for a in node.args:  # don't flag the get_ipython() of an allowed magic
                    self.visit(a)
                return
            self.flag(node, f"uses the IPython magic `%{magic}`")
            return
        self.generic_visit(node)

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):
            return  # a docstring or a bare string: says nothing
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and "/" in node.value and any(
                k in node.value for k in ("solutions", "gradebook", ".nbgrader", "autograded", "submitted")):
            self.flag(node, f"names a grader path ({node.value[:60]!r})")


def _check_source(source, modules, label):
    code = _python(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []  # it fails when it runs; nothing to hide
    checker = _Checker(modules, label)
    # `get_ipython().run_line_magic(...)` of an allowed magic is visited specially; other get_ipython is flagged
    checker.visit(tree)
    return checker.found


def static_findings(nb, assignment):
    """What the student-written code cells of (repaired) ``nb`` do that no honest answer needs."""
    ref = {nbgrader_meta(c)["grade_id"]: c for c in released(assignment).cells if nbgrader_meta(c).get("grade_id")}
    modules = set(MODULE_DEFAULTS)
    for c in ref.values():  # what the exercise's own cells import (torch, F, ...) counts as a module too
        if c.cell_type == "code":
            try:
                for node in ast.walk(ast.parse(_python(c.source))):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
            except SyntaxError:
                pass
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid in ref and nbgrader_meta(ref[gid]).get("locked"):
            continue  # read-only and test cells: nbgrader runs the exercise's own source
        label = f"cell {gid!r}" if gid else f"cell {i + 1}"
        found += _check_source(cell.source, modules, label)
    return found


# ---------------------------------------------------------------- runtime guard

GUARD = r'''# autograder integrity check (added by the grader, not part of your notebook)
def __autograder_guard(nonce={nonce!r}, names={names!r}, root={root!r}):
    import builtins, json, sys, types
    problems = []
    ns = sys.modules["__main__"].__dict__
    course = ("wavenet", "solutions", "autograder", "exercises", "data")
    def from_course(f):
        f = f.__func__ if isinstance(f, (types.MethodType, staticmethod, classmethod)) else f
        return isinstance(f, types.FunctionType) and f.__code__.co_filename.startswith(root)
    for name in names:
        obj = ns.get(name)
        if obj is None:
            continue
        try:
            mod = type.__getattribute__(obj, "__module__") if isinstance(obj, type) else "__main__"
            if isinstance(obj, types.FunctionType):
                mod = obj.__module__
            if mod != "__main__":
                problems.append(f"`{{name}}` comes from module {{mod}}, not from your notebook")
            members = []
            if isinstance(obj, type):
                for klass in type.__getattribute__(obj, "__mro__"):
                    if klass is object:
                        continue
                    kmod = str(type.__getattribute__(klass, "__module__"))
                    if kmod.split(".")[0] in course:
                        problems.append(f"`{{name}}` is built on the course's `{{kmod}}.{{klass.__name__}}`")
                    members += list(type.__getattribute__(klass, "__dict__").values())
            else:
                members.append(obj)
            if any(from_course(m) for m in members):
                problems.append(f"`{{name}}` runs the course's reference code")
        except Exception as e:
            problems.append(f"`{{name}}` could not be inspected ({{type(e).__name__}})")
    import functools, os
    homes = tuple({{os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}} | {{sys.prefix, sys.base_prefix}})
    homes += ("<frozen", root + "autograder/")
    def notebook_code(obj):
        # a library function is C code or Python code from an installed file; a notebook's is neither
        f = obj.__func__ if isinstance(obj, types.MethodType) else obj
        if isinstance(f, types.FunctionType):
            return not f.__code__.co_filename.startswith(homes)
        if isinstance(f, functools.partial):
            return True
        return type(f).__module__ == "__main__" or (isinstance(f, type) and f.__module__ == "__main__")
    scanned = [(m, sys.modules.get(m)) for m in ("torch", "torch.nn.functional", "torch.testing", "torch.linalg",
                                                "numpy", "numpy.testing", "math", "builtins", "importlib",
                                                "autograder.checks")]
    torch = sys.modules.get("torch")
    if torch is not None:
        scanned.append(("torch.Tensor", torch.Tensor))
    for label, mod in scanned:
        if mod is None:
            continue
        for attr, obj in list(mod.__dict__.items()):
            try:
                if notebook_code(obj):
                    problems.append(f"`{{label}}.{{attr}}` was replaced by code from the notebook")
            except Exception as e:
                problems.append(f"`{{label}}.{{attr}}` could not be inspected ({{type(e).__name__}})")
    for attr in ("equal", "allclose", "isclose", "tanh"):
        obj = getattr(torch, attr, None) if torch is not None else None
        if obj is not None and getattr(obj, "__name__", attr) != attr:
            problems.append(f"`torch.{{attr}}` was swapped for `{{getattr(obj, '__name__', '?')}}`")
    sys.stdout.write(nonce + json.dumps(sorted(set(problems))) + "\n")
__autograder_guard()
del __autograder_guard
'''


def guard_cell(names, nonce):
    """Source of one guard cell (see the module docstring)."""
    return GUARD.format(nonce=nonce, names=sorted(names), root=str(ROOT) + "/")


def inject_guards(nb, names, nonce):
    """A copy of ``nb`` with a guard cell before every test cell and one at the end."""
    from nbformat.v4 import new_code_cell

    nb = copy.deepcopy(nb)
    src = guard_cell(names, nonce)
    cells = []
    for i, c in enumerate(nb.cells):
        m = nbgrader_meta(c)
        if c.cell_type == "code" and m.get("grade") and not m.get("solution"):
            cells.append(_tagged(new_code_cell(src), f"autograder-guard-{i}"))
        cells.append(c)
    cells.append(_tagged(new_code_cell(src), "autograder-guard-end"))
    nb.cells = cells
    return nb


def _tagged(cell, cid):
    cell.metadata["tags"] = [GUARD_TAG]
    cell.id = cid
    return cell


def read_guards(nb, nonce):
    """``(ran, problems)`` from the guard cells of an autograded notebook."""
    ran, problems = 0, []
    for c in nb.cells:
        if GUARD_TAG not in c.metadata.get("tags", []):
            continue
        for out in c.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") not in ("NotRun", "KernelDied", "CellTimeoutError"):
                problems.append(f"the integrity check was stopped by the notebook's code ({out.get('ename')})")
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    if line.startswith(nonce):
                        ran += 1
                        try:
                            problems += json.loads(line[len(nonce):])
                        except ValueError:
                            problems.append("the integrity check's report was garbled")
    return ran, sorted(set(problems))


# ---------------------------------------------------------------- feedback

def hidden_lines(assignment):
    """Lines of hidden test code in the source notebook (long enough to be recognisable)."""
    lines = []
    for c in read_notebook(source_path(assignment)).cells:
        inside = False
        for line in c.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 12:
                lines.append(line.strip())
    return lines


class DropGuardCells(NbGraderPreprocessor):
    """Remove the grader's integrity-check cells from the feedback."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if GUARD_TAG not in c.metadata.get("tags", [])]
        return nb, resources


class RedactHidden(NbGraderPreprocessor):
    """Replace any output that quotes a line of hidden test code."""

    hidden = List(Unicode(), help="lines of hidden test code").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not self.hidden:
            return cell, resources
        outs = []
        for out in cell.get("outputs", []):
            text = json.dumps(out)
            if any(h in text or json.dumps(h)[1:-1] in text for h in self.hidden):
                from nbformat.v4 import new_output
                out = new_output("stream", name="stdout",
                                 text="[output removed by the grader: it quoted hidden test code]\n")
            outs.append(out)
        cell.outputs = outs
        return cell, resources
