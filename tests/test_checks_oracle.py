"""The judges' oracle: torch's BatchNorm conventions, pinned, and the lecture's definition they rest on."""
import pytest
import torch

from wavenet import nn
from wavenet.checks import oracle


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
    got = oracle.bn_train(x, gamma, beta, 1e-5)
    assert torch.allclose(got, want, atol=1e-5)
    lib = nn.BatchNorm1d(68)
    lib.gamma, lib.beta = gamma, beta
    assert torch.allclose(lib(x), got, atol=1e-5)


def test_running_statistics_oracle_matches_the_course_library():
    """torch's running statistics, fed (N, L, C) batches channels-first, equal the course library's over dims (0, 1)."""
    batches = [torch.randn(16, 4, 10) * 2 + k for k in range(3)]
    lib = nn.BatchNorm1d(10, momentum=0.3)
    for x in batches:
        lib(x)
    mean, var = oracle.bn_running(batches, 1e-5, 0.3, torch.zeros(10), torch.ones(10))[-1]
    assert torch.allclose(lib.running_mean.reshape(-1), mean, atol=1e-5)
    assert torch.allclose(lib.running_var.reshape(-1), var, atol=1e-5)


def test_parameter_counts_are_the_lectures():
    """The counts the judges compare with: 12,097 / 22,097 (MLP), 22,397 / 76,579 (tree), 76,579 (conv)."""
    assert oracle.mlp_count(3, 10, 200) == 12_097 and oracle.mlp_count(8, 10, 200) == 22_097
    assert oracle.hierarchical_count(8, 10, 68) == 22_397 and oracle.hierarchical_count(8, 24, 128) == 76_579
    assert oracle.conv_count(24, 128, 3) == 76_579
