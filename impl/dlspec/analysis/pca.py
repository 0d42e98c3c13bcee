"""Principal component analysis from the covariance, and principal angles between subspaces.

Notation of `spec/autoencoders/pca.md`: data rows $x_t \\in \\mathbb{R}^d$, $t = 1, \\dots, n$;
with centring $\\mu = \\frac1n\\sum_t x_t$, without it $\\mu = 0$ (an explicit choice: the
bias-free linear autoencoder sees the *uncentred* second moment). The scatter matrix is
$\\Sigma = \\sum_t (x_t - \\mu)(x_t - \\mu)^\\top$ and the covariance $S = \\Sigma / n$ (the
maximum-likelihood normalization; scikit-learn's `explained_variance_` divides by $n - 1$).
PCA keeps the top-$k$ eigenvectors $U_k$ of $S$, eigenvalues $\\lambda_1 \\ge \\dots \\ge
\\lambda_d$. Serves `pca.lagrangian`, `pca.max-variance`, `ae.linear-optimal-error`,
`ae.linear-spans-pca`, `ae.subspace-not-components`.

The eigendecomposition is `torch.linalg.eigh` of the symmetric $S$; the tests compare with
scikit-learn's `PCA` (an SVD of the centred data) and `torch.linalg.svd`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dlspec.checks import check_finite, check_flag, check_float_tensor, check_int, check_like
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "PCA",
    "components_from_decoder",
    "covariance",
    "pca",
    "principal_angles",
    "scatter",
]


def _check_data(x: Tensor, center: bool) -> Tensor:
    check_float_tensor(x, "x", dim=2)
    center = check_flag(center, "center")
    need = 2 if center else 1  # a centred covariance needs two samples to be non-degenerate
    if x.shape[0] < need:
        raise ValueError(
            f"x must hold at least {need} samples (rows) for a "
            f"{'centred' if center else 'second-moment'} covariance, got {x.shape[0]}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least 1 feature, got shape {tuple(x.shape)}")
    return check_finite(x, "x")


def scatter(x: Tensor, *, center: bool) -> tuple[Tensor, Tensor]:
    """$(\\Sigma, \\mu)$: $\\Sigma = \\sum_t (x_t - \\mu)(x_t - \\mu)^\\top$, $\\mu$ the mean
    (`center=True`) or $0$ (`center=False`)."""
    _check_data(x, center)
    mu = x.mean(dim=0) if center else torch.zeros_like(x[0])
    xc = x - mu  # rows x_t − μ
    return xc.T @ xc, mu  # Σ_t (x_t − μ)(x_t − μ)ᵀ


def covariance(x: Tensor, *, center: bool) -> Tensor:
    """$S = \\Sigma / n$ (divides by $n$, not $n - 1$)."""
    sigma, _ = scatter(x, center=center)
    return sigma / x.shape[0]


def _sign_fix(u: Tensor) -> Tensor:
    """Columns with their largest-magnitude entry made positive (a deterministic sign). Every
    column is a unit vector (an eigenvector, or a column of an orthonormal `V W`), so that entry
    has magnitude at least $1/\\sqrt{d}$ and its sign is ±1, never 0."""
    idx = u.abs().argmax(dim=0, keepdim=True)
    return u * torch.sign(u.gather(0, idx))


@dataclass(frozen=True)
class PCA:
    """A fitted PCA: `mean` $\\mu$ `(d,)`, `components` $U_k^\\top$ `(k, d)` (rows orthonormal,
    by decreasing eigenvalue), `eigenvalues` $\\lambda_1 \\ge \\dots \\ge \\lambda_d$ of $S$
    (all $d$), `center` the choice made."""

    mean: Tensor
    components: Tensor
    eigenvalues: Tensor
    center: bool

    @property
    def k(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: Tensor) -> Tensor:
        """Codes $h = U_k^\\top (x - \\mu)$, `(n, k)`."""
        check_float_tensor(x, "x")
        return (x - self.mean) @ self.components.T

    def inverse_transform(self, h: Tensor) -> Tensor:
        """$U_k h + \\mu$."""
        check_float_tensor(h, "h")
        return h @ self.components + self.mean

    def reconstruct(self, x: Tensor) -> Tensor:
        """$\\mu + U_k U_k^\\top (x - \\mu)$: the orthogonal projection onto the principal
        (affine) subspace."""
        return self.inverse_transform(self.transform(x))

    def projector(self) -> Tensor:
        """$U_k U_k^\\top$, `(d, d)`."""
        return self.components.T @ self.components


def pca(x: Tensor, k: int, *, center: bool) -> PCA:
    """PCA of the rows of `x` `(n, d)` keeping `k < d` components; `center` must be given.

    Refuses `k ≥ d`, too few samples ($n < 2$ centred, $n < 1$ otherwise) and non-finite data.
    """
    _check_data(x, center)
    d = x.shape[1]
    if d < 2:
        raise ValueError(f"x must have at least 2 features for k < d, got shape {tuple(x.shape)}")
    k = check_int(k, "k", low=1, high=d - 1)
    s = covariance(x, center=center)
    s = 0.5 * (s + s.T)  # symmetric to the last bit before eigh
    evals, evecs = torch.linalg.eigh(s)  # ascending
    evals, evecs = evals.flip(0), evecs.flip(1)  # λ_1 ≥ … ≥ λ_d, S u_i = λ_i u_i
    u = _sign_fix(evecs[:, :k])
    mu = x.mean(dim=0) if center else torch.zeros_like(x[0])
    return PCA(mean=mu, components=u.T.contiguous(), eigenvalues=evals, center=center)


def _orthonormal_basis(a: Tensor, name: str) -> Tensor:
    check_finite(check_float_tensor(a, name, dim=2), name)
    if a.shape[1] < 1 or a.shape[1] > a.shape[0]:
        raise ValueError(
            f"{name} must be a (d, k) basis with 1 ≤ k ≤ d columns, got shape {tuple(a.shape)}"
        )
    q: Tensor = torch.linalg.qr(a)[0]  # columns of q: an orthonormal basis of span(a)
    return q


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    """Principal angles $0 \\le \\theta_1 \\le \\dots \\le \\theta_m$ (radians) between
    $\\mathrm{span}(a)$ and $\\mathrm{span}(b)$, `a` `(d, k_a)`, `b` `(d, k_b)` of full column
    rank, $m = \\min(k_a, k_b)$: $\\cos\\theta_i$ are the singular values of $Q_a^\\top Q_b$
    (Björck and Golub 1973). The largest angle of two $k$-dimensional subspaces satisfies
    $\\sin\\theta_{\\max} = \\|P_a - P_b\\|_2$."""
    qa, qb = _orthonormal_basis(a, "a"), _orthonormal_basis(b, "b")
    check_like(b, a, "b", "a")
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(f"a and b must live in the same R^d, got {qa.shape[0]} and {qb.shape[0]}")
    # sin θ from the component of the smaller basis outside the other span: accurate for small θ.
    # Both SVDs give m = min(k_a, k_b) values (the smaller basis has m ≤ d columns).
    small, big = (qa, qb) if qa.shape[1] <= qb.shape[1] else (qb, qa)
    cos = torch.linalg.svdvals(small.T @ big)  # descending cos
    sin = torch.linalg.svdvals(small - big @ (big.T @ small)).flip(0)  # ascending sin
    # atan2 takes any pair (sin, cos) ≥ 0, even one that rounding puts a bit above 1 (acos
    # would need a clamp): the angles lie in [0, π/2].
    return torch.atan2(sin, cos)  # ascending angles


def components_from_decoder(decoder: Tensor, sigma: Tensor) -> Tensor:
    """The principal components hidden in a trained decoder `B` `(d, k)`: orthonormalize its
    columns ($V$, QR), eigendecompose $V^\\top \\Sigma V = W \\Lambda W^\\top$, return the rows
    of $(V W)^\\top$ `(k, d)` by decreasing eigenvalue (sign as in `pca`). Exact when
    $\\mathrm{span}(B)$ is the top-$k$ eigenspace of $\\Sigma$ (`ae.subspace-not-components`)."""
    v = _orthonormal_basis(decoder, "decoder")
    check_like(check_float_tensor(sigma, "sigma", dim=2), decoder, "sigma", "decoder")
    check_finite(sigma, "sigma")
    if sigma.shape != (v.shape[0], v.shape[0]):
        raise ValueError(
            f"sigma must be ({v.shape[0]}, {v.shape[0]}), got shape {tuple(sigma.shape)}"
        )
    m = v.T @ sigma @ v
    _evals, w = torch.linalg.eigh(m + m.T)  # symmetrized; only the eigenvectors are used
    return _sign_fix((v @ w).flip(1)).T.contiguous()


@register("pca.pca")
def _sample_pca(device: torch.device, dtype: torch.dtype) -> Sample:
    x = torch.randn(10, 4, device=device, dtype=dtype, requires_grad=True)

    def f(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p = pca(x, 2, center=True)
        return p.reconstruct(x), p.eigenvalues, p.projector()

    return f, (x,)


@register("pca.principal_angles")
def _sample_angles(device: torch.device, dtype: torch.dtype) -> Sample:
    a = torch.randn(5, 2, device=device, dtype=dtype, requires_grad=True)
    b = torch.randn(5, 3, device=device, dtype=dtype)
    return principal_angles, (a, b)


@register("pca.components_from_decoder")
def _sample_components(device: torch.device, dtype: torch.dtype) -> Sample:
    b = torch.randn(5, 2, device=device, dtype=dtype, requires_grad=True)
    s = torch.randn(5, 5, device=device, dtype=dtype)
    return components_from_decoder, (b, s @ s.T)


@register_calls
def _calls_pca(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(10, 4, device=device, dtype=dtype)
    s = torch.randn(5, 5, device=device, dtype=dtype)
    xs = ("x",)
    fit = pca(x, 2, center=True)
    return [
        Call(fit.transform, {"x": x}),
        Call(fit.inverse_transform, {"h": fit.transform(x)}),
        Call(
            pca,
            {"x": x, "k": 2, "center": True},
            ranges={"k": "[1, 4]"},
            ndim=xs,
            finite=xs,
            nonempty=xs,
        ),
        Call(covariance, {"x": x, "center": False}, ndim=xs, finite=xs, nonempty=xs),
        Call(scatter, {"x": x, "center": True}, ndim=xs, finite=xs, nonempty=xs),
        Call(
            principal_angles, {"a": x[:5, :2], "b": x[:5, 1:]}, ndim=("a", "b"), finite=("a", "b")
        ),
        Call(
            components_from_decoder,
            {"decoder": x[:5, :2], "sigma": s @ s.T},
            ndim=("decoder", "sigma"),
            finite=("decoder", "sigma"),
        ),
    ]
