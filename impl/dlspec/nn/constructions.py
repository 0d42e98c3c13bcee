"""Networks with exact, hand-set weights: the constructions behind the representation claims.

Each constructor returns a `dlspec.nn.linear.FeedForward` whose weights are set with `load()`;
the network's device and dtype are the ones asked for (or those of the given values).

- `interpolating_relu_net(a, b, values)`: one hidden layer of `n` ReLUs whose output is the
  piecewise-linear interpolant of `values` at the `n + 1` equally spaced knots of `[a, b]`
  (`net.universality`):
  `N(x) = f(x_0) + s_1 relu(x − x_0) + Σ_{i=1}^{n−1} (s_{i+1} − s_i) relu(x − x_i)`,
  `x_i = a + i h`, `h = (b − a)/n`, `s_i = (f(x_i) − f(x_{i−1}))/h`.
- `tent_map_net(k)`: the tent map `Δ(x) = 2 relu(x) − 4 relu(x − ½) = min(2x, 2 − 2x)` on
  `[0, 1]` composed `k` times: `k` hidden layers of 2 ReLUs (`net.depth-separation`).
- `shallow_tent_map_net(k)`: the same function on `[0, 1]` with one hidden layer of `2^k` ReLUs
  (the fewest possible, `net.depth-separation`).
- `parity_net(n)`: one hidden layer of `n` ReLUs computing the parity of `n` bits exactly,
  `N(x) = relu(s) + Σ_{j=1}^{n−1} (−1)^j 2 relu(s − j)`, `s = Σ_i x_i` (`net.parity-one-layer`).
- `knots(a, b, n)`: the `n + 1` equally spaced knots `a + i (b − a)/n`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dlspec.checks import (
    check_finite,
    check_float_dtype,
    check_float_tensor,
    check_int,
    check_real,
)
from dlspec.nn.linear import FeedForward
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "interpolating_relu_net",
    "knots",
    "parity_net",
    "shallow_tent_map_net",
    "tent_map_net",
]


def _check_interval(a: Any, b: Any) -> tuple[float, float]:
    a = check_real(a, "a")
    b = check_real(b, "b")
    if not a < b:
        raise ValueError(f"the interval [a, b] must have a < b, got a={a!r}, b={b!r}")
    return a, b


def knots(
    a: float,
    b: float,
    n: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """The `n + 1` knots `x_i = a + i (b − a)/n`, `i = 0, …, n` (the last one is `b` exactly)."""
    a, b = _check_interval(a, b)
    n = check_int(n, "n")
    dtype = check_float_dtype(dtype)
    i = torch.arange(n + 1, device=device, dtype=dtype)
    x = a + i * ((b - a) / n)  # x_i = a + i h
    x[-1] = b
    return x


def interpolating_relu_net(a: float, b: float, values: Tensor) -> FeedForward:
    """`1 → n → 1` ReLU net equal to the piecewise-linear interpolant of `values` (`f(x_i)` at
    the `n + 1 = len(values)` knots of `[a, b]`) on `[a, b]`; on the left of `a` it is constant,
    on the right of `b` it continues the last slope. Device and dtype are `values`'."""
    a, b = _check_interval(a, b)
    check_finite(check_float_tensor(values, "values", dim=1), "values")
    n = values.shape[0] - 1
    if n < 1:
        raise ValueError(f"values must hold f at n + 1 ≥ 2 knots, got {values.shape[0]}")
    h = (b - a) / n
    x = knots(a, b, n, device=values.device, dtype=values.dtype)
    s = (values[1:] - values[:-1]) / h  # s_i, slope on cell i = 1, …, n
    c = torch.cat([s[:1], s[1:] - s[:-1]])  # output weights: s_1, then s_{i+1} − s_i
    net = FeedForward([1, n, 1], "relu", device=values.device, dtype=values.dtype)
    w1 = [[1.0]] * n  # unit i: relu(x − x_i) (load() puts it on the net's device, in its dtype)
    return net.load([(w1, -x[:-1]), (c.reshape(1, n), values[:1])])


def tent_map_net(
    k: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> FeedForward:
    """`Δ^k` on `[0, 1]`: `k` hidden layers of 2 ReLUs, `relu(u)` and `relu(u − ½)`, where `u`
    is the previous layer's `Δ = 2 relu(u) − 4 relu(u − ½)`; exactly `2^k` linear pieces."""
    k = check_int(k, "k")
    dtype = check_float_dtype(dtype)
    net = FeedForward([1] + [2] * k + [1], "relu", device=device, dtype=dtype)
    first = ([[1.0], [1.0]], [0.0, -0.5])  # (relu(x), relu(x − ½))
    inner = ([[2.0, -4.0], [2.0, -4.0]], [0.0, -0.5])  # u = 2h₁ − 4h₂, then relu(u), relu(u − ½)
    last = ([[2.0, -4.0]], [0.0])  # Δ = 2 relu(u) − 4 relu(u − ½)
    return net.load([first] + [inner] * (k - 1) + [last])


def shallow_tent_map_net(
    k: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> FeedForward:
    """`Δ^k` on `[0, 1]` with one hidden layer of `2^k` ReLUs: `2^k relu(x)` gives the first
    slope, and each interior breakpoint `j/2^k` (`j = 1, …, 2^k − 1`) a slope change of
    `∓2^{k+1}` (peaks at odd `j`, valleys at even `j`)."""
    k = check_int(k, "k")
    dtype = check_float_dtype(dtype)
    m = 2**k
    net = FeedForward([1, m, 1], "relu", device=device, dtype=dtype)
    # unit j = 0, …, 2^k − 1 is relu(x − j/2^k); output weights 2^k, then (−1)^j·2^{k+1}
    # (plain numbers: load() puts them on the net's device, exactly, in its dtype)
    w1, b1 = [[1.0]] * m, [-j / m for j in range(m)]
    c = [float(m)] + [(-1.0) ** j * 2.0 ** (k + 1) for j in range(1, m)]
    return net.load([(w1, b1), ([c], [0.0])])


def parity_net(
    n: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> FeedForward:
    """`n` bits `x ∈ {0, 1}^n` to their parity `Σ_i x_i mod 2`, with one hidden layer of `n`
    ReLUs on `s = Σ_i x_i`: unit `j` is `relu(s − j)`, output weights `1, −2, 2, −2, …`."""
    n = check_int(n, "n")
    dtype = check_float_dtype(dtype)
    net = FeedForward([n, n, 1], "relu", device=device, dtype=dtype)
    # unit j = 0, …, n − 1 is relu(s − j), every unit seeing s = Σ x_i; output weights 1, then
    # (−1)^j·2 (plain numbers: load() puts them on the net's device, exactly, in its dtype)
    w1, b1 = [[1.0] * n] * n, [-float(j) for j in range(n)]
    c = [1.0] + [(-1.0) ** j * 2.0 for j in range(1, n)]
    return net.load([(w1, b1), ([c], [0.0])])


@register("constructions.all")
def _sample_constructions(device: torch.device, dtype: torch.dtype) -> Sample:
    values = torch.tensor([0.0, 1.0, -1.0, 2.0], device=device, dtype=dtype)
    nets = (
        interpolating_relu_net(-1.0, 2.0, values),
        tent_map_net(3, device=device, dtype=dtype),
        shallow_tent_map_net(3, device=device, dtype=dtype),
    )
    par = parity_net(4, device=device, dtype=dtype)

    def f(x: Tensor) -> Tensor:
        out = sum((net(x) for net in nets), torch.zeros((), device=device, dtype=dtype))
        total: Tensor = out + par(x.expand(-1, 4))
        return total

    return f, (torch.rand(5, 1, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_constructions(device: torch.device, dtype: torch.dtype) -> list[Call]:
    values = torch.tensor([0.0, 1.0, -1.0, 2.0], device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    return [
        Call(
            interpolating_relu_net,
            {"a": -1.0, "b": 2.0, "values": values},
            ndim=("values",),
            finite=("values",),
        ),
        Call(knots, {"a": -1.0, "b": 2.0, "n": 4, **where}),
        Call(parity_net, {"n": 4, **where}),
        Call(shallow_tent_map_net, {"k": 3, **where}),
        Call(tent_map_net, {"k": 3, **where}),
    ]
