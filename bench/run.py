"""`make bench`: speed ratios on this machine, all measured in one run.

1. Training steps/s on the CPU, one thread: the book's loop
   (``wavenet.train.train``) in its exact (eager) and compiled modes against
   the lecture's eager loop (``bench/lecture_loop.py``), same model, same
   steps; the compiled mode with and without its compile time. With a CUDA
   GPU, the same on the GPU, with the CUDA-graph mode (``make bench-gpu``
   runs chapter 7's whole recipe there).
2. Scoring the whole dev split with the 76,579-parameter model: one pass of
   the convolutional model against the position-by-position loops.
3. Time to grade each assignment: ``bench/grade_time.py`` (the grader's).

Timings print as ratios; nothing here asserts a speed. Usage::

    python bench/run.py [--steps 500] [--rounds 8] [--threads 1] [--skip-grading]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# a cold compile, as a fresh machine (or the first book build) pays it
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="bench-inductor-"))

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loops import CHAPTER_7_STEPS, loop_speeds, machine  # noqa: E402
from wavenet.data import load_splits, read_words, split_words  # noqa: E402
from wavenet.config import device, recipe  # noqa: E402
from wavenet.conv import (  # noqa: E402
    TorchWaveNet, example_loop, from_hierarchical, name_sequences, position_loop, positions_logits,
)
from wavenet.models import count_params, hierarchical  # noqa: E402
from wavenet.timing import best_of  # noqa: E402
from wavenet.train import set_training, to_device, train  # noqa: E402


def bench_training(splits, dev, steps, rounds, threads):
    """Steps/s of the lecture's loop and the book's modes (76,579-param tree, batch 32) on ``dev``."""
    loops = ["lecture", "eager", "graph" if dev.type == "cuda" else "compiled"]
    speeds, first, cpu = loop_speeds(*splits["train"], dev, loops, steps, rounds, threads)
    return {"steps": steps, "rounds": rounds, "steps_per_s": speeds, "first_call_s": first,
            "steps_per_cpu_s": cpu}


def print_training(tr, title):
    """The loops' steps/s and their ratios to the lecture's loop; a compile paid back over chapter 7's run."""
    sp, lec = tr["steps_per_s"], tr["steps_per_s"]["lecture"]
    print(f"\n{title}: 76,579-param hierarchical model, batch 32, "
          f"best of {tr['rounds']} rounds of {tr['steps']:,} steps per loop")
    print(f"   lecture loop (.item() and a Python update per step)  {lec:8.0f} steps/s")
    what = {"eager": 'book, mode="eager" (exact: the lecture\'s numbers)',
            "compiled": 'book, mode="compiled" (torch.compile)', "graph": 'book, mode="graph" (CUDA graph)'}
    for mode, rate in sp.items():
        if mode == "lecture":
            continue
        print(f"   {what[mode]:<53} {rate:8.0f} steps/s = {rate / lec:.2f}x the lecture loop")
        extra = tr["first_call_s"][mode] - 5 / rate  # the first call's 5 steps, less what they cost later
        if tr["steps_per_cpu_s"]:
            cpu = tr["steps_per_cpu_s"]
            print(f"      {'by CPU time (less sensitive to a shared machine)':<50} {cpu[mode]:8.0f} steps/CPU-s "
                  f"= {cpu[mode] / cpu['lecture']:.2f}x the lecture loop's {cpu['lecture']:.0f}")
        if mode != "eager":
            total = CHAPTER_7_STEPS / rate + extra
            print(f"      {'compile' if mode == 'compiled' else 'capture'}: {extra:.1f} s once; included, "
                  f"{tr['steps']:,} steps: {tr['steps'] / lec / (tr['steps'] / rate + extra):.2f}x, "
                  f"chapter 7's {CHAPTER_7_STEPS:,} steps: {CHAPTER_7_STEPS / lec / total:.2f}x")


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
    ap.add_argument("--steps", type=int, default=500, help="training steps per loop per round")
    ap.add_argument("--rounds", type=int, default=8, help="rounds of training timings (each loop keeps its best)")
    ap.add_argument("--repeat", type=int, default=5, help="timings per scoring case (the best is kept)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the models are tiny)")
    ap.add_argument("--skip-grading", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = device()
    print(f"machine: {machine(dev)}; device {dev}")
    splits = load_splits(8)
    results = {"machine": machine(dev), "device": str(dev)}

    results["training"] = {"cpu": bench_training(splits, torch.device("cpu"), args.steps, args.rounds,
                                                 args.threads)}
    print_training(results["training"]["cpu"], f"1. training on the CPU, {args.threads} thread(s)")
    if dev.type == "cuda":
        results["training"]["cuda"] = bench_training(splits, dev, args.steps, args.rounds, args.threads)
        print_training(results["training"]["cuda"], f"1b. training on the GPU ({torch.cuda.get_device_name()})")
    else:
        print("\n1b. training on a GPU: no CUDA device here, not measured (make bench-gpu on a GPU machine)")

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
