"""The lecture's hand-written layers, with ``torch.nn``-like names and APIs.

Convention kept from the lecture: ``Linear.weight`` is ``(fan_in, fan_out)`` and
the forward pass is ``x @ weight + bias`` (``torch.nn.Linear`` stores the
transpose). Every module is callable, keeps its output in ``self.out`` (handy
for inspecting activations) and lists its tensors in ``parameters()``.
"""
import torch


class Linear:
    """``y = x @ weight + bias``, over any number of leading batch dims.

    Args:
        fan_in: size of each input's last dim.
        fan_out: size of each output's last dim.
        bias: add a learned bias (off before a BatchNorm, which cancels it).

    Shape:
        Input ``(*, fan_in)``, output ``(*, fan_out)``.

    Example:
        >>> Linear(80, 200)(torch.randn(4, 5, 80)).shape
        torch.Size([4, 5, 200])
    """

    def __init__(self, fan_in, fan_out, bias=True):
        # 1/sqrt(fan_in) keeps the output's variance near the input's at init
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight  # (*, fan_in) @ (fan_in, fan_out) -> (*, fan_out)
        if self.bias is not None:
            self.out = self.out + self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    """Normalize each channel (the last dim) with batch statistics in training
    and running statistics in evaluation.

    Unlike ``torch.nn.BatchNorm1d``, which wants ``(N, C, L)``, channels are
    last: a 3-D input is ``(N, L, C)`` and statistics are taken over dims
    ``(0, 1)``, so there are always exactly ``C`` of them.

    Args:
        dim: number of channels ``C``.
        eps: added to the variance before the square root.
        momentum: weight of the newest batch in the running averages.

    Shape:
        Input ``(N, C)`` or ``(N, L, C)``; output the same.
    """

    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(dim)   # learned scale
        self.beta = torch.zeros(dim)   # learned shift
        self.running_mean = torch.zeros(dim)  # buffers: updated by EMA, not by backprop
        self.running_var = torch.ones(dim)

    def reduce_dims(self, x):
        """Every dim but the last (channel) one: 0 for 2-D input, (0, 1) for 3-D."""
        return tuple(range(x.ndim - 1))

    def __call__(self, x):
        if self.training:
            dims = self.reduce_dims(x)
            xmean = x.mean(dims, keepdim=True)  # (1, C) or (1, 1, C)
            xvar = x.var(dims, keepdim=True)    # unbiased, as in the lecture
        else:
            xmean, xvar = self.running_mean, self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():  # buffers must not drag the graph along
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * xmean
                self.running_var = (1 - m) * self.running_var + m * xvar
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class Tanh:
    """Elementwise ``tanh``; no parameters."""

    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


class Dropout:
    """Zero each activation with probability ``p`` in training, scale the rest by ``1/(1-p)``.

    Not in the lecture (the harness of chapter 9 offers it); eval mode passes ``x`` through.

    Shape:
        Input any, output the same.
    """

    def __init__(self, p):
        self.p = p
        self.training = True

    def __call__(self, x):
        self.out = torch.nn.functional.dropout(x, self.p, self.training)
        return self.out

    def parameters(self):
        return []


class Embedding:
    """A lookup table: row ``i`` of ``weight`` is the vector for token ``i``.

    Shape:
        Input ``(*)`` integer indices, output ``(*, embedding_dim)``.
    """

    def __init__(self, num_embeddings, embedding_dim):
        self.weight = torch.randn((num_embeddings, embedding_dim))

    def __call__(self, ix):
        self.out = self.weight[ix]  # (B, T) -> (B, T, C)
        return self.out

    def parameters(self):
        return [self.weight]


class Flatten:
    """Concatenate every position's vector into one row (a free ``view``).

    Shape:
        Input ``(B, T, C)``, output ``(B, T*C)``.
    """

    def __call__(self, x):
        self.out = x.view(x.shape[0], -1)  # (B, T, C) -> (B, T*C)
        return self.out

    def parameters(self):
        return []


class FlattenConsecutive:
    """Concatenate each run of ``n`` consecutive positions.

    Shape:
        Input ``(B, T, C)``, output ``(B, T/n, C*n)``; when ``T == n`` the
        length-1 middle dim is squeezed away, leaving ``(B, C*n)``.
    """

    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)  # (B, T/n, C*n)
        if x.shape[1] == 1:
            x = x.squeeze(1)  # (B, C*n): only dim 1, never a batch of one
        self.out = x
        return self.out

    def parameters(self):
        return []


class Sequential:
    """Call ``layers`` in order; ``parameters()`` gathers all of theirs."""

    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]
