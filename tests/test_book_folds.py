"""The book teaches the lecture's code without handing over the exercises' answers.

The answers are whatever the answer cells of ``solutions/*/`` define. Each has
a counterpart in the course library: the object of the same name, or, for a
builder such as ``build_model``, the library builder that draws the very same
weights from the same seed. In the built HTML, every counterpart's code (and
every method of it longer than two lines) shows only inside a folded
``<details>`` block whose title names the exercise, and it does show in one.
Headless Chromium confirms the blocks are still folded once the page's
scripts have run.

Needs the fast book (``make book-fast``; ``make test`` builds it first).
"""
import ast
import inspect
import re
import textwrap
import time
from html.parser import HTMLParser
from importlib import import_module
from urllib.parse import urljoin

import pytest
import torch

from autograder.assignments import answer_cells, names, nbgrader_meta, read_notebook, source_path
from test_book_render import html_dir, server  # noqa: F401  (fixtures)

# reads the fast book that `make book-fast` builds: not in `make test-fast`
pytestmark = pytest.mark.slow

LIBRARY = ("wavenet.nn", "wavenet.train", "wavenet.models", "wavenet.conv")


def exercise_number(assignment):
    return int(assignment.split("_")[0])


def answers():
    """``{name: [assignment, ...]}``: every class and function the exercises' answer cells define."""
    out = {}
    for a in names():
        for cell in answer_cells(read_notebook(source_path(a))):
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                    out.setdefault(node.name, []).append(a)
    return out


def solution_namespace(assignment):
    """The solution's setup and answer cells run in a fresh namespace (the course package is importable here)."""
    ns, threads = {}, torch.get_num_threads()
    for cell in read_notebook(source_path(assignment)).cells:
        meta = nbgrader_meta(cell)
        if cell.get("id") == "setup" or meta.get("solution"):
            exec(compile(cell.source, f"<{assignment}:{meta.get('grade_id')}>", "exec"), ns)
    torch.set_num_threads(threads)  # the setup cell sets one thread for the learner's kernel, not for pytest
    return ns


def same_weights(a, b):
    pa, pb = a.parameters(), b.parameters()
    return len(pa) == len(pb) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def library_functions():
    return [obj for m in map(import_module, LIBRARY) for _, obj in inspect.getmembers(m, inspect.isfunction)
            if obj.__module__ == m.__name__]


def counterparts():
    """``{library object: [assignment, ...]}``: the course's own code for every answer."""
    out = {}
    for name, assignments in answers().items():
        same = [getattr(m, name) for m in map(import_module, LIBRARY)
                if getattr(getattr(m, name, None), "__module__", None) == m.__name__]
        for a in assignments:
            found = same or _same_builder(solution_namespace(a)[name])
            assert found, f"{a}'s {name} has no counterpart in {LIBRARY}"
            for obj in found:
                out.setdefault(obj, []).append(a)
    return out


def _same_builder(answer):
    """Library functions that take the answer's arguments and, from the same seed, build the same weights."""
    params = inspect.signature(answer).parameters
    defaults = {k: p.default for k, p in params.items()}
    found = []
    for fn in library_functions():
        if not set(params) <= set(inspect.signature(fn).parameters):
            continue
        torch.manual_seed(0)
        mine = answer()
        torch.manual_seed(0)
        try:
            theirs = fn(**defaults)
        except ValueError:  # arguments this builder does not take (hierarchical wants a power of 2)
            continue
        if same_weights(mine, theirs):
            found.append(fn)
    return found


def normalized(code):
    """Code lines stripped of indentation and trailing space, blank lines dropped: how a block is compared."""
    return "\n".join(line.strip() for line in code.splitlines() if line.strip())


def shown_code(obj):
    """The sources that must not show unfolded: the whole object, and each method of a class longer than two lines."""
    parts = [normalized(inspect.getsource(obj))]
    if inspect.isclass(obj):
        for _, fn in vars(obj).items():
            if inspect.isfunction(fn):
                src = normalized(textwrap.dedent(inspect.getsource(fn)))
                if src.count("\n") >= 2:
                    parts.append(src)
    return parts


class Blocks(HTMLParser):
    """Every ``<pre>`` of a page with the titles of the closed ``<details>`` around it (``None``: not folded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.details, self.blocks = [], []  # details: [(is open, title)], innermost last
        self.pre, self.summary = None, None

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.details.append(["open" in dict(attrs), ""])
        elif tag == "summary" and self.details:
            self.summary = []
        elif tag == "pre":
            self.pre = []

    def handle_endtag(self, tag):
        if tag == "details" and self.details:
            self.details.pop()
        elif tag == "summary" and self.summary is not None:
            self.details[-1][1] = "".join(self.summary).strip()
            self.summary = None
        elif tag == "pre" and self.pre is not None:
            folded = bool(self.details) and not any(is_open for is_open, _ in self.details)
            self.blocks.append((normalized("".join(self.pre)), " / ".join(t for _, t in self.details) if folded else None))
            self.pre = None

    def handle_data(self, data):
        if self.pre is not None:
            self.pre.append(data)
        if self.summary is not None:
            self.summary.append(data)


def blocks_of(html_text):
    parser = Blocks()
    parser.feed(html_text)
    return parser.blocks


def names_exercise(title, n):
    """Whether a fold's title names exercise ``n``: "exercise 1", "exercises 1 and 4"."""
    return re.search(rf"\bexercises? (?:\d+(?:, | and ))*{n}\b", title) is not None


def definition(name):
    return re.compile(rf"^(class|def) {re.escape(name)}\b", re.M)


@pytest.fixture(scope="module")
def library():
    return counterparts()


@pytest.fixture(scope="module")
def pages(html_dir):  # noqa: F811
    return {p.relative_to(html_dir).as_posix(): blocks_of(p.read_text()) for p in sorted((html_dir / "book").glob("*.html"))}


def test_every_answer_has_a_library_counterpart(library):
    """Every exercise's answers map to the course's code (so the book checks below cover them all)."""
    covered = {a for assignments in library.values() for a in assignments}
    assert covered == set(names()), f"exercises without a counterpart: {set(names()) - covered}"


def test_no_answer_shows_unfolded(pages, library):
    """No code block outside a closed <details> holds an answer's code, a method of it, or defines an answer's name."""
    names_ = set(answers()) | {obj.__name__ for obj in library}
    for page, blocks in pages.items():
        for code, folded in blocks:
            if folded is not None:
                continue
            for obj in library:
                for part in shown_code(obj):
                    assert part not in code, f"{page} shows {obj.__qualname__}'s code unfolded:\n{part[:300]}"
            for name in names_:
                assert not definition(name).search(code), f"{page} defines {name} unfolded"


def test_every_answer_shows_folded_under_its_exercise(pages, library):
    """Each counterpart's whole code is in a folded block whose title names one of the exercises that ask for it."""
    for obj, assignments in library.items():
        code = normalized(inspect.getsource(obj))
        titles = [folded for blocks in pages.values() for text, folded in blocks if folded and code in text]
        assert titles, f"the book never shows the course's {obj.__name__} (folded, after exercise {assignments})"
        assert any(names_exercise(t, exercise_number(a)) for t in titles for a in assignments), (
            f"{obj.__name__} is folded under {titles}, which do not name exercise {assignments}")


@pytest.mark.browser
def test_folds_stay_closed_in_chromium(server, browser, library):  # noqa: F811
    """Headless Chromium runs chapter 1's scripts; the DOM it ends with still holds Linear's code in a closed block."""
    base, _ = server
    browser.open(urljoin(base, "book/01_mlp_recap.html"))
    time.sleep(3)  # the theme's scripts run after load (a fold would open then)
    linear = normalized(inspect.getsource(import_module("wavenet.nn").Linear))
    shown = [folded for code, folded in blocks_of(browser.dom()) if linear in code]
    assert shown and all(folded is not None for folded in shown), f"Linear's code in the live page: {shown}"
