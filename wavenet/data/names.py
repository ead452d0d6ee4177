"""Obtain ``names.txt``: from a local copy, the cache in ``data/``, or the public URL.

The file is public (it comes from the makemore repository) but is not committed.
Whatever the source, its sha256 is checked before it is used, and a download is
written to a temporary file that is renamed into place only once it verifies, so
a half-written file never stays behind.

Where the file comes from, first match wins:

1. an explicit ``path`` argument (``python -m wavenet.data --from PATH``);
2. the environment variable ``NAMES_TXT`` (a path to a copy);
3. :data:`DEFAULT_PATH` if it is already there and verifies: the copy the wheel bundles
   (``wavenet/data/names.txt``) when installed, else the clone's ``data/names.txt``;
4. a download from :data:`NAMES_URL`.
"""
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
BUNDLED = Path(__file__).resolve().parent / "names.txt"  # in the wheel (setup.py puts it there)
CLONE = Path(__file__).resolve().parents[2] / "data" / "names.txt"  # in a clone (`make data`)
DEFAULT_PATH = BUNDLED if BUNDLED.is_file() else CLONE
ENV_VAR = "NAMES_TXT"

HOW_TO_SUPPLY = (
    "Supply a copy of names.txt instead: `python -m wavenet.data --from /path/to/names.txt`, "
    f"or set {ENV_VAR}=/path/to/names.txt, or place it at {DEFAULT_PATH}."
)


class NamesError(RuntimeError):
    """names.txt could not be obtained or did not verify."""


def sha256_of(path):
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path, source):
    digest = sha256_of(path)
    if digest != NAMES_SHA256:
        raise NamesError(
            f"{source} has sha256 {digest}, expected {NAMES_SHA256}: it is not the "
            f"course's names.txt (truncated or a different file). {HOW_TO_SUPPLY}"
        )


def _install(src, dest):
    """Copy ``src`` to ``dest`` atomically (temp file in the same folder, then rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".names-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download(url, dest, timeout=30):
    """Download ``url`` to ``dest``, verifying the hash before it lands in place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".names-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    shutil.copyfileobj(r, out)
            except (urllib.error.URLError, OSError) as e:
                raise NamesError(f"could not download {url} ({e}). {HOW_TO_SUPPLY}") from e
        _verify(tmp, f"the download from {url}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def local_copy(path=None):
    """The path of a verified local names.txt, never downloading (packaging uses it).

    First match wins: ``path``, then ``$NAMES_TXT``, then :data:`DEFAULT_PATH`.

    Raises:
        NamesError: the copy is missing or is not the course's file.
    """
    src = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH).expanduser()
    if not src.is_file():
        raise NamesError(f"{src} does not exist. {HOW_TO_SUPPLY}")
    _verify(src, str(src))
    return src


def ensure_names(path=None, dest=DEFAULT_PATH, url=NAMES_URL):
    """Return the path of a verified names.txt, fetching or copying it if needed.

    Args:
        path: a local copy to use (copied to ``dest`` once it verifies).
        dest: where the project keeps its copy (``data/names.txt``).
        url: where to download from when no copy is found.

    Raises:
        NamesError: the copy is missing or wrong, or the download failed.
    """
    dest = Path(dest)
    src = path or os.environ.get(ENV_VAR)
    if src:
        src = local_copy(src)
        if dest == BUNDLED:
            return src  # installed: the package's own folder is never written to
        if src.resolve() != dest.resolve():
            _install(src, dest)
        return dest
    if dest.is_file():
        _verify(dest, str(dest))
        return dest
    download(url, dest)
    return dest


def read_words(path=None):
    """The 32,033 names, lower-case, one per list item, in file order."""
    with open(ensure_names(path), encoding="utf-8") as f:
        return f.read().splitlines()
