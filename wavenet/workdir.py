"""Where the course writes its runs and results: never into the installed package.

In a clone (``pyproject.toml`` beside the ``wavenet/`` package) it is the
repository's root, whatever the current folder: the book reads its committed
run records (``book/records/``, ``bench/records/``) and the chapters' results
(``_build/results/``) from there. Installed from the wheel, the package lives
in site-packages, which is never written to: runs and results go under
``$WAVENET_HOME`` when it is set, else under the working directory of the
process that first imports :mod:`wavenet.results` (a notebook's own folder).
"""
import os
from pathlib import Path

ENV = "WAVENET_HOME"
PACKAGE = Path(__file__).resolve().parent
CLONE = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None


def root():
    """The clone's root, else ``$WAVENET_HOME``, else the working directory (absolute)."""
    if CLONE is not None:
        return CLONE
    return Path(os.environ.get(ENV) or os.getcwd()).expanduser().resolve()


ROOT = root()
