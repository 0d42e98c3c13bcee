"""RNN and LSTM over a whole sequence (forward, forward + backward): the plain form (autograd
through the step loop), the fast form (`fast=True`: one autograd Function with a hand-written
backward through time) and `torch.nn.RNN` / `torch.nn.LSTM` (the baseline)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size

IMPLS = ["dlspec", "dlspec-fast", "torch"]
BYTES = 4  # float32


def _layers(kind: str, device: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The three forms holding the same weights, and the sizes."""
    dims = size(kind, device)
    d, h = dims["D"], dims["H"]
    cls: Any = RNN if kind == "rnn" else LSTM
    plain = cls(d, h, generator=torch.Generator().manual_seed(0), device=device)
    fast = cls(d, h, fast=True, device=device)
    fast.load_state_dict(plain.state_dict())
    return {"dlspec": plain, "dlspec-fast": fast, "torch": plain.to_torch()}, dims


def _flops(kind: str, n: dict[str, int]) -> float:
    gates = 1 if kind == "rnn" else 4
    # the input projection and the recurrent matmul of every step
    return 2.0 * n["B"] * n["T"] * gates * n["H"] * (n["D"] + n["H"])


def _bytes(kind: str, n: dict[str, int]) -> float:
    gates = 1 if kind == "rnn" else 4
    weights = gates * n["H"] * (n["D"] + n["H"] + 2)
    # read x and the weights, write the outputs
    return BYTES * (n["B"] * n["T"] * n["D"] + weights + n["B"] * n["T"] * n["H"])


def _check(kind: str, device: str, layers: dict[str, Any], x: torch.Tensor) -> None:
    """Every form computes nn.RNN's / nn.LSTM's outputs, final state and gradients (input and
    every parameter, in the native module's parameter order) before anything is timed."""
    x = x.detach().requires_grad_(True)
    probe = torch.randn(x.shape[0], x.shape[1], layers["torch"].hidden_size, device=device)
    results = {}
    for impl, layer in layers.items():
        out, last = layer(x)
        last = last[0] if isinstance(last, tuple) else last  # h_T
        last = last[0] if impl == "torch" else last  # native keeps a layer dimension
        grads = torch.autograd.grad((out * probe).sum(), [x, *layer.parameters()])
        results[impl] = (out, last, grads)
    ref_out, ref_last, ref_grads = results["torch"]
    names = ["outputs", "h_T", "grad x", "grad W_ih", "grad W_hh", "grad b_ih", "grad b_hh"]
    for impl in ("dlspec", "dlspec-fast"):
        out, last, grads = results[impl]
        expected = [ref_out, ref_last, *ref_grads]
        for name, a, e in zip(names, [out, last, *grads], expected, strict=True):
            # a weight gradient sums B·T terms (2048 on the CPU, 8192 on CUDA) that went through
            # up to T steps of the recurrence; seen: 1.3e-6 of the scale on the CPU
            assert_close_to_scale(a, e, f"{kind} {impl}: {name}")


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_forward(benchmark: Any, bench_device: str, impl: str, kind: str) -> None:
    layers, n = _layers(kind, bench_device)
    x = torch.randn(n["B"], n["T"], n["D"], device=bench_device)
    _check(kind, bench_device, layers, x)
    layer = layers[impl]

    def run() -> Any:
        with torch.no_grad():
            return layer(x)

    benchmark.group = f"{kind}-forward-{bench_device}"
    benchmark(synchronized(run, bench_device))
    record(benchmark, bench_device, bytes_moved=_bytes(kind, n), flops=_flops(kind, n))


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_forward_backward(
    benchmark: Any, bench_device: str, impl: str, kind: str
) -> None:
    layers, n = _layers(kind, bench_device)
    x = torch.randn(n["B"], n["T"], n["D"], device=bench_device, requires_grad=True)
    _check(kind, bench_device, layers, x)
    layer = layers[impl]
    leaves = [x, *layer.parameters()]

    def run() -> Any:
        out = layer(x)[0]
        return torch.autograd.grad(out.sum(), leaves)

    benchmark.group = f"{kind}-forward-backward-{bench_device}"
    benchmark(synchronized(run, bench_device))
    # backward: the recurrent matmul again, plus the weight and input gradients
    record(benchmark, bench_device, bytes_moved=3 * _bytes(kind, n), flops=3 * _flops(kind, n))
