"""The grader's judges: the hidden tests' own, next to the visible ones of :mod:`wavenet.checks`.

The learner package carries every probe and the judges of the visible tests
(a learner sees those tests anyway). The judges of hidden tests live here
only, in topic modules that mirror the package's: ``layers``, ``modules``,
``flatten``, ``models``, ``conv``. :func:`judges` is every judge the grader
knows, by test name.
"""
import importlib

HIDDEN = {}
TOPICS = ("layers", "modules", "flatten", "models", "conv")


def judge(name):
    """Register the decorated ``fn(inputs, data, **options)`` as the judge of hidden test ``name``."""
    def register(fn):
        if name in HIDDEN:
            raise ValueError(f"two hidden judges named {name!r}")
        HIDDEN[name] = fn
        return fn
    return register


def judges():
    """``{test name: judge}`` for every test, hidden and visible."""
    import wavenet.checks  # noqa: F401  (registers the probes and the visible judges)
    from wavenet.checks.verdict import JUDGES

    for topic in TOPICS:
        importlib.import_module(f"{__name__}.{topic}")
    both = set(HIDDEN) & set(JUDGES)
    if both:
        raise RuntimeError(f"tests judged both by the package and by the grader: {sorted(both)}")
    return {**JUDGES, **HIDDEN}
