"""The grader's judges: the hidden tests' own, next to the visible ones of :mod:`wavenet.checks`.

The learner package carries every test's spec (``wavenet.checks.probe.Spec``:
its inputs, probe, whether it is hidden, ...) and the judges of the visible
tests (a learner sees those tests anyway). The judges of hidden tests are
registered into the same specs from here only, in topic modules that mirror
the package's: ``layers``, ``modules``, ``flatten``, ``models``, ``conv``.
:func:`judges` is every judge the grader knows, by test name.
"""
import importlib

from wavenet.checks.probe import PROBES, View

HIDDEN = View(lambda s: s.judge if s.hidden else None)  # the hidden tests' judges, once registered
TOPICS = ("layers", "modules", "flatten", "models", "conv")


def judge(name):
    """Register the decorated ``fn(inputs, data, **options)`` as the judge of hidden test ``name``, in its spec."""
    def register(fn):
        import wavenet.checks  # noqa: F401  (registers the specs)

        spec = PROBES[name]
        if not spec.hidden:
            raise ValueError(f"{name!r} is a visible test: its judge is the package's (wavenet/checks)")
        if spec.judge is not None and spec.judge is not fn:
            raise ValueError(f"two hidden judges named {name!r}")
        spec.judge = fn
        return fn
    return register


def judges():
    """``{test name: judge}`` for every test, hidden and visible (a view of the specs)."""
    import wavenet.checks  # noqa: F401  (registers the specs and the visible judges)

    for topic in TOPICS:
        importlib.import_module(f"{__name__}.{topic}")
    missing = sorted(name for name, spec in PROBES.items() if spec.judge is None)
    if missing:
        raise RuntimeError(f"tests without a judge: {missing}")
    return View(lambda s: s.judge)
