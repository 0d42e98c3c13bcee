"""Generative-chapter kernels, from primitives (plain and fast forms) vs PyTorch's native
equivalents.

- categorical draw by inverse CDF (`generation.categorical`) vs `torch.searchsorted` on the
  same uniforms (the same tokens);
- the GAN value function from logits (`gan.value_function`) vs minus the sum of
  `F.binary_cross_entropy_with_logits(ℓ_real, 1)` and `(ℓ_fake, 0)` (no fast form: the plain
  form is already at most 1.5x native on the CPU);
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
from tests.benchmarks.sizes import size


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_categorical(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("categorical", bench_device)
    rows, vocab = s["rows"], s["vocab"]
    gen = torch.Generator(device=bench_device).manual_seed(0)
    logits = torch.randn((rows, vocab), generator=gen, device=bench_device, dtype=torch.float64)
    probs = torch.softmax(logits, -1)
    u = torch.rand(rows, generator=gen, device=bench_device, dtype=torch.float64)
    fast = impl == "dlspec-fast"

    def native() -> torch.Tensor:
        cdf = probs.cumsum(-1)
        return torch.searchsorted(cdf, u.unsqueeze(-1), right=True).squeeze(-1).clamp_max(vocab - 1)

    # correct before timed: the same tokens (a draw has no gradient)
    assert torch.equal(categorical(probs, u, fast=fast), native())
    fn = native if impl == "torch" else (lambda: categorical(probs, u, fast=fast))
    benchmark.group = f"categorical-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = probs.numel()
    # Analytic traffic: read the probabilities, write the CDF; FLOPs: the sum and a comparison.
    record(benchmark, bench_device, bytes_moved=2 * 8 * n, flops=2 * n)


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_gan_value(benchmark: Any, bench_device: str, impl: str) -> None:
    n_logits = size("gan-value", bench_device)["n"]
    gen = torch.Generator(device=bench_device).manual_seed(0)
    real = torch.randn((1, n_logits, 1), generator=gen, device=bench_device)
    fake = torch.randn((1, n_logits, 1), generator=gen, device=bench_device)

    def native(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits
        return -(bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)))

    # correct before timed: value and gradients
    a, b = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    c, d = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    mine, ref = value_function(a, b)[0], native(c, d)
    torch.testing.assert_close(mine, ref)
    grads = torch.autograd.grad(mine, (a, b)), torch.autograd.grad(ref, (c, d))
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y)
    fn = (lambda: value_function(real, fake)) if impl == "dlspec" else (lambda: native(real, fake))
    benchmark.group = f"gan-value-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = 2 * n_logits
    record(benchmark, bench_device, bytes_moved=4 * n, flops=6 * n)


@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_jsd(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("jsd", bench_device)
    shape = (s["rows"], s["k"])
    gen = torch.Generator(device=bench_device).manual_seed(0)
    f64 = torch.float64
    p = torch.softmax(torch.randn(shape, generator=gen, device=bench_device, dtype=f64), -1)
    q = torch.softmax(torch.randn(shape, generator=gen, device=bench_device, dtype=f64), -1)
    fast = impl == "dlspec-fast"

    def native(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        log_m = (0.5 * (p + q)).log()
        kl = F.kl_div
        return 0.5 * (
            kl(log_m, p, reduction="none").sum(-1) + kl(log_m, q, reduction="none").sum(-1)
        )

    # correct before timed: values and gradients (p, q > 0: finite derivatives)
    a, b = p.clone().requires_grad_(True), q.clone().requires_grad_(True)
    c, d = p.clone().requires_grad_(True), q.clone().requires_grad_(True)
    mine, ref = jsd(a, b, fast=fast), native(c, d)
    torch.testing.assert_close(mine, ref)
    v = torch.rand_like(ref)
    grads = torch.autograd.grad(mine, (a, b), v), torch.autograd.grad(ref, (c, d), v)
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y)
    fn = (lambda: native(p, q)) if impl == "torch" else (lambda: jsd(p, q, fast=fast))
    benchmark.group = f"jsd-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    n = p.numel()
    record(benchmark, bench_device, bytes_moved=2 * 8 * n, flops=10 * n)
