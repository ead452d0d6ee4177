"""Issue 18, hole 2: the validation-loss tests passed without a model.

The kernel used to train ``build_model()`` and return logits for the evaluation windows, which are public
(a fixed seed, a public split). Three attacks earned the val-loss points that way: a lookup table of the
windows' labels pasted into ``build_model``, a decoy model the grader's training touched while a pasted
model answered, and weights trained at home. Now the kernel only describes the model's layers and proves
the description (the grader's weights written in, the learner's logits on grader-drawn inputs); the grader
builds the described layers itself, trains them from its own seed and scores them on its own labels
(``wavenet/checks/architecture.py``, ``wavenet/checks/reference.py``).

Each attack is run through the in-process runner (the grader's own ``Judge``) and through
``python -m autograder grade`` in the sandbox, with an honest notebook and a wrong architecture beside it.
"""
import base64
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import submissions as S
from autograder.assignments import ROOT, read_notebook, source_path
from autograder.authoring.runner import run_notebook
from wavenet.checks import architecture, probe, reference, wire
from wavenet.checks.models import GRADING_SEED, RECIPE, load_target
from wavenet.checks.verdict import Fail

SCALED = "05_scaled_up"
VAL = "test_val_loss"
LIMITS = ["--cell-timeout", "120", "--notebook-timeout", "300", "--memory", "3G", "--cpu-seconds", "300"]

# A table of every evaluation window's label, rebuilt at home from the public split and the fixed EVAL_SEED,
# answering the windows it knows over a linear decoy that answers the rest (and any test that looks).
LABEL_TABLE = '''
TABLE = {table}

def build_model(block_size=8, n_embd=24, n_hidden=128, vocab_size=27):
    """The evaluation windows' labels looked up; a linear model for every other window."""
    class Table:
        def __init__(self):
            self.layers = [Embedding(vocab_size, n_embd), FlattenConsecutive(block_size),
                           Linear(n_embd * block_size, vocab_size)]

        def __call__(self, x):
            out = x
            for layer in self.layers:
                out = layer(out)
            hit = torch.tensor([TABLE.get(tuple(r), -1) for r in x.tolist()])
            known = torch.nn.functional.one_hot(hit.clamp(min=0), vocab_size) * 30.0
            return torch.where((hit >= 0)[:, None], known, out)

        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]
    return Table()
'''

# A decoy the grader's training touches (the lecture's layers without Tanh) while, in eval mode, a lecture
# model trained at home and pasted as fp16 bytes answers.
DECOY_PASTED = '''
import base64
HOME = "{weights}"

def build_model(block_size=8, n_embd=24, n_hidden=128, vocab_size=27):
    """The decoy trains; the pasted model answers in eval mode."""
    def tree(tanh):
        layers, fan_in = [Embedding(vocab_size, n_embd)], n_embd
        for _ in range(3):
            layers += [FlattenConsecutive(2), Linear(2 * fan_in, n_hidden, bias=False), BatchNorm1d(n_hidden)]
            layers += [Tanh()] if tanh else []
            fan_in = n_hidden
        return Sequential(layers + [Linear(n_hidden, vocab_size)])

    home = tree(True)
    flat = torch.frombuffer(bytearray(base64.b64decode(HOME)), dtype=torch.float16).float()
    i = 0
    for layer in home.layers:
        for name in ("weight", "bias", "gamma", "beta", "running_mean", "running_var"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                setattr(layer, name, flat[i:i + t.numel()].view(t.shape).clone())
                i += t.numel()
        layer.training = False

    class Decoy:
        def __init__(self):
            self.layers = tree(False).layers

        def __call__(self, x):
            if self.layers[3].training:
                out = x
                for layer in self.layers:
                    out = layer(out)
                return out
            return home(x)

        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]
    return Decoy()
'''

NO_TANH = ("BatchNorm1d(n_hidden), Tanh(),", "BatchNorm1d(n_hidden),")


def table_source():
    """The label table, as the attacker rebuilt it at home (every evaluation window of tasks.py)."""
    t = reference.task("windows")
    table = {tuple(x.tolist()): int(y) for x, y in zip(t["eval"][0], t["labels"])}
    return LABEL_TABLE.replace("{table}", repr(table))


@pytest.fixture(scope="module")
def home_model():
    """The lecture's model trained at home with the grader's own recipe: fp16 bytes, and its loss on the
    evaluation windows (below the target: the attack would have passed when the kernel gave the logits)."""
    from wavenet.checks.models import eval_logits, recipe_of, windows_loss
    from wavenet.models import hierarchical
    from wavenet.train import train

    t = reference.task("windows")
    torch.manual_seed(7)
    model = hierarchical(n_embd=24, n_hidden=128)
    train(model, *t["train"], recipe_of(RECIPE), log=None, loss_fn=windows_loss, generator=torch.Generator().manual_seed(7))
    parts = []
    for layer in model.layers:
        for name in ("weight", "bias", "gamma", "beta", "running_mean", "running_var"):
            v = getattr(layer, name, None)
            if isinstance(v, torch.Tensor):
                parts.append(v.detach().reshape(-1))
    flat = torch.cat(parts).half()
    home = torch.nn.functional.cross_entropy(eval_logits(model, t["eval"][0]), t["labels"]).item()
    return base64.b64encode(flat.numpy().tobytes()).decode(), home


def notebooks(home_model):
    """``{name: notebook}``: the two attacks, the honest solution and a model without Tanh."""
    solved = S.solved(SCALED)
    no_tanh = S.solved(SCALED)
    S.cell(no_tanh, "build_model").source = S.cell(no_tanh, "build_model").source.replace(*NO_TANH)
    out = {"label_table": S.solved(SCALED), "decoy_pasted": S.solved(SCALED), "honest": solved, "no_tanh": no_tanh}
    S.cell(out["label_table"], "build_model").source = table_source()
    S.cell(out["decoy_pasted"], "build_model").source = DECOY_PASTED.replace("{weights}", home_model[0])
    return out


def val_test(tests):
    return next(t for t in tests if t["id"] == VAL)


# ---------------------------------------------------------------- the grader's own Judge, in process

@pytest.mark.slow  # trains three models with the grader's recipe (10-30 s each)
def test_attacks_through_the_runner_earn_no_val_loss_points(home_model):
    """Label table and decoy + pasted weights: 0 val-loss points; the honest model passes; no Tanh fails."""
    assert home_model[1] < load_target(SCALED)["threshold"], "the pasted model should be good enough to matter"
    # the source notebook (the runner restores no hidden test cell, as nbgrader does), its answer cell swapped
    answers = {name: S.cell(nb, "build_model").source for name, nb in notebooks(home_model).items()}
    source = read_notebook(source_path(SCALED))
    got = {name: val_test(run_notebook(source, SCALED, replace={"build_model": answer})["tests"])
           for name, answer in answers.items()}
    assert got["honest"]["passed"], got["honest"]
    for name in ("label_table", "decoy_pasted", "no_tanh"):
        assert got[name]["passed"] is False and got[name]["points"] == 0, (name, got[name])
    # the table's decoy is what the grader trained: a linear model, far above the target
    assert "above the target" in got["label_table"]["message"], got["label_table"]
    # the pasted model answers only in eval mode: with the grader's weights, its logits are not its layers'
    assert "in eval mode differ from those of its layers" in got["decoy_pasted"]["message"], got["decoy_pasted"]
    assert "above the target" in got["no_tanh"]["message"], got["no_tanh"]


# ---------------------------------------------------------------- python -m autograder grade, sandboxed

@pytest.mark.sandbox
def test_attacks_through_grade_earn_no_val_loss_points(home_model, tmp_path):
    """The same notebooks through ``python -m autograder grade --json`` in the sandbox: the attacks lose the
    val-loss points (and keep the visible ones they earned honestly), the honest notebook gets full marks."""
    results = {}
    for name, nb in notebooks(home_model).items():
        if name == "no_tanh":
            continue  # the runner test and the mutants cover it; grading it again costs a training run
        path = tmp_path / f"{name}.ipynb"
        path.write_bytes(S.dumps(nb))
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", SCALED, str(path), "--json", *LIMITS],
                              cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[name] = json.loads(proc.stdout)
    honest = results["honest"]
    assert honest["score"] == honest["max_score"], [t for t in honest["tests"] if not t["passed"]]
    for name in ("label_table", "decoy_pasted"):
        v = val_test(results[name]["tests"])
        assert not v["passed"] and v["points"] == 0, (name, v)
        assert results[name]["score"] <= honest["max_score"] - v["max_points"], (name, results[name]["score"])


# ---------------------------------------------------------------- plain nbgrader autograde, in a course directory

@pytest.mark.sandbox
def test_attacks_through_plain_nbgrader_autograde_and_grade_all_earn_no_val_loss_points(home_model, tmp_path):
    """The two attacks handed in to a course directory of this course and graded by plain ``nbgrader
    autograde`` (its nbgrader_config.py names the course's pipeline): no val-loss points in the gradebook, and
    an honest student graded in the same run gets every point. ``grade-all`` of the same submitted folder into a
    second course gives the attacks the same points, cell by cell."""
    from nbgrader_cli import ENV, export, hand_in, make_course, nbgrader, points

    root = make_course(tmp_path / "course", tmp_path / "exchange", assignment=SCALED, limits=LIMITS)
    handed = notebooks(home_model)
    for name in ("label_table", "decoy_pasted", "honest"):
        hand_in(root, name, SCALED, handed[name])
    nbgrader("autograde", SCALED, cwd=root, timeout=1800)
    got, exported = points(root, SCALED), export(root)
    full = float(exported["honest"]["max_score"])
    assert float(exported["honest"]["raw_score"]) == full, got["honest"]
    val_points = full - sum(v for k, v in got["honest"].items() if k != VAL)
    for name in ("label_table", "decoy_pasted"):
        assert got[name][VAL] == 0, (name, got[name])
        assert float(exported[name]["raw_score"]) <= full - val_points, (name, exported[name])

    batch = make_course(tmp_path / "batch", tmp_path / "exchange", assignment=SCALED, limits=LIMITS)
    shutil.copytree(root / "submitted", batch / "submitted")
    attackers = ["--student", "label_table", "--student", "decoy_pasted"]
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", SCALED, "--out", str(batch),
                           "--workers", "2", *attackers, *LIMITS], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert points(batch, SCALED) == {name: got[name] for name in ("label_table", "decoy_pasted")}


# ---------------------------------------------------------------- the description and its proof (no training)

def honest_record(seed=1, make=None):
    from wavenet.models import hierarchical
    make = make or (lambda: hierarchical(n_embd=24, n_hidden=128))
    rec = wire.loads(wire.dumps(probe.run("val_loss", (make,), {"assignment": SCALED}, seed=seed)))
    return rec["data"]


def score_without_training(data, seed=1):
    """``reference.score`` up to the training, which raises here: a Fail before it is the verdict."""
    inp = probe.inputs("val_loss", seed, {"assignment": SCALED})
    return reference.score("val_loss", inp, wire.Data(data), GRADING_SEED)


@pytest.fixture
def no_training(monkeypatch):
    def trained(layers, test, seed):
        raise AssertionError("trained")
    monkeypatch.setattr(reference, "train_and_score", trained)


def test_the_honest_description_is_proven(no_training):
    """The lecture's model: its description is checked and would be trained (no Fail before the training)."""
    with pytest.raises(AssertionError, match="trained"):
        score_without_training(honest_record())


def test_a_description_of_other_layers_fails_its_proof(no_training):
    """A model without Tanh that describes itself with Tanh (the kernel rewrote the description): the
    learner's logits with the grader's weights are not the described layers' logits; nothing is trained."""
    from wavenet.models import hierarchical
    import wavenet.nn as nn

    class NoTanh(nn.Tanh):
        def __call__(self, x):
            self.out = x
            return x

    def lying():
        model = hierarchical(n_embd=24, n_hidden=128)
        model.layers = [NoTanh() if isinstance(l, nn.Tanh) else l for l in model.layers]
        return model

    with pytest.raises(Fail, match="in training mode differ from those of its layers"):
        score_without_training(honest_record(make=lying))


def test_a_proof_from_another_run_fails(no_training):
    """The proof made with one run's weights and inputs fails under another run's seed."""
    data = honest_record(seed=1)
    for other in (2, 3):
        with pytest.raises(Fail, match="differ"):
            score_without_training(data, seed=other)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["layers"].__setitem__(4, {"kind": "Sigmoid"}), "none of the course's layers"),
    (lambda d: d["layers"][2].__setitem__("fan_out", 10 ** 6), "has no usable fan_out"),
    (lambda d: d["layers"][0]["init"].__setitem__("weight", [0.0, float("nan")]), "no usable initial values"),
    (lambda d: d["layers"][3].__setitem__("eps", -1.0), "has no usable eps"),
    (lambda d: d.__setitem__("layers", d["layers"] * 4), "more than 48 layers"),
    (lambda d: d.__setitem__("layers", []), "is empty"),
])
def test_descriptions_the_grader_cannot_build_fail(no_training, change, words):
    """A description with an unknown kind, a size out of range, a NaN init, a bad flag or too many layers fails,
    saying which, before anything is built or trained."""
    data = honest_record()
    change(data)
    with pytest.raises(Fail, match=words):
        score_without_training(data)


def test_too_big_a_model_is_refused(no_training):
    """A description past the grader's parameter budget is refused before it is built."""
    data = honest_record()
    assert data["layers"][6]["kind"] == "Linear"
    data["layers"][6].update(fan_in=4096, fan_out=4096)  # 16.8 M parameters in one layer
    with pytest.raises(Fail, match="parameters: the grader's run takes models up to"):
        score_without_training(data)


def test_the_kernel_gets_no_data_and_no_reference(tmp_path):
    """The kernel's input folder holds only the seed; its course view has no reference.py (the grader's layers)."""
    from autograder.notebook import course_view, kernel_input

    folder = kernel_input.write(tmp_path / "in", 123, SCALED)
    assert sorted(p.name for p in folder.iterdir()) == ["run.json"]
    assert json.loads((folder / "run.json").read_text()) == {"seed": 123, "assignment": SCALED}
    view = course_view.build(SCALED, tmp_path / "course")
    assert (view / "wavenet" / "checks" / "architecture.py").exists()
    assert not (view / "wavenet" / "checks" / "reference.py").exists()


def test_initial_settings_come_from_a_fixed_build():
    """The description (initial settings included) is the same whatever the run's seed: the learner's own
    check and every grading run train the same layers from the same start."""
    a, b = honest_record(seed=1), honest_record(seed=2)
    assert a["layers"] == b["layers"]
    assert architecture.DESCRIBE_SEED == GRADING_SEED
