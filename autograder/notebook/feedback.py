"""Feedback that carries only what the grader decided.

nbgrader's ``generate_feedback`` renders the autograded notebook. Before it
does, :class:`VerdictOnly` rewrites it:

- every test cell shows its visible source (nbgrader's ``ClearHiddenTests``
  removes the hidden part) and, as its only output, the grader's verdict;
- the learner's own cells keep their text output, capped at
  :data:`CAP` characters a cell, but only cells that ran *before* the first
  hidden test reached the kernel; later cells' outputs are dropped, so no
  output can quote hidden test code, in any encoding;
- rich outputs (HTML, JavaScript, SVG, Markdown, images) are dropped, and the
  page is rendered with nbconvert's ``sanitize_html`` (outputs, raw cells);
- markdown cells, which nbgrader's feedback template renders without that
  sanitising, go through :func:`clean` (``templates/feedback``): an
  allowlist of tags for text, no attribute but ``class``, ``id`` and a link's
  ``href`` (http, https, mailto), so no script, event handler, ``javascript:``
  URL, frame, form or style reaches the page a teacher opens;
- the notebook's and cells' metadata, which the learner wrote (tags become
  class names, widget state is embedded as a script), is reduced to nbgrader's.

The kernel's environment never reaches the page: the kernel started with a
cleared environment, and its input history is only ever what it printed.
"""
from pathlib import Path

import bleach
from nbconvert.exporters import HTMLExporter
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

CAP = 2000  # characters of text output kept per learner cell
TEMPLATES = Path(__file__).parent / "templates"
# what rendered markdown needs for text; images are out too (an <img> fetches whatever its src names)
TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "ul"}
ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title", "name"]}
PROTOCOLS = {"http", "https", "mailto"}
DROPPED = "[outputs of cells after the first hidden test are not shown in the feedback]\n"


def _text(out):
    if out.get("output_type") == "stream":
        return str(out.get("text", ""))
    if out.get("output_type") in ("execute_result", "display_data"):
        data = out.get("data", {})
        return str(data.get("text/plain", "")) + "\n" if isinstance(data, dict) and "text/plain" in data else ""
    if out.get("output_type") == "error":
        return f"{str(out.get('ename', 'Error'))[:60]}: {str(out.get('evalue', ''))[:300]}\n"
    return ""


def clean(html):
    """``html`` (a rendered markdown cell) with every tag and attribute outside the allowlist escaped as text."""
    return bleach.clean(str(html), tags=TAGS, attributes=ATTRIBUTES, protocols=PROTOCOLS, strip_comments=True)


def markdown_clean(source):
    """A markdown cell rendered, then :func:`clean`: formgrader's template renders markdown cells with
    ``markdown2html`` alone, so the course's configuration puts this filter in its place."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return clean(markdown2html_mistune(source))


class VerdictOnly(NbGraderPreprocessor):
    """Test cells show the grader's verdict alone; learner outputs are capped, and cut after hidden tests."""

    def preprocess(self, nb, resources):
        meta = nb.metadata.get("autograder", {})
        tests = meta.get("tests", {})
        hidden_from = meta.get("first_hidden", 0)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if utils.is_grade(cell) and not utils.is_solution(cell):
                t = tests.get(cell.metadata.nbgrader.grade_id, {"passed": False, "message": "not judged"})
                cell.outputs = [] if t["passed"] else [
                    new_output("error", ename="CheckFailed", evalue=t["message"],
                               traceback=[f"CheckFailed: {t['message']}"])]
            elif i >= hidden_from:
                cell.outputs = [new_output("stream", name="stdout", text=DROPPED)] if cell.outputs else []
            else:
                text = "".join(_text(o) for o in cell.outputs)
                if len(text) > CAP:
                    text = text[:CAP] + f"\n[... {len(text) - CAP} more characters not shown]\n"
                cell.outputs = [new_output("stream", name="stdout", text=text)] if text else []
        for cell in nb.cells:
            cell.pop("attachments", None)
            cell.metadata = NotebookNode({k: v for k, v in cell.metadata.items() if k == "nbgrader"})
        nb.metadata = NotebookNode({k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")})
        return nb, resources


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page with the course's cleaning: its own class, so that its settings reach only
    ``generate_feedback`` and never formgrader, which renders notebooks with ``HTMLExporter`` and its own
    templates."""


def configure(c):
    """Feedback preprocessors and page: hidden tests out, verdicts only, sanitized HTML."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, VerdictOnly, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    e = c.FeedbackExporter
    e.sanitize_html = True
    # nbgrader's feedback page with its markdown cells cleaned. nbgrader's API insists on the template *name*
    # "feedback", so ours is a file of another name in a folder of that name, next to nbgrader's
    e.extra_template_basedirs = [str(Path(utils.__file__).parent / "server_extensions" / "formgrader"
                                     / "templates"), str(TEMPLATES)]
    e.template_name = "feedback"
    e.template_file = "feedback_clean.html.j2"
    e.filters = {"feedback_clean": "autograder.notebook.feedback.clean"}
    return c
