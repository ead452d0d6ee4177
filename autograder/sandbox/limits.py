"""What one submission may use, and the cgroup that holds it to that.

A submission's kernel and everything it starts share one cgroup, so the
limits are per submission, not per process: two child processes do not get
twice the memory. cgroup v2 (one unified tree) is used where the machine has
it, cgroup v1 (one tree per controller: ``memory``, ``pids``, ``cpu``,
``cpuacct``) otherwise; both need root, or a cgroup delegated to the grader's
user. :func:`status` says which limits hold on this machine.

Bytes written are bounded by the sandbox itself: the kernel's only writable
place is one tmpfs of ``disk`` bytes (its pages count towards ``memory`` too).
CPU time is watched by the grader (:meth:`Cgroup.cpu_seconds`), which stops a
submission that spends its budget; the CPU rate is capped at ``cpus`` cores.
"""
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

GiB = 1024 ** 3
MiB = 1024 ** 2
ROOT = Path("/sys/fs/cgroup")
PARENT = "autograder"


@dataclass
class Limits:
    """What one submission may use (all of its processes together).

    Args:
        cell_timeout: seconds one cell may run before it is interrupted.
        notebook_timeout: seconds all cells together may run (kernel start not counted).
        memory: bytes of memory, the kernel's files included.
        processes: processes and threads at once.
        cpu_seconds: CPU time in all.
        cpus: cores' worth of CPU at any moment.
        disk: bytes the kernel may write (the size of its only writable folder).
        max_output_bytes: text one cell may print; the rest is dropped.
        notebook_output_bytes: what all cells together may print; past it, every later output is dropped.
    """
    cell_timeout: int = 300
    notebook_timeout: int = 900
    memory: int = 4 * GiB
    processes: int = 256
    cpu_seconds: int = 1200
    cpus: float = 1.0
    disk: int = 256 * MiB
    max_output_bytes: int = 1_000_000
    notebook_output_bytes: int = 8_000_000


def version():
    """``"v2"``, ``"v1"`` or ``None``: which cgroup tree this machine mounts."""
    if (ROOT / "cgroup.controllers").is_file():
        return "v2"
    if all((ROOT / c / "cgroup.procs").is_file() for c in ("memory", "pids", "cpu", "cpuacct")):
        return "v1"
    return None


def _write(path, value):
    Path(path).write_text(str(value))


class Cgroup:
    """One submission's cgroup. :meth:`create` returns ``None`` where none can be made (and says why)."""

    def __init__(self, kind, dirs):
        self.kind, self.dirs = kind, dirs  # v2: {"": dir}; v1: {controller: dir}

    @classmethod
    def create(cls, name, limits):
        """A new cgroup ``autograder/<name>`` with ``limits``; ``(cgroup or None, why not)``."""
        kind = version()
        sweep(kind)
        try:
            if kind == "v2":
                parent = ROOT / PARENT
                parent.mkdir(exist_ok=True)
                for ctl in ("+memory", "+pids", "+cpu"):
                    try:
                        _write(ROOT / "cgroup.subtree_control", ctl)
                        _write(parent / "cgroup.subtree_control", ctl)
                    except OSError:
                        pass
                d = parent / name
                d.mkdir()
                _write(d / "memory.max", limits.memory)
                if (d / "memory.swap.max").exists():
                    _write(d / "memory.swap.max", 0)
                _write(d / "pids.max", limits.processes)
                _write(d / "cpu.max", f"{int(limits.cpus * 100_000)} 100000")
                return cls("v2", {"": d}), ""
            if kind == "v1":
                dirs = {}
                for ctl in ("memory", "pids", "cpu", "cpuacct"):
                    d = ROOT / ctl / PARENT / name
                    d.mkdir(parents=True)
                    dirs[ctl] = d
                _write(dirs["memory"] / "memory.limit_in_bytes", limits.memory)
                if (dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
                    _write(dirs["memory"] / "memory.memsw.limit_in_bytes", limits.memory)  # no swapping past it
                _write(dirs["pids"] / "pids.max", limits.processes)
                _write(dirs["cpu"] / "cpu.cfs_period_us", 100_000)
                _write(dirs["cpu"] / "cpu.cfs_quota_us", int(limits.cpus * 100_000))
                return cls("v1", dirs), ""
        except OSError as e:
            partial = cls(kind, locals().get("dirs") or {})
            partial.remove()
            return None, f"cannot create a cgroup ({e.strerror or e}): run the grader as root, or delegate a cgroup"
        return None, "this machine mounts no cgroup tree with the memory, pids and cpu controllers"

    def procs_files(self):
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def pids(self):
        found = set()
        for f in self.procs_files():
            try:
                found |= {int(p) for p in f.read_text().split()}
            except OSError:
                pass
        return found

    def cpu_seconds(self):
        """CPU time used so far by every process of the submission."""
        try:
            if self.kind == "v2":
                stat = dict(line.split() for line in (self.dirs[""] / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, KeyError, ValueError):
            return 0.0

    def oom_killed(self):
        """Whether the kernel's memory limit killed one of its processes."""
        try:
            if self.kind == "v2":
                events = dict(line.split() for line in (self.dirs[""] / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0)) > 0
            ctl = dict(line.split() for line in (self.dirs["memory"] / "memory.oom_control").read_text().splitlines())
            return int(ctl.get("oom_kill", 0)) > 0
        except (OSError, ValueError):
            return False

    def kill(self):
        """SIGKILL every process in the cgroup until none is left."""
        if self.kind == "v2" and (self.dirs[""] / "cgroup.kill").exists():
            try:
                _write(self.dirs[""] / "cgroup.kill", 1)
            except OSError:
                pass
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)

    def remove(self):
        self.kill()
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def sweep(kind, age=3600):
    """Remove empty cgroups an hour old: what a grader killed before its clean-up leaves behind."""
    parents = [ROOT / PARENT] if kind == "v2" else [ROOT / c / PARENT for c in ("memory", "pids", "cpu", "cpuacct")]
    now = time.time()
    for parent in parents:
        try:
            for d in parent.iterdir():
                if d.is_dir() and now - d.stat().st_mtime > age:
                    try:
                        d.rmdir()  # refused while a process is in it
                    except OSError:
                        pass
        except OSError:
            pass


def status():
    """``(held, why)``: the per-submission limits that hold on this machine, and why others do not."""
    cg, why = Cgroup.create(f"probe-{os.getpid()}", Limits())
    if cg is None:
        return ["time per cell and per notebook", "bytes written", "output"], (
            f"no per-submission memory, process and CPU limits: {why}")
    cg.remove()
    return ["time per cell and per notebook", "bytes written", "output", "memory", "processes", "CPU time",
            "CPU rate"], ""
