"""The book's helpers: run records and the performance log (wavenet/results.py), to_device and the
trees of chapter 8's figure (wavenet/book.py), the harness's table (wavenet/experiment.py)."""
import torch
import torch.nn.functional as F

from wavenet import results
from wavenet.book import tree_of
from wavenet.train import to_device
from wavenet.experiment import table
from wavenet.models import hierarchical

RUN = {"name": "r1", "params": 1000, "config": {"n_embd": 24, "lr": 0.003, "steps": 16000},
       "final": {"train": 1.9, "val": 2.0}, "wall_s": 12.0, "device": "cpu", "threads": 1}


def test_record_then_load_round_trips_per_build_mode(tmp_path, monkeypatch):
    """A recorded run comes back from load() of the same build mode only."""
    monkeypatch.setattr(results, "ROOT", tmp_path)
    results.record("mlp3", fast=True, params=12097, train=2.3, val=2.4)
    assert results.load(fast=True)["mlp3"] == {"params": 12097, "train": 2.3, "val": 2.4}
    assert results.load(fast=False) == {}, "fast and full results must live in separate folders"
    assert (tmp_path / "_build" / "results" / "fast" / "mlp3.json").exists()


def test_table_says_which_results_are_missing_instead_of_failing(tmp_path, monkeypatch):
    """Chapter 7's table names a run that was never recorded and still lists the lecture's numbers."""
    monkeypatch.setattr(results, "ROOT", tmp_path)
    table = results.table(measured={}, fast=False)
    rows = table.splitlines()[2:]
    assert len(rows) == len(results.LECTURE), "one row per step of the lecture's log"
    assert all("not run yet" in row for row in rows), "a missing result must be reported, not hidden"
    assert "2.105" in rows[0] and "1.993" in rows[-1], "the lecture's numbers belong in every row"


def test_table_judges_the_val_gap_against_the_tolerance():
    """A val loss within TOLERANCE of the lecture's passes; one further off is flagged."""
    lec = results.LECTURE
    measured = {
        "mlp3": dict(params=lec["mlp3"]["params"], train=2.06, val=lec["mlp3"]["val"] + 0.001),
        "flat8": dict(params=lec["flat8"]["params"], train=1.9, val=lec["flat8"]["val"] + 0.05),
    }
    rows = results.table(measured=measured, fast=False).splitlines()[2:]
    assert "within" in rows[0]
    assert "more than" in rows[1], "a gap above the tolerance must be flagged"


def test_to_device_keeps_parameters_trainable_leaves():
    """After to_device, every parameter is a leaf that gets a .grad and the model still runs."""
    torch.manual_seed(42)
    model = to_device(hierarchical(), torch.device("cpu"))
    params = model.parameters()
    assert all(p.is_leaf and p.requires_grad for p in params)
    x = torch.randint(0, 27, (4, 8))
    F.cross_entropy(model(x), torch.zeros(4, dtype=torch.long)).backward()
    assert all(p.grad is not None for p in params), "a parameter was detached from the graph"


def test_save_then_load_any_folder_with_a_pattern(tmp_path):
    """One way to keep a run, whoever made it: save() writes <name>.json, load() reads a folder by glob."""
    results.save("sweep-a", RUN, tmp_path)
    results.save("other", {"x": 1}, tmp_path / "elsewhere")
    assert results.load(folder=tmp_path, pattern="sweep-*") == {"sweep-a": RUN}
    assert not list(tmp_path.glob("*.tmp")), "the atomic write leaves no temporary file behind"


def test_extended_log_has_the_lecture_chapter_8_and_the_runs():
    """Chapter 9's log: the lecture's five rows, chapter 8's recorded runs (a missing one left out), the runs."""
    measured = {"ch8_tree": {"params": 76579, "train": 2.0, "val": 2.1, "seconds": 30.0}}
    rows = results.extended_log([RUN], measured=measured).splitlines()[2:]
    assert len(rows) == len(results.LECTURE) + 1 + 1
    assert "1.993" in rows[4] and "tree, short SGD recipe" in rows[5] and rows[6].startswith("| 9 | r1 |")


def test_harness_table_shows_flags_and_leaves_out_what_no_run_has():
    """Config flags become columns; no test column without a test loss; no times when asked."""
    head, _, row = table([RUN], flags=("n_embd", "lr", "steps"), times=False).splitlines()
    assert head == "| run | n embd | lr | steps | params | train | val |"
    assert row == "| r1 | 24 | 0.003 | 16,000 | 1,000 | 1.9000 | 2.0000 |"


def test_tree_of_an_output_position_shares_nodes_with_its_neighbours():
    """Chapter 8's figure: 4 + 2 + 1 fused nodes per tree; positions 7 and 5 share the level-1 nodes 1, 3, 5."""
    (a_nodes, a_edges), (b_nodes, _) = tree_of(7, (1, 2, 4)), tree_of(5, (1, 2, 4))
    fused = sorted(n for n in a_nodes if n[0] > 0)
    assert fused == [(1, 1), (1, 3), (1, 5), (1, 7), (2, 3), (2, 7), (3, 7)] and len(a_edges) == 14
    assert sorted(p for level, p in a_nodes & b_nodes if level == 1) == [1, 3, 5]
