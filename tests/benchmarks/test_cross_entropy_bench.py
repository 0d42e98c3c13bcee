"""Softmax cross-entropy forward + backward, from primitives vs `F.cross_entropy`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.losses import cross_entropy
from tests.benchmarks.conftest import record, synchronized

N, C = 1024, 1000  # 1 Mi float32 logits


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_cross_entropy_forward_backward(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    z = (torch.randn(N, C, device=bench_device, generator=g) * 5).requires_grad_(True)
    y = torch.randint(0, C, (N,), device=bench_device, generator=g)
    loss_fn = cross_entropy if impl == "dlspec" else F.cross_entropy

    def step() -> torch.Tensor:
        z.grad = None
        loss = loss_fn(z, y)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    # correct before timed: value and gradient against the native kernel
    mine = cross_entropy(z, y)
    (g_mine,) = torch.autograd.grad(mine, z)
    ref = F.cross_entropy(z, y)
    (g_ref,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(mine, ref)
    torch.testing.assert_close(g_mine, g_ref)
    benchmark.group = f"cross-entropy-fwd-bwd-{bench_device}"
    benchmark(synchronized(step, bench_device))
    n = N * C
    # Analytic traffic: forward reads z; backward reads z (or saved softmax) and writes ∂z.
    record(benchmark, bench_device, bytes_moved=3 * 4 * n, flops=8 * n)
