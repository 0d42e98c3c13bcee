"""The affine layer `x Wᵀ + b` (dlspec.nn.linear.Linear) vs `torch.nn.Linear` (F.linear):
forward alone, and forward + backward (the gradients of W, b and x from a random upstream
gradient)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.nn.linear import Linear
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size


def _pair(device: str) -> tuple[Linear, torch.nn.Linear, torch.Tensor, torch.Tensor, int, int, int]:
    """The two layers with the same weights, a random input and a random upstream gradient."""
    s = size("linear", device)
    batch, n_in, n_out = s["batch"], s["in"], s["out"]
    g = torch.Generator(device=device).manual_seed(0)
    mine = Linear(n_in, n_out, generator=g, device=device, dtype=torch.float32)
    native = torch.nn.Linear(n_in, n_out, device=device)
    with torch.no_grad():
        native.weight.copy_(mine.weight)
        native.bias.copy_(mine.bias)  # type: ignore[union-attr]
    x = torch.randn(batch, n_in, device=device, generator=g)
    v = torch.randn(batch, n_out, device=device, generator=g)
    return mine, native, x, v, batch, n_in, n_out


def _grads(layer: torch.nn.Module, x: torch.Tensor, v: torch.Tensor) -> list[torch.Tensor]:
    """Forward, then the gradients of `⟨layer(x), v⟩` with respect to W, b and x."""
    inputs = [*layer.parameters(), x]
    return list(torch.autograd.grad(layer(x), inputs, grad_outputs=v))


def _check(mine: Linear, native: torch.nn.Linear, x: torch.Tensor, v: torch.Tensor) -> None:
    """Correct before timed: the values and the gradients of W, b and x."""
    assert_close_to_scale(mine(x), native(x), "output")
    for name, a, b in zip(("W", "b", "x"), _grads(mine, x, v), _grads(native, x, v), strict=True):
        assert_close_to_scale(a, b, f"gradient of {name}")


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_linear_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    mine, native, x, v, batch, n_in, n_out = _pair(bench_device)
    x.requires_grad_(True)
    _check(mine, native, x, v)
    x.requires_grad_(False)
    layer = mine if impl == "dlspec" else native
    benchmark.group = f"linear-forward-{bench_device}"
    with torch.no_grad():
        benchmark(synchronized(lambda: layer(x), bench_device))
    # Analytic: read x, W and b, write z; 2·B·in·out multiply-adds plus the bias.
    bytes_moved = 4 * (batch * n_in + n_in * n_out + n_out + batch * n_out)
    record(benchmark, bench_device, bytes_moved=bytes_moved,
           flops=2 * batch * n_in * n_out + batch * n_out)  # fmt: skip


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_linear_forward_backward(benchmark: Any, bench_device: str, impl: str) -> None:
    mine, native, x, v, batch, n_in, n_out = _pair(bench_device)
    x.requires_grad_(True)
    _check(mine, native, x, v)
    layer = mine if impl == "dlspec" else native
    benchmark.group = f"linear-forward-backward-{bench_device}"
    benchmark(synchronized(lambda: _grads(layer, x, v), bench_device))
    # forward x Wᵀ, backward v W (input) and vᵀ x (weight): 3 products of 2·B·in·out each;
    # read x, W, v (twice: both products), write z, the three gradients
    bytes_moved = 4 * (2 * batch * n_in + 2 * n_in * n_out + 3 * batch * n_out + n_out)
    record(benchmark, bench_device, bytes_moved=bytes_moved,
           flops=6 * batch * n_in * n_out + 2 * batch * n_out)  # fmt: skip
