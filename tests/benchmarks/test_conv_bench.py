"""2-D convolution and max pooling, from primitives vs PyTorch's native kernels.

Convolution: the plain form (``dlspec``), the fast form (``dlspec-fast``, ``fast=True``) and
``F.conv2d`` (oneDNN on the CPU, cuDNN on CUDA), a ``k × k`` kernel with padding ``k // 2`` (same
size). Max pooling has no fast form (the plain form is already faster than native on the CPU).
Sizes from ``sizes.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.conv import conv2d, max_pool2d
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size


def _dims(device: str) -> tuple[int, int, int, int, int, int]:
    d = size("conv2d", device)
    return d["N"], d["C"], d["O"], d["H"], d["W"], d["k"]


def _conv_inputs(
    device: str, grad: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, c, o, h, w, k = _dims(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g).to(device).requires_grad_(grad)
    wt = torch.randn(o, c, k, k, generator=g).to(device).requires_grad_(grad)
    b = torch.randn(o, generator=g).to(device).requires_grad_(grad)
    gy = torch.randn(n, o, h, w, generator=g).to(device)
    return x, wt, b, gy


def _conv(impl: str) -> Any:
    if impl == "torch":
        return lambda x, w, b: F.conv2d(x, w, b, padding=w.shape[-1] // 2)
    fast = impl == "dlspec-fast"
    return lambda x, w, b: conv2d(x, w, b, padding=w.shape[-1] // 2, fast=fast)


def _conv_flops(device: str) -> int:
    n, c, o, h, w, k = _dims(device)
    return 2 * n * o * h * w * c * k * k  # one multiply-add per tap and output


def _conv_bytes(device: str) -> int:
    n, c, o, h, w, k = _dims(device)
    return 4 * (n * c * h * w + o * c * k * k + n * o * h * w)


def _check(impl: str, device: str) -> None:
    """This form against F.conv2d: the output and the gradients for x, w and b. float32 sums of
    C k² products of size ~1 in another order; the gradients of w and b sum N H W terms."""
    x, w, b, gy = _conv_inputs(device, grad=True)
    ours, ref = _conv(impl)(x, w, b), _conv("torch")(x, w, b)
    assert_close_to_scale(ours, ref, f"{impl} output")
    got = torch.autograd.grad(ours, (x, w, b), gy)
    want = torch.autograd.grad(ref, (x, w, b), gy)
    for name, a, r in zip(("x", "w", "b"), got, want, strict=True):
        assert_close_to_scale(a, r, f"{impl} gradient of {name}")


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_conv2d_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    _check(impl, bench_device)
    x, w, b, _ = _conv_inputs(bench_device, grad=False)
    conv = _conv(impl)
    benchmark.group = f"conv2d-forward-{bench_device}"
    benchmark(synchronized(lambda: conv(x, w, b), bench_device))
    record(
        benchmark,
        bench_device,
        bytes_moved=_conv_bytes(bench_device),
        flops=_conv_flops(bench_device),
    )


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_conv2d_forward_backward(benchmark: Any, bench_device: str, impl: str) -> None:
    _check(impl, bench_device)
    x, w, b, gy = _conv_inputs(bench_device, grad=True)
    conv = _conv(impl)

    def step() -> Any:
        return torch.autograd.grad(conv(x, w, b), (x, w, b), gy)

    benchmark.group = f"conv2d-forward-backward-{bench_device}"
    benchmark(synchronized(step, bench_device))
    # backward: one product for dL/dx and one for dL/dw, each as large as the forward
    record(
        benchmark,
        bench_device,
        bytes_moved=3 * _conv_bytes(bench_device),
        flops=3 * _conv_flops(bench_device),
    )


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_max_pool2d(benchmark: Any, bench_device: str, impl: str) -> None:
    d = size("max-pool2d", bench_device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(d["N"], d["C"], d["H"], d["W"], generator=g).to(bench_device)
    torch.testing.assert_close(max_pool2d(x, 2), F.max_pool2d(x, 2), rtol=0, atol=0)
    xg = x.clone().requires_grad_()
    xr = x.clone().requires_grad_()
    gy = torch.randn(F.max_pool2d(x, 2).shape, generator=g).to(bench_device)
    max_pool2d(xg, 2).backward(gy)
    F.max_pool2d(xr, 2).backward(gy)
    torch.testing.assert_close(xg.grad, xr.grad, rtol=0, atol=0)  # distinct maxima: one winner
    pool = max_pool2d if impl == "dlspec" else F.max_pool2d
    benchmark.group = f"max-pool2d-forward-{bench_device}"
    benchmark(synchronized(lambda: pool(x, 2), bench_device))
    n = x.numel()
    record(benchmark, bench_device, bytes_moved=4 * (n + n // 4), flops=3 * n // 4)
