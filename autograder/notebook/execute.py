"""nbgrader's ``Execute``, run in the sandbox, under one submission's limits.

:class:`SandboxedExecute` starts the kernel through
:class:`autograder.sandbox.bwrap.SandboxKernelManager` and adds what a class of
strangers' notebooks needs:

- each cell gets ``min(cell timeout, what is left of the notebook's budget)``;
- once the budget is spent, the kernel has died (a crash, ``os._exit``, the
  memory limit) or stopped answering, or the submission's CPU time is used up,
  the remaining cells are not run;
- what a cell outputs beyond ``max_output_bytes`` is dropped, counted in
  full (text, data, metadata, and a fixed cost per output, so empty displays
  add up too); a test cell's first two probe records count apart (bounded by
  :data:`wavenet.checks.wire.MAX_BYTES`: the judge needs one, and a second to
  say there were several); records in any other cell are outputs like any;
- outputs are only ever appended to the cell that is running: display-id
  updates (``update_display_data``, or a display reusing an earlier id) and
  widget messages are ignored, because nbclient would apply them to earlier
  cells' outputs, already judged or shown, and outside the cap.
- every message is made well-formed before nbclient reads it (:func:`well_formed`:
  a ``transient`` or ``metadata`` that is not a mapping is dropped, and so is
  any ``execution_count``); an output that still is not valid nbformat is
  dropped, and a message that still breaks the client stops the kernel: the
  student's fault, with an event saying so, and the points of earlier cells kept;
- a kernel that sends a frame over the sockets' bound (``MAXMSGSIZE``, which
  ZeroMQ enforces by dropping the connection unread) or a message part over
  :mod:`autograder.bounded_json`'s bounds is stopped the same way, naming it;
- a cell's ``execution_count`` is the grader's (1, 2, 3… in the order cells
  ran, ``None`` for a cell not run), never the kernel's: a number a kernel
  picks could carry hidden test text into the feedback;
- the whole run, the kernel's start and stop included, has a hard bound
  (:meth:`SandboxedExecute.hard_limit`): past it a watchdog kills the kernel
  and logs where the grader was waiting, and every wait on the kernel ends.
  nbclient's own waits are bounded by the cell timeout, yet one plain
  ``nbgrader autograde`` of a class once stopped for 19 minutes after a fork
  bomb; a student must not be able to stall a class, whatever the cause.

What happened is written into ``resources["autograder"]["events"]`` (cell
index -> what), in the grader's process, where the kernel cannot forge it;
the judge and the record read it from there, never from the kernel's outputs.

Each notebook's run is prepared here, so that nbgrader's own ``autograde``
needs nothing else (:func:`prepare`): the seed (given, or derived from the
submitted file's bytes), the course code the kernel may import, the kernel's
input folder and its socket folder, all in one short private folder that is
removed when the notebook is done. Its path never depends on the course
directory's: a unix socket's path must fit in 107 bytes.
"""
import asyncio
import datetime
import shutil
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

import zmq
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import ValidationError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from autograder.bounded_json import TooComplex
from autograder.notebook.judge import is_test
from autograder.sandbox.bwrap import SandboxKernelManager, short_tmp
from autograder.sandbox.limits import Limits
from wavenet.checks.wire import MAX_BYTES, MIME


def size(value):
    """About how many bytes ``value`` (a decoded JSON message part) takes: its strings' lengths, 8 for anything
    else. Iterative and copy-free: a kernel's message may be 100 MB, or nested as deep as the parser allows."""
    total, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            total += 8 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            total += 8 * len(v)
            stack.extend(v)
        else:
            total += 8
    return total


MALFORMED = ("malformed message", "the kernel sent a malformed message, which was dropped")
STATES = ("busy", "idle", "starting")


def well_formed(msg):
    """``msg`` (a decoded kernel message) with every part nbclient reads unchecked of the type it assumes.

    nbclient calls ``.get`` on ``parent_header`` and ``transient``, reads ``content["execution_state"]``
    and ``header["date"].isoformat()``, and nbformat refuses an output whose ``metadata`` is not a mapping:
    any of these, malformed by a hostile kernel, would raise in the grader. A part of the wrong type becomes
    empty (a message without a parent belongs to no cell; a display without ``transient`` has no display
    id), and a message of no known shape becomes type ``"malformed"``, which nbclient ignores. Every
    ``execution_count`` becomes ``None``: the grader numbers cells itself."""
    for part in ("header", "parent_header", "metadata", "content"):
        if not isinstance(msg.get(part), dict):
            msg[part] = {}
    header, content = msg["header"], msg["content"]
    if not isinstance(header.get("date"), datetime.datetime):
        header["date"] = datetime.datetime.now(datetime.timezone.utc)
    kind = header.get("msg_type")
    if not isinstance(kind, str) or kind == "status" and content.get("execution_state") not in STATES:
        kind = "malformed"
    header["msg_type"] = msg["msg_type"] = kind
    for key in ("transient", "metadata"):
        if key in content and not isinstance(content[key], dict):
            content[key] = {}
    if "execution_count" in content or kind == "execute_result":
        content["execution_count"] = None
    return msg


class CutOff(ValueError):
    """A channel's connection to a living kernel is gone: it sent a frame over the bound, or closed it."""


def checked(channel, alive, bound, stopped):
    """``channel.get_msg`` whose messages pass through :func:`well_formed`, and which raises :class:`CutOff`
    once the channel lost its connection while the kernel (``alive()``) lives, and ``DeadKernelError`` once
    the run's watchdog stopped the kernel (``stopped()``), whatever timeout its caller asked for.

    ZeroMQ drops the connection of a peer that sends a frame over ``MAXMSGSIZE`` (``bound``), and the
    grader's sockets never reconnect: without this, nbclient would wait for the lost channel until the
    cell's time limit. The connection is looked at only when no message came for a second: nothing is
    added per message."""
    get_msg = channel.get_msg
    monitor = channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    async def get(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            try:
                return well_formed(await ensure_async(get_msg(timeout=left)))
            except Empty:
                if stopped():
                    raise DeadKernelError("the grader's watchdog stopped the kernel")
                if monitor.get(zmq.EVENTS) & zmq.POLLIN and alive():
                    raise CutOff(f"the kernel sent a message over {bound:,} bytes (or closed its connection)")
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    get.monitor = monitor
    return get


def events(resources):
    return resources.setdefault("autograder", {}).setdefault("events", {})


def submitted_bytes(config, nbgrader):
    """The bytes of the file nbgrader is grading (``submitted/<student>/<assignment>/<notebook>.ipynb``)."""
    from nbgrader.coursedir import CourseDirectory

    from autograder.safe_io import read_bytes

    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.submitted_directory, nbgrader["student"], nbgrader["assignment"])
    return read_bytes(Path(folder) / f"{nbgrader['notebook']}.ipynb")


def prepare(assignment, seed, course=None):
    """A run's private folder (mode 0700, short path): ``course/`` (copied from ``course`` or built),
    ``grader-input/`` (the seed and the training data), ``run/`` (the kernel's sockets)."""
    from autograder.notebook import course_view, kernel_input

    root = Path(tempfile.mkdtemp(prefix="wn-", dir=short_tmp()))
    try:
        if course:
            shutil.copytree(course, root / "course")
        else:
            course_view.build(assignment, root / "course")
        kernel_input.write(root / "grader-input", seed, assignment)
        (root / "run").mkdir(mode=0o700)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with a notebook time budget, a CPU budget, kernel-death handling and an output cap."""

    seed = Integer(None, allow_none=True, help="the probes' seed; default: derived from the submitted file's "
                                               "bytes and the grader key").tag(config=True)
    course_view = Unicode("", help="a course view built beforehand (copied); default: built per notebook"
                          ).tag(config=True)
    # defaults from Limits, their one home; pipeline.configure sets each from the run's Limits
    notebook_timeout = Integer(Limits.notebook_timeout, help="seconds all cells together may run").tag(config=True)
    max_output_bytes = Integer(Limits.max_output_bytes, help="text one cell may print").tag(config=True)
    notebook_output_bytes = Integer(Limits.notebook_output_bytes, help="text all cells together may print"
                                    ).tag(config=True)
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU time the whole submission may use").tag(config=True)
    hard_slack = Integer(60, help="seconds the whole run may take beyond notebook_timeout and two kernel "
                                  "start-ups (see hard_limit)").tag(config=True)
    OUTPUT_COST = 100  # bytes each output counts on top of its content: a million empty displays are not free
    RECORDS_KEPT = 2   # probe records a test cell keeps apart from the cap: one to judge, one more to say "several"
    CANCEL_AFTER = 15  # seconds after the watchdog killed the kernel before it cancels a run that still waits
    _hung = 0  # the hard limit, once the watchdog stopped this run's kernel
    _loop = None  # the event loop nbclient runs this run's coroutines on

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        kwargs.setdefault("store_widget_state", False)
        super().__init__(**kwargs)

    # nbclient rewrites the outputs of *earlier* cells on a display-id update, before ``output`` (and the cap)
    # sees the message: a cell after the hidden tests could put their text into a cell whose outputs the
    # feedback shows, or replace a test cell's record. Grading needs no live displays, so none are updated.
    def _update_display_id(self, display_id, msg):
        return None

    # widget messages: their state lands in the notebook's metadata, and an Output widget's hook takes over
    # ``output``, both outside the cap; no exercise uses widgets
    def handle_comm_msg(self, outs, msg, cell_index):
        return None

    async def async_start_new_kernel(self, **kwargs):
        self._loop = asyncio.get_running_loop()  # what the watchdog cancels, should the run hang
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        self.km.lock()  # the kernel's sockets are bound: take their folder back
        def alive():
            process = getattr(self.km.provisioner, "process", None)
            return process is not None and process.poll() is None

        bound = self.km.max_message() if hasattr(self.km, "max_message") else 0
        self._monitors = []
        for channel in (kc.iopub_channel, kc.shell_channel):  # what nbclient reads of a cell's run
            channel.get_msg = checked(channel, alive, bound, lambda: bool(self._hung))
            self._monitors.append((channel, channel.get_msg.monitor))
        self._watch_cpu()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient's sync name wraps its own method

    def _watch_cpu(self):
        """Kill the submission once its CPU time is spent (its cgroup counts every process)."""
        cg = getattr(self.km, "cgroup", None)
        if cg is None:
            return
        def watch():
            while not self._done.wait(0.5):
                if cg.cpu_seconds() > self.cpu_seconds:
                    self._cpu_spent = True
                    cg.kill()
                    return
        threading.Thread(target=watch, daemon=True).start()

    def hard_limit(self):
        """Seconds the whole run may take: the cells' budget, the kernel's start twice over (nbclient's
        ``startup_timeout``, once for the sockets and once for the first answer), and :attr:`hard_slack` for
        interrupts, the last cell's overrun and the kernel's stop. Under :data:`autograder.sandbox.isolate.SLACK`
        beyond the budget, so that grade-all's own bound on a grading process comes after this one."""
        return self.notebook_timeout + 2 * self.startup_timeout + self.hard_slack

    def _watch_run(self):
        """Once the run passes :meth:`hard_limit`: log where the grader waits, and kill the kernel (all the
        cgroup holds, and the launcher's process tree); nbclient then finds it dead, and :func:`checked` ends
        any wait for its messages. A run still going :data:`CANCEL_AFTER` seconds later waits on something
        else: the tasks of the event loop nbclient runs it on are cancelled."""
        import io
        import sys
        import traceback

        main, done, limit = threading.get_ident(), self._done, self.hard_limit()

        def cancel(loop):
            if not done.is_set():  # still this run's: a late call must not cancel the next notebook's
                for task in asyncio.all_tasks(loop):
                    task.cancel()

        def watch():
            if done.wait(limit):
                return
            self._hung = limit
            frame = sys._current_frames().get(main)
            where = "".join(traceback.format_stack(frame)[-4:]) if frame else "(no frame)\n"
            try:  # what the loop awaits; read from this thread, so only a best effort
                for task in asyncio.all_tasks(self._loop) if self._loop is not None else ():
                    stack = io.StringIO()
                    task.print_stack(limit=6, file=stack)
                    where += stack.getvalue()
            except RuntimeError:  # the loop's set of tasks changed meanwhile
                pass
            self.log.error("the notebook's run passed its hard limit of %d s; stopping its kernel. The grader "
                           "was waiting in:\n%s", limit, where)
            self._kill_kernel()
            loop = self._loop
            if not done.wait(self.CANCEL_AFTER) and loop is not None:
                self.log.error("the run still waits %d s after its kernel was stopped: cancelling it",
                               self.CANCEL_AFTER)
                loop.call_soon_threadsafe(cancel, loop)
        threading.Thread(target=watch, daemon=True, name="autograder-watchdog").start()

    def _kill_kernel(self):
        """SIGKILL the kernel: every process of its cgroup, and its launcher with everything below it."""
        from autograder.sandbox.isolate import kill_tree

        km = self.km
        if km is not None and getattr(km, "cgroup", None) is not None:
            km.cgroup.kill()
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if process is not None:
            kill_tree(process.pid)

    def create_kernel_manager(self):
        # nbclient's, plus this run's folders (the kernel manager mounts them into the sandbox)
        if not self.kernel_name:
            self.kernel_name = self.nb.metadata.get("kernelspec", {}).get("name") or ""
        folder = self._folder
        kw = dict(config=self.config, course=str(folder / "course"), grader_input=str(folder / "grader-input"),
                  runtime=str(folder / "run"))
        self.km = self.kernel_manager_class(**kw, **({"kernel_name": self.kernel_name} if self.kernel_name else {}))
        return self.km

    def preprocess(self, nb, resources=None, km=None):
        from autograder.notebook import kernel_input

        resources = resources if resources is not None else {}
        nbg = resources.get("nbgrader", {})
        assignment = nbg["assignment"]
        seed = self.seed if self.seed is not None else kernel_input.seed(assignment,
                                                                         submitted_bytes(self.config, nbg))
        resources.setdefault("autograder", {}).update(seed=seed, assignment=assignment)
        self._folder = prepare(assignment, seed, self.course_view or None)
        try:
            return self._run(nb, resources, km)
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _run(self, nb, resources, km):
        self._events = events(resources)
        self._seen = resources["autograder"].setdefault("records", {})  # cell index -> records it sent, kept or not
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped = ""  # why the remaining cells are not run
        self._cell_timeout = self.timeout
        self._printed = self._records = self._count = self._printed_all = 0
        self._done = threading.Event()  # the run is over: the watch threads stop
        self._cpu_spent = False
        self._hung = 0  # the hard limit, once the watchdog stopped the kernel
        self._index = self._timed_out = None
        self._loop = None  # the event loop nbclient runs this run's coroutines on (async_start_new_kernel)
        self._watch_run()
        try:
            return super().preprocess(nb, resources, km)
        except (Exception, asyncio.CancelledError) as e:
            if not self._hung:
                raise
            self._clean_up_after_watchdog()
            if self._index is None:  # no cell had started: the kernel never came up, nothing of the student's ran
                raise RuntimeError(f"the kernel did not start: the grader stopped it after {self._hung} s "
                                   "(its hard limit; the log says where it waited)") from e
            why = f"the notebook's run passed the grader's hard limit ({self._hung} s) and its kernel was stopped"
            self._events.setdefault(self._index, ("kernel died", why))  # the cell it hung in, cancelled
            for index, cell in enumerate(nb.cells):  # the cells after it
                if index > self._index and cell.cell_type == "code" and cell.source.strip():
                    self._not_run(cell, index, f"{why} in an earlier cell")
            return nb, resources
        finally:
            self._done.set()
            for channel, monitor in getattr(self, "_monitors", ()):
                try:
                    channel.socket.disable_monitor()
                except (zmq.ZMQError, AttributeError):
                    pass
                monitor.close(linger=0)
            self._monitors = []
            self.timeout = self._cell_timeout
            cg = getattr(self.km, "cgroup", None) if self.km is not None else None
            resources["autograder"]["oom"] = bool(cg is not None and cg.oom_killed())
            resources["autograder"]["cpu_spent"] = self._cpu_spent
            resources["autograder"]["limits_note"] = getattr(self.km, "cgroup_note", "") if self.km else ""

    def _clean_up_after_watchdog(self):
        """What nbclient's own clean-up skips when a cancelled start-up or cell raised past it: the kernel's
        cgroup and folders."""
        try:
            if self.km is not None:
                run_sync(self.km.cleanup_resources)()
        except Exception as e:  # its processes are dead already; what is left is folders
            self.log.warning("cleaning up after the watchdog: %s", e)

    def _not_run(self, cell, index, why):
        self._events[index] = ("not run", why)
        cell.outputs = []
        cell.execution_count = None

    def _number(self, cell):
        """Give a cell that ran the grader's count, on the cell and on its results (never the kernel's)."""
        self._count += 1
        cell.execution_count = self._count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                out["execution_count"] = self._count

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
        self._printed = self._records = 0
        self._index, self._timed_out = index, None
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:  # interrupted, but the kernel never came back
            self._events[index] = ("timeout", f"this cell ran longer than {self.timeout} s and the kernel "
                                              "stopped responding")
            self._stopped = "an earlier cell ran past its time limit and did not stop when interrupted"
            self._number(cell)
            return cell, resources
        except DeadKernelError:
            why = (f"the notebook's run passed the grader's hard limit ({self._hung} s) and its kernel was stopped"
                   if self._hung else "the submission's CPU time limit was reached" if self._cpu_spent
                   else "the kernel died (os._exit, a crash, or more memory than the limit)")
            self._events[index] = ("kernel died", why)
            self._stopped = f"{why} in an earlier cell"
            self._number(cell)
            return cell, resources
        except (RecursionError, ValueError, UnicodeError, MemoryError, KeyError, TypeError, AttributeError,
                IndexError, ValidationError) as e:
            # the kernel sent what the client cannot read (JSON nested 100,000 deep, bytes that are not UTF-8,
            # a message of a shape well_formed does not mend): the student's doing, not the grader's
            if self.km is not None and self.km.cgroup is not None:
                self.km.cgroup.kill()
            what = str(e) if isinstance(e, (CutOff, TooComplex)) else (
                f"the kernel sent a malformed message the grader could not read ({type(e).__name__})")
            self._events[index] = ("kernel died", f"{what} and was stopped")
            self._stopped = "the kernel was stopped in an earlier cell"
            self._number(cell)
            return cell, resources
        self._number(cell)
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
        if isinstance(data, dict) and MIME in data and is_test(self.nb.cells[cell_index]):
            # a test cell's probe record: bounded on its own (the judge rejects more than MAX_BYTES)
            self._records += 1
            self._seen[cell_index] = self._records  # the judge says how many there were, not how many were kept
            if self._records > self.RECORDS_KEPT or size(data[MIME]) > 2 * MAX_BYTES:
                return None
            return self._append(outs, msg, display_id, cell_index)
        n = self.OUTPUT_COST + sum(map(size, (content.get("text"), data, content.get("metadata"))))
        self._printed += n
        self._printed_all += n
        if self._printed_all > self.notebook_output_bytes:  # many cells each under the cap add up too
            if self._printed_all - n <= self.notebook_output_bytes:
                outs.append(new_output("stream", name="stdout", text="\n... output truncated by the grader (the "
                                       f"notebook printed over {self.notebook_output_bytes} bytes) ...\n"))
                self._events.setdefault(cell_index, ("output cut", "the notebook printed more than "
                                                                   f"{self.notebook_output_bytes} bytes"))
            return None
        if self._printed > self.max_output_bytes:
            if self._printed - n <= self.max_output_bytes:
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n... output truncated by the grader (over {self.max_output_bytes} bytes) ...\n"))
                self._events.setdefault(cell_index, ("output cut", f"printed more than {self.max_output_bytes} bytes"))
            return None
        return self._append(outs, msg, display_id, cell_index)

    def _append(self, outs, msg, display_id, cell_index):
        """nbclient's ``output``, except that an output nbformat refuses is dropped (with an event), not a
        grader's error: the kernel sent it."""
        try:
            return super().output(outs, msg, display_id, cell_index)
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError):
            self._events.setdefault(cell_index, MALFORMED)
            return None
