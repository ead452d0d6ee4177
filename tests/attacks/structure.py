"""Issue 18, hole 10: a forger that answers every test from structure alone, on the EMPTY exercise.

:func:`strongest` builds the strongest structure-only forger there is: its ``check`` replaces the course's and
emits, for each test, the record a *correct* implementation gives on this run's inputs, with every tensor
replaced by zeros of its shape: every shape, count, flag and number (a std, a parameter count) is right, no
value is. Where the correct record comes from is the test's business (:data:`REFERENCE`, filled by the test from
the solution run in the same process); in a graded kernel the course's own classes are not there, so a real
forger knows less than this one.

:func:`seed_only` is the forger of ``tests/attacks/extra.py`` (``FORGE``, the structural answers of
01_layers from ``probe.inputs`` alone), for a run through ``python -m autograder grade``.
"""
from attacks import insert_after, release
from attacks.extra import FORGE
from autograder.assignments import nbgrader_meta, read_notebook, source_path

REFERENCE = {}  # {name in the notebook: a correct object}, set before the forger's notebook runs in-process

STRONGEST = '''
import torch
from attacks.structure import REFERENCE
from wavenet.checks import context, probe

def _zeros(x):
    if isinstance(x, torch.Tensor):
        return torch.zeros_like(x)
    if isinstance(x, dict):
        return {k: _zeros(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_zeros(v) for v in x)
    return x

def check(test, *objects, **options):
    run = context.current()
    right = [REFERENCE.get(getattr(o, "__name__", None), o) for o in objects]
    record = probe.run(test, right, options, seed=run.seed)  # what a correct implementation reports here
    context.emit(_zeros(record))                             # its structure, none of its values
'''


def strongest(assignment, forger=STRONGEST):
    """The empty exercise of ``assignment`` with the strongest structure-only forger after its setup cell, its
    hidden tests in place (as nbgrader puts them back before grading): the solution notebook, each answer cell
    holding the released stub."""
    stubs = {nbgrader_meta(c).get("grade_id"): c.source for c in release(assignment).cells
             if nbgrader_meta(c).get("solution")}
    nb = read_notebook(source_path(assignment))
    for c in nb.cells:
        if nbgrader_meta(c).get("grade_id") in stubs:
            c.source = stubs[nbgrader_meta(c)["grade_id"]]
    return insert_after(nb, "setup", forger)


def seed_only(assignment="01_layers"):
    """The empty exercise with ``extra.FORGE``'s structural answers (no value computed): for ``grade``."""
    return insert_after(release(assignment), "setup", FORGE.format(values=False))
