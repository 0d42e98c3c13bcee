"""The hand-written backward pass (dlspec.analysis.backprop.backward: the errors δ^l and the
weight gradients, no autograd) vs autograd through the same network, forward included, on a
4-layer tanh MLP (claim opt.backprop-equals-autograd)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from dlspec.analysis.backprop import backward
from dlspec.nn.linear import FeedForward
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_backprop(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("backprop", bench_device)
    batch, sizes = s["batch"], list(s["sizes"])
    g = torch.Generator(device=bench_device).manual_seed(0)
    net = FeedForward(sizes, "tanh", generator=g, device=bench_device)
    x = torch.randn(batch, sizes[0], generator=g, device=bench_device)
    v = torch.randn(batch, sizes[-1], generator=g, device=bench_device)  # upstream gradient

    def autograd() -> list[torch.Tensor]:
        out = net(x)
        return list(torch.autograd.grad(out, list(net.parameters()), grad_outputs=v))

    def mine() -> list[torch.Tensor]:
        return [t for pair in backward(net, x, v) for t in pair]

    # correct before timed: every weight and bias gradient, in the parameters' order
    ours, theirs = mine(), autograd()
    assert len(ours) == len(theirs) == 2 * (len(sizes) - 1)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_close_to_scale(a, b, f"{'weight' if i % 2 == 0 else 'bias'} gradient {i // 2 + 1}")
    benchmark.group = f"backprop-{bench_device}"
    benchmark(synchronized(mine if impl == "dlspec" else autograd, bench_device))
    # forward 2·B·Σ in·out, backward 4·B·Σ in·out (δ and the weight gradient)
    macs = sum(a * b for a, b in itertools.pairwise(sizes))
    params = macs + sum(sizes[1:])
    record(benchmark, bench_device, bytes_moved=4 * (3 * params + 4 * batch * sum(sizes)),
           flops=6 * batch * macs)  # fmt: skip
