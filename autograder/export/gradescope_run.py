"""Gradescope's ``run_autograder``: one submitted notebook through the course's pipeline into ``results.json``.

Gradescope ("Autograder specifications", gradescope-autograders.readthedocs.io/en/latest/specs/) unpacks the
autograder zip into ``/autograder/source``, runs its ``setup.sh`` once when it builds the image, then for each
submission puts the student's files in ``/autograder/submission``, runs ``/autograder/run_autograder`` and
reads ``/autograder/results/results.json``::

    {"score": 5.0, "output": "...", "visibility": "visible", "execution_time": 14,
     "tests": [{"name": "test_fc_pairs", "score": 1.0, "max_score": 1.0, "status": "passed",
                "visibility": "visible" | "after_published", "output": "the course's message"}, ...]}

A hidden test (its cell holds ``### BEGIN HIDDEN TESTS``) is shown ``after_published``, a visible one at once;
each test's output is the course's verdict (:mod:`autograder.judge`), never the test's source.

The notebook is graded by :func:`autograder.grade.grade_notebook`, exactly as ``python -m autograder grade``:
the kernel only probes, the verdict is made in this process. Inside Gradescope's per-submission container
bubblewrap may be unable to run (no user namespaces): the kernel then runs unsandboxed, the container being the
boundary, and both the output and the README's threat model say so. As root (Gradescope's case) the kernel then
runs as ``nobody`` (:data:`KERNEL_UID`) after :func:`lock_down` has closed the zip, the submission and the results
folder to it, and every process of that uid is killed before ``results.json`` is written. ``--root`` (or ``GRADESCOPE_ROOT``) moves
``/autograder``, so a test runs this in a simulated tree.
"""
import argparse
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from autograder.assignments import Assignment, GradingError
from autograder.safe_io import write_text

DEFAULT_ROOT = "/autograder"
KERNEL_UID = 65534  # nobody: the unsandboxed kernel's user when the grader is root
SANDBOXED = "Graded in the course's sandbox (bubblewrap); the verdicts were made by the grader, outside the kernel."
UNSANDBOXED = ("bubblewrap cannot run in this container ({why}): the notebook ran without it, {who}, the container "
               "being the boundary; the verdicts were still made by the grader, outside the notebook's kernel.")
AS_NOBODY = "its kernel as the unprivileged user {uid}, which can read neither the hidden tests nor the grader's key"
AS_GRADER = "its kernel as the grader's own user (uid {uid}: not root, so it has no other user to switch to)"


class Choice(NamedTuple):
    unsafe: bool      # no sandbox
    kernel_uid: int   # the uid the unsandboxed kernel runs as, None: the grader's own
    mode: str         # "sandboxed", "unsandboxed, kernel as nobody" or "unsandboxed, kernel as the grader's user"
    note: str         # the line the results' output carries


def sandbox_choice():
    """How this run isolates the kernel: the course's sandbox when bubblewrap works here; else, as root, the
    kernel as :data:`KERNEL_UID`; else (not root) the kernel as the grader's own user."""
    from autograder.sandbox.bwrap import mode

    how, why = mode()
    if how is not None:
        return Choice(False, None, "sandboxed", SANDBOXED)
    if os.geteuid() == 0:
        who = AS_NOBODY.format(uid="nobody" if KERNEL_UID == 65534 else f"uid {KERNEL_UID}")
        return Choice(True, KERNEL_UID, f"unsandboxed, kernel as {'nobody' if KERNEL_UID == 65534 else KERNEL_UID}",
                      UNSANDBOXED.format(why=why, who=who))
    return Choice(True, None, f"unsandboxed, kernel as the grader's user (uid {os.geteuid()}, not root)",
                  UNSANDBOXED.format(why=why, who=AS_GRADER.format(uid=os.geteuid())))


def lock_down(root):
    """Before a kernel runs as another user, as root: ``root`` (Gradescope's /autograder) and its ``source/``
    passable (0711, no listing) and every other entry of both root-owned with no permission for group or
    others: the zip (hidden tests, grader key, the course's answers), the submission, ``results/`` (made here).
    ``source/.venv`` (setup.sh's, the kernel's interpreter) stays as it is."""
    root = Path(root)
    (root / "results").mkdir(parents=True, exist_ok=True)
    for folder, keep in ((root, "source"), (root / "source", ".venv")):
        os.chown(folder, 0, 0)
        os.chmod(folder, 0o711)
        for p in folder.iterdir():
            if p.name != keep:
                os.lchown(p, 0, 0)
                if not p.is_symlink():
                    os.chmod(p, stat.S_IMODE(p.stat().st_mode) & 0o700)


def processes_of(uid):
    """The live (not zombie) processes whose real uid is ``uid``."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            fields = dict(line.split(":", 1) for line in (p / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if p.name.isdigit() and int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(p.name))
    return pids


def kill_user(uid, tries=50):
    """SIGKILL every process of ``uid`` (what the kernel left behind, however detached), until none is left:
    each round is one ``kill(-1)`` made as ``uid`` itself, which the Linux kernel delivers to all of them at once
    (so a fork loop cannot outrun it). Raises RuntimeError naming the survivors after ``tries`` rounds."""
    for _ in range(tries):
        if not processes_of(uid):
            return
        subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", sys.executable, "-I",
                        "-S", "-c", f"import os; os.kill(-1, {int(signal.SIGKILL)})"], capture_output=True,
                       timeout=30)
        time.sleep(0.1)
    raise RuntimeError(f"processes of uid {uid} survive SIGKILL: {processes_of(uid)}")


def find_notebook(folder, assignment):
    """The submitted notebook in ``folder``: ``<assignment>.ipynb`` if it is there, else the only ``.ipynb``
    (regular files, no links, checkpoints ignored); :class:`GradingError` naming what the folder holds otherwise."""
    folder = Path(folder)
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and p.is_file() and not p.is_symlink())
    named = [p for p in found if p.name == f"{assignment}.ipynb"]
    if len(named) == 1:
        return named[0]
    if len(found) == 1:
        return found[0]
    held = ", ".join(str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file()) or "nothing"
    if not found:
        raise GradingError(f"no notebook (.ipynb) in the submission; it holds: {held}. Submit {assignment}.ipynb")
    raise GradingError(f"{len(found)} notebooks in the submission and none named {assignment}.ipynb: {held}. "
                       f"Submit one notebook, {assignment}.ipynb")


def hidden_tests(assignment):
    """The ids of the assignment's hidden tests (their cells hold ``BEGIN HIDDEN TESTS``)."""
    return {c.metadata.nbgrader.grade_id for c in Assignment(assignment).tests
            if "BEGIN HIDDEN TESTS" in c.source}


def test_entry(test_id, score, max_score, passed, message, hidden):
    """One Gradescope test: the course's message as its output (``passed`` when there is none)."""
    return {"name": test_id, "score": score, "max_score": max_score, "status": "passed" if passed else "failed",
            "visibility": "after_published" if hidden else "visible", "output": message or "passed"}


def results(graded, hidden, note):
    """``results.json`` from ``grade --json``'s object: a test per graded cell, the run's notes and the sandbox
    line as the submission's output."""
    tests = [test_entry(t["id"], t["points"], t["max_points"], t["passed"], t["message"], t["id"] in hidden)
             for t in graded["tests"]]
    return {"score": graded["score"], "execution_time": round(graded.get("seconds", 0)),
            "output": "\n".join([*graded.get("notes", []), note]), "visibility": "visible", "tests": tests}


def not_graded(assignment, reason, hidden, note):
    """``results.json`` for a submission that could not be graded: every test 0 with the reason (the points
    a missing notebook earns in nbgrader), the reason as the output too."""
    tests = [test_entry(c.metadata.nbgrader.grade_id, 0.0, float(c.metadata.nbgrader.points), False,
                        f"not graded: {reason}", c.metadata.nbgrader.grade_id in hidden)
             for c in Assignment(assignment).tests]
    return {"score": 0.0, "output": f"Not graded: {reason}\n{note}", "visibility": "visible", "tests": tests}


def run(assignment, root):
    """Grade ``root/submission`` and write ``root/results/results.json``; returns what was written."""
    from autograder.notebook.grade import grade_notebook
    from autograder.classroom.students import printable

    root = Path(root)
    hidden = hidden_tests(assignment)
    choice = sandbox_choice()
    note = choice.note
    print(f"{assignment}: grading {choice.mode}", flush=True)  # Gradescope's log of the run
    if choice.kernel_uid is not None:
        lock_down(root)
    t0 = time.time()
    try:
        notebook = find_notebook(root / "submission", assignment)
        result = grade_notebook(assignment, notebook, unsafe=choice.unsafe, kernel_uid=choice.kernel_uid)
        out = results(dict(result.to_json(), notes=result.notes), hidden, note)
    except GradingError as e:
        out = not_graded(assignment, printable(str(e)), hidden, note)
    except RuntimeError as e:  # nbgrader itself failed: the grader's fault, said so
        out = not_graded(assignment, f"the grader failed ({printable(str(e))}); ask your instructor to regrade",
                         hidden, note)
    finally:
        if choice.kernel_uid is not None:  # nothing of the kernel's may outlive it to rewrite results.json
            kill_user(choice.kernel_uid)
    out["execution_time"] = round(time.time() - t0)
    (root / "results").mkdir(parents=True, exist_ok=True)
    write_text(root / "results" / "results.json", json.dumps(out, indent=1))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m autograder.export.gradescope_run", description=__doc__.splitlines()[0])
    p.add_argument("assignment")
    p.add_argument("--root", default=os.environ.get("GRADESCOPE_ROOT") or DEFAULT_ROOT,
                   help="Gradescope's tree: submission/ in, results/results.json out (default /autograder)")
    args = p.parse_args(argv)
    out = run(args.assignment, args.root)
    print(f"{args.assignment}: {out['score']:g} / {sum(t['max_score'] for t in out['tests']):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
