"""Training loops timed for the benchmarks: steps/s of the lecture's loop and of ``train()``'s modes.

Machines are shared and noisy, so the loops take turns: ``rounds`` rounds,
each running every loop for ``steps`` steps, and each loop keeps its best
round. Each round is timed twice: wall time, and the CPU time of the thread
that trains (one torch thread, so it does all the work): other jobs on a
shared machine stretch the wall time of whichever loop they overlap, but much
less its CPU time. A book mode's first call, a few steps on a fresh model, is
timed apart: it holds ``torch.compile``'s compiling or the CUDA graph's capture.
Every timed run of a book mode starts its clock only after its first ``WARM``
steps, where a run recompiles (from inductor's cache: a second or so) or
captures its graph: the rates are per step, as over a 200,000-step chapter.
"""
import os
import platform
import time

import torch

from bench.lecture_loop import lecture_train
from wavenet.config import recipe
from wavenet.models import hierarchical
from wavenet.timing import sync
from wavenet.train import minibatches, to_device, train

CHAPTER_7_STEPS = recipe(fast=False).steps  # 200,000: what a compile is paid back over in the book
WARM = 20  # steps a timed run of a book mode makes before its clock starts


def clocked(batches, start, dev, marks):
    """``batches`` as they are, noting the wall and this thread's CPU time in ``marks`` as batch ``start`` is drawn."""
    for i, ix in enumerate(batches):
        if i == start:
            sync(dev)
            marks += [time.perf_counter(), time.thread_time()]
        yield ix


def machine(dev):
    """CPU model, cores, GPU, torch version and threads, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if dev.type == "cuda" else " (no GPU)"
    return f"{cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def scaled_tree(dev):
    """Chapter 7's 76,579-parameter tree, seeded as in the book, on ``dev``."""
    torch.manual_seed(42)
    return to_device(hierarchical(n_embd=24, n_hidden=128), dev)


def loop_speeds(X, Y, dev, loops, steps, rounds=3, threads=1):
    """Best steps/s of each loop, and each book mode's first-call seconds (compile or capture).

    Args:
        X, Y: the training split (moved to ``dev`` here).
        loops: names among ``"lecture"`` (bench/lecture_loop.py) and ``train()``'s modes.
        steps: steps per loop per round.
        threads: torch threads for the book's loops (the lecture's uses torch's setting).

    Returns:
        ``({loop: steps/s}, {mode: seconds of a 5-step first call}, {loop: steps per CPU second})``;
        the last is the training thread's CPU time, measured on the CPU only (a GPU loop's
        thread spins while it waits).
    """
    X, Y = X.to(dev), Y.to(dev)
    r = recipe(fast=False, steps=WARM + steps, decay_at=steps * 3 // 4, log_every=10**9)
    models = {name: scaled_tree(dev) for name in loops}
    first = {}
    for name in loops:
        if name != "lecture":
            sync(dev)
            t0 = time.perf_counter()
            train(scaled_tree(dev), X, Y, recipe(fast=False, steps=5, log_every=10**9), log=None, mode=name,
                  threads=threads)
            sync(dev)
            first[name] = time.perf_counter() - t0
    best, best_cpu = dict.fromkeys(loops, 0.0), dict.fromkeys(loops, 0.0)
    for _ in range(rounds):
        for name in loops:
            sync(dev)
            if name == "lecture":
                marks = [time.perf_counter(), time.thread_time()]
                lecture_train(models[name], X, Y, max_steps=steps, log=None)
            else:
                marks = []  # set by clocked() after the run's warm-up steps
                batches = clocked(minibatches(X.shape[0], r.steps, r.batch_size, device=dev), WARM, dev, marks)
                train(models[name], X, Y, r, log=None, mode=name, threads=threads, batches=batches)
            sync(dev)
            t0, c0 = marks
            best[name] = max(best[name], steps / (time.perf_counter() - t0))
            best_cpu[name] = max(best_cpu[name], steps / (time.thread_time() - c0))
    return best, first, (best_cpu if dev.type == "cpu" else {})
