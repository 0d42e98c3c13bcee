"""The hand-written backward pass vs autograd, forward included, on a 4-layer tanh MLP."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from dlspec.analysis.backprop import backward
from dlspec.nn.linear import FeedForward
from tests.benchmarks.conftest import record, synchronized

BATCH, SIZES = 256, [256, 512, 512, 512, 10]


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_backprop(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator().manual_seed(0)
    net = FeedForward(SIZES, "tanh", generator=g, device=bench_device)
    x = torch.randn(BATCH, SIZES[0], generator=g).to(bench_device)
    v = torch.randn(BATCH, SIZES[-1], generator=g).to(bench_device)

    def autograd() -> list[torch.Tensor]:
        out = net(x)
        return list(torch.autograd.grad(out, list(net.parameters()), grad_outputs=v))

    def mine() -> list[torch.Tensor]:
        return [t for pair in backward(net, x, v) for t in pair]

    for a, b in zip(mine(), autograd(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    benchmark.group = f"backprop-{bench_device}"
    benchmark(synchronized(mine if impl == "dlspec" else autograd, bench_device))
    # forward 2·B·Σ in·out, backward 4·B·Σ in·out (δ and the weight gradient)
    macs = sum(a * b for a, b in itertools.pairwise(SIZES))
    params = macs + sum(SIZES[1:])
    record(benchmark, bench_device, bytes_moved=4 * (3 * params + 4 * BATCH * sum(SIZES)),
           flops=6 * BATCH * macs)  # fmt: skip
