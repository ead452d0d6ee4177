"""The progress of a batch on stderr: one bar on a terminal, one line per student otherwise."""
import sys
import time

from autograder.classroom.students import printable


class Progress:
    """Counts of graded students, errors and students in flight, with the time left at this pace."""

    def __init__(self, total, quiet=False):
        self.total, self.done, self.graded, self.errors, self.t0 = total, 0, 0, 0, time.time()
        self.tty = sys.stderr.isatty()
        self.quiet = quiet

    def say(self, line):
        """One line above the bar (what the batch runs on, a worker retired)."""
        if not self.quiet:
            sys.stderr.write(("\r\033[K" if self.tty else "") + line + "\n")
            sys.stderr.flush()

    def update(self, rec, in_flight):
        """``rec`` is done; ``in_flight`` students are being graded now."""
        self.done += 1
        if rec.status == "graded":
            self.graded += 1
        else:
            self.errors += 1
        if self.quiet:
            return
        el = time.time() - self.t0
        eta = el / self.done * (self.total - self.done)
        w = 30
        bar = "#" * int(w * self.done / max(self.total, 1))
        line = (f"[{bar:{w}s}] {self.done}/{self.total}  graded {self.graded}  errors {self.errors}  "
                f"in flight {in_flight}  {el:.0f}s elapsed, ~{eta:.0f}s left")
        if self.tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if self.done == self.total else ""))
        else:
            score = f"{rec.score:g}/{rec.max_score:g}" if rec.score is not None and rec.max_score else "-"
            sys.stderr.write(f"{line}  {printable(rec.student)}: {rec.status} {score}\n")
        sys.stderr.flush()
