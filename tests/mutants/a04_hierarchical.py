"""Wrong and alternative BatchNorm1d (3-D) and hierarchical builders for 04_hierarchical."""
from mutants import Mutant

A = "04_hierarchical"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


DIMS = "            dims = tuple(range(x.ndim - 1))"
BN_UPDATE = """            with torch.no_grad():  # the running averages must not drag the graph along
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar"""

MUTANTS = [
    m("bn_dim0_only", "the lecture's bug: statistics over dim 0 only, so (1, L, C) of them",
      {"test_bn_3d_stats_count": "3-D bug",
       "test_bn_3d_train_output": "over dim 0 only",
       "test_bn_3d_running_stats": "reduce over dims (0, 1) for 3-D input",
       "test_bn_3d_eval_values": "not one per channel"},
      patches={"BatchNorm1d": [(DIMS, "            dims = 0")]}),
    m("bn_always_dims01", "reduces over dims (0, 1) whatever the input, breaking 2-D input",
      {"test_bn_2d_still_works": "differs from gamma * (x - mean)"},
      patches={"BatchNorm1d": [(DIMS, "            dims = (0, 1)")]}),
    m("bn_stats_never_updated", "running statistics never updated",
      {"test_bn_3d_running_stats": "did not change in a training step",
       "test_bn_2d_still_works": "did not change in a training step"},
      patches={"BatchNorm1d": [(BN_UPDATE, "            pass")]}),
    m("bn_eval_uses_batch_stats", "eval mode normalises with the batch statistics",
      {"test_bn_eval": "batch's own statistics",
       "test_model_logits": "in eval mode"},
      patches={"BatchNorm1d": [("        if self.training:\n            # every", "        if True:\n            # every")]}),
    m("bn_updates_with_graph", "running statistics updated outside torch.no_grad()",
      {"test_bn_no_graph": "torch.no_grad()"},
      patches={"BatchNorm1d": [("            with torch.no_grad():  # the running averages must not drag the graph along\n", "            if True:\n")]}),
    m("bn_params_without_beta", "an incomplete parameters(): gamma only",
      {"test_bn_parameters": "misses beta",
       "test_model_params": "missing from parameters()"},
      patches={"BatchNorm1d": [("return [self.gamma, self.beta]", "return [self.gamma]")]}),
    m("hier_bias_before_batchnorm", "the Linear layers before BatchNorm1d keep their bias",
      {"test_model_params": "bias=False"},
      patches={"build_model": [("Linear(fan_in * 2, n_hidden, bias=False)", "Linear(fan_in * 2, n_hidden)")]}),
    m("hier_ignores_arguments", "hard-codes n_embd=10, n_hidden=68",
      {"test_model_params": "build_model(n_embd=24, n_hidden=128) has 22,397 parameters"},
      patches={"build_model": [('    ### BEGIN SOLUTION\n', '    ### BEGIN SOLUTION\n    n_embd, n_hidden = 10, 68\n')]}),
    # ---- correct, written differently: full marks
    m("ok_bn_reshape", "BatchNorm1d by reshaping to (N*L, C), (C,) buffers, torch.var_mean",
      cells={"BatchNorm1d": '''
class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        flat = x.reshape(-1, x.shape[-1])  # (N*L, C)
        if self.training:
            var, mean = torch.var_mean(flat, dim=0)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var
        else:
            mean, var = self.running_mean, self.running_var
        out = (flat - mean) / torch.sqrt(var + self.eps) * self.gamma + self.beta
        return out.view(x.shape)

    def parameters(self):
        return [self.gamma, self.beta]
'''}),
    m("ok_bn_111c_buffers", "running statistics kept as (1, 1, C) whatever the input",
      cells={"BatchNorm1d": '''
class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(dim)
        self.beta = torch.zeros(dim)
        self.running_mean = torch.zeros(1, 1, dim)
        self.running_var = torch.ones(1, 1, dim)

    def __call__(self, x):
        dims = list(range(x.dim() - 1))
        if self.training:
            mean = x.mean(dim=dims)
            var = x.var(dim=dims)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean.view(1, 1, -1)
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var.view(1, 1, -1)
        else:
            mean = self.running_mean.view(-1)
            var = self.running_var.view(-1)
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta

    def parameters(self):
        return [self.gamma, self.beta]
'''}),
    m("ok_hier_unrolled", "the three levels written out, no scaling of the last layer",
      cells={"build_model": '''
def build_model(block_size=8, n_embd=10, n_hidden=68, vocab_size=27):
    def level(fan_in):
        return [FlattenConsecutive(2), Linear(fan_in, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh()]
    return Sequential([Embedding(vocab_size, n_embd), *level(2 * n_embd), *level(2 * n_hidden),
                       *level(2 * n_hidden), Linear(n_hidden, vocab_size)])
'''}),
]
