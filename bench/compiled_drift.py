"""How far ``mode="compiled"`` moves the performance log: each of its five runs
(chapters 1 and 4-7) trained with the lecture's full recipe in compiled mode,
beside the numbers the exact (eager) mode gave in the book's last full build.

The chapters train in eager mode; this is the evidence for that choice. A
compiled step rounds floats differently from the eager one, so a run follows
another path, as with another seed; most models end where the eager run does,
but one whose BatchNorm statistics are noisy can amplify the difference. Each
run is seeded and built as its chapter does it. Takes one core for about as
long as the five chapters' training (20-40 min here). Usage::

    python bench/compiled_drift.py [--only scaled] [--steps 200000]

Writes ``bench/out/compiled_drift.json``; the eager numbers come from
``_build/results/full`` (``make book`` writes them), and a run without one is
printed without the comparison.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wavenet.data import load_splits  # noqa: E402
from wavenet import results  # noqa: E402
from wavenet.config import recipe  # noqa: E402
from wavenet.models import hierarchical, mlp  # noqa: E402
from wavenet.nn import BatchNorm1d  # noqa: E402
from wavenet.train import evaluate, train  # noqa: E402


class BatchNorm1dDim0(BatchNorm1d):
    """Chapter 5's layer (the lecture's at that point): statistics over dim 0 only, the 3-D bug."""

    def reduce_dims(self, x):
        return (0,)


# each chapter's model, built right after torch.manual_seed(42) as in the chapter: (block_size, builder)
RUNS = {
    "mlp3": (3, lambda: mlp(3)),
    "flat8": (8, lambda: mlp(8)),
    "hier_buggy": (8, lambda: hierarchical(8, n_hidden=68, batchnorm=BatchNorm1dDim0)),
    "hier_fixed": (8, lambda: hierarchical(8, n_hidden=68)),
    "scaled": (8, lambda: hierarchical(8, n_embd=24, n_hidden=128)),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=list(RUNS), help="one run (repeatable); default all five")
    ap.add_argument("--steps", type=int, default=recipe(fast=False).steps)
    args = ap.parse_args(argv)
    r = recipe(fast=False, steps=args.steps, decay_at=args.steps * 3 // 4, log_every=max(1, args.steps // 4))
    out = {"steps": args.steps, "torch": torch.__version__, "runs": {}}
    path = ROOT / "bench" / "out" / "compiled_drift.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for key in args.only or RUNS:
        block_size, build = RUNS[key]
        splits = load_splits(block_size)
        torch.manual_seed(42)
        model = build()
        t0 = time.time()
        train(model, *splits["train"], r, log=None, mode="compiled")
        row = {"train": evaluate(model, *splits["train"]), "val": evaluate(model, *splits["val"]),
               "seconds": round(time.time() - t0, 1)}
        before = results.load(fast=False).get(key) if args.steps == recipe(fast=False).steps else None
        if before:
            row |= {"eager_train": before["train"], "eager_val": before["val"],
                    "max_abs_diff": max(abs(row["train"] - before["train"]), abs(row["val"] - before["val"]))}
        out["runs"][key] = row
        print(f"ch. {results.CHAPTER[key]} {key:10s} compiled train {row['train']:.4f} val {row['val']:.4f}"
              + (f"   eager {before['train']:.4f} / {before['val']:.4f}   |diff| <= {row['max_abs_diff']:.4f}"
                 if before else "   (no eager record to compare)") + f"   ({row['seconds']:.0f} s)", flush=True)
        path.write_text(json.dumps(out, indent=1) + "\n")  # after every run: a long job keeps what it did
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
