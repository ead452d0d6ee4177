"""The convolutional WaveNet is the hierarchical model slid along whole names."""
import pytest
import torch

from wavenet.data import build_dataset, read_words, split_words
from wavenet.conv import (
    CausalConv1d, SeqBatchNorm1d, TorchWaveNet, WaveNet, conv_weight, evaluate_sequences, example_loop,
    from_hierarchical, name_sequences, position_loop, positions_logits, sequence_loss, train_sequences,
)
from wavenet.config import recipe
from wavenet.models import hierarchical
from wavenet.nn import BatchNorm1d
from wavenet.train import evaluate, set_training, train


@pytest.fixture(scope="module")
def val_words():
    return split_words(read_words())["val"]


@pytest.fixture(scope="module")
def tree(splits8):
    """The 76,579-parameter tree after 100 SGD steps: shared by the transfer tests."""
    return trained_tree(*splits8["train"], steps=100)


def trained_tree(X, Y, steps=200):
    """A tree with learned weights and non-trivial running statistics (not the init's 0 and 1)."""
    torch.manual_seed(42)
    tree = hierarchical(block_size=X.shape[1], n_embd=24, n_hidden=128)
    train(tree, X, Y, recipe(fast=False, steps=steps, decay_at=steps), log=None)
    return tree


def test_causal_conv_is_torch_conv1d_without_padding():
    """CausalConv1d is nn.Conv1d (same weight layout) on a channels-last input."""
    torch.manual_seed(0)
    for d in (1, 2, 4):
        ours = CausalConv1d(6, 5, kernel_size=2, dilation=d)
        ref = torch.nn.Conv1d(6, 5, kernel_size=2, dilation=d, bias=False)
        with torch.no_grad():
            ref.weight.copy_(ours.weight)
        x = torch.randn(3, 11, 6)                                 # (B, T, C)
        expected = ref(x.transpose(1, 2)).transpose(1, 2)         # (B, T - d, C_out)
        got = ours(x)
        assert got.shape == (3, 11 - d, 5), "a valid conv shortens T by dilation*(kernel-1)"
        torch.testing.assert_close(got, expected)


def test_conv_weight_puts_older_half_on_tap_0():
    """Rows :C of the Linear weight multiply the older node, rows C: the newer one."""
    torch.manual_seed(0)
    w = torch.randn(2 * 4, 3)                                     # Linear(2C, H), C=4
    older, newer = torch.randn(4), torch.randn(4)
    via_linear = torch.cat([older, newer]) @ w                    # what FlattenConsecutive + Linear compute
    conv = torch.nn.functional.conv1d(torch.stack([older, newer], 1)[None], conv_weight(w, 4))  # (1, H, 1)
    torch.testing.assert_close(conv[0, :, 0], via_linear)


def test_name_sequences_hold_the_dataset_examples_in_order(val_words):
    """The 8 characters before each real position, and its target, are build_dataset's rows."""
    words = val_words[:200]
    X, Y = name_sequences(words)
    Xd, Yd = build_dataset(words, 8)
    padded = torch.nn.functional.pad(X, (7, 0))                   # '.' context before the start
    contexts = padded.unfold(1, 8, 1)                             # (N, T, 8): the window ending at each t
    mask = Y >= 0
    assert torch.equal(contexts[mask], Xd), "position t must see the 8 tokens <= t, '.'-padded"
    assert torch.equal(Y[mask], Yd), "targets must be the name then '.', padding -1"


@pytest.mark.parametrize("T", [1, 5, 8, 16, 23])
def test_output_has_one_prediction_per_position(T):
    """(B, T) tokens -> (B, T, 27) logits, for lengths shorter and longer than the receptive field."""
    torch.manual_seed(0)
    net = WaveNet(n_embd=10, n_hidden=16)
    out = net(torch.randint(0, 27, (3, T)))
    assert out.shape == (3, T, 27)
    deep = WaveNet(n_embd=10, n_hidden=16, dilations=(1, 2, 4, 8))
    assert deep.receptive_field == 16 and deep(torch.randint(0, 27, (2, T))).shape == (2, T, 27)


def test_changing_a_later_character_never_changes_earlier_logits():
    """Causality: position t's logits depend only on tokens <= t (eval mode)."""
    torch.manual_seed(0)
    net = WaveNet(n_embd=10, n_hidden=16)
    set_training(net, False)
    x = torch.randint(0, 27, (4, 12))
    base = net(x)
    for t in range(12):
        x2 = x.clone()
        x2[:, t] = (x2[:, t] + 1 + torch.arange(4)) % 27
        out = net(x2)
        torch.testing.assert_close(out[:, :t], base[:, :t], msg=f"editing token {t} changed an earlier position")
        assert not torch.allclose(out[:, t], base[:, t]), f"position {t} must read token {t} itself"


def test_receptive_field_is_exactly_eight():
    """Token t-7 still matters to position t, token t-8 no longer does."""
    torch.manual_seed(0)
    net = WaveNet(n_embd=10, n_hidden=16)
    set_training(net, False)
    x = torch.randint(1, 27, (1, 12))
    base = net(x)
    x7, x8 = x.clone(), x.clone()
    x7[0, 11 - 7] = 0
    x8[0, 11 - 8] = 0
    assert not torch.allclose(net(x7)[0, 11], base[0, 11]), "dilations 1, 2, 4 must reach 7 tokens back"
    torch.testing.assert_close(net(x8)[0, 11], base[0, 11], msg="the receptive field leaks past 8 tokens")


def test_transferred_weights_give_the_trees_logits_at_every_position(tree, splits8, val_words):
    """Eval mode: the conv with the tree's weights equals the tree on every val example."""
    net = from_hierarchical(tree)
    set_training(net, False)
    X, Y = name_sequences(val_words)
    with torch.no_grad():
        conv_logits = positions_logits(net, X, Y)                 # (22655, 27)
        tree_logits = tree(splits8["val"][0])                     # (22655, 27)
    assert conv_logits.shape == tree_logits.shape
    torch.testing.assert_close(conv_logits, tree_logits, rtol=1e-4, atol=1e-4)
    assert abs(evaluate_sequences(net, X, Y) - evaluate(tree, *splits8["val"])) < 1e-5


def test_stock_torch_conv1d_stack_agrees_with_the_tree(tree, val_words):
    """torch.nn.Conv1d + nn.BatchNorm1d (eval) with the tree's weights: the same logits (torch as oracle)."""
    words = val_words[:500]
    X, Y = name_sequences(words)
    with torch.no_grad():
        stock = positions_logits(TorchWaveNet(tree), X, Y)
        torch.testing.assert_close(stock, tree(build_dataset(words, 8)[0]), rtol=1e-4, atol=1e-4)


def test_position_and_example_loops_score_every_example_once(tree, val_words):
    """The loops chapter 8 times give the tree's logits, in build_dataset order."""
    words = val_words[:60]
    X, Y = name_sequences(words)
    with torch.no_grad():
        ref = tree(build_dataset(words, 8)[0])
        torch.testing.assert_close(position_loop(tree, X, Y), ref)
        torch.testing.assert_close(example_loop(tree, X, Y), ref, rtol=1e-4, atol=1e-5)


def test_transfer_works_for_a_deeper_tree(val_words):
    """Block size 16 (dilations 1, 2, 4, 8) transfers just as well."""
    tree = trained_tree(*build_dataset(split_words(read_words())["train"][:3000], 16), steps=50)
    net = from_hierarchical(tree)
    set_training(net, False)
    words = val_words[:300]
    X, Y = name_sequences(words)
    with torch.no_grad():
        torch.testing.assert_close(positions_logits(net, X, Y), tree(build_dataset(words, 16)[0]),
                                   rtol=1e-4, atol=1e-4)


def test_batchnorm_mask_keeps_padding_out_of_the_statistics():
    """Training statistics come from the real positions only: equal to BatchNorm1d on those rows."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5)
    mask = torch.arange(6)[None, :] < torch.tensor([[6], [2], [4], [1]])  # (4, 6)
    ours, ref = SeqBatchNorm1d(5), BatchNorm1d(5)
    out = ours(x, mask)
    expected = ref(x[mask])                                       # (N_real, 5)
    torch.testing.assert_close(out[mask], expected)
    torch.testing.assert_close(ours.running_mean.reshape(-1), ref.running_mean.reshape(-1))
    torch.testing.assert_close(ours.running_var.reshape(-1), ref.running_var.reshape(-1))
    # without a mask it is the lecture's 3-D BatchNorm1d (statistics over dims 0 and 1)
    torch.testing.assert_close(SeqBatchNorm1d(5)(x), BatchNorm1d(5)(x))


def test_extra_padding_does_not_change_the_training_loss(val_words):
    """Padding columns are ignored by the loss and by BatchNorm: the loss is the same with more of them."""
    torch.manual_seed(0)
    net = WaveNet(n_embd=10, n_hidden=16)
    words = val_words[:16]
    X, Y = name_sequences(words)
    Xp, Yp = name_sequences(words, pad_to=X.shape[1] + 5)
    torch.testing.assert_close(sequence_loss(net, Xp, Yp), sequence_loss(net, X, Y))


def test_training_on_whole_names_lowers_the_val_loss(val_words):
    """A few SGD steps on whole names move the loss down from its ~3.3 start."""
    torch.manual_seed(42)
    net = WaveNet(n_embd=10, n_hidden=32)
    X, Y = name_sequences(val_words)
    before = evaluate_sequences(net, X, Y)
    losses = train_sequences(net, X, Y, recipe(fast=False, steps=60, batch_size=32, decay_at=60), log=None)
    assert losses.shape == (60,)
    assert not any(l.training for l in net.layers if hasattr(l, "training")), "left in training mode"
    assert evaluate_sequences(net, X, Y) < before - 0.3
