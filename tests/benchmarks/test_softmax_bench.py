"""Softmax, log-softmax and sigmoid, from primitives (plain and fast forms) vs PyTorch's native
kernels (`F.softmax`, `F.log_softmax`, `torch.sigmoid`), forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.activations import log_softmax, sigmoid, softmax
from tests.benchmarks.conftest import record, synchronized
from tests.benchmarks.sizes import size

IMPLS = ["dlspec", "dlspec-fast", "torch"]


def _check(
    mine: Callable[[torch.Tensor], torch.Tensor], native: Callable[..., Any], z: Any
) -> None:
    """Values and gradients (from a random upstream gradient `v`) equal the native kernel's.
    A log-softmax gradient is `v − p Σv`: its rounding is that of a sum of a row of `|v|`."""
    a = z.detach().clone().requires_grad_(True)
    b = z.detach().clone().requires_grad_(True)
    out, ref = mine(a), native(b)
    torch.testing.assert_close(out, ref)
    v = torch.randn_like(ref)
    atol = 1e-5 + 4 * torch.finfo(v.dtype).eps * float(v.abs().sum(-1).max())
    (ga,) = torch.autograd.grad(out, a, v)
    (gb,) = torch.autograd.grad(ref, b, v)
    torch.testing.assert_close(ga, gb, rtol=1.3e-6, atol=atol)


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("impl", IMPLS)
def test_softmax_forward(benchmark: Any, bench_device: str, impl: str, kind: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    z = torch.randn(size("softmax", bench_device)["shape"], device=bench_device, generator=g) * 5
    plain = softmax if kind == "softmax" else log_softmax
    native = F.softmax if kind == "softmax" else F.log_softmax
    fast = impl == "dlspec-fast"

    def mine(t: torch.Tensor) -> torch.Tensor:
        return plain(t, -1, fast=fast)

    _check(mine, lambda t: native(t, dim=-1), z)  # correct before timed
    fn = (lambda: native(z, dim=-1)) if impl == "torch" else (lambda: mine(z))
    benchmark.group = f"{kind}-forward-{bench_device}"
    with torch.no_grad():
        benchmark(synchronized(fn, bench_device))
    n = z.numel()
    # Analytic traffic: read z, write the output; FLOPs: max, subtract, exp, sum, divide/log.
    record(benchmark, bench_device, bytes_moved=2 * 4 * n, flops=5 * n)


@pytest.mark.parametrize("impl", IMPLS)
def test_sigmoid_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    z = torch.randn(size("sigmoid", bench_device)["shape"], device=bench_device, generator=g) * 4
    fast = impl == "dlspec-fast"

    def mine(t: torch.Tensor) -> torch.Tensor:
        return sigmoid(t, fast=fast)

    _check(mine, torch.sigmoid, z)  # correct before timed
    fn = (lambda: torch.sigmoid(z)) if impl == "torch" else (lambda: mine(z))
    benchmark.group = f"sigmoid-forward-{bench_device}"
    with torch.no_grad():
        benchmark(synchronized(fn, bench_device))
    n = z.numel()
    # Analytic traffic: read z, write σ(z); FLOPs: negate, exp, add, divide.
    record(benchmark, bench_device, bytes_moved=2 * 4 * n, flops=4 * n)
