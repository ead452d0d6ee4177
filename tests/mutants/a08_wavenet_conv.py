"""Wrong and alternative convolutions, weight transfers and WaveNets for 08_wavenet_conv."""
from mutants import Mutant

A = "08_wavenet_conv"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


TAPS = "        taps = torch.cat([x[:, j * d:j * d + T] for j in range(k)], -1)"
PAD = "        x = F.pad(idx, (self.pad, 0), value=0)"
LOOP = "        for layer in self.layers:\n"
LEVEL = "            self.layers += [CausalConv1d(fan_in, n_hidden, 2, dilation=d), BatchNorm1d(n_hidden), Tanh()]"

MUTANTS = [
    m("conv_taps_swapped", "the newer input multiplies weight[:, :, 0]",
      {"test_conv_values": "the two taps are swapped",
       "test_wavenet_tree": "differ from the tree's"},
      patches={"CausalConv1d": [(TAPS, TAPS.replace("for j in range(k)", "for j in reversed(range(k))"))]}),
    m("conv_ignores_dilation", "taps always adjacent, whatever the dilation",
      {"test_conv_shapes": "the taps are 2 apart",
       "test_conv_values": "the taps are 2 apart",
       "test_wavenet_shapes": "input have shape (",
       "test_wavenet_causal": "input have shape (",
       "test_wavenet_tree": "input have shape (",
       "test_val_loss": "differ from those of its layers"},
      patches={"CausalConv1d": [("        d, k = self.dilation, self.kernel_size", "        d, k = 1, self.kernel_size")]}),
    m("conv_with_bias", "a bias in every convolution, in parameters() too",
      {"test_conv_shapes": "return [weight] (no bias",
       "test_wavenet_shapes": "no conv bias"},
      patches={"CausalConv1d": [
          ("        self.weight = torch.randn((out_channels, in_channels, kernel_size)) / (in_channels * kernel_size)**0.5",
           "        self.weight = torch.randn((out_channels, in_channels, kernel_size)) / (in_channels * kernel_size)**0.5\n"
           "        self.bias = torch.zeros(out_channels)"),
          ("        self.out = taps @ w ", "        self.out = taps @ w + self.bias "),
          ("        return [self.weight]", "        return [self.weight, self.bias]")]}),
    m("transfer_halves_swapped", "conv_weight puts the newer half on tap 0",
      {"test_conv_weight": "swaps the halves"},
      patches={"conv_weight": [("    w = linear_weight.view(2, in_channels, -1)  # (tap, C, H)",
                                "    w = linear_weight.view(2, in_channels, -1).flip(0)")]}),
    m("transfer_plain_reshape", "conv_weight reshapes without permuting",
      {"test_conv_weight": "is not the same map as the Linear"},
      patches={"conv_weight": [("    return w.permute(2, 1, 0).contiguous()      # (H, C, tap)",
                                "    return linear_weight.reshape(-1, in_channels, 2)")]}),
    m("pad_embeddings_with_zeros", "pads the embedded sequence with zero vectors, not '.' tokens",
      {"test_wavenet_tree": "at the first positions only",
       "test_val_loss": "differ from those of its layers"},   # the grader trains what its layers compute
      patches={"WaveNet": [(PAD + "  # (B, T + 7): '.' tokens, the dataset's padding\n" + LOOP,
                            "        x = F.pad(self.layers[0](idx), (0, 0, self.pad, 0))\n"
                            "        for layer in self.layers[1:]:\n")]}),
    m("pads_on_the_right", "pads after the sequence: position t reads the future",
      {"test_wavenet_causal": "earlier position",
       "test_wavenet_tree": "differ from the tree's",
       "test_val_loss": "differ from those of its layers"},   # the grader pads on the left, as the layers need
      patches={"WaveNet": [(PAD, "        x = F.pad(idx, (0, self.pad), value=0)")]}),
    m("no_tanh", "no nonlinearity: the right shapes, but a linear model",
      {"test_wavenet_tree": "differ from the tree's",
       "test_val_loss": "is above the target"},
      patches={"WaveNet": [(LEVEL, LEVEL.replace(", Tanh()]", "]"))]}),
    # ---- correct, written differently: full marks, val-loss target included
    m("ok_torch_conv1d", "CausalConv1d through F.conv1d, transposing to channels first and back",
      patches={"CausalConv1d": [
          (TAPS, "        taps = None"),
          ("        self.out = taps @ w ",
           "        self.out = F.conv1d(x.transpose(1, 2), self.weight, dilation=d).transpose(1, 2) ")]}),
    m("ok_pad_with_dot_embedding", "pads the embedded sequence with the embedding of '.', repeated",
      patches={"WaveNet": [(
          PAD + "  # (B, T + 7): '.' tokens, the dataset's padding\n" + LOOP,
          "        x = self.layers[0](idx)\n"
          "        dot = self.layers[0].weight[0].expand(x.shape[0], self.pad, -1)\n"
          "        x = torch.cat([dot, x], 1)\n"
          "        for layer in self.layers[1:]:\n")]}),
]

