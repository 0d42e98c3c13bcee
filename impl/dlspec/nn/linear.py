"""The affine layer and the fully connected feedforward network built from it.

`Linear`: `z = x Wᵀ + b` with `W` of shape `(out, in)` (rows are neurons, as in the notes'
matrices) and `b` of shape `(out,)`. `FeedForward(sizes, activation)`: the nested form
`a_L = σ_L(W_L σ(… σ(W_1 x + b_1) …) + b_L)`, with `activation` on the hidden layers and
`output` (default `"identity"`) on the last. Weights start as `U(−1/√fan_in, 1/√fan_in)` (the
scale of `torch.nn.Linear`) drawn from an optional generator, and can be set exactly with
`load()` (the lecture example loads its printed weights).

`copies=S` holds `S` independent networks in one module (weights `(S, out, in)`): an input
`(..., N, in)` gives `(S, ..., N, out)`, so several seeds train at once as one batch
(`net.digits-mlp`). `Maxout(in_features, units, pieces)` is a `Linear` to `units·pieces`
pre-activations followed by `maxout` (`net.maxout-generalizes-relu`).

Claims: `net.forward-matrix-form`, `net.lecture-example`, `net.digits-mlp`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
    check_sizes,
)
from dlspec.nn.activations import activation, maxout
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["FeedForward", "Linear", "Maxout", "uniform_init"]


def uniform_init(
    shape: tuple[int, ...],
    fan_in: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """`U(−1/√fan_in, 1/√fan_in)` entries (the scale of `torch.nn.Linear`'s default)."""
    shape = tuple(check_int(n, f"shape[{i}]", low=0) for i, n in enumerate(shape))
    fan_in = check_int(fan_in, "fan_in")
    generator = check_generator(generator)
    dtype = None if dtype is None else check_float_dtype(dtype)
    bound = 1.0 / math.sqrt(fan_in)
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return (2.0 * u - 1.0) * bound


class Linear(nn.Module):
    """`z = x Wᵀ + b`; `weight` is `(out_features, in_features)`, `bias` `(out_features,)`.

    With `copies=S`, `weight` is `(S, out, in)` and `bias` `(S, out)`: `S` independent layers,
    applied to one shared input `(N, in)` or to a stacked input `(S, N, in)`; output `(S, N, out)`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        copies: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features")
        self.out_features = check_int(out_features, "out_features")
        self.copies = None if copies is None else check_int(copies, "copies")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        generator = check_generator(generator)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
        lead = () if self.copies is None else (self.copies,)
        self.weight = nn.Parameter(
            uniform_init((*lead, self.out_features, self.in_features), self.in_features, **kw)
        )
        self.bias = (
            nn.Parameter(uniform_init((*lead, self.out_features), self.in_features, **kw))
            if bias
            else None
        )

    def load(self, weight: Any, bias: Any = None) -> Linear:
        """Set `W` (and `b`) exactly from tensors or nested lists of the right shapes."""
        w = _as_tensor(weight, "weight", self.weight)
        if w.shape != self.weight.shape:
            raise ValueError(
                f"weight must have shape {tuple(self.weight.shape)}, got {tuple(w.shape)}"
            )
        with torch.no_grad():
            self.weight.copy_(w)
            if bias is not None:
                if self.bias is None:
                    raise ValueError("bias given for a layer built with bias=False")
                b = _as_tensor(bias, "bias", self.weight)
                if b.shape != self.bias.shape:
                    raise ValueError(
                        f"bias must have shape {tuple(self.bias.shape)}, got {tuple(b.shape)}"
                    )
                self.bias.copy_(b)
        return self

    def forward(self, x: Tensor) -> Tensor:
        check_like(check_float_tensor(x, "x"), self.weight, "x", "weight")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must end in {self.in_features} features, got shape {tuple(x.shape)}"
            )
        if self.copies is None:
            z = x @ self.weight.T  # x Wᵀ: each row of W is one neuron's weights
            return z + self.bias if self.bias is not None else z
        if not (x.dim() == 2 or (x.dim() == 3 and x.shape[0] == self.copies)):
            raise ValueError(
                f"x must have shape (N, {self.in_features}) or ({self.copies}, N, "
                f"{self.in_features}) for a layer with copies={self.copies}, got {tuple(x.shape)}"
            )
        z = x @ self.weight.transpose(-1, -2)  # x W_sᵀ per copy s (broadcast): (S, N, out)
        return z + self.bias[:, None, :] if self.bias is not None else z

    def extra_repr(self) -> str:
        has_bias = self.bias is not None
        copies = "" if self.copies is None else f", copies={self.copies}"
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={has_bias}{copies}"
        )


class FeedForward(nn.Module):
    """`sizes[0] → … → sizes[-1]`: `Linear` layers, `activation` after each hidden layer and
    `output` after the last (a name in `dlspec.nn.activations.ACTIVATIONS`).

    `a_0 = x`, `z_l = a_{l−1} W_lᵀ + b_l`, `a_l = σ(z_l)`: a batch `(N, sizes[0])` is one matrix
    product per layer (`net.forward-matrix-form`). With `copies=S` the module holds `S`
    independent networks (output `(S, N, sizes[-1])`).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        *,
        output: str = "identity",
        bias: bool = True,
        copies: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.activation_name, self.output_name = activation, output
        self.act = _activation(activation, "activation")
        self.out_act = _activation(output, "output")
        self.layers = nn.ModuleList(
            Linear(a, b, bias=bias, copies=copies, generator=generator, device=device, dtype=dtype)
            for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        )

    def load(self, params: Sequence[tuple[Any, Any]]) -> FeedForward:
        """Set every layer's `(W_l, b_l)` exactly, in order."""
        if len(params) != len(self.layers):
            raise ValueError(
                f"params must hold one (weight, bias) pair per layer ({len(self.layers)}), "
                f"got {len(params)}"
            )
        for layer, (w, b) in zip(self.layers, params, strict=True):
            assert isinstance(layer, Linear)
            layer.load(w, b)
        return self

    def forward_all(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Every layer's pre-activation and activation `(z_l, a_l)`, `l = 1, …, L`."""
        out = []
        a = x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            z = layer(a)  # z_l = W_l a_{l−1} + b_l
            a = self.out_act(z) if i == last else self.act(z)  # a_l = σ(z_l)
            out.append((z, a))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_all(x)[-1][1]


class Maxout(nn.Module):
    """`units` maxout units of `pieces` affine pieces each: `h_i = max_j (x W_{ij}ᵀ + b_{ij})`,
    a `Linear(in_features, units·pieces)` (pieces of unit `i` are outputs `i·pieces … i·pieces +
    pieces − 1`) followed by `maxout` (`net.maxout-generalizes-relu`)."""

    def __init__(
        self,
        in_features: int,
        units: int,
        pieces: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.units = check_int(units, "units")
        self.pieces = check_int(pieces, "pieces")
        self.linear = Linear(
            in_features, self.units * self.pieces, generator=generator, device=device, dtype=dtype
        )

    def forward(self, x: Tensor) -> Tensor:
        return maxout(self.linear(x), self.pieces)  # max_j z_{i·k + j}


def _as_tensor(value: Any, name: str, like: Tensor) -> Tensor:
    try:
        if isinstance(value, Tensor):
            t = value.to(device=like.device)
        else:  # Python numbers straight to like's dtype (not through float32)
            t = torch.as_tensor(value, device=like.device, dtype=like.dtype)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{name} must be a tensor or nested list of real numbers, got {type(value).__name__}"
        ) from None
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t.to(like.dtype)


def _activation(name: Any, what: str) -> Any:
    try:
        return activation(name)
    except ValueError as e:
        raise ValueError(str(e).replace("activation name must", f"{what} must", 1)) from None


@register("linear.FeedForward")
def _sample_feedforward(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([3, 5, 4, 2], "sigmoid", output="tanh", device=device, dtype=dtype)
    return net, (torch.randn(6, 3, device=device, dtype=dtype),)


@register("linear.FeedForward-copies")
def _sample_feedforward_copies(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([3, 4, 2], "relu", copies=3, device=device, dtype=dtype)
    return net, (torch.randn(5, 3, device=device, dtype=dtype),)


@register("linear.Maxout")
def _sample_maxout(device: torch.device, dtype: torch.dtype) -> Sample:
    return Maxout(3, 4, 2, device=device, dtype=dtype), (
        torch.randn(5, 3, device=device, dtype=dtype),
    )


@register_calls
def _calls_linear(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(5, 3, device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    return [
        Call(uniform_init, {"shape": (2, 3), "fan_in": 3, **where}, ranges={"shape": "[0, inf)"}),
        Call(Linear, {"in_features": 3, "out_features": 2, **where}, forward={"x": x}),
        Call(Linear, {"in_features": 3, "out_features": 2, "copies": 2, **where}, forward={"x": x}),
        Call(FeedForward, {"sizes": [3, 4, 2], "activation": "tanh", **where}, forward={"x": x}),
        Call(FeedForward, {"sizes": [3, 4, 2], "copies": 2, **where}, forward={"x": x}),
        Call(Maxout, {"in_features": 3, "units": 4, "pieces": 2, **where}, forward={"x": x}),
    ]
