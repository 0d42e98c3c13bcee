"""A small fully connected ReLU network from primitives, with optional dropout on hidden layers.

`h_0 = x`, `h_l = relu(h_{l−1} W_lᵀ + b_l)` for the hidden layers `l = 1, …, L−1`, and the
logits `h_{L−1} W_Lᵀ + b_L`. In training mode with `p > 0`, every hidden layer's output goes
through `dlspec.dropout.dropout()` (`p` the drop probability). At test time,
`remove_units()` zeroes a random fraction of hidden units (no rescaling): the "neurons that
break" of claim `dropout.unit-failure`. `fit()` is a compact seeded training loop
(cross-entropy, Adam); the optimizer is a tool here, not under test.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.dropout import check_drop_probability, check_float_tensor, check_probability, dropout
from dlspec.registry import Sample, register

__all__ = ["MLP", "accuracy", "cross_entropy", "fit", "remove_units"]


def _check_sizes(sizes: Any) -> list[int]:
    if not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least 2 layer widths, got {sizes!r}")
    out = []
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"sizes must hold positive integers, got {sizes!r}")
        out.append(int(s))
    return out


class MLP(nn.Module):
    """`sizes[0] → sizes[1] → … → sizes[-1]`, ReLU on hidden layers, dropout `p` on them.

    Weights and biases start as `U(−1/√fan_in, 1/√fan_in)` (the scale of
    `torch.nn.Linear`), drawn with `generator` when given. Serves
    `dropout.unit-failure` and `dropout.nonlinear-inexact`.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        p: float = 0.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.sizes = _check_sizes(sizes)
        self.p = check_drop_probability(p)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)

            def uniform(*shape: int, bound: float = bound) -> Tensor:
                u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
                return (2.0 * u - 1.0) * bound  # U(−bound, bound)

            self.weights.append(nn.Parameter(uniform(fan_out, fan_in)))  # W_l: (out, in)
            self.biases.append(nn.Parameter(uniform(fan_out)))  # b_l

    @property
    def hidden_sizes(self) -> list[int]:
        return self.sizes[1:-1]

    def forward(
        self,
        x: Tensor,
        *,
        generator: torch.Generator | None = None,
        unit_masks: Sequence[Tensor | None] | None = None,
    ) -> Tensor:
        """Logits for `x` of shape `(..., sizes[0])`.

        `generator` draws the dropout masks (training mode). `unit_masks` holds, per hidden
        layer, `None` or a 0/1 tensor broadcastable against that layer's output
        `(..., width)` that multiplies it with no rescaling: a 0 removes the unit. A mask of
        shape `(R, 1, width)` evaluates `R` damaged copies of the net at once, giving logits
        `(R, N, classes)`.
        """
        check_float_tensor(x, "x")
        if x.shape[-1:] != (self.sizes[0],):
            raise ValueError(f"x must end in {self.sizes[0]} features, got shape {tuple(x.shape)}")
        hidden = len(self.sizes) - 2
        if unit_masks is not None and len(unit_masks) != hidden:
            raise ValueError(
                f"unit_masks must hold one entry per hidden layer ({hidden}), got {len(unit_masks)}"
            )
        h = x  # h_0 = x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b  # h_{l−1} W_lᵀ + b_l
            if layer == hidden:
                break  # the output layer: logits, no ReLU, no dropout
            h = h.clamp_min(0)  # relu
            h = dropout(h, self.p, training=self.training, generator=generator)  # m ⊙ h / q
            if unit_masks is not None and (um := unit_masks[layer]) is not None:
                h = h * um  # removed units output 0; survivors are not rescaled
        return h


def remove_units(
    width: int,
    fraction: float,
    *,
    count: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """`count` keep masks of shape `(count, width)`, each with exactly `round(fraction·width)`
    zeros at uniformly random positions (`dropout.unit-failure`)."""
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    fraction = check_probability(
        fraction, "fraction", closed_right=True, meaning="the fraction of units removed"
    )
    k = round(fraction * width)  # units removed per mask
    u = torch.rand(count, width, generator=generator, device=device)
    removed = u.argsort(dim=1)[:, :k]  # a uniformly random k-subset per row
    keep = torch.ones(count, width, device=device, dtype=dtype)
    return keep.scatter(1, removed, 0.0)


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean of `log Σ_c e^{z_c} − z_y` over the batch (log-sum-exp form)."""
    z_y = logits.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # z_y
    loss: Tensor = (torch.logsumexp(logits, dim=-1) - z_y).mean()
    return loss


def accuracy(
    model: MLP, x: Tensor, y: Tensor, *, unit_masks: Sequence[Tensor | None] | None = None
) -> Tensor:
    """Fraction of correct argmax predictions in evaluation mode, one per leading mask copy."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x, unit_masks=unit_masks)
    finally:
        model.train(was_training)
    acc: Tensor = (logits.argmax(dim=-1) == y).to(x.dtype).mean(dim=-1)
    return acc


def fit(
    model: MLP,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    generator: torch.Generator,
    lr: float = 3e-3,
    batch_size: int = 64,
) -> list[float]:
    """Train `model` with minibatch Adam on the cross-entropy; return the mean loss per epoch.

    `generator` (on the data's device) shuffles the minibatches and draws the dropout masks, so a
    run is reproducible from the seed of the generator and of the initial weights.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be ≥ 0 and batch_size ≥ 1, got {epochs}, {batch_size}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    n = x.shape[0]
    history: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        total = torch.zeros((), device=x.device, dtype=x.dtype)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = cross_entropy(model(x[idx], generator=generator), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.detach() * idx.numel()
        history.append(float(total) / n)
    model.eval()
    return history


@register("mlp.MLP")
def _sample_mlp(device: torch.device, dtype: torch.dtype) -> Sample:
    model = MLP([5, 7, 6, 3], p=0.5, device=device, dtype=dtype)
    model.train()
    return model, (torch.randn(4, 5, device=device, dtype=dtype),)


@register("mlp.MLP-removed-units")
def _sample_mlp_removed(device: torch.device, dtype: torch.dtype) -> Sample:
    model = MLP([5, 8, 3], device=device, dtype=dtype).eval()
    masks = remove_units(8, 0.5, count=2, device=device, dtype=dtype)  # (2, 8)

    def f(x: Tensor) -> Tensor:
        out: Tensor = model(x, unit_masks=[masks[:, None, :]])  # (2, N, 3)
        return out

    return f, (torch.randn(4, 5, device=device, dtype=dtype, requires_grad=True),)
