"""Run a submission's kernel in a sandbox, with limits on time, memory and output.

A submission is code from a stranger, executed while the grader holds the
solutions, the gradebook and every other student's work. Its kernel is started
through :class:`SandboxKernelManager`, which wraps the kernel command in
(Linux, run as root; nothing to install)::

    setpriv --pdeathsig KILL                   the kernel dies with its grader
    unshare -n -m -p -i -u -f --kill-child     no network, own mounts, own pids
      sh -c <mounts>                           read-only system, hidden paths
        setpriv --bounding-set=-all ...        no capabilities left: cannot undo the mounts
          prlimit --as=<memory> ...            an address-space (memory) limit
            python -m ipykernel_launcher ...

Inside, every mount is read-only; ``/tmp`` and ``/dev/shm`` are small empty
tmpfs; the paths in ``hide`` (``solutions/``, the scratch course with its
``source/`` and ``gradebook.db``, other students' folders, the batch's input
and output) are covered by empty tmpfs; only the kernel's own working folder
and its socket folder are writable. A pid namespace means the kernel can
neither see nor signal any process of the machine, and killing it kills all
it started. The kernel talks to the grader over unix sockets (``ipc``
transport), which cross the network namespace.

:class:`LimitedExecute` replaces nbgrader's ``Execute`` preprocessor: each cell
gets ``min(cell timeout, what is left of the notebook's budget)``; once the
budget is spent, or the kernel has died (``os._exit``, a crash, memory) or
stopped answering, the remaining cells are not run and get an error output
saying why, so the tests that passed before still count. Output beyond
``max_output_bytes`` per cell is dropped.

When the sandbox is not available (not root, no ``unshare``), grading still
works without it and :func:`available` says why; callers warn.
"""
import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, List, Unicode

from autograder.assignments import ROOT, SOLUTIONS, WORK

GiB = 1024 ** 3
RUNTIME = Path(tempfile.gettempdir()) / "autograder-kernels"  # one socket folder per kernel in here


@dataclass
class Limits:
    """What one submission may use.

    Args:
        cell_timeout: seconds one cell may run before it is interrupted.
        notebook_timeout: seconds all cells together may run (kernel start not counted).
        memory: bytes of address space for the kernel (``prlimit --as``).
        max_output_bytes: text a cell may print; the rest is dropped.
        sandbox: run the kernel in the sandbox (if :func:`available`).
        hide: more paths to hide from the kernel (e.g. the batch's input and output).
    """
    cell_timeout: int = 300
    notebook_timeout: int = 900
    memory: int = 4 * GiB
    max_output_bytes: int = 1_000_000
    sandbox: bool = True
    hide: list = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def available():
    """``(True, "")`` if kernels can be sandboxed here, else ``(False, why not)``."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return False, "not a Linux system"
    if os.geteuid() != 0:
        return False, "not running as root (unshare and mount need it)"
    missing = [t for t in ("unshare", "setpriv", "prlimit", "mount", "sh") if shutil.which(t) is None]
    if missing:
        return False, f"missing tools: {', '.join(missing)}"
    try:
        r = subprocess.run(["unshare", "-n", "-m", "-p", "-f", "--mount-proc", "--propagation", "private", "--",
                            "sh", "-c", "mount -t tmpfs none /mnt && mount -o remount,bind,ro / && echo ok"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"unshare failed: {e}"
    if r.stdout.strip() != "ok":
        return False, f"unshare/mount failed: {(r.stderr or r.stdout).strip()[:200]}"
    return True, ""


def _unescape(path):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    return path.encode().decode("unicode_escape") if "\\" in path else path


def mount_points():
    """Every mount point of this mount namespace except ``/proc`` (remounted fresh inside)."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _unescape(line.split()[4])
            if mp == "/proc" or mp.startswith("/proc/"):
                continue
            if mp not in points:
                points.append(mp)
    return points


def sandbox_script(keep, hide, tmp_size="256m", join=None, ro_keep=()):
    """The ``sh -c`` script run in the new namespaces before the kernel starts.

    ``keep``: folders that must stay visible and writable (the kernel's cwd, its
    sockets); they are opened first, so the bind mounts at the end reach them
    even when a tmpfs now covers the path. ``hide``: folders (covered by an
    empty tmpfs) and files (covered by /dev/null). ``ro_keep``: folders the
    kernel must read (the repository, Python) that the fresh ``/tmp`` would
    cover when they live under it (a clone in /tmp, as CI may make): they are
    bound back read-only before ``hide`` is applied, so hidden paths inside them
    stay hidden.
    """
    q = shlex.quote
    lines = ["set -e"]
    if join:  # a pids cgroup: a fork bomb stops at its limit
        lines.append(f"echo $$ > {q(str(join))}")
    fds = {k: 3 + i for i, k in enumerate([*keep, *ro_keep])}
    for k, fd in fds.items():
        lines.append(f"exec {fd}<{q(str(k))}")
    for mp in mount_points():  # the whole system read-only (errors: a mount we cannot see into)
        lines.append(f"mount -o remount,bind,ro {q(mp)} 2>/dev/null || true")
    lines.append("if [ -d /proc/sys ]; then mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys; fi")
    lines.append("if [ -e /proc/sysrq-trigger ]; then mount --bind /dev/null /proc/sysrq-trigger; fi")
    lines.append(f"mount -t tmpfs -o size={tmp_size},mode=1777 none /tmp")
    lines.append("if [ -d /dev/shm ]; then mount -t tmpfs -o size=64m,mode=1777 none /dev/shm; fi")
    for k in ro_keep:  # before the hides: a bind of the original folder would uncover them
        lines.append(f"mkdir -p {q(str(k))} && mount --no-canonicalize --bind /proc/self/fd/{fds[k]} {q(str(k))} "
                     f"&& mount -o remount,bind,ro {q(str(k))}")
    for h in hide:
        h = str(h)
        lines.append(f"if [ -d {q(h)} ]; then mount -t tmpfs -o size=64k,mode=755 none {q(h)}; "
                     f"elif [ -e {q(h)} ]; then mount --bind /dev/null {q(h)}; fi")
    for k in keep:
        lines.append(f"mkdir -p {q(str(k))} && mount --no-canonicalize --bind /proc/self/fd/{fds[k]} {q(str(k))} "
                     f"&& mount -o remount,bind,rw {q(str(k))}")
    lines.append(" ".join(f"exec {fd}<&-;" for fd in fds.values()))
    lines.append(f"cd {q(str(keep[-1]))}")
    lines.append("export HOME=/tmp IPYTHONDIR=/tmp/.ipython MPLCONFIGDIR=/tmp/.matplotlib")  # writable, private
    lines.append("unset NAMES_TXT")  # may name a copy outside the repository; data/names.txt is inside
    lines.append('exec "$@"')
    return "\n".join(lines)


def under_tmp(*paths):
    """The outermost of ``paths`` that lie under /tmp, which the sandbox covers with a fresh tmpfs."""
    tmp = Path("/tmp").resolve()
    found = sorted({Path(p).resolve() for p in paths if tmp in Path(p).resolve().parents}, key=lambda p: len(p.parts))
    outer = []
    for p in found:
        if not any(o == p or o in p.parents for o in outer):
            outer.append(p)
    return outer


def safe_hide(paths, keep=()):
    """``paths`` minus any that would hide what the kernel needs (the repository, Python, ``keep``)."""
    import sys
    needed = [Path(p).resolve() for p in (ROOT / ".venv", ROOT / "autograder", ROOT / "wavenet", ROOT / "data",
                                           sys.prefix, sys.base_prefix, *keep)]
    out = []
    for p in paths:
        p = Path(p).resolve()
        if any(p == n or p in n.parents for n in needed):
            continue  # e.g. a notebook handed in from the repository root: its folder stays visible
        out.append(str(p))
    return list(dict.fromkeys(out))


def default_hide(extra=()):
    """Paths no submission may read: solutions, tests, git history, every scratch course, runtime files."""
    home = Path.home()
    paths = [SOLUTIONS, ROOT / "tests", ROOT / ".git", WORK, home / ".local" / "share" / "jupyter" / "runtime"]
    return [str(p) for p in paths] + [str(p) for p in extra]


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the sandbox (see the module docstring)."""

    hide = List(Unicode(), help="paths to cover with an empty tmpfs (folders) or /dev/null (files)").tag(config=True)
    memory = Integer(4 * GiB, help="address-space limit of the kernel, in bytes").tag(config=True)
    sandbox = Integer(1, help="1: sandbox the kernel; 0: plain kernel (with the memory limit)").tag(config=True)
    pids = Integer(512, help="most processes and threads the kernel may have (a pids cgroup, when there is one)"
                   ).tag(config=True)
    file_size = Integer(64 * 2 ** 20, help="largest file the kernel may write, in bytes").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        RUNTIME.mkdir(mode=0o700, exist_ok=True)
        self._rundir = Path(tempfile.mkdtemp(prefix="k-", dir=RUNTIME))
        if self.sandbox:
            self.transport = "ipc"  # unix sockets: reachable from outside the kernel's network namespace
            self.ip = str(self._rundir / "ipc")
        self.connection_file = str(self._rundir / "kernel.json")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        limit = ["prlimit", f"--as={self.memory}", f"--fsize={self.file_size}", "--core=0", "--"]
        if not self.sandbox:
            return limit + cmd
        cwd = (self._launch_args or {}).get("cwd") or os.getcwd()
        keep = [self._rundir, Path(cwd).resolve()]
        script = sandbox_script(keep=keep, hide=safe_hide(self.hide, keep=keep), join=self._pids_cgroup(),
                                ro_keep=under_tmp(ROOT, sys.prefix, sys.base_prefix))
        return (["setpriv", "--pdeathsig", "KILL", "--",
                 "unshare", "-n", "-m", "-p", "-i", "-u", "-f", "--kill-child", "--mount-proc",
                 "--propagation", "private", "--", "sh", "-c", script, "sandbox",
                 "setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"] + limit + cmd)

    def _pids_cgroup(self):
        """``cgroup.procs`` of a new pids cgroup for this kernel (cgroup v1), or None where there is none."""
        base = Path("/sys/fs/cgroup/pids")
        if not (base / "cgroup.procs").exists():
            return None
        try:
            self._cgroup = base / "autograder" / self._rundir.name
            self._cgroup.mkdir(parents=True, exist_ok=True)
            (self._cgroup / "pids.max").write_text(str(self.pids))
            return self._cgroup / "cgroup.procs"
        except OSError:
            return None

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._rundir, ignore_errors=True)
            cg = getattr(self, "_cgroup", None)
            if cg is not None:
                try:
                    cg.rmdir()  # empty once the kernel's pid namespace is gone
                except OSError:
                    pass

    cleanup_resources = _async_cleanup_resources


def _error(ename, evalue):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class LimitedExecute(Execute):
    """nbgrader's ``Execute`` with a notebook time budget, kernel-death handling and an output cap."""

    notebook_timeout = Integer(900, help="seconds all cells together may run").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="text one cell may print").tag(config=True)
    guard_tag = Unicode("autograder-guard", help="cells with this tag run even after the budget is spent").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped = ""  # why the remaining cells are not run
        self._cell_timeout = self.timeout
        self._printed = 0
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        is_guard = self.guard_tag in cell.metadata.get("tags", [])
        if self._stopped:
            cell.outputs = [_error("NotRun", self._stopped)]
            return cell, resources
        left = self._deadline - time.monotonic()
        if left <= 0 and not is_guard:
            self._stopped = f"the notebook's time limit ({self.notebook_timeout} s) was reached before this cell"
            cell.outputs = [_error("NotRun", self._stopped)]
            return cell, resources
        self.timeout = 30 if is_guard else max(1, int(min(self._cell_timeout, left + 1)))
        self._printed = 0
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = "the kernel died in an earlier cell (os._exit, a crash, or more memory than the limit)"
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell "
                                       "(os._exit, a crash, or more memory than the limit)"))
            return cell, resources
        except CellTimeoutError:  # interrupted, but the kernel never came back
            self._stopped = "an earlier cell ran past its time limit and did not stop when interrupted"
            cell.outputs.append(_error("CellTimeoutError", f"this cell ran longer than {self.timeout} s and the "
                                       "kernel stopped responding (it did not stop when interrupted)"))
            return cell, resources
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error"):
            budget = time.monotonic() >= self._deadline
            for o in cell.outputs:
                if o.get("ename") == "CellTimeoutError":
                    o["evalue"] = (f"the notebook's time limit ({self.notebook_timeout} s) was reached in this cell"
                                   if budget else f"this cell ran longer than {self._cell_timeout} s and was interrupted")
                    o["traceback"] = [f"CellTimeoutError: {o['evalue']}"]
            if budget:
                self._stopped = f"the notebook's time limit ({self.notebook_timeout} s) was reached in an earlier cell"
            elif not self._responsive():
                self._stopped = "the kernel stopped responding after an earlier cell ran past its time limit"
        return cell, resources

    def _responsive(self, wait=10):
        """After an interrupt: does the kernel answer again within ``wait`` seconds?"""
        from queue import Empty

        from jupyter_core.utils import run_sync

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
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        self._printed += size
        if self._printed > self.max_output_bytes:
            if self._printed - size <= self.max_output_bytes:
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n... output truncated by the grader (over {self.max_output_bytes} bytes) ...\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def configure(c, limits, course_root):
    """Put ``limits`` into an nbgrader ``Config`` for one scratch course at ``course_root``."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import LimitOutput

    c.Execute.timeout = limits.cell_timeout
    c.LimitedExecute.notebook_timeout = limits.notebook_timeout
    c.LimitedExecute.max_output_bytes = limits.max_output_bytes
    c.LimitOutput.max_lines = 1000
    c.LimitOutput.max_traceback = 100
    ok, _ = available()
    c.SandboxKernelManager.sandbox = int(bool(limits.sandbox and ok))
    c.SandboxKernelManager.memory = int(limits.memory)
    c.SandboxKernelManager.hide = default_hide([course_root.parent, *limits.hide])
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps = [LimitedExecute if s is Execute else s for s in steps]
    assert LimitOutput in steps, "nbgrader's LimitOutput must stay in the autograde pipeline"
    c.Autograde.autograde_preprocessors = steps
    # feedback: without the grader's guard cells, and without any output that quotes hidden tests
    from autograder.guard import DropGuardCells, RedactHidden, hidden_lines
    c.GenerateFeedback.preprocessors = [DropGuardCells, RedactHidden] + list(c.GenerateFeedback.get("preprocessors", []))
    c.RedactHidden.hidden = [line for nb in sorted(Path(course_root, "source").glob("*/*.ipynb"))
                             for line in hidden_lines(nb.parent.name)]
    return c
