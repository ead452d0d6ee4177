"""Run records, and the book's performance log built from them.

A run's record is one small JSON file, ``<folder>/<name>.json``, written by
:func:`save` and read back by :func:`load`, whoever made the run: a chapter
(through :func:`record`) or the experiment harness (``runs/``). Every chapter
runs in its own kernel, so the book's results travel this way too, in a
folder that depends on the build mode (a fast book never mixes its numbers
with a full one)::

    _build/results/full/mlp3.json     # make book
    _build/results/fast/mlp3.json     # make book-fast (COURSE_FAST=1)

under the clone's root, or, installed, under ``$WAVENET_HOME`` or the working
directory (:mod:`wavenet.workdir`): never inside the package.

Example:
    >>> record("mlp3", params=12097, train=2.0583, val=2.1054)  # in chapter 1
    >>> load()["mlp3"]["val"]                                    # in chapter 7
    2.1054
"""
import json
from pathlib import Path

from wavenet.config import FAST
from wavenet.workdir import ROOT  # the clone's root; installed: $WAVENET_HOME or the working directory

# The lecture's performance log, in its order: (key, what changed, params, train, val).
LECTURE = {
    "mlp3": dict(step="the start: 3 characters, 1 hidden layer", params=12_097, train=2.058, val=2.105),
    "flat8": dict(step="context 3 → 8, flat", params=22_097, train=1.918, val=2.027),
    "hier_buggy": dict(step="flat → hierarchical", params=22_397, train=1.941, val=2.029),
    "hier_fixed": dict(step="BatchNorm1d fixed for 3-D", params=22_397, train=1.912, val=2.022),
    "scaled": dict(step="n_embd 24, n_hidden 128", params=76_579, train=1.769, val=1.993),
}
CHAPTER = {"mlp3": 1, "flat8": 4, "hier_buggy": 5, "hier_fixed": 6, "scaled": 7}
TOLERANCE = 0.02  # the book's val losses must land this close to the lecture's


def results_dir(fast=None):
    """Folder of this build mode's JSON files (``fast`` defaults to ``COURSE_FAST``)."""
    return ROOT / "_build" / "results" / ("fast" if (FAST if fast is None else fast) else "full")


def save(name, record, folder):
    """Write ``record`` (plain JSON data) as ``folder/<name>.json``; return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def record(key, fast=None, **numbers):
    """Save one chapter run's numbers (plain floats, ints, lists) as ``<key>.json``."""
    save(key, numbers, results_dir(fast))


def window(steps):
    """Smoothing window: 1000 steps for the lecture's 200k, so every curve has 200 points."""
    return max(1, steps // 200)


def score(key, model, losses, recipe, splits, compare_to=None):
    """Evaluate ``model`` on the train and val splits, print that beside the
    lecture's numbers (and, if recorded, the run ``compare_to``), and record it.

    Returns:
        ``(train_loss, val_loss)`` as floats.
    """
    from wavenet.models import count_params
    from wavenet.train import evaluate, smooth

    train_loss = evaluate(model, *splits["train"])
    val_loss = evaluate(model, *splits["val"])
    lec = LECTURE[key]
    print(f"this book: train {train_loss:.4f}  val {val_loss:.4f}  ({recipe.steps:,} steps)")
    print(f"lecture:   train {lec['train']:.4f}  val {lec['val']:.4f}")
    record(key, params=count_params(model), train=train_loss, val=val_loss, steps=recipe.steps,
           curve=smooth(losses, window(recipe.steps)).tolist())
    if compare_to:
        before = load().get(compare_to)
        if before:
            print(f"chapter {CHAPTER[compare_to]}: val {before['val']:.4f} -> this chapter: "
                  f"val {val_loss:.4f} ({val_loss - before['val']:+.4f})")
        else:
            print(f"chapter {CHAPTER[compare_to]}'s result is not recorded yet: "
                  f"build it first to compare")
    return train_loss, val_loss


def load(fast=None, folder=None, pattern="*"):
    """Every record in ``folder`` whose name matches the glob ``pattern``: ``{name: record}``.

    ``folder`` defaults to this build mode's :func:`results_dir` (the chapters' runs).
    """
    folder = Path(folder) if folder is not None else results_dir(fast)
    if not folder.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob(f"{pattern}.json"))}


def table(measured=None, fast=None):
    """The lecture's performance log beside this book's numbers, as Markdown.

    A run that has not been recorded yet gets a row that says so, instead of an
    error, so chapter 7 builds even when an earlier chapter was skipped.
    """
    fast = FAST if fast is None else fast
    measured = load(fast) if measured is None else measured
    rows = [
        "| ch. | what changed | params | train: lecture | train: book "
        "| val: lecture | val: book | val gap (book − lecture) |",
        "|---:|:---|---:|---:|---:|---:|---:|:---|",
    ]
    for key, lec in LECTURE.items():
        got = measured.get(key)
        head = f"| {CHAPTER[key]} | {lec['step']} "
        if got is None:
            missing = results_dir(fast).relative_to(ROOT) / f"{key}.json"
            rows.append(head + f"| {lec['params']:,} | {lec['train']:.3f} | – | {lec['val']:.3f} | – "
                        f"| not run yet: no `{missing}`; build chapter {CHAPTER[key]} first |")
            continue
        gap = got["val"] - lec["val"]
        if fast:
            verdict = f"{gap:+.4f} (fast build)"
        elif abs(gap) <= TOLERANCE:
            verdict = f"{gap:+.4f} within {TOLERANCE}"
        else:
            verdict = f"**{gap:+.4f}, more than {TOLERANCE} off**"
        params = f"{got['params']:,}" + ("" if got["params"] == lec["params"] else f" (lecture {lec['params']:,})")
        rows.append(head + f"| {params} | {lec['train']:.3f} | {got['train']:.4f} "
                    f"| {lec['val']:.3f} | {got['val']:.4f} | {verdict} |")
    return "\n".join(rows)


def extended_log(runs, measured=None, fast=None):
    """The lecture's log, chapter 8's two runs and the harness records ``runs``, as one Markdown table.

    Chapter 9 prints it. This book's own numbers for chapters 1 to 7 are in
    chapter 7's :func:`table`; chapter 7 may still be running when chapter 9
    is (the book's chapters run in parallel), so this table does not read them.
    """
    measured = load(fast) if measured is None else measured
    rows = ["| chapter | run | params | train | val | test | time |", "|:---|:---|---:|---:|---:|---:|---:|"]
    for key, lec in LECTURE.items():
        rows.append(f"| {CHAPTER[key]} (lecture) | {lec['step']} | {lec['params']:,} | {lec['train']:.3f} "
                    f"| {lec['val']:.3f} | – | – |")
    for key, what in (("ch8_tree", "tree, short SGD recipe"), ("ch8_conv", "conv on whole names, same recipe")):
        if key in measured:
            b = measured[key]
            rows.append(f"| 8 | {what} | {b['params']:,} | {b['train']:.4f} | {b['val']:.4f} | – "
                        f"| {b['seconds']:.0f} s |")
    for r in runs:
        f = r["final"]
        test = f"{f['test']:.4f}" if "test" in f else "–"
        rows.append(f"| 9 | {r['name']} | {r['params']:,} | {f['train']:.4f} | {f['val']:.4f} | {test} "
                    f"| {r['wall_s']:.0f} s |")
    return "\n".join(rows)
