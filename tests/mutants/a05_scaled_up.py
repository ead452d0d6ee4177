"""Wrong and alternative scaled-up builders for 05_scaled_up (the val-loss target)."""
from mutants import Mutant

A = "05_scaled_up"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


MUTANTS = [
    m("no_tanh", "no nonlinearity: the right size and shapes, but a linear model",
      {"test_val_loss": "is above the target"},
      patches={"build_model": [("BatchNorm1d(n_hidden), Tanh(),", "BatchNorm1d(n_hidden),")]}),
    m("small_defaults", "keeps exercise 4's n_embd=10, n_hidden=68",
      {"test_model_params": "build_model() has 22,397 parameters"},
      patches={"build_model": [("n_embd=24, n_hidden=128, vocab_size", "n_embd=10, n_hidden=68, vocab_size")]}),
    # ---- correct, written differently: full marks, val-loss target included
    m("ok_unrolled", "the three levels written out, no scaling of the last layer",
      cells={"build_model": '''
def build_model(block_size=8, n_embd=24, n_hidden=128, vocab_size=27):
    def level(fan_in):
        return [FlattenConsecutive(2), Linear(fan_in, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh()]
    return Sequential([Embedding(vocab_size, n_embd), *level(2 * n_embd), *level(2 * n_hidden),
                       *level(2 * n_hidden), Linear(n_hidden, vocab_size)])
'''}),
]
