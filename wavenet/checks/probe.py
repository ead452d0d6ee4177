"""Probes: the kernel-side half of every test.

A probe runs the learner's objects on inputs and returns plain data; it
decides nothing. Its inputs come from :func:`inputs`, a function of the test's
name and of a seed, so the grader, which knows the seed, draws the very same
inputs in its own process and judges the data against torch (see
:mod:`wavenet.checks.verdict`). When grading, the seed is new for every
submission and only reaches the kernel when it runs, so data copied from
another run is worth nothing: it is right only if it is what a correct
implementation returns on *these* inputs.

A probe touches learner code only through a :class:`Learner`, which turns
whatever goes wrong (an exception, a missing attribute, a tensor of the wrong
shape) into :class:`Stop` with a structured reason; the grader words it.

Registering a probe::

    @probe("linear_forward", inputs=lambda g: {"x": randn(5, 20, gen=g)})
    def _(learner, inp, Linear):
        ...
        return {"out": out}
"""
import contextlib
import hashlib
import linecache
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional

import torch

PROBES = {}  # every test's one spec, by name (see Spec)
VOCAB = 27


@dataclass
class Spec:
    """Everything about one test, in one place, read by the learner's check, the grader, calibration and the tests.

    ``inputs(gen, **options)`` draws its inputs, ``run(learner, inputs, *objects, **options)`` (its probe)
    measures the learner's objects on them, ``judge(inputs, data, **options)`` decides. A hidden test's spec is
    declared here with ``hidden=True``; its judge is registered by the grader's package only
    (``autograder/judges``), so outside a judged run it fails closed. ``twin_of``: the hidden test whose probe and
    judge a visible test shares (:func:`twin`); ``bind``: ``(values test, options)`` whose data this test's data
    also holds (:func:`bind`); ``val_loss``: for the tests that train, the task, recipe and the rest of the
    grader's run (:mod:`wavenet.checks.models`, :mod:`wavenet.checks.conv`); ``words``: the names its probe uses
    to say what it was doing, the only words besides :data:`wavenet.checks.verdict.COMMON` that kernel text in
    its messages may hold (:func:`wavenet.checks.verdict.words_of`)."""
    name: str
    inputs: Callable
    run: Callable
    judge: Optional[Callable] = None
    hidden: bool = False
    twin_of: Optional[str] = None
    bind: Optional[tuple] = None
    val_loss: Optional[dict] = None
    words: frozenset = frozenset()

    @property
    def arity(self):
        """How many of the learner's objects the probe takes (those after ``learner`` and ``inputs``)."""
        import inspect
        params = list(inspect.signature(self.run).parameters.values())[2:]
        return sum(1 for p in params if p.default is inspect.Parameter.empty
                   and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


class View(Mapping):
    """A read-only ``{test name: value}`` of the specs, ``pick(spec)`` each (``None``: left out)."""

    def __init__(self, pick):
        self.pick = pick

    def _items(self):
        return {name: v for name, spec in PROBES.items() if (v := self.pick(spec)) is not None}

    def __getitem__(self, name):
        return self._items()[name]

    def __iter__(self):
        return iter(self._items())

    def __len__(self):
        return len(self._items())


TWINS = View(lambda s: s.twin_of)    # visible test -> the hidden test of the same concept whose probe it shares
BINDS = View(lambda s: s.bind)       # test -> (values test, options of the values test from the test's options)
HIDDEN = View(lambda s: s.name if s.hidden else None)


def probe(name, inputs=None, hidden=False, val_loss=None, words=""):
    """Register the decorated function as the probe of test ``name`` (its spec: :class:`Spec`). ``words``: the
    names (classes, attributes, options) its probe uses to say what it was doing, beyond
    :data:`wavenet.checks.verdict.COMMON`: the only other words kernel text in its messages may hold."""
    def register(fn):
        if name in PROBES:
            raise ValueError(f"two probes named {name!r}")
        PROBES[name] = Spec(name, inputs or (lambda gen, **options: {}), fn, hidden=hidden, val_loss=val_loss,
                            words=frozenset(words.split()))
        return fn
    return register


def twin(name, of):
    """Register test ``name`` with the probe (and, in the package, the judge) of hidden test ``of``: the same
    measurement, drawn from its own seed (a visible test and the hidden test of the same concept draw different
    inputs); its judge is registered with :func:`wavenet.checks.verdict.judge`."""
    if name in PROBES:
        raise ValueError(f"two probes named {name!r}")
    PROBES[name] = Spec(name, PROBES[of].inputs, PROBES[of].run, twin_of=of, words=PROBES[of].words)


def bind(name, values, options=lambda **o: {}):
    """Test ``name``'s data also holds the data of test ``values`` (a test of the values the object under test
    computes, on its own draw of inputs), which the grader judges against its reference: a test is never
    passed by structure alone (shapes, counts, flags answered from the seed without the learner's code).
    ``options(**name's options)`` gives the values test's options."""
    PROBES[name].bind = (values, options)


def bind_key(name):
    """The name the inputs of test ``name``'s values check are drawn under (a draw of their own)."""
    return f"{name}>{BINDS[name][0]}"


def bind_inputs(name, seed, options=None):
    values, opts = BINDS[name]
    gen = torch.Generator().manual_seed(seed_for(seed, bind_key(name)))
    vopts = opts(**(options or {}))
    return PROBES[values].inputs(gen, **vopts), vopts


def seed_for(seed, name):
    """The seed of test ``name`` in a run with seed ``seed``: tests draw independently of each other."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def inputs(name, seed, options=None):
    """The inputs of test ``name`` for ``seed`` (the same in the kernel and in the grader)."""
    gen = torch.Generator().manual_seed(seed_for(seed, name))
    return PROBES[name].inputs(gen, **(options or {}))


def randn(*shape, gen, mean=0.0, std=1.0):
    return torch.randn(shape, generator=gen) * std + mean


def randint(lo, hi, gen):
    """One int in ``[lo, hi]``."""
    return int(torch.randint(lo, hi + 1, (1,), generator=gen))


# ---------------------------------------------------------------- touching learner code

class Stop(Exception):
    """The probe cannot go on; ``reason`` is a dict the grader turns into a message."""

    def __init__(self, kind, what, **details):
        super().__init__(kind)
        self.reason = {"kind": kind, "what": what, **details}


# where a cell's code lives: IPython/ipykernel cells, and the in-process runner's
CELL_FILE = re.compile(r"^<ipython-input-|^<cell |/ipykernel_\d+/\d+\.py$")


def learner_line(tb):
    """``(line text, line number in its cell, function)`` of the last traceback frame in notebook code."""
    found = (None, None, None)
    while tb is not None:
        code = tb.tb_frame.f_code
        if CELL_FILE.search(code.co_filename):
            text = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            found = (text or None, tb.tb_lineno, getattr(code, "co_qualname", code.co_name))
        tb = tb.tb_next
    return found


class Learner:
    """The probe's only way to run learner code; every failure becomes a :class:`Stop`."""

    def call(self, what, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``; ``what`` says what was being done, e.g. ``Linear(20, 30) on a (5, 20) input``."""
        try:
            return fn(*args, **kwargs)
        except Stop:
            raise
        except Exception as e:
            line, lineno, func = learner_line(e.__traceback__)
            raise Stop("raised", what, type=type(e).__name__, message=str(e)[:300], line=line, lineno=lineno,
                       func=func) from None

    def attr(self, obj, name, what):
        """``obj.name``, or a Stop saying it is missing."""
        missing = object()
        value = self.call(f"reading {what}.{name}", getattr, obj, name, missing)
        if value is missing:
            raise Stop("missing", what, name=name)
        return value

    def tensor(self, obj, name, what, shape=None, hint=None):
        """``obj.name`` as a tensor (of ``shape``, when given; ``hint`` names the likely layout mistake)."""
        t = self.attr(obj, name, what)
        return self.check_tensor(t, f"{what}.{name}", shape, hint)

    def check_tensor(self, t, what, shape=None, hint=None):
        if t is None:
            raise Stop("none", what)
        if not isinstance(t, torch.Tensor):
            raise Stop("type", what, got=type(t).__name__)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise Stop("shape", what, got=list(t.shape), want=list(shape), hint=hint)
        return t

    def output(self, what, fn, *args, **kwargs):
        """Call learner code that must return a tensor."""
        return self.check_tensor(self.call(what, fn, *args, **kwargs), f"the result of {what}")

    def assign(self, obj, name, value, what, hint=None):
        """Copy grader values into the learner's own tensor ``obj.name`` in place (it keeps its identity).

        Any shape holding the same values in order will do ((C,) or (1, C) for a BatchNorm's gamma),
        except the transpose of a 2-D ``value``, which ``hint`` names.
        """
        t = self.tensor(obj, name, what)
        transposed = value.ndim == 2 and tuple(t.shape) == tuple(value.shape)[::-1] and value.shape[0] != value.shape[1]
        if t.numel() != value.numel() or (transposed and hint):
            raise Stop("shape", f"{what}.{name}", got=list(t.shape), want=list(value.shape), hint=hint)
        with torch.no_grad():
            self.call(f"copying values into {what}.{name}", t.copy_, value.reshape(t.shape))
        return t

    def parameters(self, module, what):
        """``module.parameters()`` as a list of tensors."""
        ps = self.call(f"{what}.parameters()", module.parameters)
        if ps is None:
            raise Stop("none", f"{what}.parameters()")
        try:
            ps = list(ps)
        except TypeError:
            raise Stop("type", f"{what}.parameters()", got=type(ps).__name__) from None
        for p in ps:
            if isinstance(p, (list, tuple)):
                raise Stop("nested", f"{what}.parameters()")
            self.check_tensor(p, f"an item of {what}.parameters()")
        return ps


@contextlib.contextmanager
def quiet_and_private():
    """Warnings off; the global RNG and the thread count restored afterwards (a probe leaves no trace)."""
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            torch.set_rng_state(state)
            torch.set_num_threads(threads)


def from_course(obj):
    """``(name, module)`` when ``obj`` is one of the course's own classes or functions (``wavenet.nn.Tanh``,
    imported where the exercise asks for the learner's own), else ``None``."""
    try:
        module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
    except Exception:  # an object whose attributes raise is the learner's own, whatever it is
        return None
    if isinstance(module, str) and isinstance(name, str) and (module == "wavenet" or module.startswith("wavenet.")) \
            and not module.startswith("wavenet.checks"):
        return name, module
    return None


def course_stop(name, objects):
    """The record of test ``name`` given the course's own class where the exercise asks for the learner's
    (its first object), else ``None``."""
    course = from_course(objects[0]) if objects else None
    if course is None:
        return None
    return {"v": 1, "test": name, "stop": {"kind": "course", "what": course[0], "module": course[1]}}


def run(name, objects, options=None, seed=0):
    """Run the probe of test ``name`` on the learner's ``objects``; return its record (plain data)."""
    options = dict(options or {})
    record = {"v": 1, "test": name}
    with quiet_and_private():
        inp = inputs(name, seed, options)
        try:
            record["data"] = PROBES[name].run(Learner(), inp, *objects, **options)
        except Stop as s:
            record["stop"] = s.reason
            return record
        if name in BINDS:  # the values the object computes, which the grader checks too (see bind)
            values = BINDS[name][0]
            binp, bopts = bind_inputs(name, seed, options)
            try:
                record["bind"] = {"data": PROBES[values].run(Learner(), binp, *objects[:PROBES[values].arity],
                                                             **bopts)}
            except Stop as s:
                record["bind"] = {"stop": s.reason}
    return record
