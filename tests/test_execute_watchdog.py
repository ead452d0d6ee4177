"""A notebook's run is bounded whatever it waits on (issue 18: one plain ``nbgrader autograde`` of a class
stopped for 19 minutes after the fork bomb).

nbclient bounds each wait for a cell's reply by the cell timeout; the grader's watchdog
(:meth:`SandboxedExecute._watch_run`) bounds the whole run, start and stop included. Since the hang
was never reproduced, the two waits nbclient does not bound are staged here: one on a kernel message that never
comes (ended by killing the kernel), one on nothing the kernel can end (ended by cancelling the run's tasks).
A student who stalls the grader loses the cells from the one that hung on, and keeps the points before it.
The kernel that ignores the grader's interrupt (tests/attacks/extra.py) is ended by the cell timeout alone.
"""
import asyncio
import logging
import time

import pytest
from jupyter_core.utils import run_sync
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

import attacks as A
from attacks import extra as X
from autograder.notebook import pipeline
from autograder.notebook.execute import SandboxedExecute
from autograder.sandbox import isolate
from autograder.sandbox.limits import Limits

pytestmark = pytest.mark.sandbox  # fails without bubblewrap (tests/needs.py)
HARD = 25  # the staged runs' hard limit: the kernel's start and the first cell fit well within it


class Stalls(SandboxedExecute):
    """Waits, in a cell whose source says ``STALL message`` or ``STALL nothing``, where nbclient never times out."""

    CANCEL_AFTER = 3

    def hard_limit(self):
        return HARD

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.source == "STALL message":
            await self.kc.shell_channel.get_msg(timeout=None)  # a reply to nothing: no message ends it
        elif cell.source == "STALL nothing":
            await asyncio.sleep(10 ** 6)
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    execute_cell = run_sync(async_execute_cell)  # nbclient's sync name is bound to its own method


def run(executor_class, sources, limits):
    c = pipeline.configure(Config(), limits)
    ex = executor_class(config=c, seed=1)
    ex.log = logging.getLogger("test-watchdog")
    nb = new_notebook(cells=[new_code_cell(s) for s in sources],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    resources = {"nbgrader": {"assignment": A.LAYERS, "student": "s", "notebook": A.LAYERS}}
    t0 = time.monotonic()
    nb, resources = ex.preprocess(nb, resources)
    return nb, resources["autograder"]["events"], time.monotonic() - t0


def test_the_hard_limit_comes_before_grade_alls_own():
    """grade-all kills a grading process at the notebook's budget plus isolate.SLACK, and the student then loses
    everything; the watchdog must act first, so that the points before the hang are kept."""
    ex = SandboxedExecute(notebook_timeout=150)
    assert ex.notebook_timeout < ex.hard_limit() < ex.notebook_timeout + isolate.SLACK


@pytest.mark.parametrize("wait", ["message", "nothing"])
def test_a_run_that_hangs_is_stopped_at_its_hard_limit(wait, caplog):
    caplog.set_level(logging.ERROR, logger="test-watchdog")
    nb, events, seconds = run(Stalls, ["print('before', 6 * 7)", f"STALL {wait}", "print('after')"],
                              Limits(cell_timeout=10, notebook_timeout=60))
    assert HARD <= seconds < HARD + Stalls.CANCEL_AFTER + 20, seconds
    before, hung, after = nb.cells
    assert [o.get("text") for o in before.outputs] == ["before 42\n"] and 0 not in events, events
    assert events[1][0] == "kernel died" and f"hard limit ({HARD} s)" in events[1][1], events
    assert events[2][0] == "not run" and not after.outputs and after.execution_count is None, events
    log = caplog.text
    assert f"passed its hard limit of {HARD} s" in log and "async_execute_cell" in log, log  # where it waited
    assert ("cancelling it" in log) == (wait == "nothing"), log


def test_a_kernel_that_ignores_the_interrupt_is_stopped_at_the_cell_timeout():
    """The deaf sleeper ignores SIGINT and sleeps, so the CPU watch does not see it: the cell timeout ends it
    (nbclient answers the interrupt nobody heard with an error reply), and the cells after it are not run."""
    nb, events, seconds = run(SandboxedExecute, ["print('before')", X.DEAF_SLEEPER, "print('after')"],
                              Limits(cell_timeout=5, notebook_timeout=60))
    assert seconds < 45, seconds
    assert events[1][0] == "timeout" and "stopped responding" in events[1][1], events
    assert events[2][0] == "not run" and not nb.cells[2].outputs, events


@pytest.mark.parametrize("stopped", [False, True])
def test_a_grading_that_stalls_outside_the_kernels_run_dumps_its_stacks(stopped):
    """The pipeline's first step arms Python's faulthandler for the notebook and its last calls it off: a stall
    anywhere else in nbgrader's steps (sanitizing, judging, the gradebook) leaves every thread's stack in the log."""
    import subprocess
    import sys

    code = ("import time; from autograder.notebook.pipeline import StopWatchingForStall, WatchForStall\n"
            "WatchForStall(seconds=1).preprocess(None, {})\n"
            f"{'StopWatchingForStall().preprocess(None, {})' if stopped else ''}\n"
            "time.sleep(3)\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stderr
    assert ("Timeout (0:00:01)!" in err and "line 4 in <module>" in err) != stopped, err
