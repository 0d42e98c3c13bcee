"""Losses, written from primitives in numerically stable form.

`cross_entropy(logits, y)` is the softmax cross-entropy in log-sum-exp form, the loss of every
classifier in the project (`dlspec.train.fit`'s default).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlspec.checks import check_float_tensor, check_index_tensor
from dlspec.registry import Sample, register

__all__ = ["cross_entropy"]


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean over the batch of `log Σ_c e^{z_c} − z_y` (softmax cross-entropy, log-sum-exp form).

    `logits` has shape `(N, C)` (or `(..., N, C)`: leading dimensions are averaged too) and `y`
    holds `N` integer class labels in `[0, C)`, shared by the leading dimensions, or one label
    per row of `logits` (shape `logits.shape[:-1]`, e.g. a stack of models each with its own
    minibatch).
    """
    check_float_tensor(logits, "logits")
    if logits.dim() < 2 or logits.shape[-2] == 0:
        raise ValueError(
            f"logits must have shape (N, C) with N ≥ 1 examples, got {tuple(logits.shape)}"
        )
    check_index_tensor(y, "y", classes=logits.shape[-1])
    if y.shape not in (logits.shape[-2:-1], logits.shape[:-1]):
        raise ValueError(
            f"y must hold one label per example, shape {tuple(logits.shape[-2:-1])} "
            f"(or {tuple(logits.shape[:-1])}), got {tuple(y.shape)}"
        )
    z_y = logits.gather(-1, y.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)  # z_y
    loss: Tensor = (torch.logsumexp(logits, dim=-1) - z_y).mean()
    return loss


@register("losses.cross_entropy")
def _sample_cross_entropy(device: torch.device, dtype: torch.dtype) -> Sample:
    logits = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)
    y = torch.tensor([0, 2, 1, 2], device=device)
    return cross_entropy, (logits, y)
