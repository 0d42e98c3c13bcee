"""Benchmark helpers: devices, synchronized timing, and ceilings measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
_CEILINGS: dict[str, dict[str, float]] = {}


def synchronized(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` followed by a device synchronization, so the timer sees the finished work."""
    if device.startswith("cuda"):

        def run() -> Any:
            out = fn()
            torch.cuda.synchronize()
            return out

        return run
    return fn


def _median_seconds(fn: Callable[[], Any], repeats: int = 7) -> float:
    import time

    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def ceilings(device: str) -> dict[str, float]:
    """Measured copy bandwidth (GB/s) and matmul throughput (GFLOP/s) on ``device``."""
    if device not in _CEILINGS:
        n = 1 << 25 if device == "cpu" else 1 << 28  # 128 MiB / 1 GiB of float32
        src = torch.empty(n, device=device).uniform_()
        dst = torch.empty_like(src)
        t_copy = _median_seconds(synchronized(lambda: dst.copy_(src), device))
        m = 1024 if device == "cpu" else 8192
        a = torch.randn(m, m, device=device)
        t_mm = _median_seconds(synchronized(lambda: a @ a, device), repeats=5)
        _CEILINGS[device] = {
            "copy_GBps": 2 * n * 4 / t_copy / 1e9,
            "matmul_GFLOPs": 2 * m**3 / t_mm / 1e9,
        }
    return _CEILINGS[device]


def record(benchmark: Any, device: str, *, bytes_moved: float, flops: float) -> None:
    """Attach analytic bytes and FLOPs, achieved rates and their ratio to the measured ceilings."""
    median = benchmark.stats.stats.median
    ceil = ceilings(device)
    gbps, gflops = bytes_moved / median / 1e9, flops / median / 1e9
    benchmark.extra_info.update(
        device=device,
        bytes=bytes_moved,
        flops=flops,
        GBps=round(gbps, 3),
        GFLOPs=round(gflops, 3),
        copy_ceiling_GBps=round(ceil["copy_GBps"], 3),
        matmul_ceiling_GFLOPs=round(ceil["matmul_GFLOPs"], 3),
        fraction_of_copy_bandwidth=round(gbps / ceil["copy_GBps"], 4),
    )


@pytest.fixture(params=DEVICES)
def bench_device(request: pytest.FixtureRequest) -> str:
    return str(request.param)
