"""``python tests/sandbox_shell.py`` prints, as JSON, what a kernel's sandbox lets a shell do, in this
user's mode (root: ``root``; any other user: ``user``), with ``--disk 64M``: for each probe its exit status
and the bytes that landed. The socket folder is probed as a kernel finds it once it is up: root-owned as
root, sealed without root (``sealed``: ``true``, or why not). tests/test_attacks_red2.py runs it as root and as nobody.

Probes: write 200 MB to /dev/shm, to /dev, to the sandbox's root, to the socket folder and to /learner (the
only writable place, a tmpfs of ``--disk`` bytes); ``unshare -rm`` (a user namespace with a mount in it).
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.sandbox.limits import Limits
from autograder.sandbox.bwrap import WORK, _inside, kernel_env, mode, sandbox_command, seal, userns_filter

MB = 1024 ** 2
WRITE = "dd if=/dev/zero of={} bs=1M count=200 2>/dev/null; r=$?; wc -c < {} 2>/dev/null || echo 0; exit $r"


def main():
    kind, why = mode()
    if kind is None:
        sys.exit(f"no sandbox: {why}")
    folder = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp"))
    try:
        for name in ("course", "input", "run"):
            (folder / name).mkdir()
        rules = userns_filter()
        if rules:
            (folder / "filter.bpf").write_bytes(rules)
        run = folder / "run"
        probes = {"dev_shm": WRITE.format("/dev/shm/x", "/dev/shm/x"), "dev": WRITE.format("/dev/x", "/dev/x"),
                  "root": WRITE.format("/x", "/x"), "socket_folder": WRITE.format(run / "x", run / "x"),
                  "learner": WRITE.format(f"{WORK}/x", f"{WORK}/x"),
                  "unshare": "unshare -rm sh -c 'mount -t tmpfs none /learner' 2>/dev/null; r=$?; echo 0; exit $r"}
        out = {"mode": kind}
        for name, script in probes.items():
            cmd, _ = sandbox_command(["sh", "-c", "read go; " + script], kind, run, folder / "course",
                                     folder / "input", Limits(disk=64 * MB), kernel_env(WORK),
                                     seccomp=folder / "filter.bpf" if rules else None)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            if kind == "user":  # what the kernel manager's lock does once the kernel is up
                for _ in range(200):
                    if _inside(proc.pid):
                        break
                    time.sleep(0.02)
                out.setdefault("sealed", seal(proc.pid, run) or True)
            stdout, _ = proc.communicate("go\n", timeout=120)
            out[name] = {"rc": proc.returncode, "bytes": int((stdout.split() or ["0"])[-1])}
            (run / "x").unlink(missing_ok=True)
        print(json.dumps(out))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
