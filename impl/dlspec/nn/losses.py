"""Losses, written from primitives in numerically stable form.

- `cross_entropy(logits, y)`: softmax cross-entropy `−log softmax(z)_y = log Σ_c e^{z_c} − z_y`
  (the loss of every classifier in the project, `dlspec.train.fit`'s default); `y` holds class
  labels, or target distributions (soft labels) of the logits' shape.
- `binary_cross_entropy(f, y)`: `H(y, f) = −[y ln f + (1 − y) ln(1 − f)]` on probabilities `f`.
- `binary_cross_entropy_with_logits(z, y)`: the same loss at `f = σ(z)`, computed as
  `max(z, 0) − y z + ln(1 + e^{−|z|})` (no `exp` overflow, no `ln 0`).
- `square_error(f, y)`: `(f − y)²`.
- `entropy(p)` and `kl_divergence(p, q)` of discrete distributions (`H(p, q) = H(p) + KL(p‖q)`).

`cross_entropy(..., fast=True)` (claim `loss.ce-fast-form`): the same loss through a custom
`torch.autograd.Function` for integer labels, `log Σ_c e^{s_c} − s_y` with `s = z − max z` in one
fresh buffer, and its gradient `softmax(z) − onehot(y)` written by hand as one pass
(`e^{s}·(ḡ/Σe^{s})`, then `−ḡ` at each label); soft labels go through the fast `log_softmax`.
On CUDA the plain per-example loss compiled by `torch.compile` (fused).

Every loss takes `reduction="mean"` (the default: the mean over all entries, or over examples for
`cross_entropy`), `"sum"` (the negative log-likelihood of the whole set, `loss.ce-is-nll-*`) or
`"none"` (one value per entry or example).

Claims: `loss.ce-is-nll-bernoulli`, `loss.ce-is-nll-categorical`, `loss.logistic-gradient`,
`loss.square-error-plateau`, `loss.square-error-consistent`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dlspec.checks import (
    check_flag,
    check_float_tensor,
    check_index_tensor,
    check_int,
    check_like,
)
from dlspec.nn._recurrent_fast import _first_order
from dlspec.nn.activations import apply, compiled, fused, log_softmax, softplus
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "REDUCTIONS",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "entropy",
    "kl_divergence",
    "square_error",
]

#: The accepted values of every loss's `reduction` argument.
REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: Tensor, reduction: Any) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values  # "none" (checked by _check_reduction)


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_pair(pred: Tensor, pred_name: str, target: Any, target_name: str) -> None:
    check_float_tensor(pred, pred_name)
    check_float_tensor(target, target_name)
    check_like(target, pred, target_name, pred_name)
    if target.shape != pred.shape:
        raise ValueError(
            f"{target_name} must have {pred_name}'s shape {tuple(pred.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if pred.numel() == 0:
        raise ValueError(f"{pred_name} must hold at least one entry, got shape {tuple(pred.shape)}")


def _check_unit_interval(t: Tensor, name: str, meaning: str) -> None:
    """Entries in [0, 1] (reads the data; skipped on the meta device, which has none)."""
    if t.device.type != "meta" and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"{name} must hold {meaning} in [0, 1], got values outside (or NaN)")


def cross_entropy(
    logits: Tensor, y: Tensor, *, reduction: str = "mean", fast: bool = False
) -> Tensor:
    """Softmax cross-entropy `−log softmax(z)_y = log Σ_c e^{z_c} − z_y`, per example.

    `logits` has shape `(N, C)` (or `(..., N, C)`: with `reduction="mean"`, leading dimensions
    are averaged too). `y` holds `N` integer class labels in `[0, C)` shared by the leading
    dimensions, or one label per row of `logits` (shape `logits.shape[:-1]`, e.g. a stack of
    models each with its own minibatch), or target distributions `p` of the logits' shape (then
    the loss is `−Σ_c p_c log softmax(z)_c = H(p, softmax(z))`).
    `reduction="sum"` gives the labels' negative log-likelihood (`loss.ce-is-nll-categorical`).
    `fast=True`: the same values and gradients with fewer passes (`loss.ce-fast-form`).
    """
    check_float_tensor(logits, "logits")
    reduction = _check_reduction(reduction)
    fast = check_flag(fast, "fast")
    if logits.dim() < 2 or logits.shape[-2] == 0 or logits.shape[-1] == 0:
        raise ValueError(
            f"logits must have shape (N, C) with N ≥ 1 examples and C ≥ 1 classes, "
            f"got {tuple(logits.shape)}"
        )
    if isinstance(y, Tensor) and y.is_floating_point():
        _check_pair(logits, "logits", y, "y")
        _check_unit_interval(y, "y", "target probabilities")
        log_q = log_softmax(logits, dim=-1, fast=fast)  # log q_c = z_c − log Σ e^{z}
        per_example = -(y * log_q).sum(dim=-1)  # −Σ_c p_c log q_c
        return _reduce(per_example, reduction)
    check_index_tensor(y, "y", classes=logits.shape[-1])
    if y.shape not in (logits.shape[-2:-1], logits.shape[:-1]):
        raise ValueError(
            f"y must hold one label per example, shape {tuple(logits.shape[-2:-1])} "
            f"(or {tuple(logits.shape[:-1])}), got {tuple(y.shape)}"
        )
    if y.device != logits.device:
        raise ValueError(f"y must be on logits's device {logits.device}, got {y.device}")
    index = y.expand(*logits.shape[:-1]).unsqueeze(-1)
    if not fast:
        nll = _nll(logits, index)
    elif fused(logits):
        nll = compiled(_nll)(logits, index)
    else:
        nll = apply(_FastNLL, logits, index)
    return _reduce(nll, reduction)


def _nll(logits: Tensor, index: Tensor) -> Tensor:
    log_q = log_softmax(logits, dim=-1)  # log q_c = z_c − log Σ e^{z}
    return -log_q.gather(-1, index).squeeze(-1)  # −log q_y


_SECOND_ORDER = (
    "cross_entropy's fast form (fast=True) with class labels has a first-order backward only: a "
    "second derivative through it (a gradient penalty, a Hessian-vector product) is not "
    "implemented; use fast=False"
)


class _FastNLL(torch.autograd.Function):
    """`−log softmax(z)_y = log1p(r) − s_y`, `s = z − max z`, `r = Σ_{c ≠ c*} e^{s_c}` (the
    maximal logit's `e^0 = 1` taken out, as in the plain form), per row; backward
    `∂z = (ḡ / Σ_c e^{s_c}) e^{s} − ḡ onehot(y)`, i.e. `ḡ (softmax(z) − onehot(y))`."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, index: Tensor) -> Tensor:
        m, top = logits.max(dim=-1, keepdim=True)
        e = logits - m  # s = z − m ≤ 0: the one fresh buffer
        s_y = e.gather(-1, index)
        rest = e.exp_().scatter_(-1, top, 0.0).sum(dim=-1, keepdim=True)  # r, without e^0 = 1
        e.scatter_(-1, top, 1.0)  # e^{s_{c*}} = 1 back, for the backward
        ctx.save_for_backward(e, rest + 1.0, index, logits)  # Σ_c e^{s_c} = 1 + r ∈ [1, C]
        ctx.inputs, ctx.second_order = 1, _SECOND_ORDER  # logits saved last, for _first_order
        return (torch.log1p(rest) - s_y).squeeze(-1)

    @staticmethod
    @_first_order
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        e, total, index = ctx.saved_tensors[:3]
        g = grad.unsqueeze(-1)
        dz = e * (g / total)  # ḡ softmax(z), one pass
        return dz.scatter_add_(-1, index, -g.expand(index.shape)), None  # − ḡ at the label


def binary_cross_entropy(f: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    """`H(y, f) = −[y ln f + (1 − y) ln(1 − f)]` elementwise, for probabilities `f ∈ [0, 1]` and
    targets `y ∈ [0, 1]` (labels 0/1 or soft targets) of `f`'s shape.

    `0 · ln 0` counts as 0 (so `f = y ∈ {0, 1}` costs nothing); a confident wrong prediction
    (`f = 0`, `y = 1`) costs `+∞`, the true value. Prefer `binary_cross_entropy_with_logits`
    when the logit is at hand. `reduction="sum"` is `−ln Π f^y (1 − f)^{1−y}`.
    """
    _check_pair(f, "f", y, "y")
    reduction = _check_reduction(reduction)
    _check_unit_interval(f, "f", "probabilities")
    _check_unit_interval(y, "y", "targets")
    # −[y ln f + (1−y) ln(1−f)], ln(1 − f) as log1p(−f): accurate for small f
    # (numerics.bce-extremes)
    h = -(torch.xlogy(y, f) + torch.special.xlog1py(1.0 - y, -f))
    return _reduce(h, reduction)


def binary_cross_entropy_with_logits(z: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    """`H(y, σ(z))` elementwise, as `max(z, 0) − y z + ln(1 + e^{−|z|})`: finite for every finite
    logit, and its gradient in `z` is `σ(z) − y` (`loss.logistic-gradient`)."""
    _check_pair(z, "z", y, "y")
    reduction = _check_reduction(reduction)
    _check_unit_interval(y, "y", "targets")
    # −y ln σ(z) − (1−y) ln(1−σ(z)) = ln(1 + e^{z}) − y z = max(z, 0) − y z + ln(1 + e^{−|z|}),
    # summed in that order so that a tiny loss (z ≫ 0 with y = 1) keeps its relative accuracy
    # = (1 − y)·max(z, 0) + y·max(−z, 0) + ln(1 + e^{−|z|}): three terms ≥ 0, so no cancellation
    # (max(z, 0) − y z cancels for soft y near 1 and large z: numerics.bce-extremes)
    pos = torch.where(z >= 0, z, 0.0)  # max(z, 0), derivative 1 at z = 0 (as in softplus)
    neg = torch.where(z < 0, z, 0.0)  # min(z, 0) (a Python 0.0 takes z's dtype and device)
    h = ((1.0 - y) * pos - y * neg) + softplus(z - 2.0 * pos)  # softplus(−|z|)
    return _reduce(h, reduction)


def square_error(f: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    """`(f − y)²` elementwise (the mean is PyTorch's `mse_loss`); `loss.square-error-plateau`."""
    _check_pair(f, "f", y, "y")
    reduction = _check_reduction(reduction)
    return _reduce((f - y) ** 2, reduction)


def entropy(p: Tensor, *, dim: int = -1) -> Tensor:
    """`H(p) = −Σ_c p_c ln p_c` along `dim` (with `0 ln 0 = 0`), for distributions `p`."""
    check_float_tensor(p, "p")
    check_int(dim, "dim", low=-p.dim(), high=p.dim() - 1)
    _check_unit_interval(p, "p", "probabilities")
    return -torch.xlogy(p, p).sum(dim=dim)


def kl_divergence(p: Tensor, q: Tensor, *, dim: int = -1) -> Tensor:
    """`KL(p‖q) = Σ_c p_c ln(p_c / q_c)` along `dim` (terms with `p_c = 0` are 0; `+∞` where
    `q_c = 0 < p_c`)."""
    _check_pair(p, "p", q, "q")
    check_int(dim, "dim", low=-p.dim(), high=p.dim() - 1)
    _check_unit_interval(p, "p", "probabilities")
    _check_unit_interval(q, "q", "probabilities")
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=dim)  # Σ p ln p − Σ p ln q


@register("losses.cross_entropy")
def _sample_cross_entropy(device: torch.device, dtype: torch.dtype) -> Sample:
    logits = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)
    y = torch.tensor([0, 2, 1, 2], device=device)

    def f(z: Tensor) -> Tensor:
        return cross_entropy(z, y) + cross_entropy(z, y, fast=True, reduction="sum")

    return f, (logits,)


@register("losses.binary")
def _sample_binary(device: torch.device, dtype: torch.dtype) -> Sample:
    z = torch.randn(5, device=device, dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.5], device=device, dtype=dtype)
    p = torch.full((2, 3), 1 / 3, device=device, dtype=dtype)

    def f(z: Tensor) -> Tensor:
        s = torch.sigmoid(z)
        soft = cross_entropy(z.reshape(1, 5), s.reshape(1, 5) / s.sum())
        parts = (
            binary_cross_entropy_with_logits(z, y, reduction="none"),
            binary_cross_entropy(s, y, reduction="none"),
            square_error(s, y, reduction="none"),
        )
        pq = entropy(p) + kl_divergence(p, p)
        return torch.stack(parts).sum(0) + soft + pq.sum()

    return f, (z,)


@register_calls
def _calls_losses(device: torch.device, dtype: torch.dtype) -> list[Call]:
    z = torch.randn(4, 3, device=device, dtype=dtype)
    y = torch.tensor([0, 2, 1, 2], device=device)
    p = torch.full((4, 3), 1 / 3, device=device, dtype=dtype)
    f = torch.rand(4, 3, device=device, dtype=dtype)
    dim = {"dim": "[-2, 1]"}
    return [
        Call(cross_entropy, {"logits": z, "y": y}),
        Call(cross_entropy, {"logits": z, "y": p}, free=("y",)),  # labels are valid too
        Call(binary_cross_entropy, {"f": f, "y": p}),
        Call(binary_cross_entropy_with_logits, {"z": z, "y": p}),
        Call(square_error, {"f": f, "y": z}),
        Call(entropy, {"p": p, "dim": -1}, ranges=dim),
        Call(kl_divergence, {"p": p, "q": p, "dim": 0}, ranges=dim),
    ]
