"""Polynomial least squares and the bias–variance decomposition of squared error.

Notation of `spec/generalization/bias-variance.md`: a fixed design $x_1, \\dots, x_n$, targets
$y_i = f(x_i) + s_i\\varepsilon_i$ with i.i.d. noise $\\varepsilon_i$ of mean 0 and variance
1 scaled by $s_i = \\sigma(x_i) \\ge 0$; a learner maps the training set $D$ to a predictor
$\\hat f_D$. At an evaluation point $x_0$ with a fresh $y_0 = f(x_0) + s_0\\varepsilon_0$:

$$\\mathbb{E}_{D,\\varepsilon_0}[(y_0 - \\hat f_D(x_0))^2]
= \\underbrace{s_0^2}_{\\text{noise}} + \\underbrace{(f(x_0) - \\mathbb{E}_D \\hat f_D(x_0))^2}_{
\\text{bias}^2} + \\underbrace{\\mathrm{Var}_D \\hat f_D(x_0)}_{\\text{variance}}.$$

`bias_variance()` computes the left side directly and the three terms separately, either
*exactly*, by enumerating every noise vector of a discrete noise law (all $m^n$ training sets and
the $m$ test noises, for small $n$), or by *sampling* `draws` training sets (any law). With
`at_training_points=True` the evaluation points are the training points and the test noise is the
training noise itself (`fit.bias-variance-train-point`). Serves `fit.bias-variance`,
`fit.bias-variance-train-point`, `fit.complexity-tradeoff`, `fit.noise-data-overfit`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import (
    check_callable,
    check_finite,
    check_flag,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
)
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = [
    "BiasVariance",
    "Noise",
    "bias_variance",
    "poly_eval",
    "poly_fit",
    "polynomial_learner",
    "smoother_matrix",
    "vandermonde",
]

Learner = Callable[[Tensor, Tensor, Tensor], Tensor]

#: Largest number of training sets `bias_variance(exact=True)` enumerates.
MAX_ENUMERATED = 1 << 16


def vandermonde(x: Tensor, degree: int) -> Tensor:
    """$\\Phi$ with columns $x^0, x^1, \\dots, x^p$: `(..., n) → (..., n, p + 1)`."""
    check_finite(check_float_tensor(x, "x"), "x")
    p = check_int(degree, "degree", low=0)
    powers = torch.arange(p + 1, device=x.device, dtype=x.dtype)
    return x.unsqueeze(-1) ** powers  # Φ_ij = x_i^j


def _check_design(x: Tensor, y: Tensor, degree: int, xn: str = "x", yn: str = "y") -> int:
    check_finite(check_float_tensor(x, xn), xn)
    check_finite(check_float_tensor(y, yn), yn)
    check_like(y, x, yn, xn)
    p = check_int(degree, "degree", low=0)
    if x.dim() == 0 or x.shape[-1] < p + 1:
        raise ValueError(
            f"{xn} must hold at least degree + 1 = {p + 1} points along its last dimension, "
            f"got shape {tuple(x.shape)}"
        )
    return p


def poly_fit(x: Tensor, y: Tensor, degree: int) -> Tensor:
    """Least-squares coefficients $c = \\arg\\min_c \\|y - \\Phi c\\|^2$, `(..., p + 1)`, batched
    over leading dimensions (`x` broadcasts against `y`). Solved by QR, $c = R^{-1}Q^\\top y$,
    not the normal equations (whose condition number is squared)."""
    p = _check_design(x, y, degree)
    phi = vandermonde(x, p)  # (..., n, p+1)
    q, r = torch.linalg.qr(phi)  # Φ = QR
    qty = (q.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1)  # Qᵀy
    c: Tensor = torch.linalg.solve_triangular(r, qty.unsqueeze(-1), upper=True).squeeze(-1)
    return c


def poly_eval(coef: Tensor, x: Tensor) -> Tensor:
    """$\\sum_j c_j x^j$ (coefficients `(..., p + 1)`, points `(..., m)`)."""
    check_float_tensor(coef, "coef")
    check_like(check_float_tensor(x, "x"), coef, "x", "coef")
    return (vandermonde(x, coef.shape[-1] - 1) @ coef.unsqueeze(-1)).squeeze(-1)


def smoother_matrix(x_train: Tensor, degree: int, x_eval: Tensor) -> Tensor:
    """$S$ `(m, n)` with $\\hat f(x_{\\text{eval}}) = S y$: $S = \\Phi_0 (\\Phi^\\top\\Phi)^{-1}
    \\Phi^\\top$, computed as $\\Phi_0 R^{-1} Q^\\top$. At the training points $S$ is the hat
    matrix $H$, a projector; $s_{ii}$ is the leverage of point $i$."""
    p = _check_design(x_train, x_train, degree, "x_train", "x_train")
    check_like(check_float_tensor(x_eval, "x_eval"), x_train, "x_eval", "x_train")
    check_finite(x_eval, "x_eval")
    q, r = torch.linalg.qr(vandermonde(x_train, p))
    phi0 = vandermonde(x_eval, p)
    # Φ₀ R⁻¹ = (R⁻ᵀ Φ₀ᵀ)ᵀ
    a = torch.linalg.solve_triangular(r.transpose(-1, -2), phi0.transpose(-1, -2), upper=False)
    s: Tensor = a.transpose(-1, -2) @ q.transpose(-1, -2)
    return s


def polynomial_learner(degree: int) -> Learner:
    """The learner `(x_train, y, x_eval) ↦ poly_eval(poly_fit(x_train, y, degree), x_eval)`,
    batched over the leading dimensions of `y`."""
    p = check_int(degree, "degree", low=0)

    def learn(x_train: Tensor, y: Tensor, x_eval: Tensor) -> Tensor:
        return poly_eval(poly_fit(x_train, y, p), x_eval)

    return learn


@dataclass(frozen=True)
class Noise:
    """A noise law of mean 0 and variance 1: discrete `values` with `probs` (enumerable), or
    `values=None` for the standard normal (sampling only)."""

    values: Tensor | None = None
    probs: Tensor | None = None

    def __post_init__(self) -> None:
        if (self.values is None) != (self.probs is None):
            raise ValueError("values and probs must be given together (or neither: normal noise)")
        if self.values is not None and self.probs is not None:
            check_finite(check_float_tensor(self.values, "values", dim=1), "values")
            check_like(
                check_float_tensor(self.probs, "probs", dim=1), self.values, "probs", "values"
            )
            check_finite(self.probs, "probs")
            if self.probs.shape != self.values.shape or self.values.numel() == 0:
                raise ValueError(
                    "values and probs must have the same length ≥ 1, got shapes "
                    f"{tuple(self.values.shape)} and {tuple(self.probs.shape)}"
                )

    @staticmethod
    def rademacher(
        *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64
    ) -> Noise:
        """$\\pm 1$ with probability $\\tfrac12$ each."""
        v = torch.tensor([-1.0, 1.0], device=device, dtype=dtype)
        return Noise(v, torch.full((2,), 0.5, device=device, dtype=dtype))

    @staticmethod
    def discrete(values: Tensor, probs: Tensor) -> Noise:
        """A discrete law; refused unless the probabilities are ≥ 0 and sum to 1 and the law has
        mean 0 and variance 1, each to within `1e3·eps` of the dtype."""
        # the constructor checks dtypes, devices, shapes and finiteness; None would be normal noise
        noise = Noise(check_float_tensor(values, "values"), probs)
        if values.device.type != "meta":
            tol = 1e3 * torch.finfo(values.dtype).eps
            mean = float((probs * values).sum())
            var = float((probs * values**2).sum())
            if bool((probs < 0).any()) or abs(float(probs.sum()) - 1) > tol:
                raise ValueError("probs must be ≥ 0 and sum to 1")
            if abs(mean) > tol or abs(var - 1) > tol:
                raise ValueError(f"noise must have mean 0 and variance 1, got {mean:g}, {var:g}")
        return noise

    def sample(
        self, shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        if self.values is None:
            return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        assert self.probs is not None
        idx = torch.multinomial(self.probs, math.prod(shape), replacement=True, generator=generator)
        return self.values[idx].reshape(shape)


@dataclass(frozen=True)
class BiasVariance:
    """Per evaluation point: `expected_error` $\\mathbb{E}[(y_0 - \\hat f_D(x_0))^2]$ computed
    directly, and `noise` $s_0^2$, `bias2`, `variance`; `draws` training sets (0 = exact).
    `error_se` is the standard error of `expected_error` when sampled (0 when exact)."""

    expected_error: Tensor
    noise: Tensor
    bias2: Tensor
    variance: Tensor
    draws: int
    error_se: Tensor

    @property
    def decomposition(self) -> Tensor:
        """`noise + bias2 + variance`."""
        return self.noise + self.bias2 + self.variance


def _real(value: Any, name: str) -> float:
    """A Python real as a float (its range is checked with the tensor), else a `TypeError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or a tensor, got {type(value).__name__}")
    return float(value)


def _scale(sigma: Tensor | float, like: Tensor, name: str) -> Tensor:
    s = (
        torch.as_tensor(_real(sigma, name), device=like.device, dtype=like.dtype)
        if not isinstance(sigma, Tensor)
        else sigma
    )
    check_float_tensor(s, name)
    check_like(s, like, name, "x_train")
    if s.dim() > 0 and s.shape != like.shape:
        raise ValueError(
            f"{name} must be a scalar or hold one noise level per point, shape "
            f"{tuple(like.shape)}, got shape {tuple(s.shape)}"
        )
    if s.device.type != "meta":
        if not bool(torch.isfinite(s).all()):
            raise ValueError(f"{name} (noise level) must be finite, got NaN or ±inf")
        if bool((s < 0).any()):
            raise ValueError(f"{name} (noise level) must be ≥ 0, got a negative value")
    return s.expand(like.shape) if s.dim() == 0 else s


def bias_variance(
    learner: Learner,
    f: Callable[[Tensor], Tensor],
    x_train: Tensor,
    x_eval: Tensor | None = None,
    *,
    sigma: Tensor | float,
    sigma_eval: Tensor | float | None = None,
    noise: Noise | None = None,
    exact: bool = True,
    draws: int = 0,
    generator: torch.Generator | None = None,
    at_training_points: bool = False,
) -> BiasVariance:
    """The bias–variance decomposition of `learner` at `x_eval` (or at `x_train` itself when
    `at_training_points`), training targets $f(x_i) + \\sigma_i\\varepsilon_i$.

    - `exact=True`: enumerate every training noise vector of the discrete `noise` law
      ($m^n \\le 65{,}536$ sets) and every test noise; `exact=False`: sample `draws` sets (and one
      test noise each) with `generator`.
    - `sigma`, `sigma_eval`: noise levels $\\ge 0$ (scalars or one per point; `sigma_eval`
      defaults to `sigma` when scalar).
    """
    check_callable(learner, "learner")
    check_callable(f, "f")
    check_float_tensor(x_train, "x_train", dim=1)
    check_finite(x_train, "x_train")
    if noise is not None and not isinstance(noise, Noise):
        raise TypeError(f"noise must be a Noise or None, got {type(noise).__name__}")
    draws = check_int(draws, "draws", low=0)  # used (and then ≥ 2) only when exact=False
    at_train = check_flag(at_training_points, "at_training_points")
    exact = check_flag(exact, "exact")
    generator = check_generator(generator)
    if at_train:
        if x_eval is not None:
            raise ValueError("x_eval must be None when at_training_points=True")
        x0 = x_train
    else:
        if x_eval is None:
            raise ValueError("x_eval is required unless at_training_points=True")
        x0 = check_float_tensor(x_eval, "x_eval", dim=1)
        check_like(x0, x_train, "x_eval", "x_train")
        check_finite(x0, "x_eval")
    s_tr = _scale(sigma, x_train, "sigma")
    if at_train:
        s_ev = s_tr
    elif sigma_eval is None:
        if isinstance(sigma, Tensor) and sigma.dim() > 0:
            raise ValueError("sigma_eval is required when sigma is given per training point")
        s_ev = _scale(sigma, x0, "sigma")
    else:
        s_ev = _scale(sigma_eval, x0, "sigma_eval")
    noise = (
        noise if noise is not None else Noise.rademacher(device=x_train.device, dtype=x_train.dtype)
    )
    n, m0 = x_train.shape[0], x0.shape[0]
    f_tr, f_ev = f(x_train), f(x0)

    if exact:
        if noise.values is None or noise.probs is None:
            raise ValueError("exact=True needs a discrete noise law (Noise.discrete / rademacher)")
        k = noise.values.shape[0]
        if k**n > MAX_ENUMERATED:
            raise ValueError(
                f"exact enumeration of {k}^{n} training sets exceeds {MAX_ENUMERATED}; "
                "use exact=False with draws"
            )
        idx = torch.cartesian_prod(*[torch.arange(k, device=x_train.device)] * n).reshape(-1, n)
        eps = noise.values[idx]  # (K, n): every training noise vector
        w = noise.probs[idx].prod(dim=1)  # P(D)
        pred = learner(x_train, f_tr + s_tr * eps, x0)  # f̂_D(x0), (K, m0)
        mean = (w[:, None] * pred).sum(dim=0)  # E_D f̂_D(x0)
        variance = (w[:, None] * (pred - mean) ** 2).sum(dim=0)
        if at_train:  # y_0 = y_i: the same noise that trained f̂
            err = (w[:, None] * (f_tr + s_tr * eps - pred) ** 2).sum(dim=0)
        else:  # a fresh ε_0, independent of D: enumerate its m values too
            y0 = f_ev[None, None, :] + s_ev * noise.values[:, None, None]  # (m, 1, m0)
            err = (noise.probs[:, None, None] * w[None, :, None] * (y0 - pred[None]) ** 2).sum(
                dim=(0, 1)
            )
        noise_term = s_ev**2 * (noise.probs * noise.values**2).sum()
        zero = torch.zeros_like(err)
        return BiasVariance(err, noise_term, (f_ev - mean) ** 2, variance, 0, zero)

    r = check_int(draws, "draws", low=2)
    eps = noise.sample((r, n), x_train, generator)
    pred = learner(x_train, f_tr + s_tr * eps, x0)  # (R, m0)
    mean = pred.mean(dim=0)
    variance = pred.var(dim=0)  # unbiased, divides by R − 1
    if at_train:
        sq = (f_tr + s_tr * eps - pred) ** 2
    else:
        eps0 = noise.sample((r, m0), x_train, generator)
        sq = (f_ev + s_ev * eps0 - pred) ** 2
    # E[(f − f̄)²] = (f − E f̂)² + Var/R: subtract the mean's variance for an unbiased bias²
    bias2 = (f_ev - mean) ** 2 - variance / r
    return BiasVariance(sq.mean(dim=0), s_ev**2, bias2, variance, r, sq.std(dim=0) / r**0.5)


@register("bias_variance.poly_fit")
def _sample_poly(device: torch.device, dtype: torch.dtype) -> Sample:
    x = torch.linspace(-1, 1, 7, device=device, dtype=dtype)
    y = torch.randn(3, 7, device=device, dtype=dtype, requires_grad=True)

    def f(y: Tensor) -> tuple[Tensor, Tensor]:
        return poly_eval(poly_fit(x, y, 2), x), smoother_matrix(x, 2, x[:3])

    return f, (y,)


@register("bias_variance.bias_variance", backward=False)
def _sample_bv(device: torch.device, dtype: torch.dtype) -> Sample:
    x = torch.linspace(-1, 1, 4, device=device, dtype=dtype)
    x0 = torch.zeros(1, device=device, dtype=dtype)
    noise = Noise.rademacher(device=device, dtype=dtype)

    def g(x: Tensor, x0: Tensor) -> tuple[Tensor, ...]:
        r = bias_variance(polynomial_learner(1), torch.sin, x, x0, sigma=0.5, noise=noise)
        return r.expected_error, r.decomposition

    return g, (x, x0)


@register_calls
def _calls_bias_variance(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.linspace(-1, 1, 7, device=device, dtype=dtype)
    y = torch.randn(7, device=device, dtype=dtype)
    g = sample_generator(device).manual_seed(0)
    noise = Noise.rademacher(device=device, dtype=dtype)
    deg = {"degree": "[0, inf)"}
    xs = ("x", "x_train", "x_eval")
    return [
        Call(
            Noise,
            {"values": noise.values, "probs": noise.probs},
            ndim=("values", "probs"),
            finite=("values", "probs"),
            nonempty=("values", "probs"),
        ),
        Call(
            Noise.discrete,
            {"values": noise.values, "probs": noise.probs},
            ndim=("values", "probs"),
            finite=("values", "probs"),
            nonempty=("values", "probs"),
        ),
        Call(vandermonde, {"x": x, "degree": 2}, ranges=deg, finite=xs),
        Call(poly_fit, {"x": x, "y": y, "degree": 2}, ranges=deg, finite=("x", "y")),
        Call(poly_eval, {"coef": torch.ones(3, device=device, dtype=dtype), "x": x}),
        Call(polynomial_learner, {"degree": 2}, ranges=deg),
        Call(smoother_matrix, {"x_train": x, "degree": 2, "x_eval": x[:3]}, ranges=deg, finite=xs),
        Call(
            bias_variance,
            {
                "learner": polynomial_learner(1),
                "f": torch.sin,
                "x_train": x,
                "x_eval": x[:2],
                "sigma": 0.5,
                "noise": noise,
            },
            finite=xs,
            ranges={"sigma": "[0, inf)", "sigma_eval": "[0, inf)", "draws": "[0, inf)"},
        ),
        Call(
            bias_variance,
            {
                "learner": polynomial_learner(1),
                "f": torch.sin,
                "x_train": x,
                "sigma": 0.5,
                "exact": False,
                "draws": 3,
                "generator": g,
                "at_training_points": True,
            },
            ranges={"sigma": "[0, inf)", "draws": "[2, inf)"},
        ),
    ]
