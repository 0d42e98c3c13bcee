"""2-D convolution and max pooling, from primitives vs PyTorch's native kernels."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.conv import conv2d, max_pool2d
from tests.benchmarks.conftest import record, synchronized

N, C_IN, C_OUT, H, W, K = 8, 16, 32, 32, 32, 3  # 3×3, padding 1: same-size output


def _conv_inputs(device: str, grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C_IN, H, W, generator=g).to(device).requires_grad_(grad)
    w = torch.randn(C_OUT, C_IN, K, K, generator=g).to(device).requires_grad_(grad)
    b = torch.randn(C_OUT, generator=g).to(device).requires_grad_(grad)
    return x, w, b


def _conv_flops() -> int:
    return 2 * N * C_OUT * H * W * C_IN * K * K  # one multiply-add per tap and output


def _conv_bytes() -> int:
    return 4 * (N * C_IN * H * W + C_OUT * C_IN * K * K + N * C_OUT * H * W)


def _check_conv(device: str) -> None:
    x, w, b = _conv_inputs(device, grad=False)
    # float32 sums of C_in k² = 144 products of size ~1 in another order: about 1e-5 apart
    ours, ref = conv2d(x, w, b, padding=1), F.conv2d(x, w, b, padding=1)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_conv2d_forward(benchmark: Any, bench_device: str, impl: str) -> None:
    _check_conv(bench_device)
    x, w, b = _conv_inputs(bench_device, grad=False)
    conv = conv2d if impl == "dlspec" else F.conv2d
    benchmark.group = f"conv2d-forward-{bench_device}"
    benchmark(synchronized(lambda: conv(x, w, b, padding=1), bench_device))
    record(benchmark, bench_device, bytes_moved=_conv_bytes(), flops=_conv_flops())


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_conv2d_forward_backward(benchmark: Any, bench_device: str, impl: str) -> None:
    _check_conv(bench_device)
    x, w, b = _conv_inputs(bench_device, grad=True)
    conv = conv2d if impl == "dlspec" else F.conv2d
    gy = torch.randn(N, C_OUT, H, W).to(bench_device)
    # gradients of dlspec and native agree before timing
    ours = torch.autograd.grad(conv2d(x, w, b, padding=1), (x, w, b), gy)
    ref = torch.autograd.grad(F.conv2d(x, w, b, padding=1), (x, w, b), gy)
    for a, r in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-3)

    def step() -> Any:
        return torch.autograd.grad(conv(x, w, b, padding=1), (x, w, b), gy)

    benchmark.group = f"conv2d-forward-backward-{bench_device}"
    benchmark(synchronized(step, bench_device))
    # backward: one product for dL/dx and one for dL/dw, each as large as the forward
    record(benchmark, bench_device, bytes_moved=3 * _conv_bytes(), flops=3 * _conv_flops())


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_max_pool2d(benchmark: Any, bench_device: str, impl: str) -> None:
    x = torch.randn(32, 32, 64, 64).to(bench_device)
    torch.testing.assert_close(max_pool2d(x, 2), F.max_pool2d(x, 2), rtol=0, atol=0)
    pool = max_pool2d if impl == "dlspec" else F.max_pool2d
    benchmark.group = f"max-pool2d-forward-{bench_device}"
    benchmark(synchronized(lambda: pool(x, 2), bench_device))
    n = x.numel()
    record(benchmark, bench_device, bytes_moved=4 * (n + n // 4), flops=3 * n // 4)
