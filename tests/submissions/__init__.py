"""A class of submissions, good, broken and hostile, made from the released exercises.

Each maker returns the bytes of one file a student might hand in, built from
``exercises/<assignment>/<assignment>.ipynb`` (what learners download) and the
reference answers in ``solutions/``. :data:`CLASS` lists the class that
``tests/test_batch.py`` grades in one ``grade-all`` run, each student with the
outcome the grader must reach. ``python -m tests.submissions DIR`` writes the
class to ``DIR`` for trying ``grade-all`` by hand.
"""
import copy
import json
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder.assignments import ROOT, answer_cells, nbgrader_meta, read_notebook, release_path, source_path

FC = "03_flatten_consecutive"  # small and fast: most of the class hands this one in
LAYERS = "01_layers"


def _answer(source):
    """A solution cell's source without nbgrader's solution markers (what a student would type)."""
    return "\n".join(l for l in source.splitlines() if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)


def exercise(assignment):
    """The released notebook, as a learner downloads it (stubs raise NotImplementedError)."""
    return read_notebook(release_path(assignment))


def solved(assignment):
    """The released notebook with every answer cell filled in with the reference answer."""
    nb = exercise(assignment)
    answers = {nbgrader_meta(c)["grade_id"]: _answer(c.source) for c in answer_cells(read_notebook(source_path(assignment)))}
    for c in answer_cells(nb):
        c.source = answers[nbgrader_meta(c)["grade_id"]]
    return nb


def cell(nb, grade_id):
    """The cell of ``nb`` with this nbgrader grade id."""
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


def after(nb, grade_id, source):
    """Insert a plain code cell (one a student added) right after the cell ``grade_id``."""
    nb.cells.insert(index(nb, grade_id) + 1, new_code_cell(source))
    return nb


def dumps(nb):
    return nbformat.writes(nb).encode()


# ---------------------------------------------------------------- answers

WRONG_FC = '''class FlattenConsecutive:
    """Forgets to squeeze the size-1 middle dim."""

    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        self.out = x.view(B, T // self.n, C * self.n)  # (B, T/n, C*n), never squeezed
        return self.out

    def parameters(self):
        return []
'''

CHEAT_IMPORT = "from wavenet.nn import FlattenConsecutive  # the course's own, instead of writing it\n"

CHEAT_SUBCLASS = '''import wavenet.nn as reference

class FlattenConsecutive(reference.FlattenConsecutive):
    pass
'''

PATCH_TORCH = WRONG_FC + '''
torch.equal = lambda a, b: True          # every comparison the tests make now "passes"
torch.allclose = lambda *a, **k: True
'''

PATCH_SETATTR = WRONG_FC + '''
for name in ["equal", "allclose"]:
    setattr(torch, name, lambda *a, **k: True)
'''

READ_HIDDEN = WRONG_FC + '''
import glob
for path in glob.glob("/work/**/solutions/**/*.ipynb", recursive=True) + glob.glob("../../../source/*/*.ipynb"):
    print(open(path).read()[:2000])
'''

WRITE_GRADEBOOK = WRONG_FC + '''
import sqlite3
db = sqlite3.connect("../../../gradebook.db")
db.execute("UPDATE grade SET auto_score = 100")
db.commit()
'''

# runtime-only versions (the static check is switched off for these in the tests, to prove the sandbox itself)
RUNTIME_READ_HIDDEN = WRONG_FC + '''
import os
found = {{}}
for top in [{solutions!r}, "../../../source", "../../../gradebook.db", {work!r} + "/course/gradebook.db",
            {work!r} + "/results", {work!r} + "/feedback"]:
    try:
        found[top] = os.listdir(top) if os.path.isdir(top) else len(open(top, "rb").read())
    except Exception as e:
        found[top] = type(e).__name__
print("SNOOP", found)
'''

RUNTIME_WRITE = WRONG_FC + '''
import os, sqlite3
results = {{}}
for path in [{victim!r}, {repo_file!r}, "../../../gradebook.db", "/root/pwned.txt"]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        results[path] = "written"
    except Exception as e:
        results[path] = type(e).__name__
try:
    db = sqlite3.connect("../../../gradebook.db")
    db.execute("UPDATE grade SET auto_score = 100")
    db.commit()
    results["db"] = "updated"
except Exception as e:
    results["db"] = type(e).__name__
print("WRITE", results)
'''

RUNTIME_NETWORK = '''
import socket
try:
    socket.create_connection(("1.1.1.1", 80), timeout=3)
    print("NET connected")
except OSError as e:
    print("NET", e.errno)
'''

RUNTIME_PATCH = WRONG_FC + '''
torch.equal = lambda a, b: True
torch.allclose = lambda *a, **k: True
'''

RUNTIME_REFERENCE = '''FlattenConsecutive = Linear.__init__.__globals__["FlattenConsecutive"]  # wavenet.nn's, reached sideways
'''

LEAK = 'print("history:", "\\n".join(In))  # tries to print the hidden tests that just ran\n'
LOOP = "while True:  # never ends\n    pass\n"
STUBBORN_LOOP = '''while True:  # swallows the interrupt too
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
'''
SLEEP = "import time\ntime.sleep(10_000)\n"
EXIT = "import os\nos._exit(1)\n"
CRASH = "import ctypes\nctypes.string_at(0)  # segfault\n"
MEMORY = "hog = []\nwhile True:\n    hog.append(torch.ones(2 ** 26))  # 256 MB a step\n"
BOMB = """import os, time
kids = 0
try:
    while kids < 5000:  # a fork bomb, politely capped
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        kids += 1
except OSError as e:
    print("FORK", kids, type(e).__name__)
size = 0
try:
    with open("big.bin", "wb") as f:  # a file as big as the disk
        for _ in range(1000):
            f.write(b"x" * 2 ** 20)
            size += 1
except OSError as e:
    print("FILE", size, type(e).__name__)
"""
OUTPUT = 'for i in range(200_000):\n    print("spam " * 10, i)  # about 12 MB\n'


def strip_metadata(nb, ids=False):
    """Remove nbgrader's metadata from every cell (what some editors and copy-paste do), and the cell ids too."""
    nb = copy.deepcopy(nb)
    for i, c in enumerate(nb.cells):
        c.metadata.pop("nbgrader", None)
        if ids:
            c.id = f"cell-{i}"
    return nb


def corrupt_metadata(nb):
    """nbgrader metadata with wrong types, a wrong checksum and an unknown grade id."""
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        m = c.metadata.get("nbgrader")
        if not m:
            continue
        if m.get("solution"):
            m["grade_id"] = m["grade_id"] + "-copy"
        m["checksum"] = "0" * 32
        if m.get("grade"):
            m["points"] = "ten"
    return nb


def duplicate(nb, grade_id):
    nb = copy.deepcopy(nb)
    i = index(nb, grade_id)
    nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
    nb.cells[i + 1].id = nb.cells[i].id + "-dup"
    return nb


def delete(nb, *grade_ids):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") not in grade_ids]
    return nb


def edit_tests(nb):
    """Every test cell replaced by ``pass`` (what a student who wants the points might try)."""
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        m = nbgrader_meta(c)
        if m.get("grade") and not m.get("solution"):
            c.source = "pass  # all good"
    return nb


def with_answer(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    cell(nb, grade_id).source = source
    return nb


def fc_class(paths):
    """The class that ``tests/test_batch.py`` grades, as ``{file name: bytes}`` plus expectations.

    ``paths``: ``{"victim": a file of another student, "repo_file": a repository file}``,
    used by the runtime-only hostile notebooks.
    """
    good = solved(FC)
    max_score = 7.0
    ok = lambda nb: dumps(nb)
    return {
        # name: (bytes, expected status, expected score or None, words the reason must contain)
        "alice.ipynb": (ok(good), "graded", max_score, []),
        "bob.ipynb": (ok(with_answer(good, "FlattenConsecutive", WRONG_FC)), "graded", 2.0, ["squeeze"]),
        "carol.ipynb": (ok(exercise(FC)), "graded", 0.0, ["NotImplementedError"]),
        "dave.ipynb": (b'{"cells": [', "error", 0.0, ["not a valid Jupyter notebook"]),
        "erin.ipynb": (b"", "error", 0.0, ["empty"]),
        "frank.txt": (ok(good), "graded", max_score, ["frank.txt"]),
        "grace.ipynb": (ok(strip_metadata(good)), "graded", max_score, ["metadata"]),
        "heidi.ipynb": (ok(corrupt_metadata(good)), "graded", max_score, ["metadata"]),
        "ivan.ipynb": (ok(duplicate(good, "FlattenConsecutive")), "graded", max_score, []),
        "judy.ipynb": (ok(delete(good, "test_fc_pairs", "test_fc_values")), "graded", max_score, ["restored"]),
        "ken.ipynb": (ok(edit_tests(with_answer(good, "FlattenConsecutive", WRONG_FC))), "graded", 2.0,
                      ["edited"]),
        "leo.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", LOOP)), "graded", max_score,
                     ["longer than"]),  # interrupted, the kernel recovers, the later tests run
        "mallory.ipynb": (ok(with_answer(good, "FlattenConsecutive", CHEAT_IMPORT)), "error", 0.0, ["flagged for review", "wavenet"]),
        "niaj.ipynb": (ok(with_answer(good, "FlattenConsecutive", CHEAT_SUBCLASS)), "error", 0.0, ["flagged for review"]),
        "olivia.ipynb": (ok(with_answer(good, "FlattenConsecutive", PATCH_TORCH)), "error", 0.0, ["flagged for review", "torch.equal"]),
        "peggy.ipynb": (ok(with_answer(good, "FlattenConsecutive", PATCH_SETATTR)), "error", 0.0, ["flagged for review", "setattr"]),
        "rupert.ipynb": (ok(with_answer(good, "FlattenConsecutive", READ_HIDDEN)), "error", 0.0, ["flagged for review", "open"]),
        "sybil.ipynb": (ok(with_answer(good, "FlattenConsecutive", WRITE_GRADEBOOK)), "error", 0.0, ["flagged for review", "sqlite3"]),
        "trent.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", OUTPUT)), "graded", max_score, []),
        "uma.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", MEMORY)), "graded", max_score, []),
        "victor.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", STUBBORN_LOOP)), "graded", 3.0,
                         ["stopped responding"]),
        "walter.ipynb": (ok(after(after(after(copy.deepcopy(good), "test_fc_batch_of_one", LOOP), "test_fc_batch_of_one",
                                        LOOP), "test_fc_batch_of_one", LOOP)),
                         "graded", 3.0, ["time limit"]),
        "xavier.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", EXIT)), "graded", 3.0, ["kernel died"]),
        "yvonne.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", EXIT)), "error", 0.0,
                         ["flagged for review", "os"]),
        "zoe.ipynb": (ok(strip_metadata(good, ids=True)), "graded", max_score, ["metadata"]),
        ".DS_Store": (b"\0\0\0\1Bud1", None, None, []),  # not a student: ignored
    }

TRUSTED = ["xavier"]  # reviewed by a person: graded without the cheating checks (shows the kernel-death path)


def runtime_class(paths):
    """Hostile notebooks graded with the static check off: the sandbox and the runtime guard alone stop them.

    ``paths``: ``{"solutions", "work", "victim", "repo_file"}`` as the kernel would see them.
    """
    good = solved(FC)
    ok = lambda nb: dumps(nb)
    return {
        "snoop.ipynb": ok(with_answer(good, "FlattenConsecutive", RUNTIME_READ_HIDDEN.format(**paths))),
        "vandal.ipynb": ok(with_answer(good, "FlattenConsecutive", RUNTIME_WRITE.format(**paths))),
        "net.ipynb": ok(after(copy.deepcopy(good), "test_fc_in_model", RUNTIME_NETWORK)),
        "patcher.ipynb": ok(with_answer(good, "FlattenConsecutive", RUNTIME_PATCH)),
        "borrower.ipynb": ok(with_answer(good, "FlattenConsecutive", RUNTIME_REFERENCE)),
        "crash.ipynb": ok(after(copy.deepcopy(good), "test_fc_batch_of_one", CRASH)),
        "leaker.ipynb": ok(after(copy.deepcopy(good), "test_fc_in_model", LEAK)),
        "bomber.ipynb": ok(after(copy.deepcopy(good), "test_fc_batch_of_one", BOMB)),
    }


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (data, *_rest) in fc_class({}).items():
        (out / name).write_bytes(data)
    print(f"wrote {len(fc_class({}))} files to {out}")

