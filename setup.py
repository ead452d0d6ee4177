"""The wheel's one build step beyond pyproject.toml: bundle a verified names.txt into ``wavenet.data``.

names.txt is not committed. The build takes it from ``$NAMES_TXT`` or
``data/names.txt`` and checks its sha256, so an installed ``wavenet.data.read_words()``
needs neither a network nor the repository. A build without a good copy fails
and says how to supply one.
"""
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def names_module():
    """``wavenet/data/names.py`` loaded by path: importing ``wavenet.data`` would need torch, which a build lacks."""
    spec = importlib.util.spec_from_file_location("_course_names", ROOT / "wavenet" / "data" / "names.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithNames(build_py):
    """setuptools' build_py, then names.txt into the build's ``wavenet/data/``."""

    def run(self):
        super().run()
        src = names_module().local_copy()  # NamesError (missing or wrong copy) stops the build
        dest = Path(self.build_lib) / "wavenet" / "data" / "names.txt"
        shutil.copyfile(src, dest)


setup(cmdclass={"build_py": BuildPyWithNames})
