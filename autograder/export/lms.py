"""The class's grades as an LMS's import file, read from nbgrader's gradebook (one job: nothing is graded here).

Two nbgrader export plugins, usable in a course directory as
``nbgrader export --exporter=autograder.export.lms.CanvasExportPlugin --to canvas.csv``
(or ``MoodleExportPlugin``), or through ``python -m autograder export``, which
first imports a roster into the gradebook's students (:func:`import_roster`).

Each cell is the student's score as the gradebook holds it now, computed as
nbgrader's own ``CsvExportPlugin`` computes ``score``: the sum of the grades
(a manual score overrides the autograded one) less the late penalty, never
below 0. A student with no submission of an assignment gets an empty cell:
"not submitted" is not "scored 0" (the teacher decides what the LMS records;
nbgrader's own CSV, ``export csv``, keeps its 0).

Formats, from each LMS's documentation (found with the course's search tool; none of it fetched at run time):

* Canvas: "Import a CSV file to Carmen grades" (Ohio State's Canvas guide,
  teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
  the import file is the gradebook export's layout; Student (``Last, First``)
  or ID or SIS User ID identifies the student, then SIS Login ID, Section,
  one column per assignment; a column Canvas cannot match becomes a new
  assignment. "Detailed Canvas Export Info" (nemogb-dev.github.io/nemogb-r/
  articles/detailed-canvas-export-info.html): ``Student,ID,SIS User ID,SIS
  Login ID,Section``, ID the Canvas user id, assignment columns
  ``Quiz 1 (87568490)`` with Canvas's assignment id. The export's second row,
  "Points Possible", carries each assignment's maximum; Canvas writes it in its
  own export, so its import takes a file with it.
* Moodle: "Grade import" (docs.moodle.org/311/en/Grade_import): the CSV
  import takes the CSV export's layout and asks for a mapping; the user is
  found by "Email address" -> useremail or "ID number" -> useridnumber, and
  each grade column is mapped to a grade item.
"""
import csv
import io
from pathlib import Path

from nbgrader.api import MissingEntry
from nbgrader.plugins import CsvExportPlugin, ExportPlugin
from traitlets import Dict, Unicode

from autograder.classroom.gradebook import cell
from autograder.safe_io import write_text

ROSTER_COLUMNS = ("student_id", "name", "email", "lms_user_id", "sis_user_id", "sis_login_id", "section",
                  "id_number")


# --- the roster: nbgrader student ids to LMS ids -------------------------------------------------------------

def read_roster(path):
    """``{student_id: {column: value}}`` from a roster CSV: the columns of :data:`ROSTER_COLUMNS` that it has
    (any subset; others are ignored), empty cells dropped so they never blank what the gradebook knows.

    Args:
        path: the roster file, or ``None`` / ``""`` for none.
    Returns:
        a dict by student id (rows without one are skipped).
    """
    if not path:
        return {}
    rows = {}
    text = Path(path).read_text(encoding="utf-8-sig")  # the teacher's file; a spreadsheet may start it with a BOM
    for row in csv.DictReader(io.StringIO(text)):
        known = {k: (row.get(k) or "").strip() for k in ROSTER_COLUMNS}
        if known["student_id"]:
            rows[known["student_id"]] = {k: v for k, v in known.items() if v}
    return rows


def split_name(name):
    """``(first, last)`` of a roster name: ``"Doe, Jane"`` (an LMS's sortable name) or ``"Jane Doe"``."""
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
        return first, last
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else ("", last)


def import_roster(gradebook, roster):
    """Put a roster's names, emails and LMS user ids into the gradebook's students (a row for an unknown
    student adds the student), so formgrader and every export see them.

    Args:
        gradebook: an open :class:`nbgrader.api.Gradebook`.
        roster: :func:`read_roster`'s dict.
    """
    for student_id, row in roster.items():
        fields = {}
        if "name" in row:
            fields["first_name"], fields["last_name"] = split_name(row["name"])
        for key in ("email", "lms_user_id"):
            if key in row:
                fields[key] = row[key]
        gradebook.update_or_create_student(student_id, **fields)


def lms_user_id(student):
    """The student's LMS user id: the gradebook's, else the student id itself when it is all digits
    (students graded from a Moodle or Canvas download have their LMS id as nbgrader id: ``students.py``)."""
    if student.lms_user_id:
        return student.lms_user_id
    return student.id if student.id.isdigit() else ""


def sortable_name(student):
    """``Last, First`` as Canvas writes its Student column; the student id when the gradebook has no name."""
    parts = [p for p in (student.last_name, student.first_name) if p]
    return ", ".join(parts) or student.id


# --- scores --------------------------------------------------------------------------------------------------

def score(gradebook, assignment, student):
    """The score as the gradebook holds it now (nbgrader's ``CsvExportPlugin``: grades less the late penalty,
    at least 0), or ``None`` when the student has no submission."""
    try:
        sub = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return None
    return max(0.0, float(sub.score or 0.0) - float(sub.late_submission_penalty or 0.0))


def number(value):
    """A score as a plain number (``7.5``, ``10``): no exponent, no locale, empty for ``None``."""
    if value is None:
        return ""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def write_rows(path, rows):
    """The CSV file: every text cell through :func:`autograder.classroom.gradebook.cell` (a name that starts like a
    formula is shown as text, not run by the spreadsheet the teacher opens it in)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    write_text(path, buf.getvalue())


# --- the plugins ---------------------------------------------------------------------------------------------

class LmsExportPlugin(ExportPlugin):
    """What the LMS formats share: which assignments and students (nbgrader's ``--assignment`` and
    ``--student``, all by default), the roster's extra columns, the scores."""

    roster = Unicode("", help="a roster CSV (student_id, sis_user_id, sis_login_id, section, id_number...) for "
                              "the ids the gradebook does not hold").tag(config=True)

    default_to = "grades.csv"

    def assignments(self, gradebook):
        wanted = {str(a) for a in self.assignment}
        return [a for a in gradebook.assignments if not wanted or a.name in wanted]

    def students(self, gradebook):
        wanted = {str(s) for s in self.student}
        return sorted((s for s in gradebook.students if not wanted or s.id in wanted), key=lambda s: s.id)

    def scores(self, gradebook, assignments, student):
        return [number(score(gradebook, a.name, student.id)) for a in assignments]

    def export(self, gradebook):
        assignments = self.assignments(gradebook)
        extra = read_roster(self.roster)
        dest = self.to or self.default_to
        self.log.info("Exporting grades to %s", dest)
        write_rows(dest, self.header(assignments) + [
            self.identity(s, extra.get(s.id, {})) + self.scores(gradebook, assignments, s)
            for s in self.students(gradebook)])

    def header(self, assignments):
        raise NotImplementedError

    def identity(self, student, extra):
        raise NotImplementedError


class CanvasExportPlugin(LmsExportPlugin):
    """Canvas's gradebook import: its own export's layout, ``Student,ID,SIS User ID,SIS Login ID,Section``,
    one column per assignment, a "Points Possible" row. Canvas matches an assignment column by the id in
    parentheses (``assignment_ids``, e.g. ``--CanvasExportPlugin.assignment_ids 01_layers=4411``), else by
    its name; a column it cannot match it offers to create as a new assignment."""

    assignment_ids = Dict({}, help="nbgrader assignment name -> Canvas assignment id").tag(config=True)

    default_to = "canvas.csv"

    def column(self, assignment):
        cid = self.assignment_ids.get(assignment.name)
        return f"{assignment.name} ({cid})" if cid else assignment.name

    def header(self, assignments):
        names = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        points = ["Points Possible", "", "", "", ""]
        return [names + [self.column(a) for a in assignments],
                points + [number(float(a.max_score)) for a in assignments]]

    def identity(self, student, extra):
        return [sortable_name(student), extra.get("lms_user_id") or lms_user_id(student),
                extra.get("sis_user_id", ""), extra.get("sis_login_id", ""), extra.get("section", "")]


class MoodleExportPlugin(LmsExportPlugin):
    """Moodle's CSV grade import: the user by ``Email address`` (map to useremail) or ``ID number`` (map to
    useridnumber), then one column per assignment named as the assignment, to map onto a grade item."""

    default_to = "moodle.csv"

    def header(self, assignments):
        return [["First name", "Last name", "ID number", "Email address"] + [a.name for a in assignments]]

    def identity(self, student, extra):
        return [student.first_name or "", student.last_name or "", extra.get("id_number", ""),
                student.email or extra.get("email", "")]


class SafeCsvExportPlugin(LmsExportPlugin, CsvExportPlugin):
    """nbgrader's own CSV (``CsvExportPlugin``'s columns and values: one row per student and assignment, 0
    for no submission), written through the csv module and :func:`~autograder.classroom.gradebook.cell`: nbgrader's
    joins fields with commas unquoted, so a name with a comma shifts the row and ``=...`` runs as a formula."""

    KEYS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "raw_score",
            "late_submission_penalty", "score", "max_score"]

    def export(self, gradebook):
        rows = [self.KEYS]
        for a in self.assignments(gradebook):
            for s in self.students(gradebook):
                rows.append(self.row(gradebook, a, s))
        write_rows(self.to or self.default_to, rows)

    def row(self, gradebook, a, s):
        try:
            sub = gradebook.find_submission(a.name, s.id)
            raw, penalty, when = float(sub.score), float(sub.late_submission_penalty or 0.0), sub.timestamp
        except MissingEntry:
            raw, penalty, when = 0.0, 0.0, None
        values = [a.name, a.duedate, when, s.id, s.last_name, s.first_name, s.email, raw, penalty,
                  max(0.0, raw - penalty), float(a.max_score)]
        return ["" if v is None else v if isinstance(v, (str, float)) else str(v) for v in values]


EXPORTERS = {"canvas": CanvasExportPlugin, "moodle": MoodleExportPlugin, "csv": SafeCsvExportPlugin}


def export(kind, to, course, roster=None, canvas_ids=None):
    """``python -m autograder export``: import ``roster`` into the course's gradebook, then write ``to``.

    Args:
        kind: ``canvas``, ``moodle`` or ``csv`` (nbgrader's own columns).
        to: the file to write.
        course: the nbgrader course directory (its ``gradebook.db``).
        roster: an optional roster CSV (:func:`read_roster`).
        canvas_ids: ``{assignment: Canvas assignment id}`` for Canvas's column names.
    Returns:
        the path written.
    """
    from nbgrader.api import Gradebook

    from autograder.assignments import GradingError
    from autograder.classroom.gradebook import _quiet

    db = Path(course) / "gradebook.db"
    if not db.is_file():  # Gradebook() would create an empty one and export nothing
        raise GradingError(f"no gradebook in {course}: grade a class there first (grade-all, nbgrader autograde)")
    try:
        rows = read_roster(roster)
    except (OSError, UnicodeDecodeError, csv.Error) as e:  # the teacher's file: say which, not a traceback
        raise GradingError(f"cannot read the roster {roster}: {e}") from None
    plugin = EXPORTERS[kind](to=str(to), roster=str(roster or ""))
    if kind == "canvas":
        plugin.assignment_ids = dict(canvas_ids or {})
    with _quiet(), Gradebook(f"sqlite:///{db}") as gb:
        import_roster(gb, rows)
        plugin.export(gb)
    return to
