"""Generative-chapter kernels, from primitives vs PyTorch's native equivalents.

- categorical draw by inverse CDF (`generation.categorical`) vs `torch.searchsorted` on the
  same uniforms (same tokens);
- the GAN value function from logits (`gan.value_function`) vs minus the sum of
  `F.binary_cross_entropy_with_logits(ℓ_real, 1)` and `(ℓ_fake, 0)`;
- JSD (`gan.jsd`) vs `F.kl_div` against the midpoint.

Saliency (autograd itself), occlusion, the surrogate's least squares (QR is already torch's) and
activation maximization have no separate native kernel to compare with and are not benchmarked.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from dlspec.nn.gan import jsd, value_function
from dlspec.nn.generation import categorical
from tests.benchmarks.conftest import record, synchronized

ROWS, VOCAB = 1024, 256  # categorical: 256 Ki probabilities
N_LOGITS = 1 << 18  # value function: 256 Ki logits per side
JSD_ROWS, JSD_K = 512, 512  # JSD: 256 Ki entries per distribution


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_categorical(benchmark: Any, bench_device: str, impl: str) -> None:
    gen = torch.Generator(device=bench_device).manual_seed(0)
    probs = torch.softmax(
        torch.randn((ROWS, VOCAB), generator=gen, device=bench_device, dtype=torch.float64), -1
    )
    u = torch.rand(ROWS, generator=gen, device=bench_device, dtype=torch.float64)

    def native() -> torch.Tensor:
        cdf = probs.cumsum(-1)
        return torch.searchsorted(cdf, u.unsqueeze(-1), right=True).squeeze(-1).clamp_max(VOCAB - 1)

    assert torch.equal(categorical(probs, u), native())
    fn = (lambda: categorical(probs, u)) if impl == "dlspec" else native
    benchmark.group = f"categorical-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = probs.numel()
    record(benchmark, bench_device, bytes_moved=2 * 8 * n, flops=2 * n)


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_gan_value(benchmark: Any, bench_device: str, impl: str) -> None:
    gen = torch.Generator(device=bench_device).manual_seed(0)
    real = torch.randn((1, N_LOGITS, 1), generator=gen, device=bench_device)
    fake = torch.randn((1, N_LOGITS, 1), generator=gen, device=bench_device)

    def native() -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits
        return -(bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))

    torch.testing.assert_close(value_function(real, fake)[0], native())
    fn = (lambda: value_function(real, fake)) if impl == "dlspec" else native
    benchmark.group = f"gan-value-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = 2 * N_LOGITS
    record(benchmark, bench_device, bytes_moved=4 * n, flops=6 * n)


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_jsd(benchmark: Any, bench_device: str, impl: str) -> None:
    gen = torch.Generator(device=bench_device).manual_seed(0)
    shape = (JSD_ROWS, JSD_K)
    p = torch.softmax(
        torch.randn(shape, generator=gen, device=bench_device, dtype=torch.float64), -1
    )
    q = torch.softmax(
        torch.randn(shape, generator=gen, device=bench_device, dtype=torch.float64), -1
    )

    def native() -> torch.Tensor:
        log_m = (0.5 * (p + q)).log()
        kl = F.kl_div
        return 0.5 * (
            kl(log_m, p, reduction="none").sum(-1) + kl(log_m, q, reduction="none").sum(-1)
        )

    torch.testing.assert_close(jsd(p, q), native())
    fn = (lambda: jsd(p, q)) if impl == "dlspec" else native
    benchmark.group = f"jsd-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = p.numel()
    record(benchmark, bench_device, bytes_moved=2 * 8 * n, flops=10 * n)
