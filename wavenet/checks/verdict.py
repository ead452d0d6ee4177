"""From a probe's record to a verdict: pass, or fail with one message.

:func:`verdict` is the one path from data to a decision, used by a learner's
own notebook (visible tests) and by the grader (every test, in its own
process). It draws the test's inputs again from the seed, decodes the data
with :mod:`wavenet.checks.wire`, and calls the test's judge, which compares
the data with torch on those inputs and raises :class:`Fail` naming the likely
mistake. A record that is missing, malformed, of another test, or that says
the probe stopped, fails with a reason, and so does data holding NaN or an
infinity even where a judge let it through (:func:`wavenet.checks.wire.finite`);
nothing else passes.

Messages show the learner's values and the rule, never the grader's reference
values. Text that came out of the kernel (what was being done, an exception's
type and message, the learner's line) is checked before it is shown:
``safe=True`` (the grader, for cells that ran after hidden test code reached
the kernel) keeps only the test's words (:func:`words_of`), numbers and known
exception names, so a submission cannot use a message to smuggle hidden test text out.
"""
import re
from dataclasses import dataclass
from typing import Optional

from wavenet.checks import probe as probes
from wavenet.checks.wire import Data, Malformed, finite

# the visible tests' judges (a view of the specs, wavenet.checks.probe.Spec): a hidden test's is the grader's
JUDGES = probes.View(lambda s: s.judge if not s.hidden else None)


class Fail(Exception):
    """A judge's way to fail a test; the message names the likely mistake. ``cause`` names the mistake
    for tests that fail from the same one (see :class:`Verdict`)."""

    def __init__(self, message, cause=None):
        super().__init__(message)
        self.cause = cause


def fail(message, cause=None):
    raise Fail(message, cause)


def judge(name):
    """Register the decorated ``fn(inputs, data, **options)`` as the judge of visible test ``name`` (in its spec)."""
    def register(fn):
        spec = probes.PROBES[name]
        if spec.hidden:
            raise ValueError(f"{name!r} is a hidden test: its judge is the grader's (autograder/judges)")
        if spec.judge is not None:
            raise ValueError(f"two judges named {name!r}")
        spec.judge = fn
        return fn
    return register


@dataclass
class Verdict:
    """One test's outcome. ``cause`` identifies a learner error, so a later test failing from the same
    error can say so instead of repeating it."""
    passed: bool
    message: str = ""
    cause: Optional[tuple] = None


# ---------------------------------------------------------------- words a message may carry

# The words every probe may use to say what it was doing: plain English and the steps of probe.Learner
# ("reading", "copying values into", "an item of ... parameters()"). The names a test's probe adds (its
# classes, attributes, options) are declared with its probe, in its spec (probe.Spec.words); a test's
# messages keep kernel text made of these and its own words only (words_of). A test checks that every probe's
# descriptions use nothing else.
COMMON = frozenset("""
a an and as at by for from in into of on the to through with your whole after before every each
input inputs batch indices example examples single mode modes eval step steps result results
reading copying setting values value item items copy shape parameters True False None
""".split())


def words_of(name):
    """The words test ``name``'s messages may carry from the kernel: :data:`COMMON` and its spec's own."""
    spec = probes.PROBES.get(name)
    return COMMON | spec.words if spec is not None else COMMON


ERRORS = {"Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
          "LookupError", "NameError", "NotImplementedError", "OverflowError", "RecursionError",
          "RuntimeError", "StopIteration", "TypeError", "UnboundLocalError", "ValueError", "ZeroDivisionError",
          "MemoryError", "OutOfMemoryError", "ImportError", "ModuleNotFoundError"}
TYPES = {"NoneType", "bool", "int", "float", "str", "list", "tuple", "dict", "set", "ndarray", "Tensor",
         "Parameter", "generator", "function", "method", "map", "zip", "filter"}
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|[()\[\],.=*:'\"/ +-]")


def safe_words(text, words=COMMON):
    """``text`` if it is made only of ``words``, numbers and punctuation, else ``None``."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    pos = 0
    for m in TOKEN.finditer(text):
        if m.start() != pos:
            return None
        tok = m.group()
        if tok[0].isalpha() or tok[0] == "_":
            if tok not in words:
                return None
        pos = m.end()
    return text if pos == len(text) else None


def _shape(v):
    if isinstance(v, list) and len(v) <= 8 and all(isinstance(n, int) and not isinstance(n, bool) for n in v):
        return tuple(v)
    return None


# ---------------------------------------------------------------- why a probe stopped

ATTRIBUTE_HINTS = {
    "training": "set self.training = True in __init__ (eval mode sets it to False)",
    "out": "keep the output in self.out, as the lecture's layers do (cells that print shapes read layer.out)",
    "layers": "keep the layers, in order, in the list self.layers",
    "weight": "create it in __init__",
    "bias": "create it in __init__ (None when bias=False)",
    "gamma": "create it in __init__: torch.ones(dim)",
    "beta": "create it in __init__: torch.zeros(dim)",
    "running_mean": "create it in __init__: torch.zeros(dim)",
    "running_var": "create it in __init__: torch.ones(dim)",
}
SHAPE_HINTS = {
    "linear_layout": "the lecture keeps it as (fan_in, fan_out) and computes x @ weight "
                     "(torch.nn.Linear stores the transpose)",
    "conv_layout": "keep it as torch.nn.Conv1d does, (out_channels, in_channels, kernel_size)",
    "embedding_layout": "keep it as (num_embeddings, embedding_dim): one row per token",
}


def course_message(name, module=None):
    """The one wording for the course's own class (or function) used where the exercise asks for the learner's."""
    place = f"`from {module} import {name}`" if module else f"an import of the course's {name}"
    return (f"{name} is the course's own, imported ({place}), not yours: this exercise asks you to write {name} "
            f"yourself in its answer cell. Delete that import (the grader's kernel does not have the course's "
            f"{name}, so there the test cannot even start)")


# words an exception's own message may hold in a message the grader shows after hidden test code reached the
# kernel (with the test's words and numbers): the usual wording of Python's and torch's errors
EXCEPTION_WORDS = set("""
is not are be can cannot must should has have had no object attribute defined expected got but was were
size sizes shape shapes dimension dimensions dim dims match matches mismatch multiplied mat1 mat2 tensor tensors
index out range argument arguments positional keyword missing required takes given callable subscriptable
iterable int float str list tuple dict NoneType type types invalid for of to in with at or and the a an
element elements number numbers view reshape input output sizes stride contiguous compatible broadcast
non singleton value values unexpected zero division by only one two three four x
""".split())


def exception_text(text, words=COMMON):
    """The first line of an exception's message if it is made only of ``words``, an exception's usual words,
    numbers and punctuation (an exception's message is kernel text: after hidden test code reached the kernel,
    nothing else is shown)."""
    if not isinstance(text, str) or not text.strip():
        return None
    line = re.sub(r"(\d)x(\d)", r"\1 x \2", text.strip().splitlines()[0][:200])
    return safe_words(line, words | EXCEPTION_WORDS)


def stop_message(reason, safe=False, where=None, words=COMMON):
    """``(message, cause)`` for a probe that stopped; ``where`` places a learner line in a cell (the grader);
    ``words``: what kernel text may be made of, with ``safe`` (the test's: :func:`words_of`)."""
    if not isinstance(reason, dict):
        return "the test's data was malformed (no reason given for stopping)", None
    kind = reason.get("kind")
    what = reason.get("what")
    shown = safe_words(what, words) if safe else (what[:200] if isinstance(what, str) else None)
    subject = shown or "your code"
    if kind == "raised":
        etype = reason.get("type") if reason.get("type") in ERRORS or not safe else None
        etype = etype if isinstance(etype, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,60}", etype) else None
        line = reason.get("line") if isinstance(reason.get("line"), str) else None
        func = reason.get("func") if isinstance(reason.get("func"), str) else None
        lineno = reason.get("lineno") if isinstance(reason.get("lineno"), int) else None
        if where is not None:  # the grader: only a line found in the learner's own cells
            place = where(line, lineno, func) if line else None
        else:                  # the learner's own kernel
            place = f"line {lineno} of {func[:60]}: `{line[:160]}`" if line and func else None
        cause = ("raised", etype, place)
        if etype == "NotImplementedError":
            return f"{subject} raised NotImplementedError: replace `raise NotImplementedError()` with your code", cause
        msg = f"{subject} raised {etype or 'an exception'}"
        text = reason.get("message")
        if not safe and isinstance(text, str) and text.strip():
            msg += f": {text.strip().splitlines()[0][:200]}"
        elif safe and exception_text(text, words):  # the learner's check shows it: the grader too, in plain words
            msg += f": {exception_text(text, words)}"
        if place:
            msg += f" (at {place})"
        return msg, cause
    if kind == "course":
        name = reason.get("what") if isinstance(reason.get("what"), str) and re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]{0,60}", reason["what"]) else None
        module = reason.get("module") if isinstance(reason.get("module"), str) and re.fullmatch(
            r"wavenet(\.[a-z_]{1,30}){0,3}", reason["module"]) else None
        if name is None or (safe and name not in words):
            return "the test was given one of the course's own classes, not yours: write it in its answer cell", \
                ("course", None)
        return course_message(name, module), ("course", name)
    if kind == "missing":
        name = reason.get("name") if reason.get("name") in words or reason.get("name") in ATTRIBUTE_HINTS else None
        if name is None:
            return f"{subject} lacks an attribute the test needs", ("missing", None)
        hint = ATTRIBUTE_HINTS.get(name)
        return f"{subject} has no attribute `{name}`" + (f": {hint}" if hint else ""), ("missing", name)
    if kind == "none":
        if shown and shown.endswith(".bias"):
            return f"{shown} is None: bias=True is the default", ("none", shown)
        if shown and shown.startswith("build_model"):
            return f"{shown} returned None: return the model", ("none", shown)
        return f"{subject} is None", ("none", shown)
    if kind == "type":
        got = reason.get("got") if reason.get("got") in TYPES else "another type"
        return f"{subject} is {got}, not a torch.Tensor", ("type", shown)
    if kind == "nested":
        return (f"{subject} returned a list of lists: flatten it, e.g. "
                "[p for layer in self.layers for p in layer.parameters()]"), ("nested", shown)
    if kind == "shape":
        got, want = _shape(reason.get("got")), _shape(reason.get("want"))
        if got is None or want is None:
            return "the test's data was malformed (a shape that is not a list of sizes)", None
        hint = SHAPE_HINTS.get(reason.get("hint")) if len(got) >= 2 and got == want[::-1] else None
        if hint:
            return f"{subject} has shape {got}: {hint}", ("shape", reason.get("hint"))
        return f"{subject} has shape {got}, not {want}", ("shape", shown)
    if kind == "empty":
        return f"{subject} is empty: there is nothing to train", ("empty", shown)
    if kind == "slow":
        steps = reason.get("steps") if isinstance(reason.get("steps"), int) else "?"
        total = reason.get("total") if isinstance(reason.get("total"), int) else "?"
        return (f"the grader's training run was stopped at step {steps}/{total}: the model is far slower "
                "than the lecture's"), ("slow", None)
    return "the test's data was malformed (an unknown reason for stopping)", None


# ---------------------------------------------------------------- the verdict

# what a test says when its own check passed but the values it also checks (probe.bind) did not
BOUND = " (every test of it also checks the values it computes)"


def verdict(name, options, seed, record, judges=None, safe=False, where=None):
    """Judge one test.

    Args:
        name, options: the test's probe and its options, as the test cell calls it.
        seed: the run's seed (the inputs are drawn again from it).
        record: the probe's record (decoded with :func:`wavenet.checks.wire.loads`), or ``None``.
        judges: ``{name: judge}``; default: the visible tests' judges of this package.
        safe: keep kernel text out of the message (see the module docstring).
        where: ``where(line, lineno, function) -> "cell 'Linear', line 3: ..."``, or ``None`` when that line is
            not in the learner's own cells.

    Returns:
        a :class:`Verdict`.
    """
    judges = JUDGES if judges is None else judges
    if record is None:
        return Verdict(False, "the test did not report a result (its cell did not run to the end, or the "
                              "notebook replaced the course's check)")
    if record.get("test") != name:
        return Verdict(False, "the test's cell reported the result of another test")
    if "stop" in record:
        message, cause = stop_message(record["stop"], safe, where, words_of(name))
        return Verdict(False, message, cause)
    fn = judges.get(name)
    if fn is None:
        raise KeyError(f"no judge for test {name!r}")
    try:
        fn(probes.inputs(name, seed, options), Data(record["data"]), **(options or {}))
    except Fail as e:
        return Verdict(False, str(e), e.cause)
    except Malformed as e:
        return Verdict(False, f"the test's data was malformed ({e}): the notebook's code interfered with "
                              "the test, which gets no credit")
    except Exception as e:  # data that does not fit the inputs (a shape the judge cannot compare): no credit
        return Verdict(False, f"the test's data does not fit its inputs ({type(e).__name__}): the notebook's "
                              "code interfered with the test, which gets no credit")
    if name in probes.BINDS:  # the values the object computes, judged as their own test judges them
        values = probes.BINDS[name][0]
        bound = record.get("bind")
        if not isinstance(bound, dict) or ("data" in bound) == ("stop" in bound) or values not in judges:
            return Verdict(False, "the test's data lacks the values the grader checks (what your code computes on "
                                  "the grader's inputs): the notebook's code interfered with the test, which gets "
                                  "no credit")
        if "stop" in bound:
            message, cause = stop_message(bound["stop"], safe, where, words_of(values))
            return Verdict(False, message + BOUND, cause)
        binp, bopts = probes.bind_inputs(name, seed, options)
        try:
            judges[values](binp, Data(bound["data"]), **bopts)
        except Fail as e:
            return Verdict(False, f"{e}{BOUND}", e.cause)
        except Malformed as e:
            return Verdict(False, f"the test's data was malformed ({e}): the notebook's code interfered with "
                                  "the test, which gets no credit")
        except Exception as e:
            return Verdict(False, f"the test's data does not fit its inputs ({type(e).__name__}): the notebook's "
                                  "code interfered with the test, which gets no credit")
        if not finite(bound["data"]):
            return Verdict(False, "the test's results hold NaN or infinite values, which no correct implementation "
                                  "gives here")
    if not finite(record["data"]):  # after the judge, whose own message for NaN, where it has one, is better
        return Verdict(False, "the test's results hold NaN or infinite values, which no correct implementation "
                              "gives here: look for a division by zero, the square root of a negative number, or "
                              "a tensor filled with torch.empty or float('nan')")
    return Verdict(True)
