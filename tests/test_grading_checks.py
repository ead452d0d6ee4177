"""The grader's checks themselves: their oracle, and an independent correct implementation.

The course library (``wavenet/``) was written separately from the solution
notebooks, so every check that applies must pass on it; and the oracle's
assumptions about torch (which variance goes where) are pinned here, so a
change in torch shows up as a failing test rather than as wrong grades.
"""
import importlib

import pytest
import torch

import autograder.checks as checks
from wavenet import models, nn
from wavenet.train import set_training


def test_torch_batchnorm_conventions():
    """torch.nn.BatchNorm1d normalises with the biased variance but keeps the unbiased one as running_var;
    the lecture uses the unbiased one for both, which is why the output oracle is built from torch ops."""
    x = torch.randn(32, 5) * 3 + 1
    bn = torch.nn.BatchNorm1d(5, momentum=1.0)  # momentum 1: running_var is the last batch's variance
    out = bn(x)
    biased = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + bn.eps)
    assert torch.allclose(out, biased, atol=1e-5), "torch no longer normalises with the biased variance"
    assert torch.allclose(bn.running_var, x.var(0), atol=1e-5), "torch's running_var is no longer unbiased"


@pytest.mark.parametrize("shape", [(32, 68), (32, 4, 68)])
def test_output_oracle_is_the_lectures_definition(shape):
    """The training-mode oracle is gamma * (x - mean) / sqrt(var + eps) + beta with the unbiased variance
    over every dim but the last, and agrees with the course library's BatchNorm1d."""
    x = torch.randn(shape) * 2 + 0.5
    gamma, beta = torch.rand(68) + 0.5, torch.randn(68)
    dims = tuple(range(x.ndim - 1))
    want = gamma * (x - x.mean(dims)) / torch.sqrt(x.var(dims) + 1e-5) + beta
    got = checks._bn_train_ref(x, gamma, beta, 1e-5)
    assert torch.allclose(got, want, atol=1e-5)
    lib = nn.BatchNorm1d(68)
    lib.gamma, lib.beta = gamma, beta
    assert torch.allclose(lib(x), got, atol=1e-5)


LIBRARY_CHECKS = [
    ("linear_shapes", (nn.Linear,)), ("linear_forward", (nn.Linear,)), ("linear_no_bias", (nn.Linear,)),
    ("linear_init", (nn.Linear,)), ("linear_parameters", (nn.Linear,)),
    ("batchnorm_shapes", (nn.BatchNorm1d,)), ("batchnorm_parameters", (nn.BatchNorm1d,)),
    ("batchnorm_train_output", (nn.BatchNorm1d, 2)), ("batchnorm_train_output", (nn.BatchNorm1d, 3)),
    ("batchnorm_running_stats", (nn.BatchNorm1d, 2)), ("batchnorm_running_stats", (nn.BatchNorm1d, 3)),
    ("batchnorm_stats_count", (nn.BatchNorm1d, 3)), ("batchnorm_2d_still_works", (nn.BatchNorm1d,)),
    ("batchnorm_no_graph", (nn.BatchNorm1d, 3)), ("batchnorm_eval", (nn.BatchNorm1d, 2)),
    ("batchnorm_eval", (nn.BatchNorm1d, 3)), ("tanh", (nn.Tanh,)), ("embedding", (nn.Embedding,)),
    ("flatten_shapes", (nn.Flatten,)), ("flatten_values", (nn.Flatten,)),
    ("sequential_forward", (nn.Sequential,)), ("sequential_parameters", (nn.Sequential,)),
    ("set_training", (set_training, nn.BatchNorm1d)),
    ("flatten_consecutive_pairs", (nn.FlattenConsecutive,)), ("flatten_consecutive_full", (nn.FlattenConsecutive,)),
    ("flatten_consecutive_batch_of_one", (nn.FlattenConsecutive,)),
    ("flatten_consecutive_values", (nn.FlattenConsecutive,)),
    ("flatten_consecutive_parameters", (nn.FlattenConsecutive,)), ("hierarchical_shapes", (nn.FlattenConsecutive,)),
    ("mlp_param_count", (models.mlp,)), ("model_logits", (models.mlp, 3)),
    ("model_eval_mode", (models.mlp, set_training, 3)),
    ("hierarchical_param_count", (models.hierarchical, 10, 68)), ("model_logits", (models.hierarchical, 8)),
]


@pytest.mark.parametrize("name, args", LIBRARY_CHECKS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LIBRARY_CHECKS)])
def test_course_library_passes(name, args):
    """The course library's independent implementation passes every check that applies to it."""
    getattr(checks, name)(*args)


def test_every_check_is_exercised():
    """Each check function is used by some assignment or by the library test above (no dead checks)."""
    from autograder.assignments import graded_cells, names, read_notebook, source_path
    used = {name for name, _ in LIBRARY_CHECKS} | {"val_loss_below_target"}
    sources = "\n".join(c.source for a in names() for c in graded_cells(read_notebook(source_path(a))))
    for name in dir(checks):
        fn = getattr(checks, name)
        if callable(fn) and hasattr(fn, "__wrapped__") and fn.__module__ == checks.__name__:
            assert name in used and f"checks.{name}(" in sources, f"check {name} is not used by any assignment"


def test_failure_renders_as_one_line():
    """A failing check shows IPython only its message: no traceback, so no test source in outputs."""
    with pytest.raises(checks.CheckFailed) as info:
        checks.tanh(nn.Linear)  # Linear() without arguments: not a Tanh
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and lines[0].startswith("CheckFailed: Tanh() raised TypeError")


def test_reload_undoes_a_patched_check():
    """Test cells reload the module, which puts back a check a notebook replaced."""
    try:
        checks.linear_init = lambda *a, **k: None
        fresh = importlib.reload(checks)
        assert fresh.linear_init is not None and fresh.linear_init.__wrapped__.__name__ == "linear_init"
        with pytest.raises(fresh.CheckFailed, match="not scaled"):
            class Unscaled(nn.Linear):
                def __init__(self, fan_in, fan_out, bias=True):
                    self.weight = torch.randn(fan_in, fan_out)
                    self.bias = torch.zeros(fan_out) if bias else None
            fresh.linear_init(Unscaled)
    finally:
        importlib.reload(checks)
