"""The lecture's training loop, as written in the notebook: the baseline for the book's loop.

Per step it moves one Python float off the tensor (``lossi.append(loss.log10().item())``)
and updates the parameters one by one in a Python loop (``p.data += -lr * p.grad``).
"""
import torch
import torch.nn.functional as F


def lecture_train(model, X, Y, max_steps=200_000, batch_size=32, log=print):
    """Minibatch SGD, lr 0.1 then 0.01 for the last quarter; returns ``lossi`` (log10 losses)."""
    parameters = model.parameters()
    lossi = []
    for i in range(max_steps):
        # minibatch construct
        ix = torch.randint(0, X.shape[0], (batch_size,))
        Xb, Yb = X[ix], Y[ix]  # batch X, Y
        # forward pass
        logits = model(Xb)
        loss = F.cross_entropy(logits, Yb)
        # backward pass
        for p in parameters:
            p.grad = None
        loss.backward()
        # update: step learning rate decay
        lr = 0.1 if i < max_steps * 3 // 4 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        # track stats
        if log and i % 10000 == 0:
            log(f"{i:7d}/{max_steps:7d}: {loss.item():.4f}")
        lossi.append(loss.log10().item())
    return lossi
