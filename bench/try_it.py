"""How long a learner waits: each exercise's try-it cells and Run All of a completed notebook.

Each exercise is completed with the reference answers (``tests.submissions.solved``)
and run top to bottom in a fresh kernel, as a learner's Run All does (try-it
cells included, ``COURSE_FAST`` unset). For every cell it records the wall
time (nbclient's timestamps) and the CPU time the kernel process spent on it
(``/proc``). The kernel computes on one thread (the setup cell sets it), so on
an idle machine the two agree; on a busy one the wall time also counts the
waiting, and the CPU time stretches a little too (the cores share their
caches). Times print in seconds and as a fraction of the budgets
the course sets itself: 60 s for a try-it cell, 120 s for Run All. ``--full``
sets ``FULL = True`` in the try-it cells (the lecture's 200,000 steps: minutes
each). Nothing here asserts a time. Linux only (``/proc``). Usage::

    python bench/try_it.py [ASSIGNMENT ...] [--full] [--json bench/out/try_it.json]
"""
import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbclient import NotebookClient  # noqa: E402

from autograder.assignments import KERNEL_ARGS, names  # noqa: E402
from tests.submissions import solved  # noqa: E402

TRY_BUDGET_S = 60.0
RUN_ALL_BUDGET_S = 120.0
TRY_IT = 'if "NBGRADER_EXECUTION" not in os.environ:'  # how a try-it cell starts its work (skipped when graded)


def is_try_it(cell):
    return cell.cell_type == "code" and TRY_IT in cell.source


def wall_seconds(cell):
    """Wall time of one executed cell, from nbclient's timestamps."""
    t = cell.metadata.get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run(assignment, full=False):
    """``[(cell id, wall s, cpu s, is try-it), ...]`` for every code cell of the completed exercise."""
    nb = solved(assignment)
    if full:
        for cell in filter(is_try_it, nb.cells):
            cell.source = cell.source.replace("FULL = False", "FULL = True")
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_FAST", "NBGRADER_EXECUTION")}
    env["PYTHONPATH"] = str(ROOT)  # the course's code, from this checkout
    cpu = {}
    with tempfile.TemporaryDirectory() as folder:  # the kernel starts in a folder of its own, as a learner's does
        client = NotebookClient(nb, timeout=3600, kernel_name="python3", extra_arguments=KERNEL_ARGS,
                                resources={"metadata": {"path": folder}})
        pid = lambda: client.km.provisioner.pid  # noqa: E731
        client.on_cell_execute = lambda cell, cell_index: cpu.__setitem__(cell_index, cpu_seconds(pid()))
        client.on_cell_executed = lambda cell, cell_index, execute_reply: cpu.__setitem__(
            cell_index, cpu_seconds(pid()) - cpu[cell_index])
        client.execute(env=env)
    return [(c.get("id"), wall_seconds(c), cpu[i], is_try_it(c))
            for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignments", nargs="*", help="default: all")
    p.add_argument("--full", action="store_true", help="FULL = True: the lecture's recipe (minutes per cell)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "try_it.json")
    args = p.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
          + (", FULL = True" if args.full else ""))
    print(f"{'exercise':24s} {'cell':12s} {'wall s':>7s} {'cpu s':>7s} {'cpu / budget':>13s}")
    rows = []
    for name in args.assignments or names():
        cells = run(name, args.full)
        for cid, wall, cpu, _ in filter(lambda c: c[3], cells):
            print(f"{name:24s} {cid:12s} {wall:7.1f} {cpu:7.1f} {cpu / TRY_BUDGET_S:12.2f}x")
        wall, cpu = sum(c[1] for c in cells), sum(c[2] for c in cells)
        print(f"{name:24s} {'Run All':12s} {wall:7.1f} {cpu:7.1f} {cpu / RUN_ALL_BUDGET_S:12.2f}x")
        rows.append({"assignment": name, "full": args.full, "run_all": {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)},
                     "try_it": {cid: {"wall_s": round(w, 1), "cpu_s": round(c, 1)} for cid, w, c, t in cells if t}})
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
