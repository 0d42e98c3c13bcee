"""PCA projection and one linear-autoencoder training step, from primitives vs PyTorch native."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.analysis.pca import pca
from dlspec.nn.autoencoder import LinearAutoencoder, reconstruction_loss
from tests.benchmarks.conftest import record, synchronized

N, D, K = 4096, 256, 32  # 4 MiB of float32 data


def _native_pca_reconstruct(x: torch.Tensor, k: int) -> torch.Tensor:
    """PyTorch's own route: an SVD of the centred data, x̂ = μ + (x − μ) V_k V_kᵀ."""
    mu = x.mean(0)
    v = torch.linalg.svd(x - mu, full_matrices=False).Vh[:k]
    return mu + (x - mu) @ v.T @ v


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_pca_projection(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    scales = torch.linspace(3.0, 0.1, D, device=bench_device)  # distinct variances: an eigengap
    x = torch.randn(N, D, generator=g, device=bench_device) * scales

    def ours() -> torch.Tensor:
        return pca(x, K, center=True).reconstruct(x)

    def native() -> torch.Tensor:
        return _native_pca_reconstruct(x, K)

    torch.testing.assert_close(ours(), native(), rtol=1e-3, atol=1e-3)  # correct before timed
    benchmark.group = f"pca-projection-{bench_device}"
    benchmark(synchronized(ours if impl == "dlspec" else native, bench_device))
    # covariance (2ND²) + eigendecomposition (~9D³ for eigh, counted as such) + projection (4NDK)
    flops = 2 * N * D * D + 9 * D**3 + 4 * N * D * K
    record(benchmark, bench_device, bytes_moved=3 * 4 * N * D, flops=flops)


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_linear_autoencoder_step(benchmark: Any, bench_device: str, impl: str) -> None:
    g = torch.Generator(device=bench_device).manual_seed(0)
    x = torch.randn(N, D, generator=g, device=bench_device)
    ours = LinearAutoencoder(D, K, bias=True, device=bench_device)
    enc = torch.nn.Linear(D, K, device=bench_device)
    dec = torch.nn.Linear(K, D, device=bench_device)
    with torch.no_grad():
        enc.weight.copy_(ours.encoder.weight)
        enc.bias.copy_(ours.encoder.bias)  # type: ignore[arg-type]
        assert ours.decoder is not None
        dec.weight.copy_(ours.decoder.weight)
        dec.bias.copy_(ours.decoder.bias)  # type: ignore[arg-type]
    native = torch.nn.Sequential(enc, dec)
    torch.testing.assert_close(ours(x), native(x))
    model = ours if impl == "dlspec" else native
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if impl == "dlspec":
            loss = reconstruction_loss(model(x), x)
        else:
            loss = torch.nn.functional.mse_loss(model(x), x, reduction="sum") / N
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()

    benchmark.group = f"linear-autoencoder-step-{bench_device}"
    benchmark(synchronized(step, bench_device))
    # forward 2·(2NDK), backward about twice that
    record(benchmark, bench_device, bytes_moved=4 * 4 * N * D, flops=3 * 4 * N * D * K)
