"""RNN and LSTM over a whole sequence (forward, forward + backward), dlspec vs torch.nn."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN
from tests.benchmarks.conftest import record, synchronized

B, T, D, H = 32, 64, 32, 64  # batch, steps, input width, hidden units (float32)


def _pair(kind: str, device: str) -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(0)
    if kind == "rnn":
        mine: Any = RNN(D, H, generator=g).to(device)
    else:
        mine = LSTM(D, H, generator=g).to(device)
    return mine, mine.to_torch()


def _flops(kind: str) -> float:
    gates = 1 if kind == "rnn" else 4
    return 2.0 * B * T * gates * H * (D + H)  # input projection and recurrent matmul per step


def _bytes(kind: str) -> float:
    gates = 1 if kind == "rnn" else 4
    weights = gates * H * (D + H + 2)
    return 4.0 * (B * T * D + weights + B * T * H)  # read x and weights, write the outputs


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_recurrent_forward(benchmark: Any, bench_device: str, impl: str, kind: str) -> None:
    mine, native = _pair(kind, bench_device)
    x = torch.randn(B, T, D, device=bench_device)
    torch.testing.assert_close(mine(x)[0], native(x)[0])  # same function before timing
    layer = mine if impl == "dlspec" else native

    def run() -> Any:
        with torch.no_grad():
            return layer(x)

    benchmark.group = f"{kind}-forward-{bench_device}"
    benchmark(synchronized(run, bench_device))
    record(benchmark, bench_device, bytes_moved=_bytes(kind), flops=_flops(kind))


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_recurrent_forward_backward(
    benchmark: Any, bench_device: str, impl: str, kind: str
) -> None:
    mine, native = _pair(kind, bench_device)
    x = torch.randn(B, T, D, device=bench_device, requires_grad=True)
    (gm,) = torch.autograd.grad(mine(x)[0].sum(), x)
    (gn,) = torch.autograd.grad(native(x)[0].sum(), x)
    torch.testing.assert_close(gm, gn)
    layer = mine if impl == "dlspec" else native

    def run() -> Any:
        out = layer(x)[0]
        return torch.autograd.grad(out.sum(), [x, *layer.parameters()])

    benchmark.group = f"{kind}-forward-backward-{bench_device}"
    benchmark(synchronized(run, bench_device))
    record(benchmark, bench_device, bytes_moved=3 * _bytes(kind), flops=3 * _flops(kind))
