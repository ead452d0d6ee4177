"""What a test needs from this machine: the sandbox (bubblewrap), a browser (chromium), a cgroup tree.

A test marked ``sandbox``, ``browser`` or ``cgroup`` (conftest.py checks the marks before its fixtures run) that
this machine cannot serve FAILS, naming the cause and the fix: a skip would let ``make test`` pass without the
grading-integrity suites, and nobody reads the skip count. A developer who knows opts out by name, e.g.
``ALLOW_SKIP=sandbox,browser make test``: those tests are then skipped, with the reason.
"""
import os
import shutil
from functools import cache
from pathlib import Path

import pytest

KINDS = ("sandbox", "browser", "cgroup")
FIX = {
    "sandbox": "run `make setup` (it installs bubblewrap; sandboxed grading needs Linux)",
    "browser": "run `make setup` (it installs chromium)",
    "cgroup": "run as root on Linux with cgroups mounted at /sys/fs/cgroup (per-submission limits need them)",
}


def allowed():
    """The kinds ALLOW_SKIP names (a comma list)."""
    return {k.strip() for k in os.environ.get("ALLOW_SKIP", "").split(",") if k.strip()}


def need(kind, available, why):
    """Return if ``available``; otherwise skip (``kind`` in ALLOW_SKIP) or fail, saying why and how to fix it."""
    assert kind in KINDS, kind
    if available:
        return
    if kind in allowed():
        pytest.skip(f"no {kind} here (ALLOW_SKIP={os.environ['ALLOW_SKIP']}): {why}")
    pytest.fail(f"this test needs the {kind} and this machine has none: {why}. Fix: {FIX[kind]}; "
                f"or skip these tests knowingly: ALLOW_SKIP={kind} make test", pytrace=False)


def chromium_path():
    """The chromium (or Ubuntu's chromium-browser) to run headless, or ``None``."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@cache
def probe(kind):
    """``(available, why not)`` for ``kind`` on this machine (each checked once per session)."""
    if kind == "sandbox":
        from autograder.sandbox.bwrap import mode
        how, why = mode()
        return how is not None, why
    if kind == "browser":
        return chromium_path() is not None, "chromium is not installed"
    if kind == "cgroup":
        from autograder.sandbox.limits import version
        return version() is not None, "no cgroup tree (v1 or v2) under /sys/fs/cgroup"
    raise ValueError(kind)


def check(item):
    """Every need ``item``'s marks declare (conftest.py's pytest_runtest_setup)."""
    for kind in KINDS:
        if item.get_closest_marker(kind):
            need(kind, *probe(kind))
