"""tests/needs.py: a test whose machine lacks what it needs fails, naming the fix, unless ALLOW_SKIP names it."""
import pytest

import needs


class Item:
    """What needs.check reads of a pytest item: its marks."""

    def __init__(self, *marks):
        self.marks = marks

    def get_closest_marker(self, name):
        return name if name in self.marks else None


def test_what_is_there_passes(monkeypatch):
    monkeypatch.delenv("ALLOW_SKIP", raising=False)
    assert needs.need("sandbox", True, "unused") is None


def test_what_is_missing_fails_with_the_cause_and_the_fix(monkeypatch):
    monkeypatch.setenv("ALLOW_SKIP", "browser")  # another kind: no help
    with pytest.raises(pytest.fail.Exception) as failed:
        needs.need("sandbox", False, "bubblewrap is not installed")
    text = str(failed.value)
    assert "bubblewrap is not installed" in text and "make setup" in text and "ALLOW_SKIP=sandbox" in text


def test_allow_skip_names_the_kinds_that_skip(monkeypatch):
    monkeypatch.setenv("ALLOW_SKIP", "browser, sandbox")
    with pytest.raises(pytest.skip.Exception, match="bubblewrap is not installed"):
        needs.need("sandbox", False, "bubblewrap is not installed")
    with pytest.raises(pytest.fail.Exception):
        needs.need("cgroup", False, "no cgroup tree")


def test_check_reads_the_marks(monkeypatch):
    """Only the kinds an item is marked with are checked."""
    monkeypatch.delenv("ALLOW_SKIP", raising=False)
    monkeypatch.setattr(needs, "probe", lambda kind: (kind != "browser", f"no {kind}"))
    needs.check(Item("sandbox", "cgroup", "slow"))
    with pytest.raises(pytest.fail.Exception, match="no browser"):
        needs.check(Item("sandbox", "browser"))
