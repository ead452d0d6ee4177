"""Wall-clock timing for the book's and the benchmarks' speed comparisons."""
import time

import torch


def sync(device):
    """Wait for the GPU's queued work (a CUDA clock would stop before the work is done); no-op elsewhere."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, device, repeat=5):
    """Fastest of ``repeat`` wall-clock timings of ``fn()``, in seconds: the least disturbed by whatever else runs."""
    times = []
    for _ in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)
