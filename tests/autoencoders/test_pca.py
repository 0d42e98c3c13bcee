"""Tests of spec/autoencoders/pca.md: PCA as a constrained maximization (the Lagrangian) and the
variance of the top projection. Oracles: sympy, torch.linalg.eigh/svd, scikit-learn's PCA (on
drawn data and on the digits)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlspec.analysis import pca as P
from dlspec.data.digits import digits
from tests import strategies as S
from tests.tolerances import Tol, check_close, failure

CLAIM_L = "pca.lagrangian"
CLAIM_V = "pca.max-variance"
F64 = torch.float64


@st.composite
def data(draw: st.DrawFn, min_d: int = 2, max_d: int = 6) -> np.ndarray[Any, Any]:
    """Rows x_t (n ≥ d + 1) with features on different scales, so eigenvalues spread."""
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(d + 1, 40))
    x = draw(S.arrays((n, d)))
    scales = np.array([draw(st.floats(0.2, 3.0)) for _ in range(d)])
    return np.asarray(x * scales)


def _gap_ok(evals: torch.Tensor, k: int) -> bool:
    """λ_k − λ_{k+1} ≥ 1e-3 λ₁ (the eigengap the claims need)."""
    return bool(evals[k - 1] - evals[k] >= 1e-3 * evals[0]) and bool(evals[0] > 1e-9)


# =================================================================================================
# pca.lagrangian
# =================================================================================================


@functools.cache
def lagrangian_derivation() -> dict[str, Any]:
    """L(v, α) = vᵀSv − α(vᵀv − 1): ∇_v L − 2(Sv − αv) ≡ 0 for symbolic 2 × 2 S; for a rational
    3 × 3 S the stationary points are exactly the ± unit eigenvectors with α = λ and objective λ;
    the second component's multiplier β is 0."""
    a, b, c, v1, v2, al = sp.symbols("a b c v1 v2 alpha", real=True)
    s_sym = sp.Matrix([[a, b], [b, c]])
    v = sp.Matrix([v1, v2])
    lag = (v.T * s_sym * v)[0] - al * ((v.T * v)[0] - 1)
    grad = sp.Matrix([sp.diff(lag, t) for t in (v1, v2)])
    grad_residual = sp.simplify(grad - 2 * (s_sym * v - al * v))
    # a concrete S with distinct eigenvalues 1, 2, 4 (S = Q diag Qᵀ with rational Q)
    s = sp.Matrix([[3, 1, 0], [1, 3, 0], [0, 0, 1]])  # eigenvalues 4, 2, 1
    x = sp.symbols("x1:4", real=True)
    vx = sp.Matrix(x)
    lag3 = (vx.T * s * vx)[0] - al * ((vx.T * vx)[0] - 1)
    eqs = [sp.diff(lag3, t) for t in x] + [(vx.T * vx)[0] - 1]
    sols = sp.solve(eqs, [*x, al], dict=True)
    objectives = sorted({sp.nsimplify((vx.T * s * vx)[0].subs(sol)) for sol in sols})
    alphas_equal_objective = all(
        sp.simplify((vx.T * s * vx)[0].subs(sol) - sol[al]) == 0 for sol in sols
    )
    eigen = sorted(s.eigenvals())
    # second component: add −β v₂ᵀv₁ with v₁ the top eigenvector (1, 1, 0)/√2
    be = sp.Symbol("beta", real=True)
    top = sp.Matrix([1, 1, 0]) / sp.sqrt(2)
    lag2 = lag3 - be * (vx.T * top)[0]
    eqs2 = [sp.diff(lag2, t) for t in x] + [(vx.T * vx)[0] - 1, (vx.T * top)[0]]
    sols2 = sp.solve(eqs2, [*x, al, be], dict=True)
    return {
        "grad_residual": grad_residual,
        "n_solutions": len(sols),
        "objectives": objectives,
        "eigenvalues": eigen,
        "alphas_equal_objective": alphas_equal_objective,
        "betas": {sol[be] for sol in sols2},
        "alphas2": sorted({sol[al] for sol in sols2}),
    }


@pytest.mark.claim(CLAIM_L)
def test_lagrangian_sympy() -> None:
    der = lagrangian_derivation()
    assert der["grad_residual"] == sp.zeros(2, 1), f"{CLAIM_L}: ∇L ≠ 2(Sv − αv)"
    assert der["n_solutions"] == 6, f"{CLAIM_L}: expected ± each of 3 eigenvectors, got {der}"
    assert der["objectives"] == der["eigenvalues"] == [1, 2, 4], f"{CLAIM_L}: {der}"
    assert der["alphas_equal_objective"], f"{CLAIM_L}: the multiplier is not the objective"
    assert der["betas"] == {0}, f"{CLAIM_L}: second component β = {der['betas']}"
    assert der["alphas2"] == [1, 2], f"{CLAIM_L}: second component α ∈ {der['alphas2']}"


@pytest.mark.claim(CLAIM_L)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(a=data(min_d=3))
def test_eigenvectors_are_the_stationary_points_and_only_the_top_is_a_maximum(
    device: str, dtype: torch.dtype, a: np.ndarray[Any, Any]
) -> None:
    x = S.to_torch(a, device, dtype)
    d = x.shape[1]
    fit = P.pca(x, d - 1, center=True)
    s = P.covariance(x, center=True)
    evals = fit.eigenvalues
    if not (evals[0] > 1e-9 and bool((evals[:-1] - evals[1:] >= 1e-3 * evals[0]).all())):
        return  # distinct eigenvalues needed for a strict saddle/maximum classification
    oracle = torch.linalg.eigvalsh(s).flip(0)
    check_close(
        evals,
        oracle,
        Tol(rtol=1e-10, atol=1e-12 * float(evals[0])),
        CLAIM_L,
        device,
        "eigenvalues vs torch.linalg.eigvalsh",
    )
    scale = float(evals[0])
    for j in range(d - 1):
        v = fit.components[j].clone().requires_grad_(True)
        alpha = evals[j]
        lag = v @ s @ v - alpha * (v @ v - 1)  # L(v, α)
        (grad,) = torch.autograd.grad(lag, v, create_graph=True)
        check_close(
            grad,
            torch.zeros_like(grad),
            Tol(0, 1e-10 * scale),
            CLAIM_L,
            device,
            f"∇_v L at eigenvector {j + 1}",
        )
        check_close(
            v @ s @ v,
            alpha,
            Tol(1e-10, 1e-12 * scale),
            CLAIM_L,
            device,
            f"objective vᵀSv at eigenvector {j + 1} is not λ",
        )
        # second order on the sphere: the Hessian of L, 2(S − λ_j I), along the tangent space
        hess = torch.stack(
            [torch.autograd.grad(grad[i], v, retain_graph=True)[0] for i in range(d)]
        )
        basis = torch.linalg.svd(
            torch.eye(d, dtype=dtype, device=device) - torch.outer(v, v).detach()
        ).U[:, : d - 1]  # tangent basis
        tangent = torch.linalg.eigvalsh(basis.T @ hess @ basis)
        if j == 0:  # the maximum: every tangent curvature ≤ 0
            assert float(tangent.max()) <= 1e-9 * scale, failure(
                CLAIM_L,
                device,
                dtype,
                "top eigenvector is not a local maximum",
                float(tangent.max()),
                "≤ 0",
            )
        else:  # not a maximum: moving towards v₁ raises vᵀSv (curvature 2(λ₁ − λ_j) > 0)
            check_close(
                tangent.max(),
                2 * (evals[0] - alpha),
                Tol(1e-8, 1e-10 * scale),
                CLAIM_L,
                device,
                f"eigenvector {j + 1}: largest tangent curvature",
            )
            assert float(tangent.max()) > 0, failure(
                CLAIM_L,
                device,
                dtype,
                f"eigenvector {j + 1} looks like a maximum",
                float(tangent.max()),
                "> 0",
            )


# =================================================================================================
# pca.max-variance
# =================================================================================================


@pytest.mark.claim(CLAIM_V)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(a=data(), us=st.lists(S.arrays(6), min_size=1, max_size=8), center=st.booleans())
def test_top_projection_has_the_largest_variance(
    device: str, dtype: torch.dtype, a: np.ndarray[Any, Any], us: list[Any], center: bool
) -> None:
    x = S.to_torch(a, device, dtype)
    d = x.shape[1]
    fit = P.pca(x, 1, center=center)
    mu = x.mean(0) if center else torch.zeros(d, device=device, dtype=dtype)

    def var(u: torch.Tensor) -> torch.Tensor:  # (1/n) Σ (uᵀ(x_t − μ))²
        return (((x - mu) @ u) ** 2).mean()

    top = var(fit.components[0])
    scale = abs(float(fit.eigenvalues[0])) + 1e-20 * (1.0 + float((x**2).mean()))
    check_close(
        top,
        fit.eigenvalues[0],
        Tol(1e-10, 1e-12 * scale),
        CLAIM_V,
        device,
        "variance along the top component is not λ₁",
    )
    for u_np in us:
        u = S.to_torch(u_np[:d], device, dtype)
        if float(u.norm()) < 1e-6:
            continue
        u = u / u.norm()
        assert float(var(u)) <= float(top) + 1e-10 * scale, failure(
            CLAIM_V,
            device,
            dtype,
            "a unit vector beats the top component",
            float(var(u) - top),
            "≤ 0",
        )
    for u in torch.eye(d, device=device, dtype=dtype):  # coordinate axes too
        assert float(var(u)) <= float(top) + 1e-10 * scale
    # the fitted object keeps the choice: μ is the mean or 0, and reconstruct() projects x − μ
    assert fit.center is center
    check_close(fit.mean, mu, Tol(0, 0), CLAIM_V, device, f"PCA.mean (center={center})")
    u1 = fit.components[0]
    check_close(
        fit.reconstruct(x),
        mu + ((x - mu) @ u1)[:, None] * u1,
        Tol(1e-12, 1e-12 * (1.0 + float(x.abs().max()))),
        CLAIM_V,
        device,
        f"reconstruct ≠ μ + u₁u₁ᵀ(x − μ) (center={center})",
    )


@pytest.mark.claim(CLAIM_V)
@pytest.mark.claim(CLAIM_L)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(a=data(min_d=3), k=st.integers(1, 5))
def test_matches_sklearn_and_svd(
    device: str, dtype: torch.dtype, a: np.ndarray[Any, Any], k: int
) -> None:
    from sklearn.decomposition import PCA as SkPCA

    x = S.to_torch(a, device, dtype)
    n, d = x.shape
    k = min(k, d - 1)
    fit = P.pca(x, k, center=True)
    if not _gap_ok(fit.eigenvalues, k):
        return
    sk = SkPCA(n_components=k, svd_solver="full").fit(a)
    # sklearn divides by n − 1; this PCA by n
    check_close(
        fit.eigenvalues[:k] * n / (n - 1),
        torch.as_tensor(sk.explained_variance_, device=device, dtype=dtype),
        Tol(1e-9, 1e-12),
        CLAIM_V,
        device,
        "eigenvalues vs sklearn explained_variance_",
    )
    ours = fit.projector()
    theirs = torch.as_tensor(sk.components_.T @ sk.components_, device=device, dtype=dtype)
    # the projector onto span(U_k) is determined given the gap; rounding moves it by about
    # ε λ₁ / gap
    gap = float(fit.eigenvalues[k - 1] - fit.eigenvalues[k]) / float(fit.eigenvalues[0])
    t = Tol(0.0, 1e-12 / gap)
    check_close(ours, theirs, t, CLAIM_V, device, "projector vs sklearn")
    svals = torch.linalg.svdvals(x - x.mean(0))
    check_close(
        fit.eigenvalues,
        svals**2 / n,
        Tol(1e-9, 1e-12 * float(svals[0] ** 2 / n)),
        CLAIM_V,
        device,
        "eigenvalues vs singular values² / n",
    )
    check_close(
        fit.reconstruct(x),
        torch.as_tensor(sk.inverse_transform(sk.transform(a)), device=device, dtype=dtype),
        t,
        CLAIM_V,
        device,
        "reconstruction vs sklearn",
    )
    # the documented sign: each component's largest-magnitude entry is positive (so components
    # are deterministic, not up to sign), and the rows are orthonormal
    comp = fit.components
    peak = comp.gather(1, comp.abs().argmax(1, keepdim=True))
    assert bool((peak > 0).all()), failure(
        CLAIM_V, device, dtype, "largest-magnitude entry of a component not positive", 0.0, "> 0"
    )
    check_close(
        comp @ comp.T,
        torch.eye(k, device=device, dtype=dtype),
        Tol(0, 1e-12),
        CLAIM_V,
        device,
        "components not orthonormal",
    )


@pytest.mark.claim(CLAIM_V)
def test_digits_match_sklearn(device: str, evidence: Any) -> None:
    """The real digits (1300 × 64): the top 10 components agree with scikit-learn's up to sign."""
    from sklearn.decomposition import PCA as SkPCA

    x = digits(device=device, dtype=F64).x_train
    fit = P.pca(x, 10, center=True)
    sk = SkPCA(n_components=10, svd_solver="full").fit(x.cpu().numpy())
    comp = torch.as_tensor(sk.components_, device=device, dtype=F64)
    cos = (fit.components * comp).sum(1).abs()  # |cos| between matching components
    gaps = fit.eigenvalues[:10] - fit.eigenvalues[1:11]
    assert float((1 - cos).max()) < 1e-10, failure(
        CLAIM_V,
        device,
        F64,
        "digits components differ from sklearn's",
        float((1 - cos).max()),
        "1 − |cos| < 1e-10",
    )
    n = x.shape[0]
    check_close(
        fit.eigenvalues[:10] * n / (n - 1),
        torch.as_tensor(sk.explained_variance_, device=device, dtype=F64),
        Tol(1e-10, 0),
        CLAIM_V,
        device,
        "digits eigenvalues vs sklearn",
    )
    evidence.value("digits_top_eigenvalues", [round(float(v), 4) for v in fit.eigenvalues[:6]])
    evidence.value("digits_min_relative_gap_top10", float((gaps / fit.eigenvalues[0]).min()))


@pytest.mark.claim(CLAIM_V)
def test_bad_input() -> None:
    x = torch.randn(10, 4, dtype=F64)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\], got 4"):
        P.pca(x, 4, center=True)
    with pytest.raises(ValueError, match=r"x must hold at least 2 samples .* centred .*, got 1"):
        P.pca(x[:1], 1, center=True)
    with pytest.raises(ValueError, match=r"at least 1 samples .* second-moment .*, got 0"):
        P.pca(x[:0], 1, center=False)
    with pytest.raises(ValueError, match=r"x must have at least 1 feature, got shape \(10, 0\)"):
        P.covariance(x[:, :0], center=True)
    with pytest.raises(
        ValueError, match=r"x must have at least 2 features .*, got shape \(10, 1\)"
    ):
        P.pca(x[:, :1], 1, center=True)
    P.pca(x[:1], 1, center=False)  # one sample is a (rank-1) second moment
    with pytest.raises(ValueError, match="x must be finite"):
        P.pca(torch.tensor([[1.0, math.nan], [0.0, 1.0], [2.0, 2.0]], dtype=F64), 1, center=True)
    with pytest.raises(TypeError, match="center must be a bool"):
        P.pca(x, 1, center=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="center"):
        P.pca(x, 1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="x must be 2-D"):
        P.pca(x[0], 1, center=True)
    with pytest.raises(ValueError, match=r"a and b must live in the same R\^d, got 4 and 5"):
        P.principal_angles(torch.randn(4, 2, dtype=F64), torch.randn(5, 2, dtype=F64))
    with pytest.raises(ValueError, match=r"a must be a \(d, k\) basis .*, got shape \(2, 3\)"):
        P.principal_angles(torch.randn(2, 3, dtype=F64), torch.randn(2, 1, dtype=F64))


@pytest.mark.claim(CLAIM_V)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(d=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_principal_angles_against_definitions(
    device: str, dtype: torch.dtype, d: int, seed: int
) -> None:
    """θ of a subspace with itself (other basis) is 0; cos θ against torch.linalg.svd of the
    orthonormal bases; sin θ_max = ‖P_a − P_b‖₂; a known angle in the plane."""
    g = torch.Generator().manual_seed(seed)
    k = int(torch.randint(1, d, (1,), generator=g))
    a = torch.randn(d, k, generator=g, dtype=dtype).to(device)
    b = torch.randn(d, k, generator=g, dtype=dtype).to(device)
    c = torch.randn(k, k, generator=g, dtype=dtype).to(device) + 3 * torch.eye(
        k, dtype=dtype, device=device
    )
    check_close(
        P.principal_angles(a, a @ c),
        torch.zeros(k, dtype=dtype, device=device),
        Tol(0, 1e-7),
        CLAIM_V,
        device,
        "angles of a subspace with itself",
    )
    th = P.principal_angles(a, b)
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    cos = torch.linalg.svd(qa.T @ qb).S
    check_close(torch.cos(th), cos, Tol(0, 1e-10), CLAIM_V, device, "cos θ vs svd")
    pa, pb = qa @ qa.T, qb @ qb.T
    check_close(
        torch.sin(th[-1]),
        torch.linalg.matrix_norm(pa - pb, ord=2),
        Tol(0, 1e-10),
        CLAIM_V,
        device,
        "sin θ_max = ‖P_a − P_b‖₂",
    )
    phi = 1e-6 + seed / 10_000  # a small known angle stays accurate (sin form)
    u = torch.tensor([[1.0], [0.0]], dtype=dtype, device=device)
    w = torch.tensor([[math.cos(phi)], [math.sin(phi)]], dtype=dtype, device=device)
    check_close(
        P.principal_angles(u, w),
        torch.tensor([phi], dtype=dtype, device=device),
        Tol(1e-9, 1e-15),
        CLAIM_V,
        device,
        "angle between two lines",
    )


@pytest.mark.claim(CLAIM_V)
@pytest.mark.dtypes("float64")
def test_principal_angles_of_subspaces_of_different_dimensions(
    device: str, dtype: torch.dtype
) -> None:
    """m = min(k_a, k_b) angles, in either order: the line through (cos φ, 0, sin φ) makes the
    angle φ with the plane z = 0 (its projection is (cos φ, 0, 0)); a plane holding the x axis
    and tilted by ψ makes the angles (0, ψ) with it; a basis of the whole R^d (k = d) makes the
    angle 0 with every subspace."""
    w = {"dtype": dtype, "device": device}
    phi, psi = 0.3, 1.1
    line = torch.tensor([[math.cos(phi)], [0.0], [math.sin(phi)]], **w)
    plane = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], **w) @ torch.tensor(
        [[2.0, 1.0], [0.5, -1.0]], **w
    )  # another basis of z = 0
    tilted = torch.tensor([[1.0, 0.0], [0.0, math.cos(psi)], [0.0, math.sin(psi)]], **w)
    space = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]], **w)
    for a, b, want in [
        (line, plane, [phi]),
        (plane, line, [phi]),
        (plane, tilted, [0.0, psi]),
        (space, line, [0.0]),
        (plane, space, [0.0, 0.0]),
        (space, space.flip(1), [0.0, 0.0, 0.0]),
    ]:
        got = P.principal_angles(a, b)
        check_close(got, torch.tensor(want, **w), Tol(1e-12, 1e-14), CLAIM_V, device,
                    f"angles between spans of {tuple(a.shape)} and {tuple(b.shape)}")  # fmt: skip
