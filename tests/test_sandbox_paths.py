"""The sandbox's fresh /tmp must not swallow a repository cloned under /tmp (as CI may do)."""
from autograder.sandbox import sandbox_script, under_tmp


def test_under_tmp_keeps_only_outermost_paths_below_tmp():
    """/tmp/ci/main and its .venv collapse to /tmp/ci/main; /work paths are not affected."""
    assert [str(p) for p in under_tmp("/tmp/ci/main", "/tmp/ci/main/.venv", "/work/main")] == ["/tmp/ci/main"]


def test_repository_is_bound_back_read_only_before_paths_are_hidden():
    """Order: fresh /tmp, then the repo read-only, then the hides inside it, then the rw work folder."""
    script = sandbox_script(keep=["/tmp/ci/main/.nbgrader_work/x"], hide=["/tmp/ci/main/solutions"],
                            ro_keep=["/tmp/ci/main"])
    lines = script.splitlines()

    def first(text):
        return next(i for i, line in enumerate(lines) if text in line)

    assert first("none /tmp") < first("remount,bind,ro /tmp/ci/main") < first("none /tmp/ci/main/solutions")
    assert first("none /tmp/ci/main/solutions") < first("remount,bind,rw /tmp/ci/main/.nbgrader_work/x")
    assert "unset NAMES_TXT" in script
