"""One optimizer step, from primitives vs PyTorch's own: GD vs SGD, Adagrad vs torch Adagrad.

Three forms per optimizer: the plain per-tensor loop (``dlspec``), the foreach form
(``dlspec-fast``, ``fast=True``) and PyTorch's (``torch``, its default implementation on the
device: the per-tensor loop on the CPU, foreach on CUDA). Parameter shapes from ``sizes.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.optim.adagrad import Adagrad
from dlspec.optim.sgd import GD
from tests.benchmarks.conftest import record, synchronized
from tests.benchmarks.sizes import size


def _params(device: str) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g).to(device)) for s in _shapes(device)]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g).to(device).abs() + 0.1
    return ps


def _shapes(device: str) -> list[tuple[int, ...]]:
    return [tuple(s) for s in size("optimizer", device)["shapes"]]


def _make(name: str, impl: str, ps: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    fast = impl == "dlspec-fast"
    if name == "gd":
        return torch.optim.SGD(ps, lr=1e-3) if impl == "torch" else GD(ps, lr=1e-3, fast=fast)
    if impl == "torch":
        return torch.optim.Adagrad(ps, lr=1e-2, eps=0.0)
    return Adagrad(ps, lr=1e-2, fast=fast)


@pytest.mark.parametrize("name", ["gd", "adagrad"])
@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_optimizer_step(benchmark: Any, bench_device: str, impl: str, name: str) -> None:
    # correctness first: three steps of this form and of PyTorch's agree on the same gradients
    mine, ref = _params(bench_device), _params(bench_device)
    a, b = _make(name, impl, mine), _make(name, "torch", ref)
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
    # Analytic minimum traffic; dlspec's finiteness check reads g once more (not counted).
    words, flops = (3, 2) if name == "gd" else (5, 8)
    record(benchmark, bench_device, bytes_moved=4 * words * n, flops=flops * n)
