"""``make student-release``'s check before it builds anything: where the exercises install the package from.

A released exercise's setup cell pip-installs the course package, when it is
missing, from ``package-location`` of ``pyproject.toml`` (written into it by
``make exercises``). A release whose location is unset (or still the
source's :data:`autograder.authoring.release.PACKAGE_TOKEN`) would send Colab users
nowhere, so it is refused unless the instructor says the release is
local-only (``LOCAL_ONLY=1``: learners install the wheel the release holds,
or upload it next to the notebook). Exercises that name another location
than ``pyproject.toml`` are stale: ``make exercises`` first.

``python -m autograder.authoring.student_release [--local-only]``: exit 0, or 2 with
one line per problem on stderr.
"""
import argparse
import sys

from autograder.assignments import ROOT, names, read_notebook, release_path
from autograder.authoring.release import PACKAGE_TOKEN, package_location


def placeholder(location):
    """True where ``location`` names no place a learner's pip could install from."""
    return not location.strip() or PACKAGE_TOKEN in location


def problems(local_only=False):
    """What stops a student release, one sentence each (empty: nothing)."""
    location = package_location()
    out = []
    if placeholder(location) and not local_only:
        out.append(f"package-location in {ROOT / 'pyproject.toml'} ([tool.building-a-wavenet]) is "
                   f"{location!r}, not where the course publishes its wheel: set it to the wheel's URL and run "
                   "`make exercises`, or build a local-only release with LOCAL_ONLY=1 (learners install the "
                   "release's wheel)")
    for assignment in names():
        path = release_path(assignment)
        setup = [c for c in read_notebook(path).cells if c.get("id") == "setup"]
        if not setup or f'PACKAGE = "{location}"' not in setup[0].source:
            out.append(f"{path.relative_to(ROOT)} does not install from {location!r} (package-location of "
                       "pyproject.toml): it is stale, run `make exercises`")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder.authoring.student_release", description=__doc__.splitlines()[0])
    p.add_argument("--local-only", action="store_true",
                   help="the release's learners install its own wheel: no published location needed")
    found = problems(p.parse_args(argv).local_only)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    sys.exit(main())
