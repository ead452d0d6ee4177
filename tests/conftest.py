"""Shared fixtures: the lecture's splits and the graded class of tests/submissions, each made once per session;
and how ``make test`` shares the files among pytest-xdist's workers."""
import pytest

# `make test` runs pytest-xdist with `--dist loadgroup`: every test file is one unit of work, so its module
# fixtures are made once, and files that share an expensive session fixture form one unit together.
SHARED = {"test_batch": "fc_class", "test_cluster": "fc_class"}  # both read fc_graded
# the longest units first (measured with --durations), so that the workers run out of work together
FIRST = ("test_attacks", "fc_class", "test_grading_mutants", "test_learner_package", "test_grading_nbgrader",
         "test_train", "test_attacks_extra", "test_batch_attacks")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups
def pytest_collection_modifyitems(config, items):
    def group(item):
        return SHARED.get(item.path.stem, item.path.stem)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(group(item), len(FIRST)))  # stable: a file keeps its own order


@pytest.fixture(scope="session")
def splits8():
    from data import load_splits
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
