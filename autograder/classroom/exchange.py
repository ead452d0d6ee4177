"""``nbgrader collect`` that trusts nothing a student put in the exchange: ``SafeCollect``.

nbgrader's own collect (0.9.6) copies ``inbound/<student>+<assignment>+<timestamp>+<random>`` with ``copytree``
as the instructor: a link in it to the solutions is followed (the solution is "handed in"), the folder's own
``timestamp.txt`` sets the late penalty, and a folder named after another student replaces that student's work
with only a warning. Here:

- a folder holding a link, or anything not a regular file or folder, is refused (nothing of it is copied); the
  copy itself never follows a link, and a folder that changed while it was copied is refused too;
- a folder owned by another user than the one collecting, whose user name is not the student in the folder's
  name, is refused (a folder owned by the collecting user is accepted: tests, single-user setups);
- the submission time is the newest ``ctime`` of the folder and its entries, set by the kernel (no user can
  set it back); it orders a student's submissions and is written to the collected ``timestamp.txt``.

``autograder/course.py`` names it as ``c.ExchangeFactory.collect``.
"""
import os
import shutil
import stat
from datetime import datetime, timezone

from nbgrader.exchange.default import ExchangeCollect
from nbgrader.utils import ignore_patterns, parse_utc

try:
    import pwd
except ImportError:  # Windows: no owners to compare
    pwd = None

TIMESTAMP = "timestamp.txt"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's get_timestamp
DISAGREE_SECONDS = 60
CLAIM_BYTES = 1000  # a timestamp.txt is one line; more is not read


def user_name(uid):
    """The user name of ``uid``, or ``uid <n>`` where it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, AttributeError):
        return f"uid {uid}"


def snapshot(folder):
    """``{relative path: (mode, inode, size, ctime_ns)}`` of ``folder`` and everything under it, never following
    a link; raises ``ValueError`` naming the first entry that is neither a regular file nor a folder."""
    seen = {}
    pending = [""]
    while pending:
        rel = pending.pop()
        path = os.path.join(folder, rel) if rel else folder
        st = os.lstat(path)
        seen[rel] = (st.st_mode, st.st_ino, st.st_size, st.st_ctime_ns)
        if stat.S_ISLNK(st.st_mode):
            raise ValueError(f"{path} is a link (to {os.readlink(path)!r}); links are not followed")
        if stat.S_ISDIR(st.st_mode):
            pending.extend(os.path.join(rel, name) for name in sorted(os.listdir(path)))
        elif not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file or folder (mode {stat.filemode(st.st_mode)})")
    return seen


def kernel_time(seen):
    """The newest ctime of a :func:`snapshot`, as nbgrader's timestamp string (UTC)."""
    newest = max(ctime for _, _, _, ctime in seen.values())
    return datetime.fromtimestamp(newest / 1e9, timezone.utc).strftime(TIMESTAMP_FORMAT)


def claimed_time(folder):
    """The student's own ``timestamp.txt`` in ``folder`` as a naive UTC datetime, or ``None``."""
    try:
        fd = os.open(os.path.join(folder, TIMESTAMP), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            return parse_utc(f.read(CLAIM_BYTES).decode("utf-8", "replace").strip())
    except (ValueError, OverflowError):
        return None


class SafeCollect(ExchangeCollect):
    """nbgrader's ``ExchangeCollect`` without links, forged owners or forged times (module docstring)."""

    def _path_to_record(self, path):
        record = super()._path_to_record(path)
        record["refused"] = self.refusal(path, record["username"])
        if record["refused"]:
            self.log.error("Not collecting %s's submission %s: %s", record["username"], path, record["refused"])
        else:  # the kernel's time orders the student's submissions and meets the due date
            record["timestamp"] = parse_utc(kernel_time(snapshot(path)))
        return record

    def refusal(self, path, student):
        """Why the inbound folder ``path`` of ``student`` is not collected, or ``None``."""
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return f"{path} is not a folder (mode {stat.filemode(st.st_mode)}); links are not followed"
        if pwd is not None and st.st_uid != os.getuid() and user_name(st.st_uid) != student:
            return (f"the folder is owned by {user_name(st.st_uid)}, not by the student it names ({student}) "
                    f"nor by the user collecting ({user_name(os.getuid())})")
        try:
            snapshot(path)
        except (ValueError, OSError) as e:
            return str(e)
        return None

    def _sort_by_timestamp(self, records):
        """A student's accepted submissions, newest first; their refused ones only where none is accepted (then
        ``copy_files`` collects nothing of that student)."""
        accepted = [r for r in records if not r["refused"]]
        return super()._sort_by_timestamp(accepted or records)

    def copy_files(self):
        for record in self.src_records:
            if record["refused"]:
                self.log.error("Nothing collected of %s: %s", record["username"], record["refused"])
        self.src_records = [r for r in self.src_records if not r["refused"]]
        super().copy_files()

    def do_copy(self, src, dest):
        """nbgrader's ``Exchange.do_copy`` (size limit, ignore and include patterns, group sharing) without
        following a link, then the kernel's time into ``dest``'s ``timestamp.txt``; a folder that changed while
        it was copied is refused and ``dest`` removed."""
        try:
            before = snapshot(src)
            size = sum(entry[2] for entry in before.values() if stat.S_ISREG(entry[0]))
            if size > 1000 * self.coursedir.max_dir_size:
                raise ValueError(f"{src} holds {size} bytes, over the limit of {1000 * self.coursedir.max_dir_size} "
                                 "(CourseDirectory.max_dir_size)")
            shutil.copytree(src, dest, symlinks=True,  # a link raced in stays a link, and is refused below
                            ignore=ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                                   max_file_size=self.coursedir.max_file_size, log=self.log))
            if snapshot(src) != before:
                raise ValueError(f"{src} changed while it was collected")
            copied = snapshot(dest)  # nothing in the copy is a link
        except (ValueError, OSError) as e:
            shutil.rmtree(dest, ignore_errors=True)
            self.log.error("Not collecting %s: %s", src, e)
            return
        if self.coursedir.groupshared:  # as nbgrader: folders ug+rwx (setgid), files ug+rw
            for rel, (mode, *_) in copied.items():
                want = (mode | 0o2770) & 0o2777 if stat.S_ISDIR(mode) else (mode | 0o660) & 0o777
                if stat.S_IMODE(mode) != want:
                    try:
                        os.chmod(os.path.join(dest, rel) if rel else dest, want)
                    except PermissionError:
                        self.log.warning("Could not update permissions of %s to make it groupshared", rel or dest)
        when = kernel_time(before)
        claimed = claimed_time(src)
        if claimed is not None and abs((claimed - parse_utc(when)).total_seconds()) > DISAGREE_SECONDS:
            self.log.warning("%s: the submission's own %s says %s; the time it reached the exchange is %s, "
                             "which is what late penalties use", src, TIMESTAMP, claimed, when)
        path = os.path.join(dest, TIMESTAMP)
        if os.path.lexists(path):
            os.remove(path)
        with open(path, "w") as f:
            f.write(when)
