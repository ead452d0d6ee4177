"""Shared fixtures: the lecture's splits, one Chromium and the graded class of tests/submissions, each made once
per session; the marks (what a test needs, what it costs) and the check that fails a test whose needs this machine
lacks."""
import pytest

import needs

MARKS = {
    "sandbox": "grades under bubblewrap (fails without it unless ALLOW_SKIP=sandbox)",
    "browser": "runs headless chromium (fails without it unless ALLOW_SKIP=browser)",
    "cgroup": "needs per-submission cgroup limits (fails without them unless ALLOW_SKIP=cgroup)",
    "slow": "builds a wheel, a venv or a release, or reads the built fast book (make book-fast); not in make test-fast",
    "gpu": "needs a CUDA GPU (skipped without one)",
}


def pytest_configure(config):
    for name, doc in MARKS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


def pytest_runtest_setup(item):
    """Before any fixture is made: fail (or, under ALLOW_SKIP, skip) a test whose marked needs are missing."""
    needs.check(item)


@pytest.fixture(scope="session")
def chromium_session(tmp_path_factory):
    """One headless Chromium for the whole run (tests/browser.py), started by the first browser test."""
    from browser import Browser

    needs.need("browser", *needs.probe("browser"))
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def browser(chromium_session):
    """The session's Chromium, on a blank page with no cookies and the starting window size."""
    chromium_session.reset()
    return chromium_session


@pytest.fixture(scope="session")
def splits8():
    from wavenet.data import load_splits
    return load_splits(block_size=8)


@pytest.fixture(scope="session")
def fc_graded(tmp_path_factory):
    """The class of ``tests/submissions`` (``fc_class``) graded once by ``grade-all`` on a local cluster of two
    workers, for tests/test_batch.py (each student's outcome) and tests/test_cluster.py (what a cluster must
    give): ``(--json records by student, out folder, class folder)``."""
    import submissions as S
    from batch_cli import grade_all_cli

    tmp = tmp_path_factory.mktemp("fc-class")
    folder, out = tmp / "submissions", tmp / "grades"
    folder.mkdir()
    for name, (data, *_) in S.fc_class({}).items():
        (folder / name).write_bytes(data)
    return grade_all_cli(folder, out, "--workers", "2"), out, folder
