"""`make bench-gpu`: chapter 7's recipe on a CUDA GPU, each step replayed from a CUDA graph.

Trains the 76,579-parameter tree with the lecture's full recipe (200,000 SGD
steps of 32, step decay) in ``mode="graph"``, with the split resident on the
GPU, and prints its steps/s, the ratio against the eager loop on the same GPU
(the book's eager mode and the lecture's loop, timed over a few thousand
steps) and against the CPU loop (one thread), and its train/val loss next to
the lecture's 1.769/1.993. Writes ``bench/records/gpu.json``; the book and the
README read the GPU numbers from there, and say they are not measured while
it does not exist. Without CUDA it says so and exits 0. Usage::

    python bench/gpu.py [--steps 200000] [--compare-steps 3000] [--out bench/records/gpu.json]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loops import loop_speeds, machine, scaled_tree  # noqa: E402
from wavenet.data import load_splits  # noqa: E402
from wavenet.config import recipe  # noqa: E402
from wavenet.results import LECTURE  # noqa: E402
from wavenet.timing import sync  # noqa: E402
from wavenet.train import evaluate, train  # noqa: E402

RECORD = ROOT / "bench" / "records" / "gpu.json"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=recipe(fast=False).steps, help="steps of the graph run")
    ap.add_argument("--compare-steps", type=int, default=3000, help="steps per timing of the other loops")
    ap.add_argument("--out", type=Path, default=RECORD)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench-gpu: no CUDA device here; nothing measured (the book keeps saying GPU numbers are not measured)")
        return 0
    dev = torch.device("cuda")
    splits = load_splits(8)
    X, Y = splits["train"]
    print(f"machine: {machine(dev)}")

    # chapter 7's run: the lecture's recipe, seed and init; every step a replay of one CUDA graph
    r = recipe(fast=False, steps=args.steps, decay_at=args.steps * 3 // 4)
    model = scaled_tree(dev)
    sync(dev)
    t0 = time.perf_counter()
    train(model, X, Y, r, log=None, mode="graph")
    sync(dev)
    graph_s = time.perf_counter() - t0
    graph_rate = r.steps / graph_s
    losses = {"train": evaluate(model, *splits["train"]), "val": evaluate(model, *splits["val"])}

    gpu, _, _ = loop_speeds(X, Y, dev, ["lecture", "eager"], args.compare_steps, rounds=2)
    cpu, _, _ = loop_speeds(X, Y, torch.device("cpu"), ["lecture", "eager"], args.compare_steps // 3, rounds=2)

    lec = LECTURE["scaled"]
    print(f"chapter 7's recipe, {r.steps:,} steps of {r.batch_size}, mode='graph' on {torch.cuda.get_device_name()}:")
    print(f"   {graph_rate:8.0f} steps/s ({graph_s:.1f} s, warm-up and capture included)")
    print(f"   {graph_rate / gpu['eager']:8.2f}x the book's eager loop on this GPU ({gpu['eager']:.0f} steps/s)")
    print(f"   {graph_rate / gpu['lecture']:8.2f}x the lecture's loop on this GPU ({gpu['lecture']:.0f} steps/s)")
    print(f"   {graph_rate / cpu['eager']:8.2f}x the book's eager loop on the CPU, 1 thread ({cpu['eager']:.0f} steps/s)")
    print(f"   {graph_rate / cpu['lecture']:8.2f}x the lecture's loop on the CPU ({cpu['lecture']:.0f} steps/s)")
    print(f"   train {losses['train']:.4f}  val {losses['val']:.4f}   (lecture: {lec['train']:.3f} / {lec['val']:.3f})")

    record = {"machine": machine(dev), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "steps": r.steps, "graph_steps_per_s": graph_rate, "graph_seconds": graph_s,
              "gpu_steps_per_s": gpu, "cpu_steps_per_s": cpu, "compare_steps": args.compare_steps,
              "train": losses["train"], "val": losses["val"], "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
