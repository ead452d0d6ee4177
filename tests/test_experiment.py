"""The experiment harness: models from flags, run records, plots and sweeps."""
import json
import math

import pytest
import torch

from wavenet.data import read_words
from wavenet import experiment
from wavenet.config import recipe
from wavenet.experiment import Config, Data, build_model, load_record, main, parse_grid, run, sweep
from wavenet.models import hierarchical, mlp
from wavenet.train import train

SMALL = dict(n_embd=8, n_hidden=16, steps=6, batch_size=16, eval_every=3, threads=1, device="cpu")


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Every record of a test goes to a temporary runs folder."""
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    monkeypatch.setattr(experiment.config, "FAST", False)
    return tmp_path


@pytest.fixture(scope="module")
def few_words():
    return read_words()[:3000]


def test_default_flags_build_the_lectures_models():
    """Seed 42 + build_model draws the same weights as wavenet.models (no dropout, default depth)."""
    for cfg, ref in [(Config(), lambda: hierarchical(n_embd=24, n_hidden=128)),
                     (Config(model="mlp", block_size=3, n_embd=10, n_hidden=200), lambda: mlp(3))]:
        torch.manual_seed(42)
        ours = build_model(cfg)
        torch.manual_seed(42)
        theirs = ref()
        assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b), "builder drew its random numbers in a different order"


def test_depth_and_dropout_flags_change_the_model():
    """depth adds hidden layers to the MLP; block 16 gives the tree and conv 4 levels; dropout is a layer."""
    assert len(build_model(Config(model="mlp", depth=3)).parameters()) == 1 + 3 * 3 + 2
    tree16 = build_model(Config(block_size=16))
    assert [type(l).__name__ for l in tree16.layers].count("FlattenConsecutive") == 4
    assert len(build_model(Config(model="conv", block_size=16)).dilations) == 4
    with pytest.raises(ValueError, match="2\\*\\*depth"):
        build_model(Config(block_size=8, depth=2))
    model = build_model(Config(dropout=0.5))
    names = [type(l).__name__ for l in model.layers]
    assert names.count("Dropout") == names.count("Tanh") == 3


def test_schedules(runs):
    """step: lr/10 for the last quarter (lecture); cosine: warmup ramp, then down to 0."""
    step = Config(lr=0.1, steps=200_000).recipe()
    assert step == recipe(fast=False, log_every=10_000)  # the lecture's recipe, evaluated 20 times
    assert step.lr_at(149_999) == 0.1 and math.isclose(step.lr_at(150_000), 0.01)
    cos = Config(lr=1.0, steps=100, schedule="cosine", warmup=10).recipe()
    assert cos.lr_at(0) == pytest.approx(0.1) and cos.lr_at(9) == pytest.approx(1.0)
    assert cos.lr_at(55) == pytest.approx(0.5) and cos.lr_at(99) < 0.001


def test_sgd_step_run_takes_the_book_loops_steps(runs):
    """With sgd + step decay the harness retraces wavenet.train.train (same draws, same updates)."""
    cfg = Config(steps=200, eval_every=100, threads=1, device="cpu")
    rec = run(cfg, log=None, save=False)
    torch.manual_seed(42)
    ref = hierarchical(n_embd=24, n_hidden=128)
    data = Data(cfg)
    train(ref, *data.splits["train"], recipe(fast=False, steps=200, decay_at=150), log=None)
    for a, b in zip(rec["model"].parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["mlp", "hierarchical", "conv"])
def test_tiny_run_writes_a_complete_record(runs, few_words, model):
    """config, params, curve and final losses land in runs/<name>.json."""
    cfg = Config(model=model, optimizer="adamw", lr=3e-3, schedule="cosine", name=f"tiny-{model}", **SMALL)
    rec = run(cfg, log=None, data=Data(cfg, few_words))
    path = runs / f"tiny-{model}.json"
    assert path.exists()
    saved = json.loads(path.read_text())
    assert saved["config"]["model"] == model and saved["params"] == rec["params"] > 0
    assert saved["history"]["step"] == [3, 6] and len(saved["history"]["val"]) == 2
    assert set(saved["final"]) == {"train", "val"} and 2.0 < saved["final"]["val"] < 4.0
    assert saved["device"] == "cpu" and saved["wall_s"] > 0
    assert load_record(f"tiny-{model}")["final"] == saved["final"]


def test_test_split_only_when_asked(runs, few_words):
    """--test adds the test loss; it is absent otherwise (score the test split once, at the end)."""
    cfg = Config(test=True, name="with-test", **SMALL)
    rec = run(cfg, log=None, data=Data(cfg, few_words))
    assert "test" in rec["final"] and 2.0 < rec["final"]["test"] < 4.0


def test_sweep_runs_every_grid_point_and_plot_writes_a_png(runs, few_words):
    """A 2x2 grid gives four records, sorted by val; plot draws them into a PNG."""
    grid = parse_grid(["lr=1e-3,1e-2", "n_hidden=8,16"])
    assert len(grid) == 4 and grid[0] == {"lr": 1e-3, "n_hidden": 8}
    base = Config(optimizer="adamw", schedule="cosine", **{k: v for k, v in SMALL.items() if k != "n_hidden"})
    recs = sweep(base, grid, log=None, prefix="t")
    assert len(recs) == 4 and len(list(runs.glob("t-*.json"))) == 4
    assert [r["final"]["val"] for r in recs] == sorted(r["final"]["val"] for r in recs)
    main(["plot", "t-*", "-o", str(runs / "curves.png")])
    assert (runs / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_on_a_dask_cluster_writes_the_same_records(runs, monkeypatch):
    """`sweep --workers 1` trains the grid on a (local) Dask cluster and writes the records a sweep here
    writes: same names, parameters, curves and final losses."""
    monkeypatch.delenv("COURSE_FAST", raising=False)  # the workers read it from their environment
    flags = ["--optimizer", "adamw", "--schedule", "cosine", "--n-embd", "8", "--steps", "6", "--batch-size", "16",
             "--eval-every", "3", "--threads", "1", "--device", "cpu", "--grid", "n_hidden=8,16", "--prefix", "d"]
    main(["sweep", *flags])
    here = {p.name: json.loads(p.read_text()) for p in runs.glob("d-*.json")}
    monkeypatch.setenv("COURSE_RUNS", str(runs / "dask"))
    main(["sweep", *flags, "--workers", "1"])
    there = {p.name: json.loads(p.read_text()) for p in (runs / "dask").glob("d-*.json")}
    assert sorted(here) == sorted(there) == ["d-n_hidden16.json", "d-n_hidden8.json"]
    for name, rec in here.items():
        other = there[name]
        assert (rec["config"], rec["params"], rec["final"]) == (other["config"], other["params"], other["final"])
        assert rec["history"]["val"] == other["history"]["val"] and rec["history"]["train"] == other["history"]["train"]


def test_command_line_train_and_list(runs, capsys):
    """`train` with flags writes a record named after the flags; `list` shows it."""
    main(["train", "--model", "mlp", "--block-size", "3", "--steps", "4", "--n-hidden", "16",
          "--threads", "1", "--device", "cpu", "--eval-every", "2"])
    (path,) = runs.glob("*.json")
    assert path.stem.startswith("mlp-") and "block_size3" in path.stem
    main(["list"])
    assert path.stem in capsys.readouterr().out


def test_fast_mode_shortens_runs_and_keeps_them_apart(runs, monkeypatch, few_words):
    """COURSE_FAST cuts steps 100x and writes to runs/fast/, never over a full run's record."""
    monkeypatch.setattr(experiment.config, "FAST", True)
    cfg = Config(name="fastrun", **{**SMALL, "steps": 600, "eval_every": 0})
    rec = run(cfg, log=None, data=Data(cfg, few_words))
    assert rec["config"]["steps"] == 6 and rec["fast"] is True
    assert (runs / "fast" / "fastrun.json").exists() and not (runs / "fastrun.json").exists()
