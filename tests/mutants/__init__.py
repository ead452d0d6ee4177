"""A library of wrong (and of correct-but-different) implementations.

Each :class:`Mutant` swaps one or more answer cells of an assignment's solution
notebook, either for a whole new source or for the solution's source with a
few exact text replacements (each must match, so a mutant cannot silently stop
applying when a solution changes). ``fails`` maps every test the mutant must
lose to a piece of the message it must get; every other test must still pass.
A mutant with empty ``fails`` is a correct implementation written differently,
and must earn full marks.

Every hidden test has a visible twin in the same notebook (a test of the same concept on the learner's own
seed: ``wavenet.checks.probe.TWINS``): a mutant a hidden test catches is caught by its twin too, with the
same words, so ``fails`` lists the hidden test alone and :func:`twins` adds the visible one.

The assignments' modules (``a01_layers`` ...) each define ``MUTANTS``.
"""
import importlib
import pkgutil
from dataclasses import dataclass, field

from autograder.assignments import graded_cells, nbgrader_meta, read_notebook, source_path
from autograder.notebook.judge import probe_call


def twins(assignment):
    """``{hidden test id: id of its visible twin}`` in ``assignment``'s solution notebook (same options)."""
    from wavenet.checks.probe import TWINS

    calls = {nbgrader_meta(c)["grade_id"]: probe_call(c.source) for c in graded_cells(read_notebook(source_path(assignment)))}
    return {hid: vid for hid, (hname, hopts) in calls.items() for vid, (vname, vopts) in calls.items()
            if TWINS.get(vname) == hname and vopts == hopts}


@dataclass
class Mutant:
    name: str
    assignment: str
    why: str                                      # the mistake (or the different, correct way)
    fails: dict = field(default_factory=dict)     # test id -> expected piece of the message
    cells: dict = field(default_factory=dict)     # grade id -> new source
    patches: dict = field(default_factory=dict)   # grade id -> [(old, new), ...] on the solution's source

    def __post_init__(self):
        pairs = twins(self.assignment)
        for hidden, visible in pairs.items():
            if hidden in self.fails and visible not in self.fails:
                self.fails[visible] = self.fails[hidden]

    @property
    def correct(self):
        return not self.fails

    def unexpected(self, failed):
        """The tests in ``failed`` (``{test id: message}``) this mutant should not lose. Besides those listed, a
        test may fail only where its message says it is the same mistake: a test of the same object that also
        checks the values it computes (no points for structure alone), or a knock-on ("the same error as in")."""
        from wavenet.checks.verdict import BOUND

        return {t for t, msg in failed.items()
                if t not in self.fails and BOUND not in msg and "(the same error as in " not in msg}

    def missing(self, failed):
        """The tests this mutant should lose that ``failed`` lacks, or whose message does not name the mistake."""
        return {t for t, piece in self.fails.items() if t not in failed or piece not in failed[t]}

    def replacements(self, nb=None):
        """``{grade_id: source}`` for the runner."""
        nb = nb or read_notebook(source_path(self.assignment))
        sources = {nbgrader_meta(c).get("grade_id"): c.source for c in nb.cells}
        out = dict(self.cells)
        for cid, pairs in self.patches.items():
            src = out.get(cid, sources[cid])
            for old, new in pairs:
                if old not in src:
                    raise ValueError(f"mutant {self.name}: {old!r} not in cell {cid}")
                src = src.replace(old, new)
            out[cid] = src
        return out

    def notebook(self):
        """The solution notebook with this mutant's cells swapped in."""
        nb = read_notebook(source_path(self.assignment))
        repl = self.replacements(nb)
        for c in nb.cells:
            cid = nbgrader_meta(c).get("grade_id")
            if cid in repl:
                c.source = repl[cid]
        return nb


def all_mutants():
    out = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("a"):
            out += importlib.import_module(f"{__name__}.{info.name}").MUTANTS
    return out
