"""A class of submissions, good, broken and hostile, made from the released exercises.

Each maker returns the bytes of one file a student might hand in, built from
``exercises/<assignment>/<assignment>.ipynb`` (what learners download) and the
reference answers in ``solutions/``. :data:`CLASS` lists the class that
``tests/test_batch.py`` grades in one ``grade-all`` run, each student with the
outcome the grader must reach. (The hostile notebooks that attack the sandbox
and the grader are in ``tests/attacks``.) ``python -m tests.submissions DIR`` writes the
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


HONEST_OS = """import os

""" + WRONG_FC.replace("class FlattenConsecutive:", "class FlattenConsecutive:  # os is imported, honestly unused")


def fc_class(paths):
    """The class that ``tests/test_batch.py`` grades, as ``{file name: (bytes, status, score, reason words)}``.

    Cheats are graded like anyone else: the grader judges what their code does, so borrowing the course's
    code (not in the graded kernel) or patching torch (not where the verdict is made) earns nothing.
    """
    good = solved(FC)
    max_score = 9.0
    ok = lambda nb: dumps(nb)
    return {
        # name: (bytes, expected status, expected score or None, words the reason must contain)
        "alice.ipynb": (ok(good), "graded", max_score, []),
        "bob.ipynb": (ok(with_answer(good, "FlattenConsecutive", WRONG_FC)), "graded", 0.0, ["squeeze"]),
        "carol.ipynb": (ok(exercise(FC)), "graded", 0.0, ["NotImplementedError"]),
        "dave.ipynb": (b'{"cells": [', "error", 0.0, ["not a valid Jupyter notebook"]),
        "erin.ipynb": (b"", "error", 0.0, ["empty"]),
        "frank.txt": (ok(good), "graded", max_score, ["frank.txt"]),
        "grace.ipynb": (ok(strip_metadata(good)), "graded", max_score, ["metadata"]),
        "heidi.ipynb": (ok(corrupt_metadata(good)), "graded", max_score, ["metadata"]),
        "ivan.ipynb": (ok(duplicate(good, "FlattenConsecutive")), "graded", max_score, []),
        "judy.ipynb": (ok(delete(good, "test_fc_pairs", "test_fc_values")), "graded", max_score, ["restored"]),
        "ken.ipynb": (ok(edit_tests(with_answer(good, "FlattenConsecutive", WRONG_FC))), "graded", 0.0,
                      ["edited"]),
        "leo.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", LOOP)), "graded", max_score,
                     ["longer than"]),  # interrupted, the kernel recovers, the later tests run
        "mallory.ipynb": (ok(with_answer(good, "FlattenConsecutive", CHEAT_IMPORT)), "graded", 0.0,
                        ["the course's own", "from wavenet.nn import FlattenConsecutive"]),
        "niaj.ipynb": (ok(with_answer(good, "FlattenConsecutive", CHEAT_SUBCLASS)), "graded", 0.0, ["NameError"]),
        "olivia.ipynb": (ok(with_answer(good, "FlattenConsecutive", PATCH_TORCH)), "graded", 0.0, ["squeeze"]),
        "peggy.ipynb": (ok(with_answer(good, "FlattenConsecutive", PATCH_SETATTR)), "graded", 0.0, ["squeeze"]),
        "rupert.ipynb": (ok(with_answer(good, "FlattenConsecutive", READ_HIDDEN)), "graded", 0.0, ["squeeze"]),
        "sybil.ipynb": (ok(with_answer(good, "FlattenConsecutive", WRITE_GRADEBOOK)), "graded", 0.0, ["squeeze"]),
        "trent.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", OUTPUT)), "graded", max_score,
                        ["printed too much"]),
        "uma.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", MEMORY)), "graded", 3.0,
                      ["memory"]),
        "victor.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", STUBBORN_LOOP)), "graded", 3.0,
                         ["stopped responding"]),
        "walter.ipynb": (ok(after(after(after(copy.deepcopy(good), "test_fc_batch_of_one", LOOP), "test_fc_batch_of_one",
                                        LOOP), "test_fc_batch_of_one", LOOP)),
                         "graded", 3.0, ["time limit"]),
        "xavier.ipynb": (ok(after(copy.deepcopy(good), "test_fc_batch_of_one", EXIT)), "graded", 3.0, ["kernel died"]),
        "yvonne.ipynb": (ok(with_answer(good, "FlattenConsecutive", HONEST_OS)), "graded", 0.0, ["squeeze"]),
        "zoe.ipynb": (ok(strip_metadata(good, ids=True)), "graded", max_score, ["metadata"]),
        ".DS_Store": (b"\0\0\0\1Bud1", None, None, []),  # not a student: ignored
    }


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (data, *_rest) in fc_class({}).items():
        (out / name).write_bytes(data)
    print(f"wrote {len(fc_class({}))} files to {out}")

