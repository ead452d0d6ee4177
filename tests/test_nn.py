"""The reference modules in wavenet/nn.py against torch, the oracle."""
import pytest
import torch
import torch.nn.functional as F

from wavenet.models import count_params, hierarchical, mlp
from wavenet.nn import BatchNorm1d, Embedding, Flatten, FlattenConsecutive, Linear, Sequential, Tanh


def test_linear_matches_torch_functional_linear():
    """x @ weight + bias equals F.linear with the transposed weight, over leading batch dims."""
    torch.manual_seed(0)
    layer = Linear(80, 200)
    layer.bias = torch.randn(200)
    x = torch.randn(4, 5, 80)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight.T, layer.bias))
    assert layer(x).shape == (4, 5, 200)


def test_linear_without_bias_has_one_parameter_and_lecture_init():
    """bias=False leaves only the weight, scaled by 1/sqrt(fan_in)."""
    torch.manual_seed(0)
    layer = Linear(400, 300, bias=False)
    assert layer.parameters() == [layer.weight] and layer.bias is None
    assert abs(layer.weight.std().item() - 400**-0.5) < 0.002


@pytest.mark.parametrize("shape", [(32, 6), (32, 4, 6)])
def test_batchnorm_training_matches_torch_functional(shape):
    """Training mode: output and running stats equal F.batch_norm over all dims but channels."""
    torch.manual_seed(0)
    C = shape[-1]
    bn = BatchNorm1d(C)
    bn.gamma, bn.beta = torch.rand(C) + 0.5, torch.randn(C)
    rm, rv = torch.zeros(C), torch.ones(C)
    for _ in range(3):
        x = torch.randn(shape) * 3 + 1
        flat = x.reshape(-1, C)  # (N*L, C): torch wants channels in dim 1
        n = flat.shape[0]
        # the lecture normalises with the unbiased variance; torch with the biased one
        want = (flat - flat.mean(0)) / torch.sqrt(flat.var(0) + bn.eps) * bn.gamma + bn.beta
        F.batch_norm(flat, rm, rv, training=True, momentum=0.1)
        torch.testing.assert_close(bn(x).reshape(-1, C), want)
    assert bn.running_mean.numel() == C
    torch.testing.assert_close(bn.running_mean.reshape(C), rm)
    # torch's running_var already uses the unbiased variance, like the lecture
    torch.testing.assert_close(bn.running_var.reshape(C), rv)
    assert not bn.running_mean.requires_grad


def test_batchnorm_eval_uses_running_stats_for_a_single_example():
    """Eval mode: one example gives finite output from the running statistics."""
    bn = BatchNorm1d(5)
    bn.running_mean, bn.running_var = torch.arange(5.0), torch.full((5,), 4.0)
    bn.training = False
    x = torch.randn(1, 5)
    torch.testing.assert_close(bn(x), (x - bn.running_mean) / (4.0 + bn.eps) ** 0.5)


def test_batchnorm_single_example_in_training_mode_is_nan():
    """The chapter-2 bug: the variance of one number is NaN."""
    with pytest.warns(UserWarning, match="degrees of freedom"):
        out = BatchNorm1d(5)(torch.randn(1, 5))
    assert torch.isnan(out).all()


def test_embedding_flatten_tanh_match_torch():
    """Embedding is F.embedding, Flatten is a row-major view, Tanh is torch.tanh."""
    torch.manual_seed(0)
    emb = Embedding(27, 10)
    ix = torch.randint(0, 27, (4, 8))
    torch.testing.assert_close(emb(ix), F.embedding(ix, emb.weight))
    torch.testing.assert_close(Flatten()(emb(ix)), torch.flatten(emb(ix), 1))
    x = torch.randn(3, 4)
    torch.testing.assert_close(Tanh()(x), torch.tanh(x))


def test_flatten_consecutive_pairs_neighbours_and_squeezes_only_dim_1():
    """Pairs (0,1), (2,3)... are concatenated; T == n leaves (B, C*n), even for B == 1."""
    x = torch.randn(4, 8, 10)
    out = FlattenConsecutive(2)(x)
    assert out.shape == (4, 4, 20)
    torch.testing.assert_close(out, torch.cat([x[:, ::2], x[:, 1::2]], dim=2))
    assert FlattenConsecutive(8)(x).shape == (4, 80)
    assert FlattenConsecutive(2)(torch.randn(1, 2, 10)).shape == (1, 20)


def test_sequential_chains_layers_and_collects_parameters():
    """Sequential calls layers in order and lists every layer's parameters."""
    layers = [Linear(3, 4), Tanh(), Linear(4, 2, bias=False)]
    model = Sequential(layers)
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x), layers[2](layers[1](layers[0](x))))
    assert len(model.parameters()) == 3


def test_parameter_counts_of_the_lecture_models():
    """12,097 / 22,097 / 22,397 / 76,579 parameters, as in the lecture."""
    assert count_params(mlp(3)) == 12097
    assert count_params(mlp(8)) == 22097
    assert count_params(hierarchical()) == 22397
    assert count_params(hierarchical(n_embd=24, n_hidden=128)) == 76579


def test_hierarchical_logits_shape_and_batchnorm_stat_count():
    """(B, 8) -> (B, 27); every BatchNorm keeps n_hidden statistics, not T*n_hidden."""
    model = hierarchical()
    assert model(torch.randint(0, 27, (4, 8))).shape == (4, 27)
    for layer in model.layers:
        if isinstance(layer, BatchNorm1d):
            assert layer.running_mean.numel() == 68
