"""The course's nbgrader pipeline: one configuration for every way a grade is made.

nbgrader's own commands read it from the course's ``nbgrader_config.py``
(``nbgrader autograde``, formgrader's Autograde button, ``generate_feedback``);
the grader's scratch courses (``grade``, each student of ``grade-all`` on a
Dask worker) apply the same function. So whichever command grades a notebook,
its test cells are decided by :class:`autograder.notebook.judge.Judge` in the grader's
process, from what the sandboxed kernel sent::

    sanitize   WatchForStall      a notebook's grading that stalls dumps every thread's stack to the log
               Repair, ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata
    autograde  SandboxedExecute   the kernel in bubblewrap, under the limits (refuses without a sandbox)
               IgnorePattern, ClearMetadataPreprocessor, LimitOutput                       (nbgrader's)
               Judge              each test cell's verdict from its probe record
               SaveAutoGrades, AssignLatePenalties, CheckCellMetadata                      (nbgrader's)
               StopWatchingForStall
    feedback   GetGrades, ClearHiddenTests, VerdictOnly, CSSHTMLHeaderPreprocessor (autograder.notebook.feedback)
    generate   FillPackageLocation, then nbgrader's own steps

Everything a run needs besides the notebook (its seed, the course code the
kernel may import, the kernel's input folder, a short private folder for its
sockets) is made by :class:`autograder.notebook.execute.SandboxedExecute` when the
notebook starts and removed when it ends.
"""
from pathlib import Path

from nbconvert.exporters import NotebookExporter
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode


class Repair(NbGraderPreprocessor):
    """Match a submission's cells with the exercise before nbgrader relies on their metadata
    (:func:`autograder.notebook.repair.repair`); what was repaired is kept for the record."""

    def preprocess(self, nb, resources):
        from autograder.notebook.repair import repair

        nb, notes = repair(nb, resources["nbgrader"]["assignment"], self.reference(resources["nbgrader"]))
        for note in notes:
            self.log.warning("%s/%s: %s", resources["nbgrader"]["student"], resources["nbgrader"]["assignment"], note)
        nb.metadata.setdefault("autograder", {})["repairs"] = notes
        return nb, resources

    def reference(self, nbgrader):
        """The course directory's own release of this notebook (``release/<a>/<nb>.ipynb``, made by
        ``generate_assignment`` from its source), or ``None`` (then the repository's ``exercises/``)."""
        from nbgrader.coursedir import CourseDirectory

        from autograder.assignments import read_notebook

        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", nbgrader["assignment"]))
        path = path / f"{nbgrader['notebook']}.ipynb"
        return read_notebook(path) if path.is_file() else None


class WatchForStall(NbGraderPreprocessor):
    """First of a notebook's grading: should it last ``seconds``, every thread's stack goes to stderr (Python's
    ``faulthandler``), so a stall outside the kernel's run (which SandboxedExecute's watchdog bounds) still says
    where it is. One per process: the next notebook re-arms it, :class:`StopWatchingForStall` ends it."""

    seconds = Integer(1200, help="seconds one notebook's grading may take before the stacks are dumped").tag(config=True)

    def preprocess(self, nb, resources):
        import faulthandler
        import sys

        faulthandler.dump_traceback_later(self.seconds, file=sys.stderr)
        return nb, resources


class StopWatchingForStall(NbGraderPreprocessor):
    """Last of a notebook's grading: :class:`WatchForStall`'s dump is called off (formgrader's server lives on)."""

    def preprocess(self, nb, resources):
        import faulthandler

        faulthandler.cancel_dump_traceback_later()
        return nb, resources


class FillPackageLocation(NbGraderPreprocessor):
    """``generate_assignment``: the setup cell names where the course package installs from
    (``pyproject.toml``), so no released, autograded or feedback notebook shows the placeholder."""

    location = Unicode("", help="default: package-location of pyproject.toml").tag(config=True)

    def preprocess(self, nb, resources):
        from autograder.authoring.release import PACKAGE_TOKEN, package_location, with_package_location

        if any(PACKAGE_TOKEN in c.source for c in nb.cells):
            nb = with_package_location(nb, self.location or package_location())
        return nb, resources


class BoundedNotebookExporter(NotebookExporter):
    """nbgrader's exporter for ``autograde``, which reads each submitted file: its bytes are bounded (size,
    JSON values and depth: :mod:`autograder.bounded_json`) before nbformat parses them, so plain ``nbgrader
    autograde`` refuses a bloated notebook in a fraction of a second, naming why, as ``grade-all`` does."""

    def from_filename(self, filename, resources=None, **kw):
        from autograder.bounded_json import check
        from autograder.notebook.submission import MAX_BYTES

        with open(filename, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValueError(f"{filename} is over {MAX_BYTES // 2**20} MB, far more than a notebook of this course")
        check(data, str(filename))
        return super().from_filename(filename, resources, **kw)


def configure(c, limits=None, unsafe=False):
    """Put the course's pipeline into the traitlets config ``c`` (see the module docstring); return ``c``.

    Args:
        limits: a :class:`autograder.sandbox.limits.Limits` (default: its defaults, one home for them).
        unsafe: run kernels without the sandbox (trusted notebooks on a machine without bubblewrap).
    """
    from nbgrader.converters import Autograde, GenerateAssignment
    from nbgrader.preprocessors import Execute, LimitOutput

    from autograder.notebook import feedback
    from autograder.assignments import KERNEL_ARGS
    from autograder.notebook.execute import SandboxedExecute
    from autograder.notebook.judge import Judge
    from autograder.sandbox.limits import Limits

    limits = limits or Limits()
    sanitize = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert Execute in steps and LimitOutput in steps, "nbgrader's autograde pipeline changed"
    i = steps.index(LimitOutput)
    c.Autograde.exporter_class = BoundedNotebookExporter
    c.Autograde.sanitize_preprocessors = [WatchForStall, Repair] + sanitize
    c.Autograde.autograde_preprocessors = ([SandboxedExecute if s is Execute else s for s in steps[:i + 1]]
                                           + [Judge] + steps[i + 1:] + [StopWatchingForStall])
    generate = list(GenerateAssignment.class_traits()["preprocessors"].default())
    c.GenerateAssignment.preprocessors = [FillPackageLocation] + [p for p in generate if p is not FillPackageLocation]

    c.Execute.timeout = limits.cell_timeout
    c.Execute.extra_arguments = KERNEL_ARGS
    c.SandboxedExecute.notebook_timeout = limits.notebook_timeout
    c.SandboxedExecute.max_output_bytes = limits.max_output_bytes
    c.SandboxedExecute.notebook_output_bytes = limits.notebook_output_bytes
    c.SandboxedExecute.cpu_seconds = limits.cpu_seconds
    # SandboxedExecute's own bound (notebook_timeout + 180 s), its last cancel (15 s), and nbgrader's other steps
    c.WatchForStall.seconds = limits.notebook_timeout + 300
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    km = c.SandboxKernelManager
    km.unsafe = bool(unsafe)
    km.limit_values = {k: getattr(limits, k) for k in limits.__dataclass_fields__}
    feedback.configure(c)
    return c

