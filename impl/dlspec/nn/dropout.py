"""Dropout from primitives, and the exact sub-network ensemble that it approximates.

Notation, as on the spec page `generalization/dropout.md`: `p` is the *drop* probability
(PyTorch's convention) and `q = 1 - p` the keep probability. A keep mask `m` has independent
entries `m_i ~ Bernoulli(q)`. (Srivastava et al. 2014 write `p` for the keep probability.)

Two forms of the layer:

- standard: training `m ⊙ x`, evaluation `q x`;
- inverted (PyTorch's): training `m ⊙ x / q`, evaluation `x`.

For the exact ensemble, a sub-network is a mask `d ∈ {0, 1}^n` with probability
`P(d) = q^{|d|} (1 - q)^{n - |d|}`; `all_masks()` lists all `2^n` of them and
`mask_probabilities()` weighs them. `ensemble_mean()` is the arithmetic mean
`Σ_d P(d) f_d`, `normalized_geometric_mean()` and `logistic_nwgm()` the normalized
weighted geometric mean (NWGM).

Claims served: `dropout.expectation`, `dropout.linear-average`,
`dropout.softmax-geometric-mean`, `dropout.linear-regression-l2`,
`dropout.nonlinear-inexact`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_flag,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
    check_probability,
)
from dlspec.nn.activations import log_sigmoid
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "Dropout",
    "all_masks",
    "check_drop_probability",
    "dropout",
    "ensemble_mean",
    "keep_mask",
    "log_sigmoid",
    "logistic_nwgm",
    "mask_probabilities",
    "normalized_geometric_mean",
]

#: Largest `n` for which `all_masks()` enumerates the `2^n` sub-networks (2^20 rows).
MAX_ENUMERATED_UNITS = 20


# -- argument checks ------------------------------------------------------------------------------


def check_drop_probability(p: Any, name: str = "p") -> float:
    """`p` as a float, or a `TypeError`/`ValueError` naming `name` and the range [0, 1).

    `p = 1` is refused: every unit would be dropped, and the inverted form divides by `q = 0`.
    A 0-d real tensor is accepted, as `torch.nn.Dropout` accepts one.
    """
    return check_probability(p, name, closed_right=False, meaning="the drop probability")


# -- the layer ------------------------------------------------------------------------------------


def keep_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    *,
    device: torch.device | str | None,
    dtype: torch.dtype,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A keep mask `m` of 0/1 entries, `m_i ~ Bernoulli(q)` i.i.d. (`dropout.expectation`).

    The uniforms are drawn in float64 for float64 masks and in float32 otherwise, so that a
    low-precision `dtype` (bfloat16 has 8 bits of mantissa) does not bias the keep rate.
    """
    p = check_drop_probability(p)
    shape = tuple(check_int(n, f"shape[{i}]", low=0) for i, n in enumerate(shape))
    dtype = check_float_dtype(dtype)
    u_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    u = torch.rand(shape, generator=generator, device=device, dtype=u_dtype)  # u_i ~ U[0, 1)
    return (u >= p).to(dtype)  # P(m_i = 1) = P(u_i ≥ p) = 1 − p = q


def dropout(
    x: Tensor,
    p: float,
    *,
    training: bool = True,
    inverted: bool = True,
    generator: torch.Generator | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Dropout with drop probability `p` (`dropout.expectation`).

    | form     | training    | evaluation |
    |----------|-------------|------------|
    | inverted | `m ⊙ x / q` | `x`        |
    | standard | `m ⊙ x`     | `q x`      |

    `mask` (training only) fixes `m` instead of drawing it: a tensor of 0/1 entries (bool or
    floating) with exactly `x`'s shape, on `x`'s device; this is how one sub-network `d` of
    the ensemble is evaluated (`dropout.linear-average` and the other ensemble claims). Its
    values are not checked (that would read the data). With `p = 0` and no mask, and in the
    inverted form's evaluation mode, `x` itself is returned.
    """
    p = check_drop_probability(p)
    x = check_float_tensor(x, "x")
    training = check_flag(training, "training")
    inverted = check_flag(inverted, "inverted")
    generator = check_generator(generator)
    q = 1.0 - p
    if mask is not None:
        if not training:
            raise ValueError("mask is used only in training mode (training=True)")
        if not isinstance(mask, Tensor):
            raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        if mask.shape != x.shape:
            raise ValueError(
                f"mask must have x's shape {tuple(x.shape)}, got shape {tuple(mask.shape)}"
            )
        if mask.device != x.device:
            raise ValueError(f"mask must be on x's device {x.device}, got {mask.device}")
        if not (mask.dtype == torch.bool or mask.is_floating_point()):
            raise TypeError(f"mask must be a bool or floating-point tensor, got {mask.dtype}")
    if not training:
        return x if inverted else x * q  # eval: x (inverted), q x (standard) = E[train output]
    if p == 0.0 and mask is None:
        return x  # m ≡ 1 and q = 1
    m = (
        mask.to(x.dtype)
        if mask is not None
        else keep_mask(x.shape, p, device=x.device, dtype=x.dtype, generator=generator)
    )
    y = m * x  # m ⊙ x
    return y / q if inverted else y  # inverted: E[m ⊙ x / q] = q x / q = x


class Dropout(nn.Module):
    """The dropout layer (`dropout.expectation`); `p` is the drop probability.

    `inverted=True` (the default, as `torch.nn.Dropout`) scales by `1/q` while training
    and is the identity in evaluation mode; `inverted=False` is the form of the original papers:
    `m ⊙ x` while training and `q x` in evaluation mode. An optional `generator` (on the
    inputs' device) makes the masks reproducible.
    """

    def __init__(
        self, p: float = 0.5, *, inverted: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = check_drop_probability(p)
        self.inverted = check_flag(inverted, "inverted")
        self.generator = check_generator(generator)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(
            x, self.p, training=self.training, inverted=self.inverted, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inverted={self.inverted}"


# -- the ensemble of sub-networks -----------------------------------------------------------------


def all_masks(
    n: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Every sub-network mask `d ∈ {0, 1}^n`: a `(2^n, n)` tensor of 0/1.

    Row `k` holds the binary digits of `k`, `d_j = ⌊k / 2^j⌋ mod 2`. Serves
    `dropout.linear-average`, `dropout.softmax-geometric-mean`,
    `dropout.linear-regression-l2` and `dropout.nonlinear-inexact`.
    """
    n = check_int(n, "n", low=0, high=MAX_ENUMERATED_UNITS)  # 2^n sub-networks are enumerated
    dtype = check_float_dtype(dtype)
    k = torch.arange(2**n, device=device)  # sub-network index k = 0, …, 2^n − 1
    j = torch.arange(n, device=device)  # unit index j
    return ((k[:, None] >> j) & 1).to(dtype)  # d_kj = bit j of k


def mask_probabilities(masks: Tensor, q: float) -> Tensor:
    """`P(d) = q^{|d|} (1 − q)^{n − |d|}` for each row `d` of `masks` (shape `(M, n)`).

    `q` is the *keep* probability, in [0, 1]. Over `all_masks()` the weights sum to 1.
    """
    masks = check_float_tensor(masks, "masks")
    if masks.dim() != 2:
        raise ValueError(
            f"masks must be 2-D (sub-networks × units), got shape {tuple(masks.shape)}"
        )
    q = check_probability(q, "q", closed_right=True, meaning="the keep probability")
    n = masks.shape[1]
    size = masks.sum(dim=1)  # |d|, the number of kept units
    return torch.pow(q, size) * torch.pow(1.0 - q, n - size)  # q^{|d|} (1 − q)^{n − |d|}


def _check_weights(outputs: Tensor, weights: Tensor, name: str) -> None:
    check_float_tensor(outputs, name)
    check_float_tensor(weights, "weights")
    check_like(weights, outputs, "weights", name)
    if weights.dim() != 1 or outputs.dim() < 1 or outputs.shape[0] != weights.shape[0]:
        raise ValueError(
            f"weights must be 1-D with one entry per sub-network (the first dimension of {name}, "
            f"{outputs.shape[0] if outputs.dim() else 'none'}), got shape {tuple(weights.shape)}"
        )


def ensemble_mean(outputs: Tensor, weights: Tensor) -> Tensor:
    """The probability-weighted arithmetic mean `Σ_d P(d) f_d` over the first dimension.

    `outputs[k]` is sub-network `k`'s output `f_d`; `weights[k]` its `P(d)`.
    (`dropout.linear-average`, `dropout.linear-regression-l2`, `dropout.nonlinear-inexact`.)
    """
    _check_weights(outputs, weights, "outputs")
    mean: Tensor = torch.tensordot(weights, outputs, dims=1)  # Σ_d P(d) f_d
    return mean


def normalized_geometric_mean(log_outputs: Tensor, weights: Tensor) -> Tensor:
    """NWGM of the sub-networks' distributions over the classes (the last dimension).

    `log_outputs[k, ..., y] = log p_d(y)` for sub-network `k` with weight `weights[k] = P(d)`:
    `G(y) = Π_d p_d(y)^{P(d)}` and `NWGM(y) = G(y) / Σ_{y'} G(y')`, computed in log space
    (`dropout.softmax-geometric-mean`).
    """
    _check_weights(log_outputs, weights, "log_outputs")
    if log_outputs.dim() < 2:
        raise ValueError(
            "log_outputs must have a sub-network dimension and a class dimension, got shape "
            f"{tuple(log_outputs.shape)}"
        )
    log_g = torch.tensordot(weights, log_outputs, dims=1)  # log G(y) = Σ_d P(d) log p_d(y)
    return torch.exp(log_g - torch.logsumexp(log_g, dim=-1, keepdim=True))  # G(y) / Σ_y' G(y')


def logistic_nwgm(s: Tensor, weights: Tensor) -> Tensor:
    """NWGM of a logistic unit's sub-networks, `G / (G + G′)`.

    `s[k, ...]` is the unit's total input `S_d` in sub-network `k`; `G = Π_d σ(S_d)^{P(d)}`
    and `G′ = Π_d (1 − σ(S_d))^{P(d)}`. Baldi and Sadowski (2013) show this equals `σ(E[S])`
    (`dropout.softmax-geometric-mean`).
    """
    _check_weights(s, weights, "s")
    log_g = torch.tensordot(weights, log_sigmoid(s), dims=1)  # log G = Σ_d P(d) log σ(S_d)
    log_g_bar = torch.tensordot(weights, log_sigmoid(-s), dims=1)  # log G′; 1 − σ(S) = σ(−S)
    out: Tensor = torch.exp(log_sigmoid(log_g - log_g_bar))  # G / (G + G′) = σ(log G − log G′)
    return out


# -- registry samples (the generic device test) ---------------------------------------------------


@register("dropout.Dropout")
def _sample_dropout_layer(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = Dropout(0.3).to(device)
    x = torch.randn(4, 6, device=device, dtype=dtype, requires_grad=True)
    return layer, (x,)


@register("dropout.dropout-standard")
def _sample_dropout_standard(device: torch.device, dtype: torch.dtype) -> Sample:
    def f(x: Tensor) -> Tensor:
        return dropout(x, 0.25, inverted=False) + dropout(x, 0.25, training=False, inverted=False)

    return f, (torch.randn(3, 5, device=device, dtype=dtype, requires_grad=True),)


@register("dropout.ensemble")
def _sample_ensemble(device: torch.device, dtype: torch.dtype) -> Sample:
    n, classes, q = 3, 4, 0.6

    def f(w: Tensor, b: Tensor, v: Tensor) -> Tensor:
        d = all_masks(n, device=v.device, dtype=v.dtype)  # (2^n, n)
        prob = mask_probabilities(d, q)  # P(d)
        z = dropout(v.expand_as(d), 1 - q, inverted=False, mask=d) @ w.T + b  # W (d ⊙ v) + b
        log_p = z - torch.logsumexp(z, dim=-1, keepdim=True)
        s = z[:, 0]
        return (
            normalized_geometric_mean(log_p, prob).sum()
            + ensemble_mean(z, prob).sum()
            + logistic_nwgm(s, prob)
        )

    w = torch.randn(classes, n, device=device, dtype=dtype, requires_grad=True)
    b = torch.randn(classes, device=device, dtype=dtype, requires_grad=True)
    v = torch.randn(n, device=device, dtype=dtype)
    return f, (w, b, v)


@register_calls
def _calls_dropout(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(3, 4, device=device, dtype=dtype)
    masks = all_masks(3, device=device, dtype=dtype)  # (8, 3)
    w = mask_probabilities(masks, 0.6)
    drop = {"p": "[0, 1)"}
    return [
        Call(check_drop_probability, {"p": 0.3}, ranges=drop, free=("name",)),
        Call(
            keep_mask,
            {"shape": (3, 4), "p": 0.3, "device": device, "dtype": dtype},
            ranges={**drop, "shape": "[0, inf)"},
        ),
        Call(dropout, {"x": x, "p": 0.3}, ranges=drop),
        Call(
            dropout,
            {"x": x, "p": 0.3, "inverted": False, "mask": (x > 0).to(dtype)},
            ranges=drop,
            free=("mask",),
        ),  # a bool and a float mask are both valid
        Call(Dropout, {"p": 0.3}, forward={"x": x}, ranges=drop),
        Call(
            all_masks,
            {"n": 3, "device": device, "dtype": dtype},
            ranges={"n": f"[0, {MAX_ENUMERATED_UNITS}]"},
        ),
        Call(mask_probabilities, {"masks": masks, "q": 0.6}, ranges={"q": "[0, 1]"}),
        Call(ensemble_mean, {"outputs": masks @ x[:, :3].T, "weights": w}),
        Call(normalized_geometric_mean, {"log_outputs": masks @ x[:, :3].T, "weights": w}),
        Call(logistic_nwgm, {"s": masks[:, 0], "weights": w}),
    ]
