"""Run a submission's kernel in bubblewrap, the sandbox Flatpak uses.

The kernel sees an allowlist and nothing else::

    /usr, /lib*, /bin, /etc/ld.so.cache   the system's programs and libraries, read-only
    <python> and <.venv>                  the interpreter and the installed packages, read-only
    /course                               the course code this exercise may import, read-only
                                          (autograder/notebook/course_view.py; never the exercise's answers)
    /grader                               the grader's input for this run: the seed, the training
                                          split without validation labels, read-only
    <rundir>                              the kernel's sockets (locked once the kernel is up)
    /learner                              a fresh, empty tmpfs of ``limits.disk`` bytes: the only
                                          writable place, its home, its working folder and its TMPDIR
    /dev, /proc, /                        bubblewrap's own; /dev (with /dev/shm) and / read-only

It runs as an unprivileged user (as root: ``nobody``, through ``setpriv``,
with no capabilities and ``no_new_privs``; without root: the grader's own
user inside a user namespace), with a cleared environment and a short
allowlist of variables, no network, its own pid, ipc and uts namespaces,
and it dies with the grader (``--die-with-parent``). A seccomp filter
(:func:`userns_filter`) refuses new user namespaces. Every process of the
submission sits in one cgroup (:mod:`autograder.sandbox.limits`).

The kernel talks to the grader over unix sockets in ``<rundir>``. Once the
kernel is up the grader takes that folder back (as root) or makes it
read-only inside the sandbox (without root: :mod:`autograder.sandbox.seal`), so the
kernel can neither swap a socket for a link nor write there; the grader's
sockets never reconnect either way, and read at most :meth:`max_message`
bytes a frame.

:func:`mode` says whether kernels can be sandboxed here, and how. Where they
cannot, grading refuses untrusted work unless ``--unsafe`` is given; an unsafe
kernel runs as the grader, or, with ``run_as`` and a root grader (Gradescope's
container), as that uid (:func:`open_to_kernel`, :func:`drop_to`).
"""
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Dict, Instance, Int, Unicode

from autograder import bounded_json
from autograder.sandbox.limits import Cgroup, Limits

NOBODY = 65534
WORK = "/learner"  # the kernel's home and working folder inside the sandbox
ENV_ALLOW = ("LANG", "LC_ALL", "TZ")  # what the kernel may inherit from the grader (nothing secret)


def _bwrap():
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def mode():
    """``("root" | "user" | None, why)``: how kernels are sandboxed here, or why they cannot be."""
    if sys.platform != "linux":
        return None, f"bubblewrap needs Linux, not {sys.platform}"
    if _bwrap() is None:
        return None, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    kind = "root" if os.geteuid() == 0 else "user"
    cmd = [_bwrap(), *_namespaces(kind), "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    if kind == "root":
        cmd = cmd[:-2] + ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "true"]
    rules = userns_filter()
    try:
        with tempfile.TemporaryFile() as f:
            if rules:
                f.write(rules)
                f.seek(0)
                cmd[1:1] = ["--seccomp", str(f.fileno())]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, pass_fds=(f.fileno(),))
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"bubblewrap did not start: {e}"
    if r.returncode != 0:
        return None, f"bubblewrap cannot make a sandbox here: {(r.stderr or r.stdout).strip()[:200]}"
    return kind, ""


def gaps():
    """What the threat model (autograder/README.md) claims that does not hold on this machine: one line
    each, empty where everything holds. The grader prints them when it starts (``grade``, ``grade-all``)."""
    import platform

    from autograder.sandbox.limits import status

    kind, why = mode()
    if kind is None:
        return [f"no sandbox: {why}"]
    out = []
    if kind == "root" and userns_filter() is None:
        out.append(f"the kernel may create user namespaces: no seccomp filter for {platform.machine()} "
                   "(a root-less grader's bubblewrap refuses them with --disable-userns)")
    held, _ = status()
    if "memory" not in held:
        out += ["memory is limited per process (prlimit --as), not per submission: each process of a "
                "submission may use --memory", "processes are not limited: RLIMIT_NPROC counts every process "
                "of the grader's user, so the grader does not set it", "CPU time is limited per process "
                "(prlimit --cpu) and CPU rate not at all"]
    if kind == "user" and sealing():
        out.append(f"the kernel's socket folder stays writable by it ({sealing()}): what it writes there is "
                   "bounded by that disk only")
    return out


def _inside(pid):
    """A process below ``pid`` in another mount namespace than this one (the sandbox's), or ``None``."""
    own = os.readlink("/proc/self/ns/mnt")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            if p != pid and os.readlink(f"/proc/{p}/ns/mnt") != own:
                return p
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return None


def seal(pid, folder):
    """Make ``folder`` read-only inside the root-less sandbox that ``pid`` (its launcher) runs, with
    :mod:`autograder.sandbox.seal` in a process of its own; ``""`` when done, else why not."""
    inside = _inside(pid)
    if inside is None:
        return "no process of the sandbox was found"
    try:
        r = subprocess.run([sys.executable, "-I", "-S", str(Path(__file__).with_name("seal.py")), str(inside),
                            str(folder)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"the seal did not run: {e}"
    return "" if r.returncode == 0 else (r.stderr.strip()[-200:] or f"the seal exited {r.returncode}")


@functools.lru_cache(maxsize=1)
def sealing():
    """Without root: ``""`` if the kernel's socket folder can be made read-only inside the sandbox (tried on a
    sandbox that sleeps), else why not."""
    folder = Path(tempfile.mkdtemp(prefix="seal-", dir=short_tmp()))
    probe = folder / "x"
    cmd = [_bwrap(), *_namespaces("user"), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--bind",
           str(folder), str(folder), "--", "sh", "-c", f'read line; echo > "{probe}"']
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            for _ in range(100):  # until the sandbox is up
                if _inside(proc.pid):
                    break
                time.sleep(0.02)
            why = seal(proc.pid, folder)
            proc.communicate("go\n", timeout=30)
        finally:
            proc.kill()
            proc.wait()
        if not why and probe.exists():
            why = "the folder stayed writable after the seal"
        return why
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap did not start: {e}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def short_tmp():
    """A folder for the grader's private run folders whose path is short: a kernel's unix sockets live there,
    and a socket's path must fit in 107 bytes (``$XDG_RUNTIME_DIR`` or ``/tmp`` when short, else the system's
    temporary folder)."""
    for base in (os.environ.get("XDG_RUNTIME_DIR"), "/tmp", tempfile.gettempdir()):
        if base and len(base) <= 40 and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK):
            return base
    raise RuntimeError("no short writable temporary folder for the kernel's sockets (set XDG_RUNTIME_DIR to one)")


def _namespaces(kind):
    # no --new-session: the grader interrupts a cell with SIGINT to the kernel's process group (and the
    # kernel has no terminal to push keystrokes into)
    ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
          "--die-with-parent"]
    if kind == "user":
        ns += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    return ns


# A seccomp filter (classic BPF, what bwrap's --seccomp loads) that refuses new user namespaces: as root the
# kernel runs as nobody without a user namespace of its own, so bwrap's --disable-userns (which needs one)
# cannot apply, and nobody may create one (``unshare -rm``: a namespace in which it has every capability).
# unshare or clone with CLONE_NEWUSER fail with EPERM; clone3, whose flags sit in memory a filter cannot
# read, fails with ENOSYS (glibc then uses clone); another architecture's system calls (x86_64's i386 and
# x32 entries) fail with EPERM.
_ARCH = {  # machine: (AUDIT_ARCH_*, unshare, clone, clone3)
    "x86_64": (0xC000003E, 272, 56, 435),
    "aarch64": (0xC00000B7, 97, 220, 435),
}
CLONE_NEWUSER = 0x10000000


def userns_filter(machine=None):
    """The filter above as bytes for bwrap's ``--seccomp FD``, or ``None`` on a machine it does not know."""
    import errno
    import platform
    import struct

    arch = _ARCH.get(machine or platform.machine())
    if arch is None:
        return None
    audit, unshare, clone, clone3 = arch
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, JGE, JSET, BPF_RET|K
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = [  # (code, jump if true, jump if false, k); jumps count the instructions skipped
        (ld, 0, 0, 4),                    # 0  the architecture
        (jeq, 0, 9, audit),               # 1  another one: EPERM (11)
        (ld, 0, 0, 0),                    # 2  the system call's number
        (jge, 7, 0, 0x40000000),          # 3  x32's: EPERM (11)
        (jeq, 3, 0, unshare),             # 4  -> 8
        (jeq, 2, 0, clone),               # 5  -> 8
        (jeq, 5, 0, clone3),              # 6  -> ENOSYS (12)
        (ret, 0, 0, allow),               # 7
        (ld, 0, 0, 16),                   # 8  the first argument's low 32 bits (the flags)
        (jset, 1, 0, CLONE_NEWUSER),      # 9  -> EPERM (11)
        (ret, 0, 0, allow),               # 10
        (ret, 0, 0, eperm),               # 11
        (ret, 0, 0, enosys),              # 12
    ]
    return b"".join(struct.pack("<HBBI", *insn) for insn in prog)


def _ancestors(paths):
    """Every parent folder of ``paths`` (shortest first): bwrap would make them 0700, the kernel must pass."""
    out = set()
    for p in paths:
        for parent in Path(p).parents:
            if str(parent) != "/":
                out.add(str(parent))
    return sorted(out, key=lambda p: (p.count("/"), p))


def system_binds():
    """``/usr`` and the top-level links or folders the dynamic loader needs, as bwrap arguments."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / top
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        args += ["--ro-bind-try", f, f]
    return args


def python_binds():
    """The interpreter and the environment the kernel runs in, as read-only binds (outside /usr)."""
    paths = []
    for p in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}:
        if not p.startswith("/usr/"):
            paths.append(p)
    return sorted(set(paths))


def course_masks():
    """Copies of the course installed into the environment (a wheel): hidden, the kernel gets /course only."""
    import importlib.util
    masks = []
    for name in ("wavenet", "autograder", "solutions"):
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for loc in locations:
            if any(loc.startswith(p + "/") for p in python_binds()):
                masks.append(loc)
    return masks


def sandbox_command(kernel_cmd, kind, rundir, course, grader_input, limits, env, procs=(), seccomp=None):
    """The full command that runs ``kernel_cmd`` in the sandbox (see the module docstring); ``seccomp``: a
    file holding :func:`userns_filter`'s bytes."""
    pybinds = python_binds()
    dests = [*pybinds, str(rundir)]
    work = WORK if not any(d == WORK or d.startswith(WORK + "/") for d in dests) else WORK + "-sandbox"
    cmd = [_bwrap(), *_namespaces(kind), "--hostname", "sandbox", "--clearenv"]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    for d in _ancestors(dests):
        cmd += ["--perms", "0755", "--dir", d]
    cmd += system_binds()
    for p in pybinds:
        cmd += ["--ro-bind", p, p]
    for m in course_masks():
        cmd += ["--tmpfs", m, "--remount-ro", m]
    cmd += ["--ro-bind", str(course), "/course", "--ro-bind", str(grader_input), "/grader",
            "--bind", str(rundir), str(rundir),
            "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",  # /dev/shm too: not writable
            "--size", str(int(limits.disk)), "--perms", "01777", "--tmpfs", work,
            "--perms", "01777", "--dir", f"{work}/tmp", "--chdir", work]
    if not any(d == "/tmp" or d.startswith("/tmp/") for d in dests):
        cmd += ["--symlink", f"{work}/tmp", "/tmp"]
    # the sandbox's own root (a tmpfs, the user's own without root) holds only folders made above: read-only
    cmd += ["--remount-ro", "/"]
    if seccomp:
        cmd += ["--seccomp", "9"]  # the launcher below opens the filter's file as fd 9
    cmd.append("--")
    if kind == "root":
        cmd += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    if not procs:  # no cgroup: per-process limits are the best there is
        cmd += ["prlimit", f"--as={int(limits.memory)}", f"--cpu={int(limits.cpu_seconds)}", "--core=0", "--"]
    cmd += kernel_cmd
    # Before bwrap starts: join the submission's cgroup (so bwrap and all it starts are in it);
    # ignore SIGINT, which the grader sends to the whole process group to interrupt a cell: bwrap would die of
    # it and take the kernel along (ipykernel sets its own SIGINT handler while a cell runs); lift the grader's
    # own soft limit on data (isolate.hold_memory), which the kernel would inherit; open the seccomp filter.
    cmd = ["sh", "-c", 'trap "" INT; ulimit -S -d unlimited 2>/dev/null; f=$1; shift; '
                       'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@" 9<"$f"',
           "launch", str(seccomp or os.devnull), *map(str, procs), "--", *cmd]
    return cmd, work


def kernel_env(work, extra=None):
    """The kernel's whole environment: a short allowlist, nothing of the grader's own."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": f"{work}/tmp", "PYTHONPATH": "/course",
           "PYTHONDONTWRITEBYTECODE": "1", "IPYTHONDIR": f"{work}/.ipython", "MPLCONFIGDIR": f"{work}/.matplotlib",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NBGRADER_EXECUTION": "autograde",
           "WAVENET_PROBE_DIR": "/grader", "LANG": "C.UTF-8"}
    env.update({k: os.environ[k] for k in ENV_ALLOW if k in os.environ})
    env.update(extra or {})
    return env


def drop_to(uid):
    """The command prefix that runs what follows as ``uid`` (group ``uid`` too, no other groups), with no
    capabilities and ``no_new_privs`` (util-linux's setpriv; the grader must be root)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


def open_to_kernel(uid, rundir, home, connection_file, course, grader_input):
    """Without a sandbox, as root, before a kernel starts as ``uid``: what it needs, and only that, made
    reachable to it. Its socket folder and connection file become its own (taken back by
    :meth:`SandboxKernelManager.lock`), ``home`` (with ``tmp/``) is made as its one writable folder, the course
    view and the grader's input become world-readable, and each folder above these that is below
    :func:`short_tmp` gets search permission only (o+x: no listing). Every other file stays as it is: what the
    kernel must not read (the hidden tests, the grader key, the results) is the caller's to lock
    (:func:`autograder.export.gradescope_run.lock_down`).

    Raises:
        RuntimeError: a folder is not below :func:`short_tmp`, or that folder itself is closed to others.
    """
    import stat

    base = Path(short_tmp()).resolve()
    if not os.stat(base).st_mode & stat.S_IXOTH:
        raise RuntimeError(f"the kernel as uid {uid} cannot reach {base} (no search permission for others): "
                           "set XDG_RUNTIME_DIR to a short folder it may pass, such as /tmp")
    os.chown(rundir, uid, uid)  # it binds its sockets here, then lock() takes it back
    os.chown(connection_file, uid, uid)
    for d in (home, home / "tmp"):
        d.mkdir(mode=0o700)
        os.chown(d, uid, uid)
    for folder in (course, grader_input):
        for p in [Path(folder), *Path(folder).rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, stat.S_IMODE(p.stat().st_mode) | (0o005 if p.is_dir() else 0o004))
    for p in (rundir, home, course, grader_input):
        p = Path(p).resolve()
        if base not in p.parents:
            raise RuntimeError(f"the kernel as uid {uid} needs {p} below {base}, the grader's short folder")
        for parent in p.parents:
            if parent == base:
                break
            os.chmod(parent, stat.S_IMODE(parent.stat().st_mode) | stat.S_IXOTH)


class SandboxKernelManager(AsyncKernelManager):
    """Starts each kernel in the sandbox, in a cgroup of its own (see the module docstring)."""

    course = Unicode(help="folder of the course code the kernel may import (mounted at /course)").tag(config=True)
    grader_input = Unicode(help="folder of the grader's input for this run (mounted at /grader)").tag(config=True)
    runtime = Unicode(help="grader-private folder for the kernels' socket folders").tag(config=True)
    unsafe = Bool(False, help="no sandbox: the kernel runs as the grader, seeing the machine").tag(config=True)
    run_as = Int(None, allow_none=True, help="with unsafe, as root: the uid (and gid) the kernel runs as instead "
                 "(Gradescope without bubblewrap: nobody); see open_to_kernel").tag(config=True)
    limit_values = Dict(help="autograder.sandbox.limits.Limits fields").tag(config=True)
    cgroup = Instance(Cgroup, allow_none=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.limits = Limits(**self.limit_values)
        base = Path(self.runtime or short_tmp())
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._rundir = Path(tempfile.mkdtemp(prefix="k-", dir=base))
        self._seccomp = self._rundir.with_suffix(".bpf")
        self.transport = "ipc"  # unix sockets: they cross the kernel's network namespace
        self.ip = str(self._rundir / "k")
        self.connection_file = str(self._rundir / "kernel.json")
        # a kernel that closes a socket cannot make the grader connect to something else in its place
        self.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self.kind = None if self.unsafe else mode()[0]
        self.cgroup_note = ""
        self.as_user = self.run_as if self.unsafe and self.run_as is not None and os.geteuid() == 0 else None
        self._home = self._rundir.with_suffix(".home")  # the kernel's home when it runs as ``as_user``

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.unsafe:
            cmd = ["sh", "-c", 'ulimit -S -d unlimited 2>/dev/null; exec "$@"', "launch",
                   "prlimit", f"--as={int(self.limits.memory)}", "--core=0", "--"] + cmd
            if self.as_user is not None:
                open_to_kernel(self.as_user, self._rundir, self._home, self.connection_file, self.course,
                               self.grader_input)
                cmd = drop_to(self.as_user) + cmd
            return cmd
        if self.kind is None:
            raise RuntimeError(f"no sandbox: {mode()[1]}")
        self.cgroup, self.cgroup_note = Cgroup.create(self._rundir.name, self.limits)
        if self.kind == "root":
            os.chown(self._rundir, NOBODY, NOBODY)  # the kernel binds its sockets here, then gives it back
            os.chown(self.connection_file, NOBODY, NOBODY)
        procs = self.cgroup.procs_files() if self.cgroup else ()
        rules = userns_filter()
        if rules:  # beside the socket folder, not in it: nothing the kernel sees
            self._seccomp.write_bytes(rules)
        full, _ = sandbox_command(cmd, self.kind, self._rundir, self.course, self.grader_input, self.limits,
                                  kernel_env(WORK), procs, self._seccomp if rules else None)
        return full

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # its banner, and whatever it writes to fd 2: the kernel is the submission's, and its stderr would reach
        # the teacher's terminal or the batch's log raw and unbounded (the grader learns of a death from nbclient)
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        home = self._home if self.as_user is not None else self._rundir
        kw["env"] = {k: os.environ[k] for k in ("PATH",) if k in os.environ} if not self.unsafe else \
            kernel_env(str(home), {"WAVENET_PROBE_DIR": self.grader_input, "PYTHONPATH": self.course})
        kw["cwd"] = str(home)
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    _launch_kernel = _async_launch_kernel

    def _sockets_bound(self, timeout=60):
        """Wait until the kernel has bound all its sockets: a socket that never reconnects must find its
        peer on the first try."""
        import stat
        import time
        paths = [f"{self.ip}-{port}" for port in (self.shell_port, self.iopub_port, self.stdin_port,
                                                    self.control_port, self.hb_port)]
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            try:
                if all(stat.S_ISSOCK(os.lstat(p).st_mode) for p in paths):
                    return
            except OSError:
                pass
            if not self.has_kernel or (self.provisioner and self.provisioner.process
                                       and self.provisioner.process.poll() is not None):
                return  # it died: nbclient reports that
            time.sleep(0.05)

    async def _async_post_start_kernel(self, **kw):
        self._sockets_bound()
        await super()._async_post_start_kernel(**kw)

    post_start_kernel = _async_post_start_kernel

    def max_message(self):
        """Bytes one frame of a kernel's message may have: over it, ZeroMQ cuts the connection before reading
        it (16 MiB, or four cells' output caps: a probe record is at most 4 MB, a cell's output is capped)."""
        return max(16 * 1024 ** 2, 4 * int(self.limits.max_output_bytes))

    def client(self, **kwargs):
        """A client whose sockets never reconnect (see :meth:`lock`), read at most :meth:`max_message` bytes a
        frame, and parse each part of a message only within :mod:`autograder.bounded_json`'s bounds."""
        ctx = zmq.asyncio.Context()
        ctx.setsockopt(zmq.RECONNECT_IVL, -1)
        ctx.setsockopt(zmq.MAXMSGSIZE, self.max_message())
        self.session.unpack = bounded_json.loads
        return super().client(context=ctx, **kwargs)

    def lock(self):
        """Once the kernel is up: take its socket folder back (as root), or make it read-only inside the sandbox
        (without root: :func:`seal`), so that nothing there can change and nothing more lands there."""
        if self.kind == "root" or self.as_user is not None:
            os.chown(self._rundir, 0, 0)
            os.chmod(self._rundir, 0o700)
        elif self.kind == "user" and self.provisioner is not None and self.provisioner.process is not None:
            why = seal(self.provisioner.process.pid, self._rundir)
            if why:
                self.log.warning("the kernel's socket folder stays writable: %s", why)

    async def _async_cleanup_resources(self, restart=False):
        if self.cgroup is not None:
            self.cgroup.kill()
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            if self.cgroup is not None:
                self.cgroup.remove()
            shutil.rmtree(self._rundir, ignore_errors=True)
            shutil.rmtree(self._home, ignore_errors=True)
            self._seccomp.unlink(missing_ok=True)

    cleanup_resources = _async_cleanup_resources
