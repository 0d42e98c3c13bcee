"""Dropout, from primitives vs PyTorch's native kernel (training mode, inverted form).

No fast form: the plain form (`rand_like(x) >= p` and one multiply) is already faster than the
native CPU kernel, which is bound by its random number generation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.dropout import dropout
from tests.benchmarks.conftest import record, synchronized
from tests.benchmarks.sizes import size


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_dropout_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    x = torch.randn(size("dropout", bench_device)["shape"], device=bench_device, generator=g)
    p = 0.5
    fn = (lambda: dropout(x, p)) if impl == "dlspec" else (lambda: F.dropout(x, p, training=True))
    # Before timing: the output is native dropout's (each entry 0 or x/q; masks are random, so
    # compare the form and the kept fraction, 0.5 +- 0.01 at 1 Mi entries: > 20 sigma).
    xg = x.detach().clone().requires_grad_(True)
    out = dropout(xg, p) if impl == "dlspec" else F.dropout(xg, p, training=True)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01, "kept fraction is not 1 - p"
    (grad,) = torch.autograd.grad(out.sum(), xg)  # ∂/∂x of Σ m x / q: m / q
    torch.testing.assert_close(grad, kept.to(x.dtype) / (1 - p))
    benchmark.group = f"dropout-forward-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = x.numel()
    # Analytic traffic: read x, write the output (the mask is fused or not: not counted).
    record(benchmark, bench_device, bytes_moved=2 * 4 * n, flops=2 * n)
