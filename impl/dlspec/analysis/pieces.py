"""Linear pieces and activation regions of piecewise-linear (ReLU) networks.

- `linear_pieces(net, a, b)`: the exact pieces of a 1-D ReLU `FeedForward` `R → R` on `[a, b]`,
  found from breakpoints, not by sampling a grid. Layer by layer, every unit's pre-activation is
  piecewise linear in `x` with known breakpoints; it is linear between consecutive breakpoints,
  so its zeros there are found exactly by linear interpolation and become new breakpoints (the
  kinks the ReLU adds). At the end the network is evaluated at every candidate breakpoint and
  neighbouring segments with equal slopes are merged: what remains are the maximal linear
  pieces (`net.depth-separation`).
- `activation_pattern(net, x)`: which hidden ReLUs are on (`z > 0`) at each input.
- `local_affine_map(net, x)`: the Jacobian `J_P = W_L D_{L−1} W_{L−1} ⋯ D_1 W_1` and offset `c_P`
  of the affine map `f(y) = J_P y + c_P` that the network computes on the activation region of
  `x` (`D_l = diag(pattern of layer l)`), from the weights alone (`net.relu-piecewise-linear`).

`linear_pieces` reads the data (the number of breakpoints depends on the weights), so it does
not run on the `meta` device, only on real ones; `activation_pattern` and `local_affine_map` run
anywhere (registered for the device test).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dlspec.checks import check_float_tensor, check_real
from dlspec.nn.linear import FeedForward, Linear
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["Pieces", "activation_pattern", "linear_pieces", "local_affine_map"]


@dataclass(frozen=True)
class Pieces:
    """The maximal linear pieces of `f` on `[a, b]`: piece `i` spans
    `[breakpoints[i], breakpoints[i + 1]]` with slope `slopes[i]`; `values` is `f` at the
    breakpoints (`a` and `b` included)."""

    breakpoints: Tensor
    values: Tensor
    slopes: Tensor

    @property
    def count(self) -> int:
        """The number of maximal linear pieces."""
        return int(self.slopes.shape[0])


def _check_relu_net(net: FeedForward, *, scalar: bool) -> None:
    if not isinstance(net, FeedForward):
        raise TypeError(f"net must be a dlspec FeedForward network, got {type(net).__name__}")
    pwl = ("relu", "identity")
    if net.activation_name not in pwl or net.output_name not in pwl:
        raise ValueError(
            f"net must be piecewise linear: activation and output in {pwl}, got "
            f"{net.activation_name!r} and {net.output_name!r}"
        )
    if any(isinstance(layer, Linear) and layer.copies is not None for layer in net.layers):
        raise ValueError("net must be a single network (built without copies)")
    if scalar and (net.sizes[0] != 1 or net.sizes[-1] != 1):
        raise ValueError(f"net must map R → R (sizes 1 → … → 1), got sizes {net.sizes}")


def _with_zero_crossings(x: Tensor, z: Tensor) -> Tensor:
    """Breakpoints `x` (sorted, `(P,)`) plus every zero of the units' pre-activations `z`
    (`(P, m)`, linear between consecutive breakpoints) strictly inside a segment."""
    z0, z1 = z[:-1], z[1:]  # each unit at the two ends of each segment
    cross = (z0 * z1) < 0  # a strict sign change: one zero inside the segment
    seg, _unit = cross.nonzero(as_tuple=True)
    x0, x1 = x[:-1][seg], x[1:][seg]
    a, b = z0[cross], z1[cross]
    new = x0 + (x1 - x0) * a / (a - b)  # the zero of the line through (x0, a), (x1, b)
    merged, _ = torch.sort(torch.cat([x, new]))
    return merged[torch.cat([merged.new_ones(1, dtype=torch.bool), merged[1:] > merged[:-1]])]


def linear_pieces(net: FeedForward, a: float, b: float, *, rtol: float = 1e-9) -> Pieces:
    """The maximal linear pieces of the ReLU network `net: R → R` on `[a, b]`.

    Neighbouring segments are merged when their slopes differ by at most
    `rtol · max(1, max |slope|)` (rounding in the located breakpoints perturbs slopes by a few
    ulps relative; with dyadic weights and breakpoints, as in the tent map, they are exact).
    """
    _check_relu_net(net, scalar=True)
    a = check_real(a, "a")
    b = check_real(b, "b")
    if not a < b:
        raise ValueError(f"the interval [a, b] must have a < b, got a={a!r}, b={b!r}")
    rtol = check_real(rtol, "rtol", low=0.0)
    w = _linear_layers(net)[0].weight
    x = torch.tensor([a, b], device=w.device, dtype=w.dtype)
    with torch.no_grad():
        for i in range(len(net.layers) - 1):
            z = net.forward_all(x[:, None])[i][0]  # pre-activations of hidden layer i + 1
            x = _with_zero_crossings(x, z)
        values = net(x[:, None])[:, 0]  # f at every candidate breakpoint
    slopes = (values[1:] - values[:-1]) / (x[1:] - x[:-1])
    scale = rtol * max(1.0, float(slopes.abs().max()))
    # a breakpoint survives where the slope changes
    keep = (slopes[1:] - slopes[:-1]).abs() > scale
    bp_mask = torch.cat([keep.new_ones(1), keep, keep.new_ones(1)])
    seg_start = torch.cat([keep.new_ones(1), keep])  # segments that start a new piece
    return Pieces(breakpoints=x[bp_mask], values=values[bp_mask], slopes=slopes[seg_start])


def activation_pattern(net: FeedForward, x: Tensor) -> list[Tensor]:
    """Per hidden layer, the boolean pattern `z_l > 0` (which ReLUs are on) at each input."""
    _check_relu_net(net, scalar=False)
    check_float_tensor(x, "x")
    layers = net.forward_all(x)[:-1]
    return [z > 0 for z, _ in layers]


def local_affine_map(net: FeedForward, x: Tensor) -> tuple[Tensor, Tensor]:
    """`(J_P, c_P)` with `f(y) = J_P y + c_P` on the activation region of the single input `x`
    (shape `(d,)`): `J_P = W_L D_{L−1} W_{L−1} ⋯ D_1 W_1` with `D_l = diag(1[z_l > 0])`
    (identity hidden layers: `D_l = I`), built from the weights, not from autograd."""
    _check_relu_net(net, scalar=False)
    check_float_tensor(x, "x", dim=1)
    if net.output_name != "identity":
        raise ValueError("local_affine_map needs output='identity' (a relu output is not affine)")
    pattern = activation_pattern(net, x) if net.activation_name == "relu" else None
    layers = _linear_layers(net)
    first = layers[0]
    j: Tensor = first.weight  # J = W_1
    c: Tensor = first.bias if first.bias is not None else torch.zeros_like(j[:, 0])
    for i, layer in enumerate(layers[1:]):
        if pattern is not None:
            d = pattern[i].to(j.dtype)  # D_l
            j, c = d[:, None] * j, d * c  # D_l (J y + c)
        j = layer.weight @ j  # W_{l+1} D_l J
        c = layer.weight @ c
        if layer.bias is not None:
            c = c + layer.bias
    return j, c


def _linear_layers(net: FeedForward) -> list[Linear]:
    return [layer for layer in net.layers if isinstance(layer, Linear)]


@register("pieces.local_affine_map", backward=False)
def _sample_local_affine_map(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([3, 4, 4, 2], "relu", device=device, dtype=dtype)

    def f(x: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        j, c = local_affine_map(net, x)
        return j, c, activation_pattern(net, x[None])

    return f, (torch.randn(3, device=device, dtype=dtype),)


@register_calls
def _calls_pieces(device: torch.device, dtype: torch.dtype) -> list[Call]:
    net = FeedForward([1, 4, 1], "relu", device=device, dtype=dtype)
    deep = FeedForward([3, 4, 4, 2], "relu", device=device, dtype=dtype)
    x = torch.randn(3, device=device, dtype=dtype)
    return [
        Call(activation_pattern, {"net": deep, "x": x[None]}),
        Call(local_affine_map, {"net": deep, "x": x}, ndim=("x",)),
        Call(linear_pieces, {"net": net, "a": -1.0, "b": 1.0}, ranges={"rtol": "[0, inf)"}),
    ]
