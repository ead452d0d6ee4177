"""The class report (``python -m autograder report [A ...] [--to report.html]``): where the class struggles, on one
self-contained HTML page read from the course directory (nothing is graded here). ``grade-all`` rewrites the
whole class's page, ``grades/report.html``, after each run.

Sources: nbgrader's gradebook (``gradebook.db``: submissions, each test cell's score, manual grades, late
penalties) and the records ``grade-all`` derives from it (``grades/<a>/results/<student>.json``: the course's
verdict messages, why a file was not graded, the limits a run hit). A student graded by plain ``nbgrader
autograde`` has no record: their messages and the limits their run hit come from what the grader's Judge kept
in the judged notebook's metadata (``autograded/<student>/<a>/<a>.ipynb``, written out of the kernel's reach;
its cells are not read). The page holds:

* per assignment: counts, a score histogram, the pass rate of each test, the most common mistakes (failing
  tests' messages grouped by the concept they name: the text after the values, numbers as ``#``), students with
  errors or timeouts, late submissions;
* across assignments: mean score and submissions per assignment, and a student-by-assignment table.

Figures are PNGs drawn with matplotlib's Agg backend and inlined as base64: the page needs no other file and no
network. No student code and no hidden test source reach it: no notebook's cells are read; a message's
backquoted span (where a verdict may quote a learner's line) is kept only when the released exercise holds that
text. Every text from a record or the gradebook is HTML-escaped.
"""
import base64
import html
import io
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autograder.assignments import GradingError, release_path
from autograder.safe_io import write_text
from wavenet.checks import verdict

NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
QUOTED = re.compile(r"`([^`]*)`")
KNOCK_ON = re.compile(r"\s*\(the same error as in [^)]*\)\s*$")  # judge.py's note on a later test
BOUND = re.compile(re.escape(verdict.BOUND))  # the note on a test bound to another's values: the same mistake
TROUBLE = ("time limit", "stopped responding", "ran out of memory", "kernel died")  # the notes of grade.py


@dataclass
class Submission:
    """One student's submission of one assignment, as the gradebook and its derived record hold it."""
    student: str
    assignment: str
    score: float
    max_score: float
    late_penalty: float = 0.0
    seconds_late: float = 0.0
    status: str = "graded"        # the record's: graded or error (a file that could not be graded)
    reason: str = ""
    notes: list = field(default_factory=list)
    tests: dict = field(default_factory=dict)     # test id -> (points, max points)
    messages: dict = field(default_factory=dict)  # failing test id -> the course's message


@dataclass
class Assignment:
    name: str
    max_score: float
    tests: list
    submissions: list


def gather(root, assignments=None):
    """The class from the gradebook of course directory ``root``: one :class:`Assignment` per name (default:
    every assignment the gradebook holds, in its order), its submissions with their records' messages."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.classroom.batch import grades_dir
    from autograder.classroom.gradebook import _quiet, derive
    from autograder.records import load

    root = Path(root)
    if not (root / "gradebook.db").is_file():
        raise GradingError(f"no gradebook in {root} (gradebook.db): grade a class there first (grade-all, nbgrader)")
    out = []
    with _quiet(), Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        known = [a.name for a in gb.assignments]
        for name in assignments or known:
            try:
                a = gb.find_assignment(name)
            except MissingEntry:
                raise GradingError(f"no assignment {name!r} in {root / 'gradebook.db'}; it holds: "
                                   f"{', '.join(known) or 'none'}") from None
            tests = [c.name for nb in a.notebooks for c in nb.grade_cells]
            subs = []
            for s in sorted(gb.students, key=lambda s: s.id):
                try:
                    sub = gb.find_submission(name, s.id)
                except MissingEntry:
                    continue
                penalty = float(sub.late_submission_penalty or 0.0)
                subs.append(Submission(
                    s.id, name, max(0.0, float(sub.score or 0.0) - penalty), float(sub.max_score), penalty,
                    float(sub.total_seconds_late or 0.0),
                    tests={g.name: (float(g.score or 0.0), float(g.max_score)) for nb in sub.notebooks
                           for g in nb.grades}))
            out.append(Assignment(name, float(a.max_score), tests, subs))
    limits = None
    for a in out:
        for s in a.submissions:
            rec = load(grades_dir(root, a.name) / "results" / f"{s.student}.json")
            if rec is None:  # graded by plain nbgrader autograde: what the Judge kept with the judged notebook
                limits = limits or course_limits(root)
                s.messages, s.notes = judged(root, a.name, s.student, limits)
                continue
            rec = derive(root, rec)
            s.status, s.reason, s.notes = rec.status, rec.reason, list(rec.notes)
            s.messages = {t["id"]: t["message"] for t in rec.tests if t.get("passed") is False and t.get("message")}
    return out


JUDGED_BYTES = 64 * 2**20  # a judged notebook's outputs are capped (Limits.notebook_output_bytes, 8 MB)


def judged(root, assignment, student, limits):
    """``(messages, notes)`` of a notebook the course's pipeline judged in course ``root``, from its metadata
    (``autograder``: the Judge's verdicts and the executor's events): ``{failing test id: message}`` and what the
    run hit, in :func:`autograder.notebook.grade._notes`' words (``limits``: the course's, :func:`course_limits`);
    ``({}, [])`` where there is no such notebook."""
    import json

    import nbformat

    from autograder.bounded_json import check
    from autograder.notebook.grade import _notes
    from autograder.safe_io import read_regular

    path = Path(root) / "autograded" / student / assignment / f"{assignment}.ipynb"
    try:
        raw = read_regular(path, JUDGED_BYTES)
        if len(raw) > JUDGED_BYTES:
            return {}, []
        check(raw, "a judged notebook")
        nb = nbformat.from_dict(json.loads(raw))
        tests = nb.metadata["autograder"]["tests"]
        messages = {tid: t["message"] for tid, t in tests.items()
                    if t.get("passed") is False and isinstance(t.get("message"), str) and t["message"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, []
    return messages, _notes(nb, limits)


def course_limits(root):
    """The limits course ``root`` grades under (its ``nbgrader_config.py``): they name the memory a run ran out of."""
    from autograder.course import load
    from autograder.sandbox.limits import Limits

    try:
        return Limits(**load(root).SandboxKernelManager.limit_values)
    except (TypeError, AttributeError):
        return Limits()


def exercise_text(assignment):
    """The released exercise's text (public: what a learner downloads), or ``""`` when there is none here."""
    try:
        return release_path(assignment).read_text(encoding="utf-8")
    except OSError:
        return ""


def concept(message, public=""):
    """The mistake a message names, for grouping: its first line without the knock-on note ("the same error as
    in ..."), its last clause (``...gave (3, 1, 8): squeeze it`` -> ``squeeze it``; ``the test could not start:
    NameError (...): the cell that defines...`` -> ``the cell that defines...``), numbers as ``#``. A backquoted
    span is kept only when ``public`` (the released exercise) holds it, else it becomes ``…`` (it may quote the
    learner's line) and a clause that is only that is skipped."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = BOUND.sub("", KNOCK_ON.sub("", first))
    first = QUOTED.sub(lambda m: m.group(0) if m.group(1) and m.group(1) in public else "`…`", first)
    clauses = [c for c in first.split(": ") if c.strip() not in ("", "`…`")] or [first]
    return NUMBER.sub("#", clauses[-1]).strip().rstrip(".")


def mistakes(assignment):
    """``[(concept, test ids, students)]``, the most students first: each failing test's message grouped."""
    public = exercise_text(assignment.name)
    groups = defaultdict(lambda: (set(), set()))
    for s in assignment.submissions:
        if s.status != "graded":
            continue
        for tid, message in s.messages.items():
            tests, students = groups[concept(message, public)]
            tests.add(tid)
            students.add(s.student)
    return sorted(((c, sorted(t), sorted(st)) for c, (t, st) in groups.items()), key=lambda g: (-len(g[2]), g[0]))


def pass_rates(assignment):
    """``{test id: (passed, submitted)}``: a test passes with its full points (manual grades included)."""
    out = {}
    for tid in assignment.tests:
        got = [s.tests[tid] for s in assignment.submissions if tid in s.tests]
        out[tid] = (sum(p >= m > 0 for p, m in got), len(got))
    return out


def trouble(assignment):
    """``[(student, what)]``: files that could not be graded (their reason), runs that hit a limit (the note)."""
    out = []
    for s in assignment.submissions:
        if s.status != "graded":
            out.append((s.student, s.reason or s.status))
        for note in s.notes:
            if any(word in note for word in TROUBLE):
                out.append((s.student, note))
    return out


# --- figures -------------------------------------------------------------------------------------------------

def _png(fig):
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w=6, h=2.6):
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(w, h))


def histogram(assignment):
    fig, ax = _figure()
    scores = [s.score for s in assignment.submissions]
    top = max(assignment.max_score, 1.0)
    ax.hist(scores, bins=min(20, max(5, int(top) + 1)), range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (of {assignment.max_score:g})")
    ax.set_ylabel("students")
    return _png(fig)


def pass_rate_chart(rates):
    fig, ax = _figure(6, 0.35 * len(rates) + 0.8)
    names = list(rates)[::-1]
    ax.barh(names, [100 * p / n if n else 0 for p, n in (rates[t] for t in names)], color="#55a868")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of submissions passing")
    return _png(fig)


def across_chart(assignments):
    fig, ax = _figure(6, 2.6)
    names = [a.name for a in assignments]
    means = [100 * statistics.mean(s.score / a.max_score for s in a.submissions) if a.submissions and a.max_score
             else 0 for a in assignments]
    ax.bar(names, means, color="#8172b2")
    ax.set_ylim(0, 100)
    ax.set_ylabel("mean score (%)")
    ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


# --- the page ------------------------------------------------------------------------------------------------

e = html.escape


def _img(data, alt):
    return f'<img src="data:image/png;base64,{data}" alt="{e(alt)}">'


def _table(head, rows, cls=""):
    cells = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><tr>{cells}</tr>{body}</table>' if rows else "<p>none</p>"


def _counts(a):
    """The assignment's counts, each in an element whose ``data-count`` names it (tests read them)."""
    graded = [s for s in a.submissions if s.status == "graded"]
    full = sum(s.score >= a.max_score for s in a.submissions)
    late = sum(s.seconds_late > 0 for s in a.submissions)
    mean = statistics.mean(s.score for s in a.submissions) if a.submissions else 0.0
    items = [("submissions", len(a.submissions)), ("graded", len(graded)),
             ("not graded", len(a.submissions) - len(graded)), ("full marks", full), ("late", late)]
    parts = [f'<li>{e(k)}: <b data-count="{e(k)}">{v}</b></li>' for k, v in items]
    parts.append(f'<li>mean score: <b data-count="mean">{mean:.2f}</b> of {a.max_score:g}</li>')
    return "<ul class='counts'>" + "".join(parts) + "</ul>"


def section(a):
    rates = pass_rates(a)
    parts = [f'<section id="{e(a.name)}"><h2>{e(a.name)}</h2>', _counts(a)]
    if a.submissions:
        parts += ["<h3>Scores</h3>", _img(histogram(a), f"score histogram of {a.name}")]
    parts += ["<h3>Pass rate per test</h3>",
              _img(pass_rate_chart(rates), f"pass rate per test of {a.name}") if a.tests and a.submissions else "",
              _table(["test", "passed", "submissions", "rate"],
                     [[e(t), f'<span data-pass="{e(t)}">{p}</span>', n, f"{100 * p / n:.0f}%" if n else "-"]
                      for t, (p, n) in rates.items()])]
    parts += ["<h3>Most common mistakes</h3>",
              _table(["mistake", "students", "tests", "who"],
                     [[e(c), f'<b data-mistake>{len(st)}</b>', e(", ".join(t)), e(", ".join(st))]
                      for c, t, st in mistakes(a)])]
    parts += ["<h3>Errors and timeouts</h3>", _table(["student", "what happened"],
                                                     [[e(s), e(w)] for s, w in trouble(a)])]
    late = [s for s in a.submissions if s.seconds_late > 0]
    parts += ["<h3>Late submissions</h3>",
              _table(["student", "late by", "penalty", "score after it"],
                     [[e(s.student), f"{s.seconds_late / 3600:.1f} h", f"{s.late_penalty:g}", f"{s.score:g}"]
                      for s in late])]
    return "\n".join(parts) + "</section>"


def across(assignments):
    students = sorted({s.student for a in assignments for s in a.submissions})
    by = {(s.student, a.name): s for a in assignments for s in a.submissions}
    rows = [[e(st)] + [(f"{by[st, a.name].score:g}" if (st, a.name) in by else "—") for a in assignments]
            + [str(sum((st, a.name) in by for a in assignments))] for st in students]
    return "\n".join(["<section id='across'><h2>Across assignments</h2>",
                      _img(across_chart(assignments), "mean score per assignment") if assignments else "",
                      _table(["assignment", "submissions", "mean", "max"],
                             [[e(a.name), len(a.submissions),
                               f"{statistics.mean(s.score for s in a.submissions):.2f}" if a.submissions else "-",
                               f"{a.max_score:g}"] for a in assignments]),
                      "<h3>Students</h3>",
                      _table(["student"] + [a.name for a in assignments] + ["submitted"], rows, "students"),
                      "</section>"])


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
th{background:#f3f3f3}img{display:block;max-width:100%;margin:.5rem 0}ul.counts{columns:2}
section{border-top:2px solid #888;margin-top:2rem}"""


def render(assignments, root):
    body = "\n".join(section(a) for a in assignments)
    toc = " · ".join(f'<a href="#{e(a.name)}">{e(a.name)}</a>' for a in assignments)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Class report</title>"
            f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\"><style>{STYLE}</style></head><body>"
            f"<h1>Class report</h1><p>Course directory {e(str(root))}: {len(assignments)} assignment(s). "
            f"{toc} · <a href='#across'>across assignments</a></p>\n{body}\n{across(assignments)}</body></html>\n")


def page(root):
    """Where the class report of course ``root`` lives by default: ``grades/report.html`` (grade-all rewrites it)."""
    return Path(root) / "grades" / "report.html"


def report(assignments, root, to=None):
    """Write the report of ``assignments`` (default: all the gradebook holds) in course ``root`` to ``to``
    (default: :func:`page`); returns a one-line summary."""
    found = gather(root, assignments)
    to = Path(to or page(root))
    to.parent.mkdir(parents=True, exist_ok=True)
    write_text(to, render(found, root))
    return f"{to}: {len(found)} assignment(s), {sum(len(a.submissions) for a in found)} submission(s)"
