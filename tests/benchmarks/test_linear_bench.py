"""The affine layer `x Wᵀ + b` (dlspec.nn.linear.Linear) vs `torch.nn.Linear` (F.linear)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.nn.linear import Linear
from tests.benchmarks.conftest import record, synchronized

BATCH, IN, OUT = 512, 1024, 1024


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_linear_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    mine = Linear(IN, OUT, generator=g, device=bench_device, dtype=torch.float32)
    native = torch.nn.Linear(IN, OUT, device=bench_device)
    with torch.no_grad():
        native.weight.copy_(mine.weight)
        native.bias.copy_(mine.bias)  # type: ignore[union-attr]
    x = torch.randn(BATCH, IN, device=bench_device, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), native(x))  # correct before timed
        layer = mine if impl == "dlspec" else native
        benchmark.group = f"linear-forward-{bench_device}"
        benchmark(synchronized(lambda: layer(x), bench_device))
    # Analytic: read x and W, write z; 2·B·in·out multiply-adds plus the bias.
    bytes_moved = 4 * (BATCH * IN + IN * OUT + OUT + BATCH * OUT)
    record(
        benchmark, bench_device, bytes_moved=bytes_moved, flops=2 * BATCH * IN * OUT + BATCH * OUT
    )
