"""Synthetic optimization problems for the optimization chapter, and a steps-to-tolerance measure.

- `quadratic(λ, generator=)`: `f(x) = ½ xᵀAx − bᵀx` with `A = Q diag(λ) Qᵀ` (a drawn rotation
  `Q`): the exact model of gradient descent's step-size behaviour (`opt.gd-step-quadratic`).
- `least_squares(n, scales, correlation, generator=)`: data `X` whose centred features have
  *exactly* the standard deviations `scales` and pairwise correlation `correlation`, and
  `y = X w*` (`opt.scaling-speeds-gd`); `ls_loss(X, y, w) = ½‖Xw − y‖²`;
  `hessian_condition(X) = κ(XᵀX)`.
- `huber(x, δ)`: the Huber loss, 1-smooth for `δ = 1` (`opt.gd-step-not-always-diverge`).
- `multi_basin(x) = sin 3x + x²/10`: a 1-D loss with several basins (`opt.init-decides-minimum`).
- `steps_to_tolerance(loss, x0, make_optimizer, tol=)`: how many optimizer steps until
  `loss(x) − floor ≤ tol · (loss(x0) − floor)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import (
    check_callable,
    check_finite,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
    check_real,
)
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = [
    "MULTI_BASIN_SMOOTHNESS",
    "Quadratic",
    "hessian_condition",
    "huber",
    "least_squares",
    "ls_loss",
    "multi_basin",
    "quadratic",
    "random_orthogonal",
    "steps_to_tolerance",
]


def random_orthogonal(
    d: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """A random `d × d` orthogonal matrix (QR of a Gaussian matrix, signs fixed by `R`'s diagonal:
    Haar-distributed)."""
    d = check_int(d, "d")
    dtype = check_float_dtype(dtype)
    g = torch.randn(d, d, generator=check_generator(generator), device=device, dtype=dtype)
    q, r = torch.linalg.qr(g)
    out: Tensor = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    return out


@dataclass(frozen=True)
class Quadratic:
    """`f(x) = ½ xᵀAx − bᵀx`, `A` symmetric positive definite; minimizer `x* = A⁻¹b`."""

    a: Tensor
    b: Tensor
    eigenvalues: Tensor
    eigenvectors: Tensor  # columns, in the order of `eigenvalues`

    @property
    def minimizer(self) -> Tensor:
        out: Tensor = torch.linalg.solve(self.a, self.b)
        return out

    def loss(self, x: Tensor) -> Tensor:
        """`½ xᵀAx − bᵀx` over the last dimension of `x`."""
        return 0.5 * (x * (x @ self.a.T)).sum(-1) - (x * self.b).sum(-1)


def quadratic(
    eigenvalues: Tensor, *, generator: torch.Generator | None = None, b: Tensor | None = None
) -> Quadratic:
    """The quadratic with Hessian `A = Q diag(λ) Qᵀ` (`Q` drawn from `generator`) and linear term
    `b` (drawn standard normal when not given). Eigenvalues must be positive (`A ≻ 0`)."""
    lam = check_finite(check_float_tensor(eigenvalues, "eigenvalues", dim=1), "eigenvalues")
    if lam.numel() < 1 or (lam.device.type != "meta" and not bool((lam > 0).all())):
        raise ValueError("eigenvalues must be a non-empty 1-D tensor of positive numbers")
    generator = check_generator(generator)
    d = lam.shape[0]
    q = random_orthogonal(d, generator=generator, device=lam.device, dtype=lam.dtype)
    a = (q * lam) @ q.T  # A = Q diag(λ) Qᵀ
    a = 0.5 * (a + a.T)
    if b is None:
        b = torch.randn(d, generator=generator, device=lam.device, dtype=lam.dtype)
    else:
        check_like(check_float_tensor(b, "b", dim=1), lam, "b", "eigenvalues")
        check_finite(b, "b")
        if b.shape != (d,):
            raise ValueError(f"b must have shape ({d},), got {tuple(b.shape)}")
    return Quadratic(a=a, b=b, eigenvalues=lam, eigenvectors=q)


def least_squares(
    n: int,
    scales: Sequence[float],
    correlation: float = 0.0,
    *,
    generator: torch.Generator | None = None,
    means: Sequence[float] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """`(X, y, w*)`: `n` examples of `d = len(scales)` features and `y = X w*`.

    The centred sample covariance of `X` (divisor `n`) is exactly `D R D`, `D = diag(scales)`,
    `R = (1 − ρ)I + ρ 11ᵀ` (`ρ = correlation`); column means are `means` (default 0). `w*` is
    standard normal.
    """
    n = check_int(n, "n")
    d = len(scales)
    if d < 1 or n <= d:
        raise ValueError(f"need at least one feature and n > d, got n={n}, d={d}")
    s = torch.tensor(
        [check_real(v, f"scales[{i}]", low=0.0, low_open=True) for i, v in enumerate(scales)],
        dtype=check_float_dtype(dtype),
        device=device,
    )
    rho = check_real(
        correlation, "correlation", low=-1.0 / max(d - 1, 1), high=1.0, low_open=d > 1,
        high_open=True, meaning="the pairwise correlation; R must be positive definite",
    )  # fmt: skip
    generator = check_generator(generator)
    z = torch.randn(n, d, generator=generator, dtype=dtype, device=device)
    z = z - z.mean(dim=0)
    # Whiten exactly: zᵀz/n = I after z ← z C⁻ᵀ with C Cᵀ = zᵀz/n.
    c = torch.linalg.cholesky(z.T @ z / n)
    z = torch.linalg.solve_triangular(c, z.T, upper=False).T
    r = (1 - rho) * torch.eye(d, dtype=dtype, device=device) + rho
    cov = s[:, None] * r * s[None, :]  # D R D
    x = z @ torch.linalg.cholesky(cov).T  # centred, covariance exactly D R D
    if means is not None:
        if len(means) != d:
            raise ValueError(f"means must have {d} entries, got {len(means)}")
        x = x + torch.tensor([float(m) for m in means], dtype=dtype, device=device)
    w = torch.randn(d, generator=generator, dtype=dtype, device=device)
    return x, x @ w, w


def ls_loss(x: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """`½ ‖Xw − y‖²`; its Hessian is `XᵀX`."""
    check_float_tensor(x, "x", dim=2)
    check_like(check_float_tensor(y, "y", dim=1), x, "y", "x")
    check_like(check_float_tensor(w, "w", dim=1), x, "w", "x")
    if y.shape[0] != x.shape[0] or w.shape[0] != x.shape[1]:
        raise ValueError(
            f"x (n, d), y (n,) and w (d,) must agree, got {tuple(x.shape)}, {tuple(y.shape)} "
            f"and {tuple(w.shape)}"
        )
    r = x @ w - y
    return 0.5 * (r * r).sum()


def hessian_condition(x: Tensor) -> Tensor:
    """`κ(XᵀX) = λ_max/λ_min`, the condition number of least squares' Hessian."""
    check_finite(check_float_tensor(x, "x", dim=2), "x")
    lam = torch.linalg.eigvalsh(x.T @ x)  # ascending
    out: Tensor = lam[-1] / lam[0]
    return out


def huber(x: Tensor, delta: float = 1.0) -> Tensor:
    """`½x²` for `|x| ≤ δ`, `δ(|x| − δ/2)` otherwise; its gradient `clamp(x, −δ, δ)` is
    1-Lipschitz (the loss is `L`-smooth with `L = 1`)."""
    check_float_tensor(x, "x")
    delta = check_real(delta, "delta", low=0.0, low_open=True)
    ax = x.abs()
    return torch.where(ax <= delta, 0.5 * x * x, delta * (ax - 0.5 * delta))


#: `|f''(x)| = |−9 sin 3x + 1/5| ≤ 9.2`: `multi_basin` is `L`-smooth with this `L`.
MULTI_BASIN_SMOOTHNESS = 9.2


def multi_basin(x: Tensor) -> Tensor:
    """`f(x) = sin 3x + x²/10`: local minima near every `x = −π/6 + 2πk/3` for `|x|` up to about
    10, one global minimum near `x = −0.5`."""
    check_float_tensor(x, "x")
    return torch.sin(3.0 * x) + 0.1 * x * x


def steps_to_tolerance(
    loss: Callable[[Tensor], Tensor],
    x0: Tensor,
    make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    *,
    tol: float = 1e-12,
    floor: float = 0.0,
    max_steps: int = 100_000,
) -> int | None:
    """The first `k` with `loss(x_k) − floor ≤ tol · (loss(x_0) − floor)`, `x_{k+1}` one step of
    the optimizer from `x_k` (`None` if `max_steps` pass first)."""
    check_callable(loss, "loss")
    check_finite(check_float_tensor(x0, "x0"), "x0")
    check_callable(make_optimizer, "make_optimizer")
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    floor = check_real(floor, "floor")
    max_steps = check_int(max_steps, "max_steps", low=0)
    p = torch.nn.Parameter(x0.detach().clone())
    opt = make_optimizer([p])
    start = float(loss(p.detach())) - floor
    target = tol * start
    for k in range(max_steps + 1):
        opt.zero_grad()  # set_to_none (the default): each step starts without a gradient
        value = loss(p)
        if float(value.detach()) - floor <= target:
            return k
        if not math.isfinite(float(value.detach())):
            return None
        value.backward()  # type: ignore[no-untyped-call]
        opt.step()
    return None


@register("problems.losses")
def _sample_problems(device: torch.device, dtype: torch.dtype) -> Sample:
    lam = torch.ones(3, device=device, dtype=dtype)

    def f(x: Tensor) -> Tensor:
        q = Quadratic(a=torch.diag(lam), b=lam, eigenvalues=lam, eigenvectors=torch.diag(lam))
        return q.loss(x) + huber(x).sum(-1) + multi_basin(x).sum(-1)

    return f, (torch.randn(2, 3, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_problems(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    g = sample_generator(device).manual_seed(0)
    x = torch.randn(2, 3, **where)
    lam = torch.tensor([1.0, 2.0, 3.0], **where)
    xs = ("x",)
    return [
        Call(hessian_condition, {"x": torch.randn(6, 3, **where)}, ndim=xs, finite=xs),
        Call(huber, {"x": x, "delta": 0.5}, ranges={"delta": "(0, inf)"}),
        Call(multi_basin, {"x": x}),
        Call(
            ls_loss,
            {"x": torch.randn(6, 3, **where), "y": torch.randn(6, **where), "w": lam},
            ndim=("x", "y", "w"),
        ),
        Call(
            least_squares,
            {"n": 6, "scales": [1.0, 2.0], "correlation": 0.3, "generator": g, **where},
            ranges={"correlation": "(-1, 1)"},
        ),
        Call(
            quadratic,
            {"eigenvalues": lam, "generator": g, "b": lam},
            ndim=("eigenvalues", "b"),
            finite=("eigenvalues", "b"),
        ),
        Call(random_orthogonal, {"d": 3, "generator": g, **where}),
        Call(
            steps_to_tolerance,
            {
                "loss": lambda w: (w**2).sum(),
                "x0": lam,
                "make_optimizer": lambda ps: torch.optim.SGD(ps, lr=0.4),
                "max_steps": 5,
            },
            ranges={"tol": "(0, inf)", "max_steps": "[0, inf)"},
            finite=("x0",),
        ),
    ]
