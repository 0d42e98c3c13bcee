"""One optimizer step, from primitives vs PyTorch's own: GD vs SGD, Adagrad vs torch Adagrad."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.optim.adagrad import Adagrad
from dlspec.optim.sgd import GD
from tests.benchmarks.conftest import record, synchronized

SHAPES = [(512, 512)] * 8  # 2 Mi float32 parameters in 8 tensors


def _params(device: str) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g).to(device)) for s in SHAPES]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g).to(device).abs() + 0.1
    return ps


def _make(name: str, impl: str, ps: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if name == "gd":
        return GD(ps, lr=1e-3) if impl == "dlspec" else torch.optim.SGD(ps, lr=1e-3)
    if impl == "dlspec":
        return Adagrad(ps, lr=1e-2)
    return torch.optim.Adagrad(ps, lr=1e-2, eps=0.0)


@pytest.mark.parametrize("name", ["gd", "adagrad"])
@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_optimizer_step(benchmark: Any, bench_device: str, impl: str, name: str) -> None:
    # correctness first: three steps of each agree on the same gradients
    mine, ref = _params(bench_device), _params(bench_device)
    a, b = _make(name, "dlspec", mine), _make(name, "torch", ref)
    for _ in range(3):
        a.step()
        b.step()
    for p, q in zip(mine, ref, strict=True):
        torch.testing.assert_close(p.detach(), q.detach())
    ps = _params(bench_device)
    opt = _make(name, impl, ps)
    benchmark.group = f"{name}-step-{bench_device}"
    benchmark(synchronized(opt.step, bench_device))
    n = sum(p.numel() for p in ps)
    # GD: read θ and g, write θ (3 words, 2 flops); Adagrad also reads and writes Σg² (5 words).
    words, flops = (3, 2) if name == "gd" else (5, 8)
    record(benchmark, bench_device, bytes_moved=4 * words * n, flops=flops * n)
