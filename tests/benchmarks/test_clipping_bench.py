"""Gradient clipping by global norm, dlspec vs torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.optim.clip import TORCH_EPS, clip_by_norm
from tests.benchmarks.conftest import record, synchronized

SHAPES = [(512, 512), (512,), (1024, 256), (256,), (256, 10)]  # a small MLP's parameters


def _params(device: str) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = []
    for s in SHAPES:
        p = torch.zeros(s, device=device, requires_grad=True)
        p.grad = (10 * torch.randn(s, generator=g)).to(device)
        out.append(p)
    return out


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_clip_by_norm(benchmark: Any, bench_device: str, impl: str) -> None:
    mine, ref = _params(bench_device), _params(bench_device)
    clip_by_norm(mine, 1.0, eps=TORCH_EPS)
    torch.nn.utils.clip_grad_norm_(ref, 1.0)
    for a, b in zip(mine, ref, strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    params = _params(bench_device)
    if impl == "dlspec":
        fn = lambda: clip_by_norm(params, 1.0, eps=TORCH_EPS)  # noqa: E731
    else:
        fn = lambda: torch.nn.utils.clip_grad_norm_(params, 1.0)  # noqa: E731
    benchmark.group = f"clip-norm-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = sum(p.numel() for p in params)
    # Read every gradient for the norm, then read and write it for the scaling.
    record(benchmark, bench_device, bytes_moved=3 * 4 * n, flops=3 * n)
