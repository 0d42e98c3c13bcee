"""Softmax cross-entropy forward + backward, from primitives (plain and fast forms) vs
`F.cross_entropy`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.losses import cross_entropy
from tests.benchmarks.conftest import record, synchronized
from tests.benchmarks.sizes import size


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_cross_entropy_forward_backward(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("cross-entropy", bench_device)
    n_rows, n_classes = s["N"], s["C"]
    g = torch.Generator(device=bench_device).manual_seed(0)
    z = (torch.randn(n_rows, n_classes, device=bench_device, generator=g) * 5).requires_grad_(True)
    y = torch.randint(0, n_classes, (n_rows,), device=bench_device, generator=g)
    fast = impl == "dlspec-fast"

    def loss_fn(t: torch.Tensor) -> torch.Tensor:
        if impl == "torch":
            return F.cross_entropy(t, y)
        return cross_entropy(t, y, fast=fast)

    def step() -> torch.Tensor:
        z.grad = None
        loss = loss_fn(z)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    # correct before timed: value and gradient against the native kernel
    mine = loss_fn(z)
    (g_mine,) = torch.autograd.grad(mine, z)
    ref = F.cross_entropy(z, y)
    (g_ref,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(mine, ref)
    torch.testing.assert_close(g_mine, g_ref)
    benchmark.group = f"cross-entropy-fwd-bwd-{bench_device}"
    benchmark(synchronized(step, bench_device))
    n = n_rows * n_classes
    # Analytic traffic: forward reads z; backward reads z (or saved softmax) and writes ∂z.
    record(benchmark, bench_device, bytes_moved=3 * 4 * n, flops=8 * n)
