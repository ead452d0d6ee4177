"""The experiment harness: train any of the course's models from flags, keep a
record of every run, plot runs against each other, sweep a grid (chapter 9).

Usage::

    python -m wavenet.experiment train --model hierarchical --n-embd 24 --n-hidden 128 \
        --optimizer adamw --lr 3e-3 --schedule cosine --steps 4000 --batch-size 512
    python -m wavenet.experiment plot RUN [RUN ...] -o runs/plot.png
    python -m wavenet.experiment sweep --grid lr=1e-3,3e-3 --grid n_hidden=128,256 --steps 2000 ...
    python -m wavenet.experiment list

Each run trains with the course's one loop, :func:`wavenet.train.train`, and
writes its record, ``runs/<name>.json`` (:func:`wavenet.results.save`): its
config, parameter count, device, wall time, the train/val curve and the final
losses. With ``COURSE_FAST=1``
steps are cut 100x, the val split is scored 4 times instead of 20, the final
train loss covers the first 20,000 examples only, and records go to
``runs/fast/`` so they never overwrite real ones.
"""
import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from wavenet.data import build_dataset, read_words, split_words
from wavenet import config, results
from wavenet.config import Recipe
from wavenet.conv import SeqBatchNorm1d, WaveNet, evaluate_sequences, name_sequences, names_loss
from wavenet.models import VOCAB_SIZE, add_dropout, count_params, hierarchical, mlp
from wavenet.train import MODES, evaluate, to_device, train
from wavenet.workdir import ROOT  # the clone's root; installed: $WAVENET_HOME or the working directory

MODELS = ("mlp", "hierarchical", "conv")


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Defaults: the lecture's 76,579-parameter model and recipe."""
    model: str = "hierarchical"  # mlp | hierarchical | conv
    block_size: int = 8          # characters of context (conv: receptive field)
    n_embd: int = 24
    n_hidden: int = 128
    depth: int = 0               # hidden layers (mlp, default 1) or levels (tree/conv, default log2(block_size))
    dropout: float = 0.0         # after every Tanh, training only
    optimizer: str = "sgd"       # sgd (plain, as in the lecture) | adamw
    lr: float = 0.1
    schedule: str = "step"       # step: lr/10 for the last quarter (the lecture) | cosine: to 0, after warmup
    warmup: int = 0              # steps of linear warmup (cosine only)
    weight_decay: float = 0.0    # adamw only
    steps: int = 200_000
    batch_size: int = 32         # examples per step (conv: whole names per step)
    eval_every: int = 0          # 0: 20 evaluations per run
    seed: int = 42
    device: str = ""             # "" = wavenet.config.device(): CUDA when present, else CPU
    mode: str = "eager"          # eager | compiled | graph (CUDA): how each step runs, see wavenet.train
    threads: int = 1             # torch threads while training (fixed: no oversubscription); 0: torch's default
    name: str = ""               # "" = made from the flags that differ from the defaults
    test: bool = False           # also score the test split at the end (do it once, for the final model)

    def levels(self):
        """Depth actually built: hidden layers for the MLP, fuse levels for tree and conv."""
        if self.model == "mlp":
            return self.depth or 1
        levels = self.depth or int(math.log2(self.block_size))
        if 2**levels != self.block_size:
            raise ValueError(f"{self.model}: block_size {self.block_size} must be 2**depth (depth {levels})")
        return levels

    def recipe(self):
        """The run's :class:`~wavenet.config.Recipe`: step decay to lr/10 for the last quarter, or cosine.

        ``log_every`` is the evaluation interval. Under ``COURSE_FAST`` the
        steps are cut 100x (:func:`wavenet.config.shorten`) and the val split is
        scored 4 times instead of 20: scoring it costs more than the few steps.
        """
        r = config.shorten(Recipe(
            steps=self.steps, batch_size=self.batch_size, lr=self.lr, decay_at=self.steps * 3 // 4,
            lr_after=self.lr / 10, log_every=self.eval_every or max(1, self.steps // 20), seed=self.seed,
            optimizer=self.optimizer, schedule=self.schedule, weight_decay=self.weight_decay, warmup=self.warmup))
        if config.FAST and not self.eval_every:
            r = replace(r, log_every=max(1, r.steps // 4))
        return r

    def run_name(self):
        """``name``, or the model followed by every flag that differs from the defaults."""
        if self.name:
            return self.name
        default, skip = Config(), ("model", "device", "threads", "name", "test", "eval_every")
        always = ("n_embd", "n_hidden", "steps", "seed")
        parts = [self.model] + [f"{f.name}{getattr(self, f.name)}" for f in fields(self) if f.name not in skip
                                and (f.name in always or getattr(self, f.name) != getattr(default, f.name))]
        return "-".join(parts)


def build_model(cfg):
    """The model ``cfg`` describes, from :mod:`wavenet.models` (or the conv ``WaveNet``).

    Drawn from torch's global generator: with the default flags (no dropout,
    depth from the block size) ``torch.manual_seed(42)`` then ``build_model``
    initializes exactly like :func:`wavenet.models.hierarchical` and
    :func:`wavenet.models.mlp`. BatchNorm is :class:`~wavenet.conv.SeqBatchNorm1d`
    (same statistics, one reduction instead of two).
    """
    levels = cfg.levels()
    if cfg.model == "conv":
        model = WaveNet(VOCAB_SIZE, cfg.n_embd, cfg.n_hidden, tuple(2**i for i in range(levels)))
    elif cfg.model == "mlp":
        model = mlp(cfg.block_size, cfg.n_embd, cfg.n_hidden, batchnorm=SeqBatchNorm1d, depth=levels)
    elif cfg.model == "hierarchical":
        model = hierarchical(cfg.block_size, cfg.n_embd, cfg.n_hidden, batchnorm=SeqBatchNorm1d)
    else:
        raise ValueError(f"unknown model {cfg.model!r}, pick one of {MODELS}")
    return add_dropout(model, cfg.dropout) if cfg.dropout else model


class Data:
    """A model's view of the book's split: examples for mlp/tree, whole names for conv."""

    def __init__(self, cfg, words=None):
        parts = split_words(words if words is not None else read_words())
        self.sequences = cfg.model == "conv"
        if self.sequences:
            self.splits = {k: name_sequences(ws) for k, ws in parts.items()}
        else:
            self.splits = {k: build_dataset(ws, cfg.block_size) for k, ws in parts.items()}
        self.loss_fn = names_loss if self.sequences else None  # None: train()'s cross-entropy

    def evaluate(self, model, split, limit=None):
        """Eval-mode mean loss over every example of ``split`` (the same examples for every model).

        ``limit`` scores only the first ``limit`` rows (names for the conv, examples otherwise).
        """
        X, Y = self.splits[split]
        X, Y = X[:limit], Y[:limit]
        if self.sequences:
            return evaluate_sequences(model, X, Y)
        return evaluate(model, X, Y, batch_size=8192)


def runs_dir():
    """``runs/`` under :data:`ROOT` (``runs/fast/`` for COURSE_FAST runs); ``COURSE_RUNS`` overrides."""
    base = Path(os.environ.get("COURSE_RUNS", ROOT / "runs"))
    return base / "fast" if config.FAST else base


def run(cfg, log=print, data=None, save=True):
    """Train one model from ``cfg`` with :func:`wavenet.train.train`, evaluate it, write and return its record.

    Args:
        cfg: a :class:`Config`.
        log: called with one progress line per evaluation (``None`` for silence).
        data: a :class:`Data` to reuse across runs of the same model kind.
        save: write ``runs/<name>.json``.

    Returns:
        the record (a dict; see the module docstring).
    """
    recipe = cfg.recipe()
    cfg = replace(cfg, steps=recipe.steps, warmup=recipe.warmup, eval_every=recipe.log_every)  # what ran
    dev = torch.device(cfg.device) if cfg.device else config.device()
    data = data or Data(cfg)
    torch.manual_seed(cfg.seed)
    model = to_device(build_model(cfg), dev)
    history = {"step": [], "train": [], "val": [], "lr": [], "time": []}

    def checkpoint(step, losses):
        since = history["step"][-1] if history["step"] else 0
        val = data.evaluate(model, "val")
        history["step"].append(step)
        history["train"].append(losses[since:].mean().item())  # mean minibatch loss since the last point
        history["val"].append(val)
        history["lr"].append(recipe.lr_at(step - 1))
        history["time"].append(time.time() - t0)
        if log:
            log(f"{cfg.run_name()} step {step:6d}/{cfg.steps}  train {history['train'][-1]:.4f}"
                f"  val {val:.4f}  lr {recipe.lr_at(step - 1):.2e}  {time.time() - t0:6.1f}s")

    t0 = time.time()
    train(model, *data.splits["train"], recipe, log=None, loss_fn=data.loss_fn, mode=cfg.mode,
          threads=cfg.threads or None, checkpoint=checkpoint)
    wall = time.time() - t0
    # a fast run scores a slice of the train split: its numbers mean nothing, its time should be short
    final = {"train": data.evaluate(model, "train", limit=20_000 if config.FAST else None),
             "val": history["val"][-1]}
    if cfg.test:
        final["test"] = data.evaluate(model, "test")
    record = {
        "name": cfg.run_name(), "config": asdict(cfg), "params": count_params(model),
        "device": str(dev), "threads": cfg.threads or torch.get_num_threads(), "torch": torch.__version__,
        "fast": config.FAST, "wall_s": wall, "steps_per_s": cfg.steps / wall,
        "final": final, "history": history,
    }
    if log:
        log(f"{record['name']}: {record['params']:,} params, train {final['train']:.4f} val {final['val']:.4f}"
            + (f" test {final['test']:.4f}" if "test" in final else "") + f", {wall:.1f}s on {dev}")
    if save:
        record["path"] = str(results.save(record["name"], record, runs_dir()))
    record["model"] = model  # handy in-process (sampling); never written to disk
    return record


def load_record(name_or_path):
    """A record by run name (looked up in :func:`runs_dir`) or by path."""
    p = Path(name_or_path)
    folder, name = (p.parent, p.stem) if p.suffix else (runs_dir(), str(name_or_path))
    return results.load(folder=folder, pattern=name)[name]


def load_records(pattern="*"):
    """Every record in :func:`runs_dir` whose name matches the glob ``pattern``, sorted by val loss."""
    return sorted(results.load(folder=runs_dir(), pattern=pattern).values(), key=lambda r: r["final"]["val"])


def table(records, flags=(), times=True):
    """Markdown table of runs: name, the config ``flags`` asked for, params, train, val, test (if any), wall, device.

    ``times=False`` leaves out wall time and device (for runs timed on a machine shared with other jobs).
    """
    tests = any("test" in r["final"] for r in records)  # a test column only if some run was scored on it
    head = ["run", *flags, "params", "train", "val"] + ["test"] * tests + ["wall", "device"] * times
    rows = ["| " + " | ".join(h.replace("_", " ") for h in head) + " |",
            "|:---|" + "---:|" * (len(head) - 1 - times) + ":---|" * times]
    for r in records:
        f = r["final"]
        cells = [r["name"], *(f"{r['config'][k]:g}" if isinstance(r["config"][k], float) else
                              f"{r['config'][k]:,}" if isinstance(r["config"][k], int) else str(r["config"][k])
                              for k in flags),
                 f"{r['params']:,}", f"{f['train']:.4f}", f"{f['val']:.4f}"]
        if tests:
            cells.append(f"{f['test']:.4f}" if "test" in f else "–")
        if times:
            cells += [f"{r['wall_s']:.0f} s", f"{r['device']} ×{r['threads']}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parse_grid(items):
    """``["lr=1e-3,3e-3", "n_hidden=128,256"]`` -> list of override dicts (the Cartesian product)."""
    types = {f.name: f.type for f in fields(Config)}
    axes = []
    for item in items:
        key, _, values = item.partition("=")
        key = key.replace("-", "_")
        if key not in types:
            raise SystemExit(f"--grid: unknown flag {key!r}")
        cast = (lambda s: s.lower() in ("1", "true")) if types[key] is bool else types[key]
        axes.append([(key, cast(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def grid_configs(base, grid, prefix="sweep"):
    """One config per grid point (a list of override dicts), named ``<prefix>-<overrides>``."""
    return [replace(base, name=f"{prefix}-" + "-".join(f"{k}{v}" for k, v in o.items()), **o) for o in grid]


def sweep(base, grid, log=print, prefix="sweep", data=None):
    """Run ``base`` once per grid point (a list of override dicts); return the records sorted by val.

    ``data``: a :class:`Data` for ``base``'s model kind and block size, reused where it fits.
    """
    records, datasets = [], {}
    if data is not None:
        datasets[(base.model == "conv", base.block_size)] = data
    for cfg in grid_configs(base, grid, prefix):
        key = (cfg.model == "conv", cfg.block_size)
        if key not in datasets:  # build each dataset once
            datasets[key] = Data(cfg)
        records.append(run(cfg, log=log, data=datasets[key]))
    return sorted(records, key=lambda r: r["final"]["val"])


CHOICES = {"model": MODELS, "optimizer": ("sgd", "adamw"), "schedule": ("step", "cosine"), "mode": MODES}


def add_config_flags(p):
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool:
            p.add_argument(flag, action="store_true", help=f"(default {f.default})")
        else:
            p.add_argument(flag, type=f.type, default=f.default, choices=CHOICES.get(f.name),
                           help=f"(default {f.default!r})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m wavenet.experiment", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_config_flags(sub.add_parser("train", help="train one model, write runs/<name>.json"))
    p = sub.add_parser("sweep", help="train every point of a grid")
    add_config_flags(p)
    p.add_argument("--grid", action="append", default=[], metavar="FLAG=V1,V2,...",
                   help="an axis of the grid; repeat for more axes")
    p.add_argument("--prefix", default="sweep", help="run names start with this")
    from wavenet.cluster import add_arguments
    add_arguments(p, "train the runs (wavenet.cluster_runs)")
    p.add_argument("--workers", type=int, default=0, help="train the runs on a local Dask cluster of N processes")
    p = sub.add_parser("plot", help="train/val curves of runs into a PNG")
    p.add_argument("runs", nargs="+", help="run names, globs (quote them) or paths to records")
    p.add_argument("-o", "--out", default=None, help="PNG path (default runs/plot.png)")
    p.add_argument("--ylim", type=float, nargs=2, default=None)
    p = sub.add_parser("list", help="a table of the recorded runs, best val first")
    p.add_argument("pattern", nargs="?", default="*")
    args = parser.parse_args(argv)
    from wavenet.book import plot_runs  # matplotlib: only here, not for every import of the harness

    if args.cmd in ("train", "sweep"):
        cfg = Config(**{f.name: getattr(args, f.name) for f in fields(Config)})
        if args.cmd == "train":
            rec = run(cfg)
            print(f"wrote {rec['path']}")
        else:
            grid = parse_grid(args.grid) if args.grid else [{}]
            if args.scheduler or args.workers:
                from wavenet.cluster import Insecure, from_arguments
                from wavenet.cluster_runs import run_all
                try:
                    scheduler, security = from_arguments(args)
                except Insecure as e:
                    parser.error(str(e))
                recs = run_all(grid_configs(cfg, grid, args.prefix), scheduler, workers=args.workers,
                               security=security)
            else:
                recs = sweep(cfg, grid, prefix=args.prefix)
            print(table(recs))
            out = runs_dir() / f"{args.prefix}.png"
            plot_runs(recs, out, title=f"sweep {args.prefix}")
            print(f"wrote {out}")
    elif args.cmd == "plot":
        recs = []
        for r in args.runs:
            if any(ch in r for ch in "*?[") and not Path(r).suffix:
                recs += load_records(r)
            else:
                recs.append(load_record(r))
        once = {}
        for r in recs:  # each run once, in the order first named
            once.setdefault(r["name"], r)
        recs = list(once.values())
        out = args.out or runs_dir() / "plot.png"
        plot_runs(recs, out, ylim=args.ylim)
        print(f"wrote {out}")
    elif args.cmd == "list":
        print(table(load_records(args.pattern)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
