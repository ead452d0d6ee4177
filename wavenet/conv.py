"""The hierarchical model as a stack of dilated causal convolutions (chapter 8).

The tree of chapter 5 computes one prediction from 8 characters. Sliding the
same tree along a whole name gives a prediction at every position, and the
sliding is exactly what ``Conv1d`` does: a level that fuses two neighbours with
``Linear(2C, H)`` is a convolution with kernel 2 whose taps are the two halves
of that Linear's weight. Level ``l`` fuses nodes ``2**l`` positions apart, so
its dilation is ``2**l``: 1, 2, 4 for a context of 8.

Layout: the course's layers are channels-last ``(B, T, C)``; ``torch.nn.Conv1d``
wants ``(B, C, T)``. :class:`CausalConv1d` keeps channels last and gives the
same numbers as ``torch.nn.Conv1d`` (the tests check it).
"""
import torch
import torch.nn.functional as F

from wavenet.data.dataset import encode, name_sequences  # noqa: F401  (name_sequences: whole names, chapter 8)
from wavenet.nn import BatchNorm1d, Embedding, Linear, Tanh


class CausalConv1d:
    """Dilated convolution whose output at ``t`` reads inputs ``t - d*(k-1) .. t`` only.

    Same weight layout and same result as ``torch.nn.Conv1d(C_in, C_out, k,
    dilation=d, bias=False)`` on an unpadded input, computed the way the
    chapter explains it: gather the ``k`` taps of every position side by side
    (oldest first) and do one matmul. For kernel 2 that is exactly the tree's
    ``Linear(2*C_in, C_out)`` applied at every position at once, and on a CPU
    its backward pass is about twice as fast as ``F.conv1d``'s for these shapes.

    It pads nothing ("valid" convolution): the output is ``d*(k-1)`` shorter
    than the input and output position ``j`` lines up with input position
    ``j + d*(k-1)``, the newest input it reads. :class:`WaveNet` pads its
    input with '.' tokens instead of zeros, as ``build_dataset`` does, so the
    first positions see the same context as the dataset's first examples.

    Args:
        in_channels, out_channels: ``C_in`` and ``C_out``.
        kernel_size: taps per output; the course uses 2 (fuse two nodes).
        dilation: distance ``d`` between the taps.
        bias: add a learned bias (off before a BatchNorm, which cancels it).

    Shape:
        Input ``(B, T, C_in)``, output ``(B, T - d*(k-1), C_out)``. The weight
        is ``(C_out, C_in, k)``, as in ``torch.nn.Conv1d``.

    Example:
        >>> CausalConv1d(24, 128, dilation=4)(torch.randn(2, 20, 24)).shape
        torch.Size([2, 16, 128])
    """

    def __init__(self, in_channels, out_channels, kernel_size=2, dilation=1, bias=False):
        self.kernel_size = kernel_size
        self.dilation = dilation
        # same scale as Linear(k * C_in, C_out): fan_in counts every tap
        self.weight = torch.randn((out_channels, in_channels, kernel_size)) / (in_channels * kernel_size)**0.5
        self.bias = torch.zeros(out_channels) if bias else None

    def __call__(self, x):
        d, k = self.dilation, self.kernel_size
        T = x.shape[1] - d * (k - 1)                                  # positions with every tap inside x
        taps = torch.cat([x[:, j * d:j * d + T] for j in range(k)], -1)  # (B, T, k*C_in): tap j is t-(k-1-j)*d
        w = self.weight.permute(2, 1, 0).reshape(-1, self.weight.shape[0])  # (C_out, C_in, k) -> (k*C_in, C_out)
        self.out = taps @ w                                           # (B, T, C_out)
        if self.bias is not None:
            self.out = self.out + self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class SeqBatchNorm1d(BatchNorm1d):
    """:class:`~wavenet.nn.BatchNorm1d` for sequences, with an optional mask.

    In training, the statistics come from the positions where ``mask`` is
    True (the real characters of each name, not the padding after it). In
    eval mode the mask is ignored: every position uses the running statistics.

    Two changes for speed, none to the result (up to float rounding): the
    input is viewed as ``(B*T, C)`` rows, so the statistics take one reduction
    instead of two, and ``gamma * (x - mean) / std + beta`` is folded into one
    per-channel ``scale`` and ``shift``, so ``x`` is read once, not four times.

    Shape:
        Input ``(B, T, C)`` or ``(N, C)``, ``mask`` ``(B, T)`` bool; output as input.
    """

    def __call__(self, x, mask=None):
        if self.training:
            rows = x.reshape(-1, x.shape[-1])            # (B*T, C)
            if mask is not None:
                rows = rows[mask.reshape(-1)]            # (N_real, C)
            xvar, xmean = torch.var_mean(rows, 0)        # (C,), (C,); unbiased var, as in the lecture
        else:
            xmean, xvar = self.running_mean.reshape(-1), self.running_var.reshape(-1)
        scale = self.gamma * torch.rsqrt(xvar + self.eps)           # (C,)
        self.out = torch.addcmul(self.beta - xmean * scale, x, scale)  # x * scale + shift
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * xmean
                self.running_var = (1 - m) * self.running_var + m * xvar
        return self.out


class WaveNet:
    """The hierarchical model slid along a whole sequence in one pass.

    ``len(dilations)`` levels of ``CausalConv1d(kernel 2) -> BatchNorm -> Tanh``
    and a ``Linear`` head applied at every position. The receptive field is
    ``1 + sum(dilations)``: 8 for the default ``(1, 2, 4)``, the block size of
    the hierarchical model it mirrors.

    Args:
        vocab_size, n_embd, n_hidden: as :func:`wavenet.models.hierarchical`.
        dilations: one per level; ``(1, 2, 4, 8)`` sees 16 characters.

    Shape:
        ``idx`` ``(B, T)`` token ids, where ``idx[:, 0]`` is the '.' that starts
        every name; ``mask`` ``(B, T)`` bool marks real positions (training
        statistics only). Output ``(B, T, vocab_size)``: position ``t``
        predicts token ``t + 1`` from tokens ``<= t``.

    Example:
        >>> model = WaveNet(n_embd=24, n_hidden=128)
        >>> model(torch.tensor([[0, 5, 13, 13, 1]])).shape  # '.emma'
        torch.Size([1, 5, 27])
    """

    def __init__(self, vocab_size=27, n_embd=24, n_hidden=128, dilations=(1, 2, 4)):
        self.dilations = tuple(dilations)
        self.receptive_field = 1 + sum(self.dilations)
        self.layers = [Embedding(vocab_size, n_embd)]
        fan_in = n_embd
        for d in self.dilations:
            self.layers += [CausalConv1d(fan_in, n_hidden, 2, dilation=d), SeqBatchNorm1d(n_hidden), Tanh()]
            fan_in = n_hidden
        self.layers.append(Linear(n_hidden, vocab_size))
        with torch.no_grad():
            self.layers[-1].weight *= 0.1  # not confidently wrong at init, as in the lecture
        for p in self.parameters():
            p.requires_grad = True

    def __call__(self, idx, mask=None):
        B, T = idx.shape
        # '.'-pad on the left so that position 0 sees the all-dot context the dataset uses
        x = F.pad(idx, (self.receptive_field - 1, 0), value=0)  # (B, T + R - 1)
        for layer in self.layers:
            if isinstance(layer, SeqBatchNorm1d):
                # the extra leading positions are real nodes (early outputs use them)
                m = None if mask is None else F.pad(mask, (x.shape[1] - T, 0), value=True)
                x = layer(x, m)
            else:
                x = layer(x)  # each conv shortens T by its dilation; the head keeps (B, T, vocab)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def conv_weight(linear_weight, in_channels):
    """The kernel-2 conv weight equal to a fuse-two Linear's weight.

    ``FlattenConsecutive(2)`` puts the older node first, so rows ``:C`` of the
    Linear weight multiply the older node (tap 0) and rows ``C:`` the newer (tap 1).

    Shape:
        ``(2*C, H)`` -> ``(H, C, 2)``.
    """
    w = linear_weight.view(2, in_channels, -1)   # (tap, C, H)
    return w.permute(2, 1, 0).contiguous()       # (H, C, tap)


@torch.no_grad()
def from_hierarchical(tree, dilations=None):
    """A :class:`WaveNet` carrying copies of a hierarchical model's weights.

    Args:
        tree: a ``Sequential`` from :func:`wavenet.models.hierarchical`.
        dilations: defaults to ``1, 2, 4, ...``, one per level of ``tree``.

    Returns:
        a ``WaveNet`` that, in eval mode, gives the tree's logits at every position.
    """
    emb = tree.layers[0]
    linears = [l for l in tree.layers if isinstance(l, Linear)]
    norms = [l for l in tree.layers if isinstance(l, BatchNorm1d)]
    levels, head = linears[:-1], linears[-1]
    n_embd, n_hidden = emb.weight.shape[1], levels[0].weight.shape[1]
    dilations = dilations or tuple(2**i for i in range(len(levels)))
    net = WaveNet(emb.weight.shape[0], n_embd, n_hidden, dilations)
    convs = [l for l in net.layers if isinstance(l, CausalConv1d)]
    net_norms = [l for l in net.layers if isinstance(l, SeqBatchNorm1d)]
    net.layers[0].weight.copy_(emb.weight)
    for lin, conv in zip(levels, convs):
        conv.weight.copy_(conv_weight(lin.weight, lin.weight.shape[0] // 2))
    for src, dst in zip(norms, net_norms):
        dst.gamma.copy_(src.gamma)
        dst.beta.copy_(src.beta)
        # 3-D inputs leave (1, 1, C) running stats behind; the conv wants (C,)
        dst.running_mean = src.running_mean.reshape(-1).clone()
        dst.running_var = src.running_var.reshape(-1).clone()
    net.layers[-1].weight.copy_(head.weight)
    net.layers[-1].bias.copy_(head.bias)
    return net


def trim(X, Y):
    """Drop the columns that are padding in every row of the batch."""
    T = int((Y >= 0).sum(1).max())
    return X[:, :T], Y[:, :T]  # (B, T_batch)


def sequence_loss(model, X, Y, training=True):
    """Mean cross-entropy over the real positions of a batch of names.

    Every real position counts once, so over a whole split this is the same
    mean as over the split's ``build_dataset`` examples.
    """
    mask = Y >= 0                                              # (B, T)
    logits = model(X, mask if training else None)              # (B, T, vocab)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1), ignore_index=-1)


def names_loss(model, xb, yb):
    """:func:`sequence_loss` of a minibatch of rows from :func:`name_sequences`, after :func:`trim`."""
    return sequence_loss(model, *trim(xb, yb))


def by_length(Y):
    """Rows of ``Y`` grouped by name length: ``[(rows, n_positions), ...]``, shortest first.

    Each group can be scored as one ``(len(rows), n_positions)`` block with no
    padding at all, so no position is computed that is not a real example.
    """
    n = (Y >= 0).sum(1)                                           # (N,) real positions per name
    return [((n == L).nonzero().squeeze(1), int(L)) for L in n.unique()]


@torch.no_grad()
def positions_logits(model, X, Y):
    """Logits at every real position, in ``build_dataset`` order: ``(N_examples, vocab)``.

    One call of ``model`` per name length (names of equal length need no
    padding); within a call every position of every name comes out at once.
    """
    out = None
    for rows, L in by_length(Y):
        logits = model(X[rows, :L])                               # (n_L, L, vocab)
        if out is None:
            out = logits.new_empty(*X.shape, logits.shape[-1])    # (N, T, vocab)
        out[rows, :L] = logits
    return out[Y >= 0]                    # row-major: name by name, position by position


@torch.no_grad()
def evaluate_sequences(model, X, Y):
    """Eval-mode mean loss over all real positions of ``(X, Y)`` from :func:`name_sequences`.

    Every real position counts once, so this equals :func:`wavenet.train.evaluate`
    on the split's ``build_dataset`` examples.
    """
    from wavenet.train import set_training
    set_training(model, False)
    dev = model.parameters()[0].device
    X, Y = X.to(dev), Y.to(dev)
    return F.cross_entropy(positions_logits(model, X, Y), Y[Y >= 0]).item()


def train_sequences(model, X, Y, recipe, log=print, **options):
    """The lecture's SGD loop, but each step takes ``recipe.batch_size`` whole names.

    Every real position of every drawn name is a training example, so a step
    sees about 7x more examples than a step of :func:`wavenet.train.train`.

    Args:
        model: a :class:`WaveNet`.
        X, Y: all names of a split, from :func:`name_sequences`.
        recipe: a :class:`wavenet.config.Recipe` (steps, batch of names, lr schedule).
        options: more of :func:`wavenet.train.train`'s arguments (``batches``, ``mode``, ...).

    Returns:
        float tensor ``(steps,)`` of per-step training losses.
    """
    from wavenet.train import train
    return train(model, X, Y, recipe, log=log, loss_fn=names_loss, **options)


@torch.no_grad()
def position_loop(tree, X, Y):
    """The tree called once per position, over every name that long: ``T`` calls.

    The 8-character window ending at position ``t`` of each name is one
    example; the tree scores that column for all names at once. This is the
    for loop a convolution hides, and each call recomputes nodes that the
    calls for ``t - 1``, ``t - 2``, ... already computed.

    Returns:
        logits at the real positions, in ``build_dataset`` order: ``(N_examples, vocab)``.
    """
    block_size = _tree_block_size(tree)
    padded = F.pad(X, (block_size - 1, 0), value=0)              # (N, T + block_size - 1)
    alive = Y >= 0                                                # (N, T)
    out = None
    for t in range(X.shape[1]):
        rows = alive[:, t].nonzero().squeeze(1)                   # the names that have a position t
        logits = tree(padded[rows, t:t + block_size])             # (n_t, 8) -> (n_t, vocab)
        if out is None:
            out = logits.new_empty(*X.shape, logits.shape[-1])    # (N, T, vocab)
        out[rows, t] = logits
    return out[alive]


@torch.no_grad()
def example_loop(tree, X, Y):
    """The lecture's loop: one tree call per example, ``(1, 8)`` at a time (22,655 calls for val)."""
    block_size = _tree_block_size(tree)
    padded = F.pad(X, (block_size - 1, 0), value=0)              # (N, T + block_size - 1)
    out = []
    for i in range(X.shape[0]):
        for t in range(int((Y[i] >= 0).sum())):
            out.append(tree(padded[i:i + 1, t:t + block_size]))  # (1, 8) -> (1, vocab)
    return torch.cat(out)                                         # (N_examples, vocab)


def _tree_block_size(tree):
    """Context length of a hierarchical model: 2 ** (number of fuse levels)."""
    from wavenet.nn import FlattenConsecutive
    return 2 ** sum(isinstance(l, FlattenConsecutive) for l in tree.layers)


class TorchWaveNet(torch.nn.Module):
    """The same network from stock ``torch.nn`` layers: ``nn.Conv1d(kernel 2, dilation d)``.

    Built from a trained hierarchical model (weights copied), for checking and
    timing only. ``torch.nn`` wants channels first, ``(B, C, T)``, which is also
    what ``nn.BatchNorm1d`` normalizes over (dims 0 and 2).

    Shape:
        ``idx`` ``(B, T)`` -> logits ``(B, T, vocab)``, as :class:`WaveNet`.
    """

    def __init__(self, tree):
        super().__init__()
        nn = torch.nn
        emb = tree.layers[0].weight
        linears = [l for l in tree.layers if isinstance(l, Linear)]
        norms = [l for l in tree.layers if isinstance(l, BatchNorm1d)]
        self.receptive_field = 2 ** (len(linears) - 1)
        self.embedding = nn.Embedding.from_pretrained(emb.detach().clone())
        layers = []
        for level, (lin, bn) in enumerate(zip(linears[:-1], norms)):
            c_in, c_out = lin.weight.shape[0] // 2, lin.weight.shape[1]
            conv = nn.Conv1d(c_in, c_out, kernel_size=2, dilation=2**level, bias=False)
            norm = nn.BatchNorm1d(c_out, eps=bn.eps)
            with torch.no_grad():
                conv.weight.copy_(conv_weight(lin.weight, c_in))
                norm.weight.copy_(bn.gamma)
                norm.bias.copy_(bn.beta)
                norm.running_mean.copy_(bn.running_mean.reshape(-1))
                norm.running_var.copy_(bn.running_var.reshape(-1))
            layers += [conv, norm, nn.Tanh()]
        self.convs = nn.Sequential(*layers)
        head = linears[-1]
        self.head = nn.Linear(head.weight.shape[0], head.weight.shape[1])
        with torch.no_grad():
            self.head.weight.copy_(head.weight.T)  # torch.nn.Linear stores (fan_out, fan_in)
            self.head.bias.copy_(head.bias)
        self.eval()

    def forward(self, idx):
        x = F.pad(idx, (self.receptive_field - 1, 0), value=0)  # (B, T + 7): '.'-padded
        x = self.embedding(x).transpose(1, 2)                   # (B, C, T + 7)
        x = self.convs(x)                                        # (B, H, T): each conv drops d positions
        return self.head(x.transpose(1, 2))                      # (B, T, vocab)
