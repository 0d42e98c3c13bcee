"""PCA projection and one linear-autoencoder training step, from primitives vs PyTorch native.

- PCA (`dlspec.analysis.pca.pca`: the covariance's eigendecomposition) then reconstruction, vs
  PyTorch's route: an SVD of the centred data. Compared on the reconstruction (the components
  are defined up to sign).
- One SGD step of `dlspec.nn.autoencoder.LinearAutoencoder` on `reconstruction_loss` vs the same
  step of `nn.Sequential(nn.Linear, nn.Linear)` on `F.mse_loss`; the loss and every gradient are
  compared before timing.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.analysis.pca import pca
from dlspec.nn.autoencoder import LinearAutoencoder, reconstruction_loss
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size


def _native_pca_reconstruct(x: torch.Tensor, k: int) -> torch.Tensor:
    """PyTorch's own route: an SVD of the centred data, x̂ = μ + (x − μ) V_k V_kᵀ."""
    mu = x.mean(0)
    v = torch.linalg.svd(x - mu, full_matrices=False).Vh[:k]
    return mu + (x - mu) @ v.T @ v


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_pca_projection(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("pca", bench_device)
    n, d, k = s["N"], s["D"], s["K"]
    g = torch.Generator(device=bench_device).manual_seed(0)
    scales = torch.linspace(3.0, 0.1, d, device=bench_device)  # distinct variances: an eigengap
    x = torch.randn(n, d, generator=g, device=bench_device) * scales

    def ours() -> torch.Tensor:
        return pca(x, k, center=True).reconstruct(x)

    def native() -> torch.Tensor:
        return _native_pca_reconstruct(x, k)

    torch.testing.assert_close(ours(), native(), rtol=1e-3, atol=1e-3)  # correct before timed
    benchmark.group = f"pca-projection-{bench_device}"
    benchmark(synchronized(ours if impl == "dlspec" else native, bench_device))
    # covariance (2ND²) + eigendecomposition (~9D³ for eigh, counted as such) + projection (4NDK)
    flops = 2 * n * d * d + 9 * d**3 + 4 * n * d * k
    record(benchmark, bench_device, bytes_moved=3 * 4 * n * d, flops=flops)


def _loss(model: torch.nn.Module, x: torch.Tensor, impl: str) -> torch.Tensor:
    if impl == "dlspec":
        return reconstruction_loss(model(x), x)
    return torch.nn.functional.mse_loss(model(x), x, reduction="sum") / x.shape[0]


@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_linear_autoencoder_step(benchmark: Any, bench_device: str, impl: str) -> None:
    s = size("linear-autoencoder", bench_device)
    n, d, k = s["N"], s["D"], s["K"]
    g = torch.Generator(device=bench_device).manual_seed(0)
    x = torch.randn(n, d, generator=g, device=bench_device)
    ours = LinearAutoencoder(d, k, bias=True, device=bench_device)
    enc = torch.nn.Linear(d, k, device=bench_device)
    dec = torch.nn.Linear(k, d, device=bench_device)
    with torch.no_grad():
        enc.weight.copy_(ours.encoder.weight)
        enc.bias.copy_(ours.encoder.bias)  # type: ignore[arg-type]
        assert ours.decoder is not None
        dec.weight.copy_(ours.decoder.weight)
        dec.bias.copy_(ours.decoder.bias)  # type: ignore[arg-type]
    native = torch.nn.Sequential(enc, dec)
    # correct before timed: the loss and the gradients of W_enc, b_enc, W_dec, b_dec
    loss_ours, loss_native = _loss(ours, x, "dlspec"), _loss(native, x, "torch")
    assert_close_to_scale(loss_ours, loss_native, "loss")
    grads_ours = torch.autograd.grad(loss_ours, list(ours.parameters()))
    grads_native = torch.autograd.grad(loss_native, list(native.parameters()))
    for name, a, b in zip(
        ("W_enc", "b_enc", "W_dec", "b_dec"), grads_ours, grads_native, strict=True
    ):
        assert_close_to_scale(a, b, f"gradient of {name}")
    model = ours if impl == "dlspec" else native
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _loss(model, x, impl).backward()  # type: ignore[no-untyped-call]
        opt.step()

    benchmark.group = f"linear-autoencoder-step-{bench_device}"
    benchmark(synchronized(step, bench_device))
    # forward 2·(2NDK), backward about twice that
    record(benchmark, bench_device, bytes_moved=4 * 4 * n * d, flops=3 * 4 * n * d * k)
