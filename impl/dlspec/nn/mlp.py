"""A small fully connected ReLU network from primitives, with optional dropout on hidden layers.

`h_0 = x`, `h_l = relu(h_{l−1} W_lᵀ + b_l)` for the hidden layers `l = 1, …, L−1`, and the
logits `h_{L−1} W_Lᵀ + b_L`. In training mode with `p > 0`, every hidden layer's output goes
through `dlspec.nn.dropout.dropout()` (`p` the drop probability). At test time,
`remove_units()` zeroes a random fraction of hidden units (no rescaling): the "neurons that
break" of claim `dropout.unit-failure`. Train it with `dlspec.train.fit`. `StackedMLP` holds
`M` independent copies of one architecture and runs them with batched matmuls, so that several
seeds train in one `fit(..., copies=M)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_float_dtype,
    check_float_tensor,
    check_int,
    check_like,
    check_probability,
    check_sizes,
)
from dlspec.nn.dropout import check_drop_probability, dropout
from dlspec.nn.linear import uniform_init
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["MLP", "StackedMLP", "remove_units"]


def _check_masks(unit_masks: Sequence[Tensor | None] | None) -> None:
    for i, um in enumerate(unit_masks or ()):
        if um is not None:
            check_float_tensor(um, f"unit_masks[{i}]")


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
        self.sizes = check_sizes(sizes)
        self.p = check_drop_probability(p)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
            w = uniform_init((fan_out, fan_in), fan_in, **kw)  # W_l: (out, in)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(uniform_init((fan_out,), fan_in, **kw)))  # b_l

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
        check_like(check_float_tensor(x, "x"), self.weights[0], "x", "weights")
        _check_masks(unit_masks)
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


class StackedMLP(nn.Module):
    """`M` independent MLPs of the same sizes and drop probability, run at once.

    Built from existing `MLP`s (`StackedMLP(nets)` copies their weights, so copy `k` starts
    where `nets[k]` does); `W_l` is stored as an `(M, out, in)` tensor and every layer is one
    batched matmul. Inputs are `(N, sizes[0])`, shared by all copies, or `(M, ..., N, sizes[0])`,
    one slice per copy; outputs are `(M, ..., N, sizes[-1])`. Dropout masks are drawn per entry,
    so independently for each copy. Serves `dropout.unit-failure` (all seeds trained at once).
    """

    def __init__(self, nets: Sequence[MLP]) -> None:
        super().__init__()
        if not isinstance(nets, Sequence) or len(nets) == 0:
            raise ValueError(f"nets must be a non-empty sequence of MLPs, got {nets!r}")
        for k, net in enumerate(nets):
            if not isinstance(net, MLP):
                raise TypeError(f"nets[{k}] must be an MLP, got {type(net).__name__}")
            if net.sizes != nets[0].sizes or net.p != nets[0].p:
                raise ValueError(
                    f"nets must share sizes and p: nets[0] has {nets[0].sizes}, p={nets[0].p}; "
                    f"nets[{k}] has {net.sizes}, p={net.p}"
                )
        self.sizes = list(nets[0].sizes)
        self.p = nets[0].p
        self.copies = len(nets)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([net.weights[i].detach() for net in nets]).clone())
            for i in range(len(self.sizes) - 1)
        )  # W_l: (M, out, in)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([net.biases[i].detach() for net in nets]).clone())
            for i in range(len(self.sizes) - 1)
        )  # b_l: (M, out)

    def unstack(self) -> list[MLP]:
        """The copies as separate `MLP`s (weights copied, in the stack's current mode)."""
        nets = []
        for k in range(self.copies):
            w0 = self.weights[0]
            net = MLP(self.sizes, p=self.p, device=w0.device, dtype=w0.dtype)
            with torch.no_grad():
                for i in range(len(self.sizes) - 1):
                    net.weights[i].copy_(self.weights[i][k])
                    net.biases[i].copy_(self.biases[i][k])
            nets.append(net.train(self.training))
        return nets

    def forward(
        self,
        x: Tensor,
        *,
        generator: torch.Generator | None = None,
        unit_masks: Sequence[Tensor | None] | None = None,
    ) -> Tensor:
        """Logits `(M, ..., N, sizes[-1])`; `generator` and `unit_masks` as in `MLP.forward`
        (each mask broadcasts against a hidden output `(M, ..., N, width)`)."""
        check_like(check_float_tensor(x, "x"), self.weights[0], "x", "weights")
        _check_masks(unit_masks)
        if (
            x.dim() < 2  # (a vector would pass the checks below as M examples of one copy)
            or x.shape[-1] != self.sizes[0]
            or (x.dim() > 2 and x.shape[0] != self.copies)
        ):
            raise ValueError(
                f"x must have shape (N, {self.sizes[0]}) or ({self.copies}, ..., N, "
                f"{self.sizes[0]}), got {tuple(x.shape)}"
            )
        hidden = len(self.sizes) - 2
        if unit_masks is not None and len(unit_masks) != hidden:
            raise ValueError(
                f"unit_masks must hold one entry per hidden layer ({hidden}), got {len(unit_masks)}"
            )
        # h_0 = x: (M, ..., N, in), or a shared (N, in), which the first matmul broadcasts
        # against the (M, in, out) weights into (M, N, out)
        h = x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            # the dimensions between the copy and example axes; none for a shared 2-d x
            # ([1] * −1 is [])
            ones = [1] * (h.dim() - 3)
            w_t = w.transpose(1, 2).reshape(self.copies, *ones, w.shape[2], w.shape[1])
            h = h @ w_t + b.reshape(self.copies, *ones, 1, b.shape[1])  # h W_lᵀ + b_l, per copy
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
    width = check_int(width, "width")
    count = check_int(count, "count")
    dtype = check_float_dtype(dtype)
    fraction = check_probability(
        fraction, "fraction", closed_right=True, meaning="the fraction of units removed"
    )
    k = round(fraction * width)  # units removed per mask
    u = torch.rand(count, width, generator=generator, device=device)
    removed = u.argsort(dim=1)[:, :k]  # a uniformly random k-subset per row
    keep = torch.ones(count, width, device=device, dtype=dtype)
    return keep.scatter(1, removed, 0.0)


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


@register("mlp.StackedMLP")
def _sample_stacked_mlp(device: torch.device, dtype: torch.dtype) -> Sample:
    nets = [MLP([5, 7, 3], p=0.5, device=device, dtype=dtype) for _ in range(2)]
    model = StackedMLP(nets).train()
    return model, (torch.randn(4, 5, device=device, dtype=dtype),)


@register_calls
def _calls_mlp(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(4, 5, device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    nets = [MLP([5, 7, 3], p=0.5, **where) for _ in range(2)]
    mask = remove_units(7, 0.5, **where)
    return [
        Call(
            MLP, {"sizes": [5, 7, 3], "p": 0.5, **where}, forward={"x": x}, ranges={"p": "[0, 1)"}
        ),
        Call(MLP, {"sizes": [5, 7, 3], **where}, forward={"x": x, "unit_masks": [mask]}),
        Call(StackedMLP, {"nets": nets}, forward={"x": x}),
        Call(
            remove_units,
            {"width": 8, "fraction": 0.5, "count": 2, **where},
            ranges={"fraction": "[0, 1]"},
        ),
    ]
