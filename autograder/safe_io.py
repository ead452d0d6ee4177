"""Reading and writing the grader's files without following links.

The kernel never sees the grader's folders, so it cannot plant a link in
them; these helpers make sure of it anyway. Every file the grader opens after
a kernel ran is opened with ``O_NOFOLLOW`` (a link in the last component is an
error, not a redirect), and every file it writes is written to a new
temporary file (``O_EXCL``) and renamed over the target, which replaces a link
rather than writing through it.
"""
import errno
import os
import stat
import tempfile
from pathlib import Path


def read_bytes(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_regular(path, limit):
    """At most ``limit + 1`` bytes of ``path``, which must be a regular file reached without a link in its last
    component: a FIFO (which would block), a device (``/dev/zero`` never ends) or a link is an ``OSError``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO opens without a writer, then is refused
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return f.read(limit + 1)


def read_text(path):
    return read_bytes(path).decode("utf-8")


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (a new temporary file, then a rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))
