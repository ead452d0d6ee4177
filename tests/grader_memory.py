"""``python tests/grader_memory.py OUT.json``: what one grading process holds while it grades what a kernel
sends against it (tests/test_attacks_red2.py runs it in a process of its own, so its peak is the grader's).

It grades, one after another in this process, with the grader's own memory limit
(:func:`autograder.sandbox.isolate.hold_memory`): a notebook whose kernel sends one 60 MB message of empty lists,
one whose kernel sends 300,000 empty lists in a 0.9 MB message, a notebook file of 3 million empty lists in a
cell's metadata, one nested 100,000 deep, and last an honest notebook. It writes each one's record
(status, score, max score, reason, the events' texts) and seconds, and the process's peak RSS after each.
"""
import json
import resource
import sys
import time

import nbformat

import submissions as S
from autograder.sandbox.isolate import hold_memory
from autograder.sandbox.limits import Limits
from autograder.notebook.submission import grade_submission

HUGE_MESSAGE = """k = get_ipython().kernel
k.session.send(k.iopub_socket, "display_data", {"data": {"text/plain": "x"}, "metadata": {"x": [[]] * 20_000_000}},
               parent=k.get_parent())  # 60 MB of JSON, all empty lists
"""
MANY_VALUES = """k = get_ipython().kernel
k.session.send(k.iopub_socket, "display_data", {"data": {"text/plain": "x"}, "metadata": {"x": [[]] * 300_000}},
               parent=k.get_parent())  # under the frame bound, over the bound on values
"""


def metadata_bomb(nb, value):
    nb.cells[0].metadata["x"] = value
    return json.dumps(nb).encode()  # nbformat's writer would take as long as the parser


def main(out):
    hold_memory()
    limits = Limits(cell_timeout=60, notebook_timeout=240, memory=2 * 1024 ** 3, disk=64 * 1024 ** 2)
    deep = json.dumps(S.solved(S.FC)).replace('"metadata": {', '"metadata": {"x": ' + "[" * 100_000 + "]" * 100_000
                                               + ", ", 1).encode()
    cases = [("huge_message", S.dumps(S.after(S.solved(S.FC), "setup", HUGE_MESSAGE))),
             ("many_values", S.dumps(S.after(S.solved(S.FC), "setup", MANY_VALUES))),
             ("metadata_bomb", metadata_bomb(S.solved(S.FC), [[] for _ in range(3_000_000)])),
             ("deep", deep),
             ("honest", S.dumps(S.solved(S.FC)))]
    results = {}
    for name, data in cases:
        t0 = time.monotonic()
        rec = grade_submission(S.FC, f"{name}.ipynb", student=name, limits=limits, data=data)
        results[name] = {"status": rec.status, "score": rec.score, "max_score": rec.max_score, "reason": rec.reason,
                         "final": rec.final, "seconds": round(time.monotonic() - t0, 2),
                         "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
        del data
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
