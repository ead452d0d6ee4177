"""The experiment harness: train any of the course's models from flags, keep a
record of every run, plot runs against each other, sweep a grid (chapter 9).

Usage::

    python -m wavenet.experiment train --model hierarchical --n-embd 24 --n-hidden 128 \
        --optimizer adamw --lr 3e-3 --schedule cosine --steps 4000 --batch-size 512
    python -m wavenet.experiment plot RUN [RUN ...] -o runs/plot.png
    python -m wavenet.experiment sweep --grid lr=1e-3,3e-3 --grid n_hidden=128,256 --steps 2000 ...
    python -m wavenet.experiment list

Each run writes ``runs/<name>.json``: its config, parameter count, device,
wall time, the train/val curve and the final losses. With ``COURSE_FAST=1``
steps are cut 100x, the val split is scored 4 times instead of 20, the final
train loss covers the first 20,000 examples only, and records go to
``runs/fast/`` so they never overwrite real ones.
"""
import argparse
import itertools
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from data import build_dataset, read_words, split_words
from wavenet import config
from wavenet.conv import SeqBatchNorm1d, WaveNet, evaluate_sequences, name_sequences, sequence_loss, trim
from wavenet.models import VOCAB_SIZE, count_params
from wavenet.nn import Embedding, Flatten, FlattenConsecutive, Linear, Sequential, Tanh
from wavenet.train import set_training

ROOT = Path(__file__).resolve().parent.parent
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
    threads: int = 0             # torch.set_num_threads; 0 leaves torch's default
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

    def lr_at(self, step):
        """Learning rate for ``step``: the lecture's step decay or warmup + cosine to 0."""
        if self.schedule == "step":
            return self.lr if step < self.steps * 3 // 4 else self.lr / 10
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * 0.5 * (1 + math.cos(math.pi * t))

    def run_name(self):
        """``name``, or the model followed by every flag that differs from the defaults."""
        if self.name:
            return self.name
        default, skip = Config(), ("model", "device", "threads", "name", "test", "eval_every")
        always = ("n_embd", "n_hidden", "steps", "seed")
        parts = [self.model] + [f"{f.name}{getattr(self, f.name)}" for f in fields(self) if f.name not in skip
                                and (f.name in always or getattr(self, f.name) != getattr(default, f.name))]
        return "-".join(parts)


class Dropout:
    """Zero each activation with probability ``p`` in training, scale the rest by ``1/(1-p)``.

    Shape:
        Input any, output the same.
    """

    def __init__(self, p):
        self.p = p
        self.training = True

    def __call__(self, x):
        self.out = F.dropout(x, self.p, self.training)
        return self.out

    def parameters(self):
        return []


def build_model(cfg):
    """The model ``cfg`` describes, drawn from torch's global generator.

    With the default flags (no dropout, depth from the block size) the random
    draws are the lecture's, so ``torch.manual_seed(42)`` then ``build_model``
    initializes exactly like :func:`wavenet.models.hierarchical` and
    :func:`wavenet.models.mlp`. BatchNorm is :class:`~wavenet.conv.SeqBatchNorm1d`
    (same statistics, one reduction instead of two).
    """
    levels = cfg.levels()

    def activation():  # Tanh, then Dropout when asked for
        return [Tanh()] + ([Dropout(cfg.dropout)] if cfg.dropout else [])

    if cfg.model == "conv":
        net = WaveNet(VOCAB_SIZE, cfg.n_embd, cfg.n_hidden, tuple(2**i for i in range(levels)))
        if cfg.dropout:  # after every Tanh
            net.layers = [m for l in net.layers for m in ([l, Dropout(cfg.dropout)] if isinstance(l, Tanh) else [l])]
        return net
    layers = [Embedding(VOCAB_SIZE, cfg.n_embd)]                          # (B, T) -> (B, T, n_embd)
    if cfg.model == "mlp":
        layers.append(Flatten())                                           # (B, T*n_embd)
        fan_in = cfg.n_embd * cfg.block_size
        for _ in range(levels):
            layers += [Linear(fan_in, cfg.n_hidden, bias=False),          # (B, n_hidden)
                       SeqBatchNorm1d(cfg.n_hidden), *activation()]
            fan_in = cfg.n_hidden
    elif cfg.model == "hierarchical":
        fan_in = cfg.n_embd
        for _ in range(levels):
            layers += [FlattenConsecutive(2),                              # (B, T/2, 2*fan_in)
                       Linear(fan_in * 2, cfg.n_hidden, bias=False),       # (B, T/2, n_hidden)
                       SeqBatchNorm1d(cfg.n_hidden), *activation()]
            fan_in = cfg.n_hidden
    else:
        raise ValueError(f"unknown model {cfg.model!r}, pick one of {MODELS}")
    layers.append(Linear(cfg.n_hidden, VOCAB_SIZE))                        # (B, vocab)
    model = Sequential(layers)
    with torch.no_grad():
        model.layers[-1].weight *= 0.1  # not confidently wrong at init
    for p in model.parameters():
        p.requires_grad = True
    return model


def to_device(model, dev):
    """Move every tensor attribute of every layer (parameters and buffers) to ``dev``."""
    for layer in model.layers:
        for k, v in vars(layer).items():
            if isinstance(v, torch.Tensor):
                setattr(layer, k, v.detach().to(dev).requires_grad_(v.requires_grad))
    return model


class Data:
    """A model's view of the book's split: examples for mlp/tree, whole names for conv."""

    def __init__(self, cfg, words=None):
        parts = split_words(words if words is not None else read_words())
        self.sequences = cfg.model == "conv"
        if self.sequences:
            self.splits = {k: name_sequences(ws) for k, ws in parts.items()}
        else:
            self.splits = {k: build_dataset(ws, cfg.block_size) for k, ws in parts.items()}

    def batch(self, batch_size, dev):
        X, Y = self.splits["train"]
        ix = torch.randint(0, X.shape[0], (batch_size,))  # drawn on the CPU, as in the lecture
        xb, yb = (trim(X[ix], Y[ix]) if self.sequences else (X[ix], Y[ix]))  # (B, T) and (B, T) or (B,)
        return xb.to(dev), yb.to(dev)

    def loss(self, model, xb, yb):
        if self.sequences:
            return sequence_loss(model, xb, yb)
        return F.cross_entropy(model(xb), yb)

    @torch.no_grad()
    def evaluate(self, model, split, dev, batch_size=8192, limit=None):
        """Eval-mode mean loss over every example of ``split`` (the same examples for every model).

        ``limit`` scores only the first ``limit`` rows (names for the conv, examples otherwise).
        """
        X, Y = self.splits[split]
        X, Y = X[:limit], Y[:limit]
        if self.sequences:
            return evaluate_sequences(model, X, Y)
        set_training(model, False)
        total = 0.0
        for i in range(0, X.shape[0], batch_size):
            xb, yb = X[i:i + batch_size].to(dev), Y[i:i + batch_size].to(dev)
            total += F.cross_entropy(model(xb), yb, reduction="sum").item()
        return total / X.shape[0]


def runs_dir():
    """``runs/`` at the repo root (``runs/fast/`` for COURSE_FAST runs); ``COURSE_RUNS`` overrides."""
    base = Path(os.environ.get("COURSE_RUNS", ROOT / "runs"))
    return base / "fast" if config.FAST else base


def fast_steps(cfg):
    """COURSE_FAST shortens every run 100x, like :func:`wavenet.config.recipe`, and evaluates less often."""
    if not config.FAST:
        return cfg
    k = config.FAST_FACTOR
    steps = max(1, cfg.steps // k)
    # 4 evaluations instead of 20: scoring the val split would cost more than the few steps
    eval_every = max(1, cfg.eval_every // k) if cfg.eval_every else max(1, steps // 4)
    return replace(cfg, steps=steps, warmup=cfg.warmup // k, eval_every=eval_every)


def run(cfg, log=print, data=None, save=True):
    """Train one model from ``cfg``, evaluate it, write and return its record.

    Args:
        cfg: a :class:`Config`.
        log: called with one progress line per evaluation (``None`` for silence).
        data: a :class:`Data` to reuse across runs of the same model kind.
        save: write ``runs/<name>.json``.

    Returns:
        the record (a dict; see the module docstring).
    """
    cfg = fast_steps(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = torch.device(cfg.device) if cfg.device else config.device()
    data = data or Data(cfg)
    torch.manual_seed(cfg.seed)
    model = to_device(build_model(cfg), dev)
    params = model.parameters()
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}: sgd or adamw")
    eval_every = cfg.eval_every or max(1, cfg.steps // 20)
    losses = torch.empty(cfg.steps, device=dev)
    history = {"step": [], "train": [], "val": [], "lr": [], "time": []}
    set_training(model, True)
    t0 = time.time()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr_at(step)
        xb, yb = data.batch(cfg.batch_size, dev)
        loss = data.loss(model, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.detach()
        if (step + 1) % eval_every == 0 or step == cfg.steps - 1:
            since = history["step"][-1] if history["step"] else 0
            window = losses[since:step + 1]                # this stretch's minibatch losses
            val = data.evaluate(model, "val", dev)
            set_training(model, True)
            history["step"].append(step + 1)
            history["train"].append(window.mean().item())  # mean minibatch loss since the last point
            history["val"].append(val)
            history["lr"].append(cfg.lr_at(step))
            history["time"].append(time.time() - t0)
            if log:
                log(f"{cfg.run_name()} step {step + 1:6d}/{cfg.steps}  train {history['train'][-1]:.4f}"
                    f"  val {val:.4f}  lr {cfg.lr_at(step):.2e}  {time.time() - t0:6.1f}s")
    wall = time.time() - t0
    set_training(model, False)
    # a fast run scores a slice of the train split: its numbers mean nothing, its time should be short
    final = {"train": data.evaluate(model, "train", dev, limit=20_000 if config.FAST else None),
             "val": history["val"][-1]}
    if cfg.test:
        final["test"] = data.evaluate(model, "test", dev)
    record = {
        "name": cfg.run_name(), "config": asdict(cfg), "params": count_params(model),
        "device": str(dev), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "fast": config.FAST, "wall_s": wall, "steps_per_s": cfg.steps / wall,
        "final": final, "history": history,
    }
    if log:
        log(f"{record['name']}: {record['params']:,} params, train {final['train']:.4f} val {final['val']:.4f}"
            + (f" test {final['test']:.4f}" if "test" in final else "") + f", {wall:.1f}s on {dev}")
    if save:
        record["path"] = str(save_record(record))
    record["model"] = model  # handy in-process (sampling); never written to disk
    return record


def save_record(record, folder=None):
    folder = Path(folder or runs_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['name']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in record.items() if k not in ("model", "path")}, indent=1))
    tmp.replace(path)  # atomic: a reader never sees half a record
    return path


def load_record(name_or_path):
    """A record by run name (looked up in :func:`runs_dir`) or by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = runs_dir() / f"{name_or_path}.json"
    return json.loads(p.read_text())


def load_records(pattern="*"):
    """Every record in :func:`runs_dir` whose name matches the glob ``pattern``, sorted by val loss."""
    recs = [json.loads(p.read_text()) for p in runs_dir().glob(f"{pattern}.json")]
    return sorted(recs, key=lambda r: r["final"]["val"])


def plot(records, path=None, title="", ylim=None):
    """Train (dashed: mean minibatch loss) and val (solid) curves of ``records``; PNG at ``path``."""
    import matplotlib
    if path:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, r in enumerate(records):
        h, c = r["history"], f"C{i % 10}"
        ax.plot(h["step"], h["train"], ls="--", lw=1, color=c)
        ax.plot(h["step"], h["val"], lw=1.6, color=c, label=f"{r['name']} (val {r['final']['val']:.4f})")
    ax.set(xlabel="step", ylabel="loss", title=title or "train (dashed, minibatch mean) and val (solid)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def table(records):
    """Markdown table of runs: name, params, train, val, (test), wall time, device."""
    rows = ["| run | params | train | val | test | wall | device |", "|:---|---:|---:|---:|---:|---:|:---|"]
    for r in records:
        f = r["final"]
        test = f"{f['test']:.4f}" if "test" in f else "–"
        rows.append(f"| {r['name']} | {r['params']:,} | {f['train']:.4f} | {f['val']:.4f} | {test} "
                    f"| {r['wall_s']:.0f} s | {r['device']} ×{r['threads']} |")
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


CHOICES = {"model": MODELS, "optimizer": ("sgd", "adamw"), "schedule": ("step", "cosine")}


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
    p.add_argument("--scheduler", metavar="ADDRESS", help="train the runs on this Dask cluster (wavenet.cluster_runs)")
    p.add_argument("--workers", type=int, default=0, help="train the runs on a local Dask cluster of N processes")
    p = sub.add_parser("plot", help="train/val curves of runs into a PNG")
    p.add_argument("runs", nargs="+", help="run names, globs (quote them) or paths to records")
    p.add_argument("-o", "--out", default=None, help="PNG path (default runs/plot.png)")
    p.add_argument("--ylim", type=float, nargs=2, default=None)
    p = sub.add_parser("list", help="a table of the recorded runs, best val first")
    p.add_argument("pattern", nargs="?", default="*")
    args = parser.parse_args(argv)

    if args.cmd in ("train", "sweep"):
        cfg = Config(**{f.name: getattr(args, f.name) for f in fields(Config)})
        if args.cmd == "train":
            rec = run(cfg)
            print(f"wrote {rec['path']}")
        else:
            grid = parse_grid(args.grid) if args.grid else [{}]
            if args.scheduler or args.workers:
                from wavenet.cluster_runs import run_all
                recs = run_all(grid_configs(cfg, grid, args.prefix), args.scheduler, workers=args.workers)
            else:
                recs = sweep(cfg, grid, prefix=args.prefix)
            print(table(recs))
            out = runs_dir() / f"{args.prefix}.png"
            plot(recs, out, title=f"sweep {args.prefix}")
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
        plot(recs, out)
        print(f"wrote {out}")
    elif args.cmd == "list":
        print(table(load_records(args.pattern)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
