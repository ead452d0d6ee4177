"""The grader's verdict: an nbgrader preprocessor between execution and ``SaveAutoGrades``.

nbgrader gives a test cell its points when the cell's outputs hold no error.
:class:`Judge` makes that rule the grader's: for every test cell it reads the
probe record the cell produced (plain data; :mod:`wavenet.checks.wire`),
judges it in this process against torch on inputs drawn again from the run's
seed (:func:`wavenet.checks.verdict.verdict`), and *replaces* the cell's
outputs with the verdict: nothing when it passed, one ``CheckFailed`` error
with the grader's message when it did not. Whatever the kernel printed,
raised or displayed in a test cell counts for nothing.

Which test a cell runs comes from the cell's source, which nbgrader has just
restored from the gradebook (the kernel cannot change it): the one
``check("name", ..., option=literal)`` call in it. A cell gets credit only
for exactly one record of that test; none, several, a malformed one or one
of another test fail with a reason.

Messages never carry kernel text that could smuggle hidden tests out: for
cells that ran after the first hidden test reached the kernel, only known
words and numbers are kept (``safe`` in :func:`~wavenet.checks.verdict.verdict`);
an exception's line is shown only when it is found in the learner's own cells.
A failure caused by the same learner error as an earlier test says so.
"""
import ast
import re

from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from wavenet.checks import wire
from wavenet.checks.verdict import COMMON, ERRORS, Verdict, course_message, exception_text, verdict, words_of

HIDDEN = "### BEGIN HIDDEN TESTS"


def check_call(source):
    """The one ``check(...)`` call of a test cell's source (an ``ast.Call``), or ``None``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "check"]
    return calls[0] if len(calls) == 1 else None


def probe_call(source):
    """``(name, options)`` of the one ``check(...)`` call in a test cell's source, or ``None``."""
    call = check_call(source)
    if call is None or not call.args or not isinstance(call.args[0], ast.Constant):
        return None
    try:
        options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except ValueError:
        return None
    return call.args[0].value, options


def first_object(source):
    """The name of the first object a test cell's ``check("name", Obj, ...)`` call passes (``"Obj"``), or ``None``."""
    call = check_call(source)
    if call is not None and len(call.args) > 1 and isinstance(call.args[1], ast.Name):
        return call.args[1].id
    return None


def course_imports(nb):
    """``{name: module}`` the notebook's own cells (not the exercise's read-only ones) import from the course's
    package (``from wavenet.nn import Tanh``): read from the sources, never from kernel text."""
    found = {}
    for c in nb.cells:
        if c.cell_type != "code" or is_test(c) or utils.is_locked(c) and not utils.is_solution(c):
            continue
        try:
            tree = ast.parse(c.source)
        except SyntaxError:
            continue
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "wavenet" \
                    and not (n.module or "").startswith("wavenet.checks"):
                found.update({(a.asname or a.name): n.module for a in n.names})
    return found


def is_test(cell):
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def first_hidden(nb):
    """Index of the first cell holding hidden test code (from then on the kernel has seen some)."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and HIDDEN in c.source), len(nb.cells))


def learner_lines(nb):
    """``where(line, lineno, function)``: the learner's cell that defines ``function`` and holds ``line`` at
    ``lineno``, as ``cell 'Linear', line 12: `...```; ``None`` when no learner cell matches (kernel text that is
    not the learner's own code never reaches a message)."""
    cells = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code" or is_test(c):
            continue
        label = c.metadata.nbgrader.grade_id if utils.is_solution(c) else f"cell {i + 1}"
        try:
            defined = {n.name for n in ast.parse(c.source).body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        except SyntaxError:
            defined = set()
        cells.append((label, c.source.splitlines(), defined))

    def where(line, lineno, function):
        top = function.split(".")[0] if isinstance(function, str) else None
        for label, lines, defined in cells:
            if (top in defined or top == "<module>") and isinstance(lineno, int) and 0 < lineno <= len(lines) \
                    and lines[lineno - 1].strip() == str(line).strip():
                return f"cell '{label}', line {lineno}: `{lines[lineno - 1].strip()[:120]}`"
        return None
    return where


def records(cell):
    """The probe records among a cell's outputs, decoded (or the :class:`wire.Malformed` raised)."""
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data") if out.get("output_type") in ("display_data", "execute_result") else None
        if isinstance(data, dict) and wire.MIME in data:
            try:
                found.append(wire.loads(data[wire.MIME]))
            except wire.Malformed as e:
                found.append(e)
            except Exception as e:  # whatever else the data makes the parser do (recursion, memory)
                found.append(wire.Malformed(f"unreadable ({type(e).__name__})"))
    return found


def without_record(cell, event, safe, imported=None):
    """Why a test cell produced no record: the grader's event for it, else the error the cell raised.
    ``imported``: ``{name: module}`` the learner's cells import from the course's package. When ``safe``, the
    error's text is kept only if made of the test's words (:func:`wavenet.checks.verdict.words_of`)."""
    if event is not None:
        return Verdict(False, f"the test did not run: {event[1]}", ("event", event[0]))
    err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if err is None:
        return Verdict(False, "the test did not report a result (the notebook replaced or silenced the course's "
                              "check)")
    ename = err.get("ename") if err.get("ename") in ERRORS else "an error"
    name = first_object(cell.source)  # the test cell's source is the grader's own (restored from the gradebook)
    if ename == "NameError" and name in (imported or {}):
        return Verdict(False, course_message(name, imported[name]), ("course", name))
    # the exception's text, as the learner's kernel shows it; after hidden test code reached the kernel, only
    # when it is plain words (exception_text)
    evalue = err.get("evalue") if isinstance(err.get("evalue"), str) else ""
    call = probe_call(cell.source)
    words = words_of(call[0]) if call else COMMON
    shown = exception_text(evalue, words) if safe else (evalue.strip().splitlines() or [""])[0]
    if ename == "NameError":
        text = f" ({shown[:120]})" if shown else ""
        return Verdict(False, f"the test could not start: NameError{text}: the cell that defines what it tests did "
                              "not run, or raised an error", ("NameError", None))
    text = f": {shown[:160]}" if shown else ""
    return Verdict(False, f"the test could not start: {ename}{text}", ("start", ename))


class Judge(NbGraderPreprocessor):
    """Decide every test cell from its probe record (see the module docstring)."""

    seed = Integer(help="the run's seed, when no executor set one (the in-process runner)").tag(config=True)
    assignment = Unicode().tag(config=True)

    def preprocess(self, nb, resources):
        from autograder.judges import judges

        known = judges()
        state = resources.setdefault("autograder", {})
        seed = state.get("seed", self.seed)  # the executor's: it drew the kernel's inputs from it
        events = state.get("events", {})
        sent = state.get("records", {})
        hidden_from = first_hidden(nb)
        where = learner_lines(nb)
        imported = course_imports(nb)
        causes, results = {}, {}
        for i, cell in enumerate(nb.cells):
            if not is_test(cell):
                continue
            gid = cell.metadata.nbgrader.grade_id
            safe = i >= hidden_from
            call = probe_call(cell.source)
            found = records(cell)
            if call is None or call[0] not in known:
                v = Verdict(False, "this test cell is not one of the course's (the grader cannot judge it)")
            elif not found:
                v = without_record(cell, events.get(i), safe, imported)
            elif len(found) > 1 or sent.get(i, 0) > 1:
                n = max(len(found), sent.get(i, 0))  # the executor keeps two; it counts them all
                v = Verdict(False, f"the test's cell reported {n} results; a test reports exactly one")
            elif isinstance(found[0], wire.Malformed):
                v = Verdict(False, f"the test's data was malformed ({found[0]}): the notebook's code interfered "
                                   "with the test, which gets no credit")
            else:
                v = verdict(call[0], call[1], seed, found[0], known, safe=safe, where=where)
            # a test failing from an earlier test's error says which: the judge's cause, else the same words
            # (numbers aside: a visible test and its hidden twin draw different sizes)
            cause = v.cause or ("words", re.sub(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", "#", v.message))
            if not v.passed and cause[0] != "event":
                if cause in causes:
                    v.message += f" (the same error as in {causes[cause]}: fix that first)"
                else:
                    causes[cause] = gid
            results[gid] = {"passed": v.passed, "message": v.message}
            cell.outputs = [] if v.passed else [new_output("error", ename="CheckFailed", evalue=v.message,
                                                           traceback=[f"CheckFailed: {v.message}"])]
        # what the grader decided, kept with the autograded notebook (written by the grader, out of the
        # kernel's reach): the record and the feedback read it from here
        nb.metadata["autograder"] = {
            "tests": results, "seed": seed, "first_hidden": hidden_from,
            "repairs": list(nb.metadata.get("autograder", {}).get("repairs", [])),
            "events": [[i, kind, text] for i, (kind, text) in sorted(events.items())],
            "oom": bool(state.get("oom")), "cpu_spent": bool(state.get("cpu_spent")),
            "limits_note": str(state.get("limits_note") or "")}
        return nb, resources
