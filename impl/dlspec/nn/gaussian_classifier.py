"""The two-Gaussian generative classifier, whose posterior is a logistic neuron.

Classes `C1`, `C2` with priors `π1`, `π2 = 1 − π1` and densities `N(μ1, Σ)`, `N(μ2, Σ)` sharing
one covariance `Σ`. Bayes' rule gives `P(C1 | x) = σ(w·x + b)` with

- `w = Σ⁻¹ (μ1 − μ2)`,
- `b = −½ μ1ᵀ Σ⁻¹ μ1 + ½ μ2ᵀ Σ⁻¹ μ2 + ln(π1 / π2)`

(`net.neuron-logistic`). `gaussian_posterior(x, …)` computes `P(C1 | x)` by Bayes' rule from
the two log-densities, independently of `(w, b)`; `logistic_parameters(…)` gives `(w, b)`;
`fit_gaussian_classifier(x, y)` estimates `μ1, μ2`, the shared (pooled, maximum-likelihood) `Σ`
and `π1` from labelled data, as in the lecture's probabilistic generative model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import (
    check_finite,
    check_float_tensor,
    check_index_tensor,
    check_like,
    check_real,
)
from dlspec.nn.activations import sigmoid
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "fit_gaussian_classifier",
    "gaussian_log_density",
    "gaussian_posterior",
    "logistic_parameters",
]


def _check_model(mu1: Any, mu2: Any, cov: Any, prior1: Any) -> tuple[Tensor, Tensor, Tensor, float]:
    check_float_tensor(mu1, "mu1", dim=1)
    check_float_tensor(mu2, "mu2", dim=1)
    check_float_tensor(cov, "cov", dim=2)
    check_like(mu2, mu1, "mu2", "mu1")
    check_like(cov, mu1, "cov", "mu1")
    for t, name in ((mu1, "mu1"), (mu2, "mu2"), (cov, "cov")):
        check_finite(t, name)
    d = mu1.shape[0]
    if mu2.shape != (d,) or cov.shape != (d, d) or d == 0:
        raise ValueError(
            f"mu1, mu2 must have shape (d,) and cov (d, d) with d ≥ 1, got "
            f"{tuple(mu1.shape)}, {tuple(mu2.shape)}, {tuple(cov.shape)}"
        )
    p = check_real(
        prior1,
        "prior1",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
        meaning="the prior P(C1)",
    )
    return mu1, mu2, cov, p


def _cholesky(cov: Tensor) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(cov)
    if cov.device.type != "meta" and bool(info != 0):
        raise ValueError("cov must be symmetric positive definite")
    out: Tensor = chol
    return out


def gaussian_log_density(x: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """`ln N(x; μ, Σ) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ ln det(2π Σ)` for each row of `x` `(N, d)`."""
    check_float_tensor(x, "x", dim=2)
    check_float_tensor(mu, "mu", dim=1)
    check_float_tensor(cov, "cov", dim=2)
    check_like(x, mu, "x", "mu")
    check_like(cov, mu, "cov", "mu")
    if cov.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"cov must have shape (d, d) = {(mu.shape[0],) * 2}, got {tuple(cov.shape)}"
        )
    for t, name in ((x, "x"), (mu, "mu"), (cov, "cov")):
        check_finite(t, name)
    if x.shape[1] != mu.shape[0]:
        raise ValueError(f"x must have shape (N, {mu.shape[0]}), got {tuple(x.shape)}")
    chol = _cholesky(cov)  # Σ = L Lᵀ
    u = torch.linalg.solve_triangular(chol, (x - mu).T, upper=False)  # L⁻¹ (x − μ)
    maha = (u * u).sum(dim=0)  # (x − μ)ᵀ Σ⁻¹ (x − μ)
    log_det = 2.0 * torch.log(torch.diagonal(chol)).sum()  # ln det Σ
    d = mu.shape[0]
    out: Tensor = -0.5 * maha - 0.5 * (log_det + d * math.log(2.0 * math.pi))
    return out


def gaussian_posterior(x: Tensor, mu1: Tensor, mu2: Tensor, cov: Tensor, prior1: float) -> Tensor:
    """`P(C1 | x) = π1 N(x; μ1, Σ) / (π1 N(x; μ1, Σ) + π2 N(x; μ2, Σ))` by Bayes' rule, computed
    in log space as `σ(ln π1 N1 − ln π2 N2)` (no exponent of a log-density underflows)."""
    mu1, mu2, cov, p = _check_model(mu1, mu2, cov, prior1)
    log1 = gaussian_log_density(x, mu1, cov) + math.log(p)  # ln π1 N(x; μ1, Σ)
    log2 = gaussian_log_density(x, mu2, cov) + math.log(1.0 - p)  # ln π2 N(x; μ2, Σ)
    return sigmoid(log1 - log2)  # a / (a + b) = σ(ln a − ln b)


def logistic_parameters(
    mu1: Tensor, mu2: Tensor, cov: Tensor, prior1: float
) -> tuple[Tensor, Tensor]:
    """`(w, b)` with `P(C1 | x) = σ(w·x + b)`: `w = Σ⁻¹(μ1 − μ2)`,
    `b = −½ μ1ᵀΣ⁻¹μ1 + ½ μ2ᵀΣ⁻¹μ2 + ln(π1/π2)`."""
    mu1, mu2, cov, p = _check_model(mu1, mu2, cov, prior1)
    chol = _cholesky(cov)
    inv_mu = torch.cholesky_solve(torch.stack([mu1, mu2], dim=1), chol)  # Σ⁻¹ [μ1 μ2]
    w = inv_mu[:, 0] - inv_mu[:, 1]  # Σ⁻¹ (μ1 − μ2)
    b = -0.5 * (mu1 @ inv_mu[:, 0]) + 0.5 * (mu2 @ inv_mu[:, 1]) + math.log(p / (1.0 - p))
    return w, b


def fit_gaussian_classifier(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, float]:
    """Maximum-likelihood `(μ1, μ2, Σ, π1)` from `x` `(N, d)` and labels `y` `(N,)` in {1, 0}
    (1 for class C1): class means, the pooled covariance
    `Σ = (N1/N) Σ1 + (N2/N) Σ2` (each `Σ_k` the class's ML covariance), and `π1 = N1/N`."""
    check_finite(check_float_tensor(x, "x", dim=2), "x")
    y = check_index_tensor(y, "y")
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    if y.shape != x.shape[:1]:
        raise ValueError(
            f"y must be a tensor of {x.shape[0]} labels in {{0, 1}}, got shape {tuple(y.shape)}"
        )
    one = y == 1
    if not bool((one | (y == 0)).all()):
        raise ValueError("y must hold labels in {0, 1} (1 for class C1)")
    n1, n = int(one.sum()), x.shape[0]
    if n1 == 0 or n1 == n:
        raise ValueError("x must hold examples of both classes (y = 1 and y = 0)")
    x1, x2 = x[one], x[~one]
    mu1, mu2 = x1.mean(dim=0), x2.mean(dim=0)
    r = torch.cat([x1 - mu1, x2 - mu2])  # residuals from each example's class mean
    cov = r.T @ r / n  # pooled ML covariance
    return mu1, mu2, cov, n1 / n


@register("gaussian_classifier.posterior")
def _sample_posterior(device: torch.device, dtype: torch.dtype) -> Sample:
    mu1 = torch.tensor([1.0, 0.0], device=device, dtype=dtype)
    mu2 = torch.tensor([-1.0, 0.5], device=device, dtype=dtype)
    cov = torch.tensor([[2.0, 0.3], [0.3, 1.0]], device=device, dtype=dtype)

    def f(x: Tensor) -> Tensor:
        w, b = logistic_parameters(mu1, mu2, cov, 0.3)
        return gaussian_posterior(x, mu1, mu2, cov, 0.3) + sigmoid(x @ w + b)

    return f, (torch.randn(4, 2, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_gaussian_classifier(device: torch.device, dtype: torch.dtype) -> list[Call]:
    mu1 = torch.tensor([1.0, 0.0], device=device, dtype=dtype)
    mu2 = torch.tensor([-1.0, 0.5], device=device, dtype=dtype)
    cov = torch.tensor([[2.0, 0.3], [0.3, 1.0]], device=device, dtype=dtype)
    x = torch.randn(6, 2, device=device, dtype=dtype)
    y = torch.tensor([0, 1, 0, 1, 1, 0], device=device)
    model = {"mu1": mu1, "mu2": mu2, "cov": cov, "prior1": 0.3}
    tensors = ("x", "mu", "mu1", "mu2", "cov")
    prior = {"prior1": "(0, 1)"}
    return [
        Call(gaussian_log_density, {"x": x, "mu": mu1, "cov": cov}, ndim=tensors, finite=tensors),
        Call(gaussian_posterior, {"x": x, **model}, ndim=tensors, finite=tensors, ranges=prior),
        Call(logistic_parameters, model, ndim=tensors, finite=tensors, ranges=prior),
        Call(fit_gaussian_classifier, {"x": x, "y": y}, ndim=("x", "y"), finite=("x",)),
    ]
