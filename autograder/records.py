"""What grading produces, as small dataclasses with the JSON the command line prints.

- :class:`TestResult`: one test cell: points, pass or fail, the grader's message.
- :class:`Graded`: one notebook graded by nbgrader (``python -m autograder grade --json``).
- :class:`Record`: one student of a class (``results/<student>.json``): the graded
  notebook, or why it was not graded, with notes for the student and for a reviewer.
  :func:`save` and :func:`load` write and read one such file.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from autograder.safe_io import read_text, write_text


@dataclass
class TestResult:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""


@dataclass
class Graded:
    """One notebook through nbgrader autograde (and the judge)."""
    assignment: str
    notebook: str
    score: float
    max_score: float
    tests: List[TestResult]
    notes: List[str] = field(default_factory=list)   # what happened while it ran: limits, a dead kernel
    seconds: float = 0.0
    feedback: Optional[str] = None
    sandboxed: bool = True
    judged: Optional[str] = field(default=None, repr=False)  # the autograded notebook (JSON text)

    def to_json(self):
        """The ``grade --json`` object: assignment, notebook, score, max_score, tests, seconds (+ feedback)."""
        out = {"assignment": self.assignment, "notebook": self.notebook, "score": self.score,
               "max_score": self.max_score, "tests": [asdict(t) for t in self.tests], "seconds": self.seconds}
        if self.feedback:
            out["feedback"] = self.feedback
        return out


@dataclass
class Record:
    """One student of a class; ``status`` is ``graded`` (the score is what the tests gave) or ``error``."""
    student: str
    assignment: str
    status: str = "error"
    score: Optional[float] = 0.0
    max_score: Optional[float] = None
    reason: str = ""
    notes: List[str] = field(default_factory=list)
    review: List[str] = field(default_factory=list)  # for a person: code worth a look (static notes)
    tests: List[dict] = field(default_factory=list)
    file: str = ""
    sha256: Optional[str] = None
    seconds: float = 0.0
    final: bool = True          # False: the grader failed, not the student: a re-run grades them again
    sandboxed: bool = True
    late_penalty: float = 0.0   # what the course's late policy took off (nbgrader's gradebook)
    needs_manual_grade: bool = False  # a written answer (or an override) waits for a person in formgrader

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, d):
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def save(path, rec):
    """Write ``rec`` to ``path`` atomically: a reader sees the old record or the new one, never half."""
    write_text(path, json.dumps(rec.to_json(), indent=1))


def load(path):
    """The record in ``path``, or ``None`` when there is none (or it cannot be read)."""
    try:
        return Record.from_json(json.loads(read_text(path)))
    except (OSError, ValueError, TypeError):
        return None
