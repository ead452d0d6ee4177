"""`make bench`: speed ratios on this machine, all measured in one run.

1. Training steps/s: the book's loop (``wavenet.train.train``) against the
   lecture's eager loop (``bench/lecture_loop.py``), same model, same steps.
2. Scoring the whole dev split with the 76,579-parameter model: one pass of
   the convolutional model against the position-by-position loops.
3. Time to grade each assignment: ``bench/grade_time.py`` (the grader's).

Timings print as ratios; nothing here asserts a speed. Usage::

    python bench/run.py [--steps 2000] [--threads 1] [--skip-grading]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lecture_loop import lecture_train  # noqa: E402
from data import load_splits, read_words, split_words  # noqa: E402
from wavenet.config import device, recipe  # noqa: E402
from wavenet.conv import (  # noqa: E402
    TorchWaveNet, example_loop, from_hierarchical, name_sequences, position_loop, positions_logits,
)
from wavenet.train import to_device  # noqa: E402
from wavenet.models import count_params, hierarchical  # noqa: E402
from wavenet.train import set_training, train  # noqa: E402


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, dev, repeat=5):
    """Fastest of ``repeat`` wall-clock timings of ``fn()`` (seconds); the minimum is the least noisy."""
    times = []
    for _ in range(repeat):
        sync(dev)
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return min(times)


def machine(dev):
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if dev.type == "cuda" else " (no GPU)"
    return f"{cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def bench_training(splits, dev, steps):
    """Steps/s of the lecture's loop and the book's loop, 76,579-param tree, batch 32."""
    X, Y = splits["train"]
    out = {}
    for name in ("lecture", "book"):
        torch.manual_seed(42)
        model = to_device(hierarchical(n_embd=24, n_hidden=128), dev)
        Xd, Yd = X.to(dev), Y.to(dev)
        sync(dev)
        t0 = time.perf_counter()
        if name == "lecture":
            lecture_train(model, Xd, Yd, max_steps=steps, log=None)
        else:
            train(model, X, Y, recipe(fast=False, steps=steps, decay_at=steps * 3 // 4, log_every=10**9), log=None)
        sync(dev)
        out[name] = steps / (time.perf_counter() - t0)
    return out


def bench_dev_split(splits, dev, repeat):
    """Seconds to score every dev example: example loop, position loop, tree batch, nn.Conv1d, our conv."""
    torch.manual_seed(42)
    tree = hierarchical(n_embd=24, n_hidden=128)
    train(tree, *splits["train"], recipe(fast=False, steps=300, decay_at=300), log=None)  # non-trivial BatchNorm stats
    set_training(tree, False)
    net = from_hierarchical(tree)
    set_training(net, False)
    stock = TorchWaveNet(tree)
    X, Y = name_sequences(split_words(read_words())["val"])       # (3203, 14)
    Xex = splits["val"][0]                                          # (22655, 8)
    to_device(tree, dev), to_device(net, dev), stock.to(dev)
    X, Y, Xex = X.to(dev), Y.to(dev), Xex.to(dev)
    ref = tree(Xex)
    cases = {
        "example loop: one tree call per example (the lecture's for loop)": lambda: example_loop(tree, X, Y),
        f"position loop: one tree call per position ({X.shape[1]} calls)": lambda: position_loop(tree, X, Y),
        "tree on all examples at once (shared nodes recomputed)": lambda: tree(Xex),
        "torch.nn.Conv1d stack, one pass per name length": lambda: positions_logits(stock, X, Y),
        "wavenet.conv.WaveNet, one pass per name length": lambda: positions_logits(net, X, Y),
    }
    out = {}
    with torch.no_grad():
        for name, fn in cases.items():
            diff = (fn() - ref).abs().max().item()
            out[name] = {"seconds": best_of(fn, dev, 1 if "example loop" in name else repeat), "max_abs_diff": diff}
    return out, count_params(tree), Xex.shape[0], X.shape[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="training steps per loop")
    ap.add_argument("--repeat", type=int, default=5, help="timings per case (the best is kept)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the models are tiny)")
    ap.add_argument("--skip-grading", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = device()
    print(f"machine: {machine(dev)}; device {dev}")
    splits = load_splits(8)
    results = {"machine": machine(dev), "device": str(dev)}

    tr = bench_training(splits, dev, args.steps)
    results["training_steps_per_s"] = tr
    print(f"\n1. training, 76,579-param hierarchical model, batch 32, {args.steps:,} steps per loop")
    print(f"   lecture loop (.item() per step, Python update loop) {tr['lecture']:8.0f} steps/s")
    print(f"   book loop (wavenet.train.train)                     {tr['book']:8.0f} steps/s"
          f"   = {tr['book'] / tr['lecture']:.2f}x the lecture loop")

    ev, n_params, n_ex, n_names = bench_dev_split(splits, dev, args.repeat)
    results["dev_split_seconds"] = ev
    conv_s = ev["wavenet.conv.WaveNet, one pass per name length"]["seconds"]
    print(f"\n2. scoring the dev split ({n_ex:,} examples, {n_names:,} names), {n_params:,}-param model, eval mode")
    for name, r in ev.items():
        print(f"   {name:<66} {r['seconds'] * 1e3:9.1f} ms  {r['seconds'] / conv_s:7.1f}x the conv"
              f"  (max |diff| {r['max_abs_diff']:.1e})")
    pos = next(v for k, v in ev.items() if k.startswith("position loop"))["seconds"]
    print(f"   => one-pass convolution vs position-by-position loop: {pos / conv_s:.1f}x faster")

    print("\n3. grading time per assignment")
    grade = ROOT / "bench" / "grade_time.py"
    if args.skip_grading:
        print("   skipped (--skip-grading)")
    elif grade.exists():
        proc = subprocess.run([sys.executable, str(grade)], cwd=ROOT, capture_output=True, text=True)
        print("   " + (proc.stdout + proc.stderr).strip().replace("\n", "\n   "))
        results["grading_rc"] = proc.returncode
    else:
        print("   bench/grade_time.py does not exist yet (the grader's part): not measured")

    out = ROOT / "bench" / "out" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
