"""nbgrader's ``Execute``, run in the sandbox, under one submission's limits.

:class:`SandboxedExecute` starts the kernel through
:class:`autograder.sandbox.SandboxKernelManager` and adds what a class of
strangers' notebooks needs:

- each cell gets ``min(cell timeout, what is left of the notebook's budget)``;
- once the budget is spent, the kernel has died (a crash, ``os._exit``, the
  memory limit) or stopped answering, or the submission's CPU time is used up,
  the remaining cells are not run;
- text a cell prints beyond ``max_output_bytes`` is dropped (probe records,
  bounded by :data:`wavenet.checks.wire.MAX_BYTES`, count apart).

What happened is written into ``resources["autograder"]["events"]`` (cell
index -> what), in the grader's process, where the kernel cannot forge it;
the judge and the record read it from there, never from the kernel's outputs.
"""
import threading
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.sandbox import SandboxKernelManager
from wavenet.checks.wire import MAX_BYTES, MIME


def events(resources):
    return resources.setdefault("autograder", {}).setdefault("events", {})


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with a notebook time budget, a CPU budget, kernel-death handling and an output cap."""

    notebook_timeout = Integer(900, help="seconds all cells together may run").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="text one cell may print").tag(config=True)
    cpu_seconds = Integer(1200, help="CPU time the whole submission may use").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(**kwargs)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        self.km.lock()  # the kernel's sockets are bound: take their folder back
        self._watch_cpu()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient's sync name wraps its own method

    def _watch_cpu(self):
        """Kill the submission once its CPU time is spent (its cgroup counts every process)."""
        cg = getattr(self.km, "cgroup", None)
        if cg is None:
            return
        def watch():
            while not self._cpu_done.wait(0.5):
                if cg.cpu_seconds() > self.cpu_seconds:
                    self._cpu_spent = True
                    cg.kill()
                    return
        threading.Thread(target=watch, daemon=True).start()

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        self._events = events(resources)
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped = ""  # why the remaining cells are not run
        self._cell_timeout = self.timeout
        self._printed = 0
        self._cpu_done = threading.Event()
        self._cpu_spent = False
        self._index = self._timed_out = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._cpu_done.set()
            self.timeout = self._cell_timeout
            cg = getattr(self.km, "cgroup", None) if self.km is not None else None
            resources["autograder"]["oom"] = bool(cg is not None and cg.oom_killed())
            resources["autograder"]["cpu_spent"] = self._cpu_spent
            resources["autograder"]["limits_note"] = getattr(self.km, "cgroup_note", "") if self.km else ""

    def _not_run(self, cell, index, why):
        self._events[index] = ("not run", why)
        cell.outputs = []

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            self._not_run(cell, index, self._stopped)
            return cell, resources
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._stopped = f"the notebook's time limit ({self.notebook_timeout} s) was reached before this cell"
            self._not_run(cell, index, self._stopped)
            return cell, resources
        self.timeout = max(1, int(min(self._cell_timeout, left + 1)))
        self._printed = 0
        self._index, self._timed_out = index, None
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:  # interrupted, but the kernel never came back
            self._events[index] = ("timeout", f"this cell ran longer than {self.timeout} s and the kernel "
                                              "stopped responding")
            self._stopped = "an earlier cell ran past its time limit and did not stop when interrupted"
            return cell, resources
        except DeadKernelError:
            why = ("the submission's CPU time limit was reached" if self._cpu_spent
                   else "the kernel died (os._exit, a crash, or more memory than the limit)")
            self._events[index] = ("kernel died", why)
            self._stopped = f"{why} in an earlier cell"
            return cell, resources
        except (RecursionError, ValueError, UnicodeError, MemoryError, KeyError, TypeError) as e:
            # the kernel sent what the client cannot read (JSON nested 100,000 deep, bytes that are not UTF-8)
            if self.km is not None and self.km.cgroup is not None:
                self.km.cgroup.kill()
            self._events[index] = ("kernel died", "the kernel sent a message the grader could not read "
                                                  f"({type(e).__name__}) and was stopped")
            self._stopped = "the kernel was stopped in an earlier cell"
            return cell, resources
        if self._timed_out == index:
            budget = time.monotonic() >= self._deadline
            self._events[index] = ("timeout", f"the notebook's time limit ({self.notebook_timeout} s) was reached "
                                              "in this cell" if budget else
                                   f"this cell ran longer than {self._cell_timeout} s and was interrupted")
            if budget:
                self._stopped = f"the notebook's time limit ({self.notebook_timeout} s) was reached in an earlier cell"
            elif not self._responsive():
                self._stopped = "the kernel stopped responding after an earlier cell ran past its time limit"
        return cell, resources

    async def _async_handle_timeout(self, timeout, cell=None):
        # noted here, in the grader, rather than read back from an output a kernel could print too
        self._timed_out = self._index
        return await super()._async_handle_timeout(timeout, cell)

    def _responsive(self, wait=10):
        """After an interrupt: does the kernel answer again within ``wait`` seconds?"""
        from queue import Empty

        async def probe():
            msg_id = self.kc.kernel_info()
            t_end = time.monotonic() + wait
            while time.monotonic() < t_end:
                try:
                    msg = await self.kc.shell_channel.get_msg(timeout=1)
                except Empty:
                    continue
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
            return False
        try:
            return run_sync(probe)()
        except Exception:
            return False

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        data = content.get("data", {})
        if isinstance(data, dict) and MIME in data:  # a probe record: bounded on its own
            if len(str(data[MIME])) > 2 * MAX_BYTES:
                return None
            return super().output(outs, msg, display_id, cell_index)
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in (data.values() if isinstance(data, dict) else []))
        self._printed += size
        if self._printed > self.max_output_bytes:
            if self._printed - size <= self.max_output_bytes:
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n... output truncated by the grader (over {self.max_output_bytes} bytes) ...\n"))
                self._events.setdefault(cell_index, ("output cut", f"printed more than {self.max_output_bytes} bytes"))
            return None
        return super().output(outs, msg, display_id, cell_index)
