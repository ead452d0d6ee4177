"""The book's helpers: the performance log (wavenet/results.py) and to_device (wavenet/book.py)."""
import torch
import torch.nn.functional as F

from wavenet import results
from wavenet.book import to_device
from wavenet.models import hierarchical


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
