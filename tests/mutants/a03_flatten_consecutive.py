"""Wrong and alternative FlattenConsecutive for 03_flatten_consecutive."""
from mutants import Mutant

A = "03_flatten_consecutive"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


MUTANTS = [
    m("fc_no_squeeze", "never squeezes: (B, 1, C*n) at the last level",
      {"test_fc_full": "squeeze it",
       "test_fc_batch_of_one": "gave (1, 1, ",
       "test_fc_values": ", 1, ",
       "test_fc_in_model": "level-3 FlattenConsecutive(2) gave ("},
      patches={"FlattenConsecutive": [("        if x.shape[1] == 1:\n            x = x.squeeze(1)", "        pass")]}),
    m("fc_squeeze_all", "x.squeeze() also drops a batch of one",
      {"test_fc_batch_of_one": "x.squeeze() also drops a batch of one"},
      patches={"FlattenConsecutive": [("x = x.squeeze(1)", "x = x.squeeze()")]}),
    m("fc_permuted", "permutes (B, T, C) -> (B, C, T) before reshaping",
      {"test_fc_values": "does not hold positions"},
      patches={"FlattenConsecutive": [("x = x.view(B, T // self.n, C * self.n)",
                                       "x = x.permute(0, 2, 1).reshape(B, T // self.n, C * self.n)")]}),
    m("fc_channels_interleaved", "stacks the n positions then flattens channel-major",
      {"test_fc_values": "interleaves the channels"},
      patches={"FlattenConsecutive": [("x = x.view(B, T // self.n, C * self.n)",
                                       "x = x.view(B, T // self.n, self.n, C).transpose(2, 3).reshape(B, T // self.n, C * self.n)")]}),
    m("fc_ignores_n", "always fuses pairs",
      {"test_fc_pairs": "FlattenConsecutive(4) on a",
       "test_fc_full": "FlattenConsecutive(8) on a",
       "test_fc_batch_of_one": "FlattenConsecutive(8) on a (1, 8,",
       "test_fc_values": "FlattenConsecutive(4) on a"},
      patches={"FlattenConsecutive": [("self.n = n", "self.n = 2")]}),
    # ---- correct, written differently: full marks
    m("ok_unflatten", "unflatten + flatten, and x[:, 0] to drop the middle dim",
      cells={"FlattenConsecutive": '''
class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = torch.flatten(x.unflatten(1, (T // self.n, self.n)), start_dim=2)
        self.out = x[:, 0] if x.size(1) == 1 else x  # the docstring's `out`: the cell that prints shapes reads it
        return self.out

    def parameters(self):
        return []
'''}),
    m("ok_reshape", "reshape with -1",
      cells={"FlattenConsecutive": '''
class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1, x.shape[2] * self.n)
        self.out = x.squeeze(1) if x.shape[1] == 1 else x
        return self.out

    def parameters(self):
        return []
'''}),
]
