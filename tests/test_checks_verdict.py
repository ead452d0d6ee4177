"""Probes and judges: the course library passes every test, and forged data is worth nothing.

The property (wavenet/checks/verdict.py, autograder/notebook/judge.py): a test passes
only when the data its probe returned is what a correct implementation returns
on the inputs drawn from the run's seed. So, for every test:

- the course library's own implementation, probed and judged with one seed, passes;
- the same data judged with another seed fails (data copied from another run is
  worth nothing), except for the two tests whose right answer is a constant;
- no data, data of another test, malformed data and perturbed data fail;
- what a probe says it was doing uses only the words a message may carry.
"""
import functools

import pytest
import torch

from autograder.assignments import graded_cells, names, read_notebook, source_path
from autograder.notebook.judge import probe_call
from autograder.judges import HIDDEN, judges
from wavenet import models, nn
from wavenet.checks import CheckFailed, check, probe, verdict, wire
from wavenet.conv import CausalConv1d, WaveNet, conv_weight
from wavenet.train import set_training

JUDGES = judges()

# every test the probes know, run on the course library (an implementation written apart from the solutions)
LIBRARY = [
    ("linear_shapes", (nn.Linear,), {}), ("linear_forward", (nn.Linear,), {}), ("linear_no_bias", (nn.Linear,), {}),
    ("linear_init", (nn.Linear,), {}), ("linear_parameters", (nn.Linear,), {}),
    ("batchnorm_init", (nn.BatchNorm1d,), {}), ("batchnorm_shapes", (nn.BatchNorm1d,), {"ndims": (2, 3)}),
    ("batchnorm_stats_count", (nn.BatchNorm1d,), {"ndim": 3}),
    ("batchnorm_train_output", (nn.BatchNorm1d,), {"ndim": 2}), ("batchnorm_train_output", (nn.BatchNorm1d,), {"ndim": 3}),
    ("batchnorm_running_stats", (nn.BatchNorm1d,), {"ndim": 2}), ("batchnorm_running_stats", (nn.BatchNorm1d,), {"ndim": 3}),
    ("batchnorm_2d_still_works", (nn.BatchNorm1d,), {}), ("batchnorm_no_graph", (nn.BatchNorm1d,), {"ndim": 3}),
    ("batchnorm_eval", (nn.BatchNorm1d,), {"ndim": 2}), ("batchnorm_eval", (nn.BatchNorm1d,), {"ndim": 3}),
    ("batchnorm_parameters", (nn.BatchNorm1d,), {}), ("tanh", (nn.Tanh,), {}),
    ("embedding", (nn.Embedding,), {}), ("flatten_shapes", (nn.Flatten,), {}), ("flatten_values", (nn.Flatten,), {}),
    ("sequential_forward", (nn.Sequential,), {}), ("sequential_parameters", (nn.Sequential,), {}),
    ("set_training", (set_training, nn.BatchNorm1d), {}), ("mlp_param_count", (models.mlp,), {}),
    ("model_logits", (models.mlp,), {"block_size": 3}), ("model_eval_mode", (models.mlp, set_training), {"block_size": 3}),
    ("flatten_consecutive_pairs", (nn.FlattenConsecutive,), {}), ("flatten_consecutive_full", (nn.FlattenConsecutive,), {}),
    ("flatten_consecutive_batch_of_one", (nn.FlattenConsecutive,), {}),
    ("flatten_consecutive_values", (nn.FlattenConsecutive,), {}),
    ("flatten_consecutive_parameters", (nn.FlattenConsecutive,), {}), ("hierarchical_shapes", (nn.FlattenConsecutive,), {}),
    ("hierarchical_param_count", (models.hierarchical,), {"n_embd": 10, "n_hidden": 68, "other": (24, 128)}),
    ("model_logits", (models.hierarchical,), {"block_size": 8}),
    ("causal_conv_shapes", (CausalConv1d,), {}), ("causal_conv_values", (CausalConv1d,), {}),
    ("conv_weight_transfer", (conv_weight,), {}), ("wavenet_shapes", (WaveNet,), {}), ("wavenet_causal", (WaveNet,), {}),
    ("wavenet_matches_tree", (WaveNet,), {}),
]
# each hidden test's visible twin (the same probe and judge, its own draw) on the same objects and options
LIBRARY += [(visible, objects, options) for visible, hidden in probe.TWINS.items()
            for name, objects, options in list(LIBRARY) if name == hidden]
IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(LIBRARY)]
# tests whose right answer does not depend on the inputs (none left: each binds its data to the inputs too)
CONSTANT = {}
# tests of a relation between outputs (shifting every logit keeps a causal model causal): perturbing all
# values alike keeps the data right, so only their shapes and their relation are what they judge
RELATIONAL = {"wavenet_causal": "changing token t changes logits at t and never before"}
VAL_LOSS = {"val_loss", "conv_val_loss"}  # the grader trains the described layers itself (tests/test_attacks_valloss.py)


def judged(name, options, record_seed, judge_seed):
    rec = wire.loads(wire.dumps(probe.run(name, next(o for n, o, opt in LIBRARY if n == name and opt == options),
                                          options, seed=record_seed)))
    return verdict.verdict(name, options, judge_seed, rec, JUDGES)


@pytest.mark.parametrize("name, objects, options", LIBRARY, ids=IDS)
def test_course_library_passes(name, objects, options):
    """The library passes every test that applies to it, under two different seeds."""
    for seed in (1, 2):
        v = judged(name, options, seed, seed)
        assert v.passed, f"{name} failed on the course library: {v.message}"


@pytest.mark.parametrize("name, objects, options", LIBRARY, ids=IDS)
def test_data_from_another_run_is_worth_nothing(name, objects, options):
    """Correct data for one seed, judged with another seed, fails: it is right only for its own inputs."""
    if name in CONSTANT:
        pytest.skip(f"the right answer is a constant ({CONSTANT[name]})")
    rec = wire.loads(wire.dumps(probe.run(name, objects, options, seed=1)))
    for other in range(3, 13):
        v = verdict.verdict(name, options, other, rec, JUDGES)
        assert not v.passed, f"{name}: data made for seed 1 passed with seed {other}"


def _perturbed(value):
    if isinstance(value, torch.Tensor):
        return value + 0.5 if value.is_floating_point() else value + 1
    if isinstance(value, list):
        return [_perturbed(v) for v in value]
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 3 + 1
    return value


@pytest.mark.parametrize("name, objects, options", LIBRARY, ids=IDS)
def test_missing_foreign_malformed_or_perturbed_data_fails(name, objects, options):
    """No record, another test's record, an empty or junk record, and changed values all fail, with a reason."""
    rec = wire.loads(wire.dumps(probe.run(name, objects, options, seed=1)))
    cases = {"none": None, "foreign": {**rec, "test": "tanh" if name != "tanh" else "embedding"},
             "empty": {**rec, "data": {}}, "junk": {**rec, "data": {"outs": "passed", "n": True, "shapes": [[0]]}},
             "perturbed": {**rec, "data": _perturbed(rec["data"])}}
    for case, bad in cases.items():
        if case == "perturbed" and name in {*CONSTANT, *RELATIONAL, "set_training"}:
            continue  # flags: flipping them is checked by the forged-flags case below
        v = verdict.verdict(name, options, 1, bad, JUDGES)
        assert not v.passed and v.message, f"{name}: {case} data passed"


def test_forged_flags_fail():
    """Flipped training flags (the data set_training returns) fail."""
    rec = wire.loads(wire.dumps(probe.run("set_training", (set_training, nn.BatchNorm1d), {}, seed=1)))
    rec["data"]["flags"][3] = [not f for f in rec["data"]["flags"][3]]
    assert not verdict.verdict("set_training", {}, 1, rec, JUDGES).passed


class Raises:
    """A learner object that raises wherever it is touched: every probe stops at its first step."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("boom")


# the val-loss tests' probes only describe and prove the model (the grader trains it): cheap to run here
DESCRIBED = [("val_loss", (lambda: models.hierarchical(n_embd=24, n_hidden=128),), {"assignment": "05_scaled_up"}),
             ("conv_val_loss", (WaveNet,), {"assignment": "08_wavenet_conv"})]


def test_what_probes_say_uses_their_specs_words(monkeypatch):
    """Every step a probe names, on the library and on an object that raises, is made of the words its own spec
    declares (probe.Spec.words) and the common ones, so messages keep their context even in cells judged after
    hidden code reached the kernel."""
    seen, running = [], []
    call = probe.Learner.call

    def spy(self, what, fn, *args, **kwargs):
        seen.append((running[-1], what))
        return call(self, what, fn, *args, **kwargs)

    def tracked(name, run):
        @functools.wraps(run)  # the spec's arity is read from the probe's signature
        def wrapped(*args, **kwargs):
            running.append(name)
            try:
                return run(*args, **kwargs)
            finally:
                running.pop()
        return wrapped

    monkeypatch.setattr(probe.Learner, "call", spy)
    for name, spec in probe.PROBES.items():
        monkeypatch.setattr(spec, "run", tracked(name, spec.run))
    for name, objects, options in LIBRARY + DESCRIBED:
        probe.run(name, objects, options, seed=1)
        probe.run(name, tuple(Raises for _ in objects), options, seed=1)
    unsafe = sorted({(n, w) for n, w in seen if verdict.safe_words(w, verdict.words_of(n)) is None})
    assert not unsafe, f"add these words to the probe's words= (its spec) or reword it: {unsafe[:10]}"
    assert {n for n, _ in seen} == set(probe.PROBES), "a probe the library does not run"


def test_safe_messages_keep_kernel_text_out():
    """Kernel text that could carry hidden tests (a forged step, exception text, a line not in the learner's
    cells, an invented exception name) is dropped from messages judged in safe mode."""
    secret = 'check("linear_forward", Linear)'
    reason = {"kind": "raised", "what": secret, "type": "SecretError_linear_forward", "message": secret,
              "line": secret, "lineno": 1, "func": "Linear.__init__"}
    message, _ = verdict.stop_message(reason, safe=True, where=lambda *a: None)
    assert "linear_forward" not in message and secret not in message
    assert message == "your code raised an exception"
    message, _ = verdict.stop_message({"kind": "missing", "what": "x", "name": secret}, safe=True)
    assert "linear_forward" not in message


def test_every_test_cell_has_a_probe_and_the_right_judge():
    """Each test cell calls one known probe; visible tests are judged by the package (a learner sees them run),
    hidden ones only by the grader, and the package holds no hidden test's judge."""
    visible, hidden = set(), set()
    for a in names():
        for cell in graded_cells(read_notebook(source_path(a))):
            call = probe_call(cell.source)
            assert call and call[0] in probe.PROBES, f"{a}: {cell.source!r}"
            (hidden if "BEGIN HIDDEN TESTS" in cell.source else visible).add(call[0])
    assert not visible & hidden, f"tests both visible and hidden: {visible & hidden}"
    assert visible <= set(verdict.JUDGES), f"visible tests without a judge in the package: {visible - set(verdict.JUDGES)}"
    assert hidden <= set(HIDDEN), f"hidden tests without the grader's judge: {hidden - set(HIDDEN)}"
    assert not set(verdict.JUDGES) & set(HIDDEN)
    library = {n for n, _, _ in LIBRARY} | VAL_LOSS
    assert visible | hidden <= library, f"tests the library does not exercise: {(visible | hidden) - library}"


def test_learner_check_raises_one_line():
    """In a learner's notebook a failing test raises CheckFailed that IPython shows as one line."""
    class Tanh:
        def __call__(self, x):
            return x.clamp(-1, 1)

        def parameters(self):
            return []

    with pytest.raises(CheckFailed) as info:
        check("tanh", Tanh)
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and lines[0].startswith("CheckFailed: Tanh()(x) for x of shape")


def test_one_spec_per_test():
    """Every test is one spec (wavenet.checks.probe.Spec) that the package, the grader, calibration and these tests
    read: whether it is hidden matches its cell, the package judges exactly the visible ones, the grader's
    package registers the hidden ones' judges into the same specs, a twin shares its hidden test's judge, and
    a val-loss test's spec says what the grader trains (the data, the recipe, how it scores) and what it prints."""
    from wavenet.checks import VAL_LOSS_TESTS

    for a in names():
        for cell in graded_cells(read_notebook(source_path(a))):
            name = probe_call(cell.source)[0]
            spec = probe.PROBES[name]
            assert spec.hidden == ("BEGIN HIDDEN TESTS" in cell.source), (a, name)
            assert spec.judge is not None and JUDGES[name] is spec.judge, (a, name)
            assert (name in verdict.JUDGES) == (not spec.hidden), (a, name)
    assert probe.TWINS and all(not probe.PROBES[v].hidden and probe.PROBES[h].hidden
                                and probe.PROBES[v].judge is probe.PROBES[h].judge for v, h in probe.TWINS.items())
    assert set(VAL_LOSS_TESTS) == {"val_loss", "conv_val_loss"}
    for name, spec in VAL_LOSS_TESTS.items():
        assert probe.PROBES[name].hidden and spec["task"] in ("windows", "names") and spec["object"] and spec["recipe"]
        assert callable(spec["loss_fn"]) and callable(spec["score"]) and spec["run"] and spec["hint"]
    for name, (values, _) in probe.BINDS.items():
        assert values in verdict.JUDGES, (name, values)  # a bound values test is judged wherever the test is
