"""Dropout, from primitives vs PyTorch's native kernel (training mode, inverted form)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.dropout import dropout
from tests.benchmarks.conftest import record, synchronized

SHAPE = (256, 4096)  # 1 Mi float32 elements: 4 MiB in, 4 MiB out


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_dropout_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    x = torch.randn(SHAPE, device=bench_device)
    p = 0.5
    fn = (lambda: dropout(x, p)) if impl == "dlspec" else (lambda: F.dropout(x, p, training=True))
    # Before timing: the output is native dropout's (each entry 0 or x/q; masks are random, so
    # compare the form and the kept fraction, 0.5 +- 0.01 at 1 Mi entries: > 20 sigma).
    out = fn()
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01, "kept fraction is not 1 - p"
    benchmark.group = f"dropout-forward-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = x.numel()
    # Analytic traffic: read x, write the output (the mask is fused or not: not counted).
    record(benchmark, bench_device, bytes_moved=2 * 4 * n, flops=2 * n)
