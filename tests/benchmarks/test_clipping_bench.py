"""Gradient clipping by global norm: dlspec (plain loop and foreach fast form) vs
torch.nn.utils.clip_grad_norm_ (its default on the device). Shapes from ``sizes.py``."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.optim.clip import TORCH_EPS, clip_by_norm
from tests.benchmarks.conftest import record, synchronized
from tests.benchmarks.sizes import size


def _params(device: str) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = []
    for s in size("clip-norm", device)["shapes"]:
        p = torch.zeros(s, device=device, requires_grad=True)
        p.grad = (10 * torch.randn(s, generator=g)).to(device)
        out.append(p)
    return out


def _clip(impl: str, params: list[torch.Tensor]) -> torch.Tensor:
    if impl == "torch":
        return torch.nn.utils.clip_grad_norm_(params, 1.0)
    return clip_by_norm(params, 1.0, eps=TORCH_EPS, fast=impl == "dlspec-fast")


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_clip_by_norm(benchmark: Any, bench_device: str, impl: str) -> None:
    mine, ref = _params(bench_device), _params(bench_device)
    torch.testing.assert_close(_clip(impl, mine), _clip("torch", ref))
    for a, b in zip(mine, ref, strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    params = _params(bench_device)
    benchmark.group = f"clip-norm-step-{bench_device}"
    benchmark(synchronized(lambda: _clip(impl, params), bench_device))
    n = sum(p.numel() for p in params)
    # Read every gradient for the norm, then read and write it for the scaling.
    record(benchmark, bench_device, bytes_moved=3 * 4 * n, flops=3 * n)
