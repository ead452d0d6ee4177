"""Make a folder bound into a root-less sandbox read-only inside it, from outside, once the kernel is up.

Without root, the kernel runs as the grader's own user, so the grader cannot take the kernel's socket folder
back as root does (``chown``): the kernel could write gigabytes there, on the grader's disk. But the grader's
user owns the sandbox's user namespace, so it may act in it: a fresh process (``setns`` needs one thread)
joins the user namespace that owns the sandbox's mount namespace, then that mount namespace, and remounts
the folder's bind read-only there. Outside, nothing changes (the grader's view of the folder is its own
mount); inside, the kernel, which has no capability, cannot undo it.

Run as ``python -I -S seal.py PID PATH`` (standard library only): ``PID`` is a process in the sandbox,
``PATH`` the folder as the sandbox sees it. Exit 0 when sealed; otherwise 1 and the reason on stderr.
"""
import ctypes
import fcntl
import os
import sys

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1): the user namespace that owns a namespace
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
# flags a remount must keep (the kernel locks them on mounts copied into a less privileged namespace):
# statvfs's ST_* -> mount's MS_*
KEEP = {2: 2, 4: 4, 8: 8, 1024: 1024, 2048: 2048, 4096: 1 << 21}  # nosuid nodev noexec noatime nodiratime relatime


def seal(pid, path):
    libc = ctypes.CDLL(None, use_errno=True)
    mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    owner = fcntl.ioctl(mnt, NS_GET_USERNS)
    for fd, kind in ((owner, CLONE_NEWUSER), (mnt, CLONE_NEWNS)):
        if libc.setns(fd, kind) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{os.strerror(err)} (setns to the {'user' if kind == CLONE_NEWUSER else 'mount'} "
                               "namespace)")
    flags = os.statvfs(path).f_flag
    keep = sum(ms for st, ms in KEEP.items() if flags & st)
    if libc.mount(None, path.encode(), None, ctypes.c_ulong(MS_REMOUNT | MS_BIND | MS_RDONLY | keep), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{os.strerror(err)} (remount read-only)")


if __name__ == "__main__":
    try:
        seal(int(sys.argv[1]), sys.argv[2])
    except OSError as e:
        sys.exit(f"cannot seal {sys.argv[2]}: {e.strerror or e}")
