"""The built book, checked as a reader sees it: every page in _toc.yml exists,
its figures are real images, and it renders in headless Chromium with every
figure loaded. Screenshots land in _build/fast/screenshots/.

Needs the fast book (``make book-fast``; ``make test`` builds it first) and chromium (``make setup``; one for
the session, conftest.py's ``browser``).
"""
import html
import json
import re
import threading
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import numpy as np
import pytest
import yaml
from PIL import Image


# reads the fast book that `make book-fast` builds (minutes): not in `make test-fast`; its Chromium test is marked browser
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build" / "fast" / "_build"
HTML = BUILD / "html"
EXECUTED = BUILD / "jupyter_execute"
SHOTS = ROOT / "_build" / "fast" / "screenshots"


def toc_pages():
    """Every page of _toc.yml, root first, as paths without suffix ('book/intro')."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return pages


PAGES = toc_pages()


def source_of(page):
    """The page's MyST source (book/<name>.md)."""
    return (ROOT / page).with_suffix(".md")


def title_of(page):
    """The text of the page's first '# ' heading."""
    for line in source_of(page).read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise AssertionError(f"{source_of(page)} has no '# ' title")


class _Images(HTMLParser):
    """Collects the src of every <img> inside the page's <main>."""

    def __init__(self):
        super().__init__()
        self.depth, self.srcs = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        elif tag == "img" and self.depth:
            self.srcs.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1


def plain(text):
    """Unescaped text with typographic apostrophes made plain, for title lookups."""
    return html.unescape(text).replace("\u2019", "'")


def images_in(html_text):
    parser = _Images()
    parser.feed(html_text)
    return parser.srcs


def png_outputs(page):
    """How many image/png outputs the executed notebook of ``page`` holds (myst-nb
    writes it without outputs when the page came from the execution cache: then 0)."""
    path = (EXECUTED / page).with_suffix(".ipynb")
    if not path.exists():
        return 0
    nb = json.loads(path.read_text())
    return sum("image/png" in out.get("data", {})
               for cell in nb["cells"] if cell["cell_type"] == "code"
               for out in cell.get("outputs", []))


def code_of(page):
    """The source of every code cell of the page, joined."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", source_of(page).read_text(), re.M | re.S)
    return "\n".join(cells)


@pytest.fixture(scope="module")
def html_dir():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML.relative_to(ROOT)}: run `make book-fast` first")
    return HTML


class _Handler(SimpleHTTPRequestHandler):
    """Serves the book and remembers which paths were served with which status."""

    served = []

    def send_response(self, code, message=None):
        self.served.append((urlparse(self.path).path, code))
        super().send_response(code, message)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server(html_dir):
    """An http.server on 127.0.0.1 (file:// blocks some of the theme's scripts)."""
    handler = type("Handler", (_Handler,), {"served": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(html_dir)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler.served
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("page", PAGES)
def test_page_is_built_with_its_title(html_dir, page):
    """Every chapter listed in _toc.yml has an HTML page that carries its title."""
    path = (html_dir / page).with_suffix(".html")
    assert path.exists(), f"{page} is in _toc.yml but {path.relative_to(ROOT)} was not built"
    title = title_of(page)
    assert title in plain(path.read_text()), (
        f"{path.name} lacks its title {title!r}: was the page built from an old source?")


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_is_a_real_image(html_dir, page):
    """Each <img> in the page points at a file that exists and decodes, and every
    figure the executed notebook produced is on the page (training chapters have one at least)."""
    path = (html_dir / page).with_suffix(".html")
    srcs = [s for s in images_in(path.read_text()) if not s.startswith(("http:", "https:", "data:"))]
    for src in srcs:
        img = (path.parent / unquote(src)).resolve()
        assert img.is_file(), f"{path.name}: <img src={src!r}> points at a missing file"
        try:
            with Image.open(img) as im:
                im.verify()  # raises on a truncated or corrupt file
        except Exception as err:
            pytest.fail(f"{path.name}: {src} does not decode as an image ({err}); rebuild the book")
        with Image.open(img) as im:
            assert im.width > 50 and im.height > 50, f"{src} is only {im.size}: an empty figure?"
    produced = png_outputs(page)
    assert len(srcs) >= produced, (
        f"{path.name} shows {len(srcs)} images but its notebook produced {produced} figures")
    if re.search(r"(?<![\w.])train\(", code_of(page)):  # a call of train(), not .train()
        assert srcs, f"{page} trains a model but shows no figure (its loss curve)"


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_chromium_with_figures_loaded(server, browser, page):
    """Headless Chromium loads the page over HTTP: the DOM holds the title and the
    article, the browser fetched every figure with status 200, and the screenshot is not blank."""
    base, served = server
    url = urljoin(base, page + ".html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (Path(page).name + ".png")
    shot.unlink(missing_ok=True)
    before = len(served)
    browser.resize(1280, 16000)  # tall enough that every figure is in view (none waits to be scrolled to)
    browser.open(url, ready="document.readyState === 'complete' && [...document.images].every(i => i.complete)")
    dom = browser.dom()
    browser.screenshot(shot)
    assert "<article" in dom and "bd-article" in dom, f"{url}: the rendered DOM has no article"
    title = title_of(page)
    assert title in plain(dom), f"{url}: title {title!r} not in the rendered DOM"

    requests = served[before:]
    imgs = [urlparse(urljoin(url, s)).path for s in images_in(dom) if not s.startswith("data:")]
    for img in imgs:
        codes = [code for path, code in requests if unquote(path) == unquote(img)]
        assert codes, f"{url}: the browser never requested {img} (figure not loaded)"
        assert all(code == 200 for code in codes), f"{url}: {img} was served with {codes}"

    assert shot.exists(), f"chromium wrote no screenshot for {url}"
    with Image.open(shot) as im:
        gray = np.asarray(im.convert("L"))
    # the text column, without the side bars and the viewport's bottom strip
    article = gray[:-60, gray.shape[1] // 4: gray.shape[1] * 3 // 4]
    used = np.nonzero((article < 250).any(axis=1))[0]
    assert used.size > 100, f"{shot.name} is blank: the page did not render"
    # keep only the part with content, so the screenshots stay small and easy to look at
    with Image.open(shot) as im:
        im.crop((0, 0, im.width, min(im.height, int(used.max()) + 40))).save(shot)
