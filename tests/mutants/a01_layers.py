"""Wrong and alternative Linear / BatchNorm1d (2-D) / Tanh for 01_layers."""
from mutants import Mutant

A = "01_layers"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


BN_UPDATE = """            with torch.no_grad():  # the running averages must not drag the graph along
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar"""

BN_NO_BATCH = """            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum"""

MUTANTS = [
    # ---- Linear
    m("linear_torch_layout", "weight stored (fan_out, fan_in) as torch.nn.Linear does, x @ weight.T",
      {"test_linear_shapes": "the lecture keeps it as (fan_in, fan_out)",
       "test_linear_forward": "the lecture keeps it as (fan_in, fan_out)",
       "test_linear_no_bias": "the lecture keeps it as (fan_in, fan_out)"},
      patches={"Linear": [("torch.randn((fan_in, fan_out))", "torch.randn((fan_out, fan_in))"),
                          ("x @ self.weight", "x @ self.weight.T")]}),
    m("linear_unscaled", "weights straight from torch.randn",
      {"test_linear_init": "not scaled"},
      patches={"Linear": [(" / fan_in**0.5", "")]}),
    m("linear_fan_out_scale", "scaled by 1/sqrt(fan_out)",
      {"test_linear_init": "1/sqrt(fan_out)"},
      patches={"Linear": [(" / fan_in**0.5", " / fan_out**0.5")]}),
    m("linear_forgets_bias", "never adds the bias",
      {"test_linear_forward": "without the bias"},
      patches={"Linear": [("self.out = self.out + self.bias", "pass")]}),
    m("linear_ignores_bias_flag", "always makes a bias",
      {"test_linear_no_bias": "honour the bias argument"},
      patches={"Linear": [("torch.zeros(fan_out) if bias else None", "torch.zeros(fan_out)")]}),
    m("linear_params_without_bias", "an incomplete parameters(): weight only",
      {"test_linear_parameters": "misses bias"},
      patches={"Linear": [("return [self.weight] + ([] if self.bias is None else [self.bias])",
                           "return [self.weight]")]}),
    # ---- BatchNorm1d
    m("bn_biased_variance", "the biased variance (torch's normalisation) for both uses",
      {"test_batchnorm_train_output": "biased variance",
       "test_batchnorm_running_stats": "biased batch variance"},
      patches={"BatchNorm1d": [("x.var(0, keepdim=True)", "x.var(0, keepdim=True, unbiased=False)")]}),
    m("bn_stats_never_updated", "running statistics never updated",
      {"test_batchnorm_running_stats": "did not change in a training step"},
      patches={"BatchNorm1d": [(BN_UPDATE, "            pass")]}),
    m("bn_stats_huge_start_no_batch", "running statistics start at 1e8 and decay without the batch: judged from "
      "its own start, the batch's share was lost in a relative tolerance (issue 18, hole 5)",
      {"test_batchnorm_init": "should start as torch.zeros",
       "test_batchnorm_running_stats": "differs from torch.nn.BatchNorm1d's"},
      patches={"BatchNorm1d": [("self.running_mean = torch.zeros(dim)", "self.running_mean = torch.full((dim,), 1e8)"),
                               ("self.running_var = torch.ones(dim)", "self.running_var = torch.full((dim,), 1e8)"),
                               (BN_UPDATE, BN_NO_BATCH)]}),
    m("bn_eval_uses_batch_stats", "eval mode normalises with the batch statistics",
      {"test_batchnorm_eval": "batch's own statistics"},
      patches={"BatchNorm1d": [("        if self.training:\n            xmean", "        if True:\n            xmean")]}),
    m("bn_stats_one_number", "running statistics kept as one number each, the mean over the channels: an eval "
      "judge that took the layer's own statistics when they had the wrong size passed it (red team 2)",
      {"test_batchnorm_init": "one per channel", "test_batchnorm_parameters": "not (",
       "test_batchnorm_running_update": "keep exactly one per channel",
       "test_batchnorm_running_stats": "keep exactly one per channel",
       "test_batchnorm_eval_values": "not one per channel", "test_batchnorm_eval": "not one per channel"},
      patches={"BatchNorm1d": [("self.running_mean = torch.zeros(dim)", "self.running_mean = torch.zeros(1)"),
                               ("self.running_var = torch.ones(dim)", "self.running_var = torch.ones(1)"),
                               ("self.momentum * xmean\n", "self.momentum * xmean.mean()\n"),
                               ("self.momentum * xvar\n", "self.momentum * xvar.mean()\n")]}),
    m("bn_updates_with_graph", "running statistics updated outside torch.no_grad()",
      {"test_batchnorm_no_graph": "torch.no_grad()"},
      patches={"BatchNorm1d": [("            with torch.no_grad():  # the running averages must not drag the graph along\n", "            if True:\n")]}),
    m("bn_momentum_swapped", "running = momentum * running + (1 - momentum) * batch",
      {"test_batchnorm_running_stats": "weighs the old value by momentum"},
      patches={"BatchNorm1d": [("(1 - self.momentum) * self.running_mean + self.momentum * xmean",
                                "self.momentum * self.running_mean + (1 - self.momentum) * xmean")]}),
    m("bn_hardcoded_momentum", "blends with 0.1 whatever momentum was given",
      {"test_batchnorm_running_stats": "ignores its momentum argument"},
      patches={"BatchNorm1d": [("(1 - self.momentum) * self.running_mean + self.momentum * xmean",
                                "0.9 * self.running_mean + 0.1 * xmean"),
                               ("(1 - self.momentum) * self.running_var + self.momentum * xvar",
                                "0.9 * self.running_var + 0.1 * xvar")]}),
    m("bn_ignores_eps", "divides by sqrt(var) alone",
      {"test_batchnorm_train_output": "ignores eps"},
      patches={"BatchNorm1d": [("torch.sqrt(xvar + self.eps)", "torch.sqrt(xvar)")]}),
    m("bn_params_with_buffers", "parameters() includes the running statistics",
      {"test_batchnorm_parameters": "includes running_mean"},
      patches={"BatchNorm1d": [("return [self.gamma, self.beta]",
                                "return [self.gamma, self.beta, self.running_mean, self.running_var]")]}),
    m("bn_params_without_beta", "an incomplete parameters(): gamma only",
      {"test_batchnorm_parameters": "misses beta"},
      patches={"BatchNorm1d": [("return [self.gamma, self.beta]", "return [self.gamma]")]}),
    # ---- Tanh
    m("tanh_hardtanh", "clamps to [-1, 1] instead of tanh",
      {"test_tanh": "is not torch.tanh(x)"},
      patches={"Tanh": [("torch.tanh(x)", "x.clamp(-1, 1)")]}),
    m("linear_kaiming", "scaled by sqrt(2 / fan_in), the initialisation for ReLU",
      {"test_linear_init": "sqrt(2/fan_in) (Kaiming"},
      patches={"Linear": [(" / fan_in**0.5", " * (2 / fan_in)**0.5")]}),
    m("linear_bias_random", "the bias starts random instead of at zeros",
      {"test_linear_init": "does not start at zeros"},
      patches={"Linear": [("torch.zeros(fan_out) if bias else None", "torch.randn(fan_out) if bias else None")]}),
    m("linear_transposes_in_call", "multiplies by the transpose: raises for every non-square layer",
      {"test_linear_shapes": "at cell 'Linear', line",
       "test_linear_forward": "the same error as in test_linear_shapes",
       "test_linear_no_bias": "the same error as in test_linear_shapes"},
      patches={"Linear": [("self.out = x @ self.weight  #", "self.out = x @ self.weight.T  #")]}),
    m("bn_gamma_zeros", "gamma starts at zeros: every output would be beta",
      {"test_batchnorm_init": "gamma should start as torch.ones"},
      patches={"BatchNorm1d": [("self.gamma = torch.ones(dim)", "self.gamma = torch.zeros(dim)")]}),
    m("bn_no_training_flag", "no training flag: always batch statistics (the output in training mode is right)",
      {"test_batchnorm_shapes": "has no attribute `training`",
       "test_batchnorm_init": "the same error as in test_batchnorm_shapes",
       "test_batchnorm_eval": "the same error as in test_batchnorm_shapes"},
      patches={"BatchNorm1d": [("        self.training = True\n", ""),
                               ("        if self.training:\n            xmean", "        if True:\n            xmean"),
                               ("        if self.training:\n            with", "        if True:\n            with")]}),
    # ---- a notebook that tries to switch the checks off
    m("switches_the_checks_off", "unscaled Linear, plus a `check` of its own that does nothing: no test "
      "reports a result, so none passes",
      {t: "did not report a result" for t in ("test_linear_shapes", "test_linear_forward", "test_linear_no_bias",
                                              "test_linear_init", "test_linear_parameters", "test_batchnorm_shapes",
                                              "test_batchnorm_init", "test_batchnorm_train_output",
                                              "test_batchnorm_running_stats", "test_batchnorm_no_graph",
                                              "test_batchnorm_eval", "test_batchnorm_parameters", "test_tanh")},
      patches={"Linear": [(" / fan_in**0.5", ""),
                          ("class Linear:", "def check(*args, **kwargs):  # the notebook's own, replacing the course's\n"
                                            "    return None\n\n"
                                            "class Linear:")]}),
    # ---- correct, written differently: full marks
    m("ok_linear_addmm", "Linear via torch.addmm on a 2-D view, weight * fan_in**-0.5",
      cells={"Linear": '''
class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn(fan_in, fan_out) * fan_in**-0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self.weight if self.bias is None else torch.addmm(self.bias, flat, self.weight)
        return out.view(*x.shape[:-1], self.weight.shape[1])

    def parameters(self):
        return [p for p in (self.weight, self.bias) if p is not None]
'''}),
    m("ok_bn_flat_buffers", "BatchNorm1d with (C,) buffers, var_mean, rsqrt, and explicit lerp",
      cells={"BatchNorm1d": '''
class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=0, correction=1)
            with torch.no_grad():
                self.running_mean = torch.lerp(self.running_mean, mean.detach(), self.momentum)
                self.running_var = torch.lerp(self.running_var, var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.gamma + self.beta

    def parameters(self):
        return [self.gamma, self.beta]
'''}),
    m("ok_bn_manual_sums", "BatchNorm1d from sums: mean = sum / n, var = sum of squares / (n - 1), (1, C) buffers",
      cells={"BatchNorm1d": '''
class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(1, dim)
        self.beta = torch.zeros(1, dim)
        self.running_mean = torch.zeros(1, dim)
        self.running_var = torch.ones(1, dim)

    def __call__(self, x):
        n = x.shape[0]
        if self.training:
            mean = x.sum(0, keepdim=True) / n
            var = ((x - mean) ** 2).sum(0, keepdim=True) / (n - 1)
            self.running_mean = self.running_mean * (1 - self.momentum) + mean.detach() * self.momentum
            self.running_var = self.running_var * (1 - self.momentum) + var.detach() * self.momentum
        else:
            mean, var = self.running_mean, self.running_var
        return self.gamma * (x - mean) / (var + self.eps) ** 0.5 + self.beta

    def parameters(self):
        return [self.beta, self.gamma]
'''}),
    m("ok_tanh_sigmoid", "tanh(x) = 2 * sigmoid(2x) - 1",
      cells={"Tanh": '''
class Tanh:
    def __call__(self, x):
        return 2 * torch.sigmoid(2 * x) - 1

    def parameters(self):
        return []
'''}),
]

MUTANTS += [
    m("course_tanh", "imports the course's own Tanh instead of writing it (`from wavenet.nn import Tanh`)",
      {"test_tanh": "is the course's own, imported (`from wavenet.nn import Tanh`)"},
      cells={"Tanh": "from wavenet.nn import Tanh  # the course's, not mine\n"}),
]
