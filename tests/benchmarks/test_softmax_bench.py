"""Softmax and log-softmax (max-shifted, from primitives) vs PyTorch's native kernels."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.activations import log_softmax, softmax
from tests.benchmarks.conftest import record, synchronized

SHAPE = (1024, 1000)  # 1 Mi float32 logits: a batch of 1024 over 1000 classes


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_softmax_forward(benchmark: Any, bench_device: str, impl: str, kind: str) -> None:
    z = torch.randn(SHAPE, device=bench_device) * 5  # no exp underflow to subnormals
    mine = softmax if kind == "softmax" else log_softmax
    native = F.softmax if kind == "softmax" else F.log_softmax
    torch.testing.assert_close(mine(z, dim=-1), native(z, dim=-1))  # correct before timed
    fn = (lambda: mine(z, dim=-1)) if impl == "dlspec" else (lambda: native(z, dim=-1))
    benchmark.group = f"{kind}-forward-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = z.numel()
    # Analytic traffic: read z, write the output; FLOPs: max, subtract, exp, sum, divide/log.
    record(benchmark, bench_device, bytes_moved=2 * 4 * n, flops=5 * n)
