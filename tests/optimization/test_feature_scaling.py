"""Tests of spec/optimization/feature-scaling.md: standardization and the conditioning of GD.

Notation as on the page: data ``X`` (n × d), least squares ``½‖Xw − y‖²`` with Hessian ``XᵀX``;
``X_c`` the centred data, ``Z = (X − μ)/s`` the standardized data (population std), and
``κ(M) = λ_max/λ_min`` of ``MᵀM``. The implementation is reached through the seams
``Standardizer`` and ``problems``.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from dlspec.data import problems
from dlspec.data.standardize import NotFittedError, Standardizer, standardize
from dlspec.optim.sgd import GD
from tests import strategies as S
from tests.tolerances import Tol, check_close, failure

# =================================================================================================
# opt.standardize
# =================================================================================================

CLAIM_STD = "opt.standardize"


@st.composite
def _data(draw: st.DrawFn) -> tuple[Any, Any, Any, Any]:
    n, d = draw(st.integers(2, 20)), draw(st.integers(1, 5))
    x = draw(S.arrays((n, d))) + np.linspace(-2.0, 2.0, n)[:, None]  # a ramp keeps the spread
    const = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    x[:, const] = draw(S.reals())
    a = draw(S.arrays(d, bound=10.0, min_abs=0.1))
    b = draw(S.arrays(d, bound=10.0))
    test = draw(S.arrays((3, d)))
    return x, a, b, test


def _std_tol(dtype: torch.dtype, n: int, ratio: float) -> Tol:
    """Sums of n terms of size ≤ ratio = max|x − μ|/s (in units of s): 8 n eps · ratio."""
    e = 8 * n * torch.finfo(dtype).eps * ratio
    return Tol(rtol=e, atol=e)


@pytest.mark.claim(CLAIM_STD)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None, max_examples=30)
@given(case=_data())
@example(case=(np.array([[0.0, 1.0], [9.0, 1.0]]), np.array([2.0, -1.0]), np.array([5.0, 0.0]),
               np.array([[4.5, 1.0], [0.0, 2.0], [1.0, 1.0]])))  # fmt: skip
def test_standardize_mean_std_affine_invariance_and_train_test(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, Any, Any]
) -> None:
    """Non-constant features: mean 0, std 1; a_j > 0: z(a x + b) = z(x), a_j < 0: the sign flips;
    the test set is transformed with the training statistics (as sklearn's StandardScaler);
    a constant feature maps to 0 and is flagged."""
    x_np, a_np, b_np, test_np = case
    x = S.to_torch(x_np, device, dtype)
    x_np = x.cpu().double().numpy()  # the data as the dtype holds it
    spread = x_np.std(axis=0)
    scale = np.abs(x_np).max(axis=0) + 1e-300
    const_np = spread == 0.0
    assume(bool(np.all(const_np | (spread >= 0.05 * scale))))  # well-conditioned or constant
    st_ = Standardizer().fit(x)
    z = st_.transform(x)
    n = x.shape[0]
    ratio = float(np.max(np.where(const_np, 1.0, scale / np.where(const_np, 1.0, spread)))) + 1
    tl = _std_tol(dtype, n, ratio)
    assert st_.constant is not None and st_.constant.cpu().numpy().tolist() == const_np.tolist()
    live = torch.as_tensor(~const_np, device=device)
    zero = torch.zeros(x.shape[1], dtype=dtype, device=device)
    check_close(z.mean(0), zero, tl, CLAIM_STD, device, "feature means")
    sd = torch.sqrt((z**2).mean(0))
    check_close(torch.where(live, sd, 1.0), torch.ones_like(sd), tl, CLAIM_STD, device, "stds")
    check_close(torch.where(live, 0.0, z.abs()).amax(0), zero, tl, CLAIM_STD, device,
                "constant feature not mapped to 0")  # fmt: skip
    # per-feature affine change: z is invariant for a > 0 and flips sign for a < 0
    a, b = S.to_torch(a_np, device, dtype), S.to_torch(b_np, device, dtype)
    z2 = standardize(a * x + b)
    sign = torch.where(live, torch.sign(a), 0.0)
    check_close(z2, z * sign, Tol(tl.rtol * 10, tl.atol * 10), CLAIM_STD, device,
                "z(a x + b) ≠ sign(a) z(x)")  # fmt: skip
    # fit on train, apply to test: sklearn's StandardScaler is the oracle
    test = S.to_torch(test_np, device, dtype)
    ref = StandardScaler().fit(x_np).transform(test_np)
    got = st_.transform(test)
    bound = Tol(tl.rtol * 10, tl.atol * 10 * (1 + float(np.abs(test_np).max()) * ratio))
    check_close(got, S.to_torch(ref, device, dtype), bound, CLAIM_STD, device,
                "test set transformed with training statistics")  # fmt: skip


@pytest.mark.claim(CLAIM_STD)
def test_standardizer_refuses_bad_input() -> None:
    fresh = Standardizer()  # nothing learnt yet: no statistics to read
    assert fresh.mean is None and fresh.scale is None and fresh.constant is None
    with pytest.raises(NotFittedError, match="before fit"):
        fresh.transform(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="x must be 2-D"):
        Standardizer().fit(torch.zeros(3))
    with pytest.raises(ValueError, match="x must be finite"):
        Standardizer().fit(torch.tensor([[1.0], [math.nan]]))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        Standardizer().fit(torch.zeros(2, 2, dtype=torch.int64))
    s = Standardizer().fit(torch.randn(4, 3))
    with pytest.raises(ValueError, match="x must end in 3 features"):
        s.transform(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="x must end in 3 features"):
        s.transform(torch.tensor(1.0))
    xs = torch.randn(2, 4, 3)  # any leading shape: the features are the last dimension
    z = s.transform(xs)
    assert torch.equal(s.transform(xs[1]), z[1]) and torch.equal(s.transform(xs[0, 2]), z[0, 2])
    with pytest.raises(TypeError, match="x must have the training data's dtype"):
        s.transform(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have at least one row"):
        Standardizer().fit(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="x must have at least one row and one feature"):
        Standardizer().fit(torch.zeros(3, 0))
    # one row is enough: each feature is then constant (s_j = 0), centred and left unscaled
    one = torch.tensor([[2.0, -1.0]])
    s1 = Standardizer().fit(one)
    assert s1.constant is not None and bool(s1.constant.all()) and torch.equal(s1.mean, one[0])
    assert torch.equal(s1.transform(one), torch.zeros_like(one))


@pytest.mark.claim(CLAIM_STD)
def test_constant_rule_uses_each_features_own_magnitude() -> None:
    """The page's rule: feature j is constant when its computed spread is at most
    4ε·max_i |x_ij|, its own largest magnitude (not the data's). Column 0 holds 1 and 1 + 9ε:
    the mean rounds to 1 + 4ε (a tie, to even), deviations −4ε and 5ε, spread √20.5·ε ≈ 4.53ε,
    just above 4ε·(1 + 9ε), so it is scaled; beside the column of magnitude 1e10 it would be
    constant under that column's bound; column 2 is exactly constant."""
    eps = torch.finfo(torch.float64).eps
    x = torch.tensor([[1.0, 1e10, 3.0], [1.0 + 9 * eps, -1e10, 3.0]], dtype=torch.float64)
    s = Standardizer().fit(x)
    assert s.constant is not None and s.constant.tolist() == [False, False, True], (
        f"{CLAIM_STD}: constant flags {s.constant}, expected [False, False, True]"
    )
    assert s.scale is not None and float(s.scale[0]) == math.sqrt(20.5) * eps


# =================================================================================================
# opt.scaling-speeds-gd
# =================================================================================================

CLAIM_SPEED = "opt.scaling-speeds-gd"


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(0)


def _gd_steps(x: torch.Tensor, y: torch.Tensor, eta: float, tol: float = 1e-12) -> int | None:
    d = x.shape[1]
    return problems.steps_to_tolerance(
        lambda w: problems.ls_loss(x, y, w), torch.zeros(d, dtype=x.dtype, device=x.device),
        lambda p: GD(p, lr=eta), tol=tol, max_steps=20_000,
    )  # fmt: skip


def _best_eta(x: torch.Tensor) -> float:
    lam = torch.linalg.eigvalsh(x.T @ x)
    return 2.0 / float(lam[0] + lam[-1])  # η = 2/(λ_min + λ_max)


@pytest.mark.claim(CLAIM_SPEED)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=10)
@given(log_scales=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
       seed=st.integers(0, 2**31 - 1))  # fmt: skip
@example(log_scales=[0.0, 1.0], seed=0)
def test_uncorrelated_features_get_kappa_one_and_one_step(
    device: str, dtype: torch.dtype, log_scales: list[float], seed: int
) -> None:
    """Centred features with exactly zero correlation and scales s_j: κ(X_c) = (max s/min s)²,
    κ(Z) = 1, GD with η = 2/(λ_min + λ_max) reaches loss ≤ 1e-12·initial in one step on Z and
    in no fewer on X_c (as many as (κ − 1)/(κ + 1) contraction predicts)."""
    scales = [10.0**v for v in log_scales]
    g = torch.Generator().manual_seed(seed)
    n = 30
    x, _, w = problems.least_squares(n, scales, 0.0, generator=g, means=[3.0] * len(scales),
                                     dtype=dtype, device=device)  # fmt: skip
    xc = _centred(x)
    z = standardize(x)
    kappa_raw = float(problems.hessian_condition(xc))
    want = (max(scales) / min(scales)) ** 2
    assert abs(kappa_raw - want) <= 1e-9 * want, failure(
        CLAIM_SPEED, device, dtype, "κ(X_c) ≠ (max s / min s)²", abs(kappa_raw - want), "1e-9 rel"
    )
    kappa_std = float(problems.hessian_condition(z))
    assert abs(kappa_std - 1.0) <= 1e-9, failure(
        CLAIM_SPEED, device, dtype, "κ(Z) ≠ 1", abs(kappa_std - 1), "1e-9"
    )
    y_c = xc @ w
    steps_raw = _gd_steps(xc, y_c, _best_eta(xc))
    steps_std = _gd_steps(z, y_c, _best_eta(z))
    assert steps_std == 1 and steps_raw is not None and steps_raw >= steps_std


@st.composite
def _correlated(draw: st.DrawFn, d: int | None = None) -> Any:
    d = d if d is not None else draw(st.integers(2, 5))
    x = draw(S.arrays((12, d)))
    logs = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=d, max_size=d)))
    return x * 10.0**logs


def _kappas(x_np: Any, device: str, dtype: torch.dtype) -> tuple[float, float]:
    x = S.to_torch(x_np, device, dtype)
    xc = _centred(x)
    assume(float(torch.linalg.svdvals(xc).min()) > 0)
    k_raw = float(problems.hessian_condition(xc))
    assume(1.0 <= k_raw < 1e6)
    return k_raw, float(problems.hessian_condition(standardize(x)))


@pytest.mark.claim(CLAIM_SPEED)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(x=_correlated(d=2))
@example(x=np.array([[1.0, 200.0], [2.0, 100.0], [0.0, 900.0], [5.0, 300.0]]))
def test_two_features_never_worse(device: str, dtype: torch.dtype, x: Any) -> None:
    """d = 2 (centred κ < 1e6): κ(Z) ≤ κ(X_c)(1 + 1e-9)."""
    k_raw, k_std = _kappas(x, device, dtype)
    assert k_std <= k_raw * (1 + 1e-9), failure(
        CLAIM_SPEED, device, dtype, f"d=2: κ rose {k_raw:.6g} → {k_std:.6g}", k_std - k_raw, "0"
    )


@pytest.mark.claim(CLAIM_SPEED)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(x=_correlated())
def test_at_most_factor_d_worse(device: str, dtype: torch.dtype, x: Any) -> None:
    """d ≤ 5 (centred κ < 1e6): κ(Z) ≤ d·κ(X_c)(1 + 1e-9) (van der Sluis)."""
    k_raw, k_std = _kappas(x, device, dtype)
    d = x.shape[1]
    assert k_std <= d * k_raw * (1 + 1e-9), failure(
        CLAIM_SPEED, device, dtype, f"d={d}: κ {k_raw:.6g} → {k_std:.6g}", k_std / k_raw, f"≤ {d}"
    )


def _path(x: torch.Tensor, y: torch.Tensor, eta: float, steps: int) -> np.ndarray[Any, Any]:
    p = torch.nn.Parameter(torch.zeros(2, dtype=x.dtype))
    opt = GD([p], lr=eta)
    out = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        problems.ls_loss(x, y, p).backward()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out).numpy()


@pytest.mark.claim(CLAIM_SPEED)
def test_contour_figure(evidence: Any) -> None:
    """Two uncorrelated features with scales 1 and 5: GD paths (η = 2/(λ_min+λ_max)) on the raw
    and standardized losses; the step counts to 1e-12 are asserted and recorded."""
    g = torch.Generator().manual_seed(4)
    x, _, _ = problems.least_squares(40, [1.0, 5.0], 0.0, generator=g)
    z = standardize(x)
    w_true = torch.tensor([1.5, -1.0], dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    counts = {}
    for ax, (name, m) in zip(axes, (("raw", x), ("standardized", z)), strict=True):
        y = m @ w_true
        eta = _best_eta(m)
        counts[name] = _gd_steps(m, y, eta)
        path = _path(m, y, eta, 25)
        lim = np.abs(path).max() * 1.3 + 0.5
        g1, g2 = np.meshgrid(np.linspace(-lim, lim, 200), np.linspace(-lim, lim, 200))
        ws = torch.as_tensor(np.stack([g1, g2], -1))
        loss = 0.5 * ((ws @ m.T - y) ** 2).sum(-1)
        ax.contour(g1, g2, np.log10(loss.numpy() + 1e-12), levels=20, cmap="viridis")
        ax.plot(path[:, 0], path[:, 1], "r.-", lw=1)
        ax.set_title(f"{name}: κ = {float(problems.hessian_condition(m)):.1f}, "
                     f"{counts[name]} steps to 1e-12")  # fmt: skip
        ax.set_xlabel("w₁")
        ax.set_ylabel("w₂")
        ax.set_aspect("equal")
    evidence.figure(fig, "opt-scaling-contours")
    plt.close(fig)
    assert counts["standardized"] == 1 and counts["raw"] is not None and counts["raw"] > 10
    evidence.value("contour_steps_raw", counts["raw"])
    evidence.value("contour_steps_standardized", counts["standardized"])


@pytest.mark.claim(CLAIM_SPEED)
def test_problem_builders_refuse_bad_input_and_steps_use_the_floor() -> None:
    """least_squares refuses a correlation that makes R indefinite (ρ ≤ −1/(d − 1)), n ≤ d and
    non-positive scales; steps_to_tolerance measures loss − floor: on x² + 5 with floor 5 and
    GD(η = ¼), x_k = 2^{−k} and x_k² ≤ 10⁻⁶ first at k = 10 (ignoring the floor at the start
    would give 9)."""
    with pytest.raises(ValueError, match="correlation must be"):
        problems.least_squares(10, [1.0, 1.0, 1.0], -0.6)
    with pytest.raises(ValueError, match="n > d"):
        problems.least_squares(3, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"scales\[1\] must be"):
        problems.least_squares(10, [1.0, 0.0])
    steps = problems.steps_to_tolerance(
        lambda w: (w * w).sum() + 5.0, torch.ones(1, dtype=torch.float64),
        lambda p: GD(p, lr=0.25), tol=1e-6, floor=5.0,
    )  # fmt: skip
    assert steps == 10, failure(CLAIM_SPEED, "cpu", "float64", "steps to 1e-6 above floor 5",
                                steps, "10")  # fmt: skip


# =================================================================================================
# opt.scaling-not-always
# =================================================================================================

CLAIM_NOT = "opt.scaling-not-always"
COUNTER = [[3.0, -3.0, 0.0], [2.0, -2.0, 1.0], [1.0, 0.0, 0.0], [-6.0, 5.0, -1.0]]


@pytest.mark.claim(CLAIM_NOT)
@pytest.mark.dtypes("float64")
def test_counterexample_kappa_and_steps_rise(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """X = [[3,−3,0],[2,−2,1],[1,0,0],[−6,5,−1]] (zero-mean columns): κ 153.9148966108 →
    202.1861347915; GD from 0 on y = X(1, −2, ½) to loss ≤ 1e-12·initial: 1064 → 1396 steps with
    η = 2/(λ_min+λ_max), 1579 → 2017 with η = 1/λ_max."""
    x = torch.tensor(COUNTER, dtype=dtype, device=device)
    assert bool((x.mean(0) == 0).all())
    z = standardize(x)
    k_raw, k_std = float(problems.hessian_condition(x)), float(problems.hessian_condition(z))
    for got, want in ((k_raw, 153.9148966108), (k_std, 202.1861347915)):
        assert abs(got - want) <= 1e-6 * want, failure(CLAIM_NOT, device, dtype, "κ", got - want,
                                                       "rtol 1e-6")  # fmt: skip
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=dtype, device=device)
    counts = {}
    for name, m in (("raw", x), ("std", z)):
        lam = torch.linalg.eigvalsh(m.T @ m)
        counts[name] = (_gd_steps(m, y, 2.0 / float(lam[0] + lam[-1])),
                        _gd_steps(m, y, 1.0 / float(lam[-1])))  # fmt: skip
    assert counts == {"raw": (1064, 1579), "std": (1396, 2017)}, failure(
        CLAIM_NOT, device, dtype, f"steps {counts}", math.inf, "exact"
    )
    assert round(k_std / k_raw, 2) == 1.31 and k_std / k_raw <= 3
    sds = [round(float(v), 3) for v in x.std(0, correction=0)]
    assert sds == [3.536, 3.082, 0.707], failure(CLAIM_NOT, device, dtype, f"stds {sds}", 0, "")
    evidence.value("kappa_raw", k_raw)
    evidence.value("kappa_standardized", k_std)
    evidence.value("steps_best_eta", [counts["raw"][0], counts["std"][0]])
    evidence.value("steps_inverse_lmax", [counts["raw"][1], counts["std"][1]])


@pytest.mark.claim(CLAIM_NOT)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=20)
@given(s=st.floats(0.1, 100.0), rho=st.floats(-0.99, 0.99), seed=st.integers(0, 2**31 - 1))
@example(s=1.0, rho=0.99, seed=0)
def test_equal_scales_correlated_no_help(
    device: str, dtype: torch.dtype, s: float, rho: float, seed: int
) -> None:
    """Two features of equal scale s and correlation ρ: κ(X_c) = κ(Z) = (1 + |ρ|)/(1 − |ρ|)
    (199 at ρ = 0.99); standardizing changes nothing about the conditioning."""
    g = torch.Generator().manual_seed(seed)
    x, _, _ = problems.least_squares(20, [s, s], rho, generator=g, means=[1.0, -2.0],
                                     dtype=dtype, device=device)  # fmt: skip
    want = (1 + abs(rho)) / (1 - abs(rho))
    for name, m in (("X_c", _centred(x)), ("Z", standardize(x))):
        k = float(problems.hessian_condition(m))
        assert abs(k - want) <= 1e-8 * want, failure(CLAIM_NOT, device, dtype, f"κ({name})",
                                                     abs(k - want), "1e-8 rel")  # fmt: skip


@pytest.mark.claim(CLAIM_SPEED)
def test_least_squares_data_is_exactly_as_stated() -> None:
    """The data the claim measures on: centred covariance (divisor n) exactly D R D, column means
    exactly `means` (default 0, with correlation 0 by default), y = X w*; every draw from the
    generator; tensors on the device asked for; messages say what they got."""
    f64 = torch.float64
    runs = []
    for global_seed in (1, 2):  # torch's global generator must not matter
        torch.manual_seed(global_seed)
        g = torch.Generator().manual_seed(4)
        runs.append(problems.least_squares(9, [0.5, 3.0], 0.4, generator=g, means=[0.1, 1 / 3]))
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    x, y, w = runs[0]
    assert x.dtype == y.dtype == w.dtype == f64 and x.shape == (9, 2) and w.shape == (2,)
    check_close(x.mean(0), torch.tensor([0.1, 1 / 3], dtype=f64), Tol(1e-14, 1e-14), CLAIM_SPEED,
                "cpu", "column means")  # fmt: skip
    xc = x - x.mean(0)
    d = torch.diag(torch.tensor([0.5, 3.0], dtype=f64))
    r = torch.tensor([[1.0, 0.4], [0.4, 1.0]], dtype=f64)
    check_close(xc.T @ xc / 9, d @ r @ d, Tol(1e-12, 1e-12), CLAIM_SPEED, "cpu", "covariance")
    check_close(y, x @ w, Tol(0.0, 0.0), CLAIM_SPEED, "cpu", "y = X w*")
    x0, _, _ = problems.least_squares(7, [2.0, 1.0], generator=torch.Generator().manual_seed(0))
    check_close(x0.mean(0), torch.zeros(2, dtype=f64), Tol(0, 1e-14), CLAIM_SPEED, "cpu", "mean")
    check_close(x0.T @ x0 / 7, torch.diag(torch.tensor([4.0, 1.0], dtype=f64)), Tol(1e-12, 1e-12),
                CLAIM_SPEED, "cpu", "default correlation 0")  # fmt: skip
    one, _, _ = problems.least_squares(5, [2.0], -1.0)  # one feature: any ρ in [−1, 1) will do
    check_close(one.T @ one / 5, torch.tensor([[4.0]], dtype=f64), Tol(1e-12, 1e-12), CLAIM_SPEED,
                "cpu", "one feature")  # fmt: skip
    meta = problems.least_squares(6, [1.0, 2.0], 0.3, means=[1.0, 2.0], device="meta")
    assert all(t.device.type == "meta" for t in meta)
    half = problems.least_squares(6, [1.0, 2.0], means=[1.0, 2.0], dtype=torch.float32)
    assert all(t.dtype == torch.float32 for t in half)
    for call, want in [
        (lambda: problems.least_squares(10, [1.0, 1.0], 0.3, means=[1.0]),
         "means must have 2 entries, got 1"),
        (lambda: problems.least_squares(10, [1.0, 1.0, 1.0], 1.0),
         "correlation must be a real number in (-0.5, 1) (the pairwise correlation; R must be "
         "positive definite), got 1.0"),
    ]:  # fmt: skip
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == want, f"{CLAIM_SPEED}: message {info.value}"


@pytest.mark.claim(CLAIM_SPEED)
def test_random_orthogonal_draws_from_its_generator() -> None:
    """The rotation Q of a quadratic is orthogonal and drawn from the generator alone (the same
    seed gives the same Q whatever torch's global generator is doing), on the device asked for."""
    qs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        qs.append(problems.random_orthogonal(4, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(qs[0], qs[1]) and qs[0].dtype == torch.float64
    check_close(qs[0].T @ qs[0], torch.eye(4, dtype=torch.float64), Tol(0, 1e-14), CLAIM_SPEED,
                "cpu", "QᵀQ = I")  # fmt: skip
    assert problems.random_orthogonal(3, device="meta").device.type == "meta"


# =================================================================================================
# The problem builders themselves (issue 12, mutation review): values derived by hand
# =================================================================================================


@pytest.mark.claim(CLAIM_SPEED)
def test_ls_loss_value_and_refusals() -> None:
    """½‖Xw − y‖² by hand: X = [[1, 2], [3, 4], [5, 6]], w = (1, −1), y = (0, 1, 2) give
    Xw = (−1, −1, −1), r = (−1, −2, −3) and ½(1 + 4 + 9) = 7 (½‖Xw + y‖² would be 1). Shapes
    that do not agree, in x alone or in y alone, are refused naming them."""
    f64 = torch.float64
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=f64)
    w = torch.tensor([1.0, -1.0], dtype=f64)
    y = torch.tensor([0.0, 1.0, 2.0], dtype=f64)
    got = problems.ls_loss(x, y, w)
    assert float(got) == 7.0, failure(CLAIM_SPEED, "cpu", "float64", "ls_loss", got, "7")
    with pytest.raises(ValueError, match=r"^x must be 2-D, got shape \(3,\)$"):
        problems.ls_loss(torch.ones(3, dtype=f64), y, torch.ones(3, dtype=f64))
    with pytest.raises(TypeError, match=r"^w must have x's dtype torch.float64, got torch.float32"):
        problems.ls_loss(x, y, w.float())
    for yy, ww, shapes in [
        (torch.ones(4, dtype=f64), w, "(3, 2), (4,) and (2,)"),  # y alone disagrees
        (torch.ones(1, dtype=f64), w, "(3, 2), (1,) and (2,)"),  # would broadcast
        (y, torch.ones(3, dtype=f64), "(3, 2), (3,) and (3,)"),  # w alone disagrees
    ]:
        with pytest.raises(ValueError) as info:
            problems.ls_loss(x, yy, ww)
        want = f"x (n, d), y (n,) and w (d,) must agree, got {shapes}"
        assert str(info.value) == want, f"{CLAIM_SPEED}: message {info.value}"


@pytest.mark.claim(CLAIM_SPEED)
def test_random_orthogonal_is_the_q_factor_with_positive_r_diagonal() -> None:
    """Q is the Q-factor of the Gaussian matrix G drawn from the generator, with the signs that
    make R = QᵀG upper triangular with a positive diagonal (the unique such factorization, hence
    Haar-distributed Q): flipping the rows of Q instead of its columns keeps Q orthogonal but
    breaks QᵀG = R."""
    for d, seed in [(1, 0), (2, 1), (5, 2)]:
        q = problems.random_orthogonal(d, generator=torch.Generator().manual_seed(seed))
        g = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        r = q.T @ g
        below = r.tril(-1).abs().max() if d > 1 else torch.zeros(())
        assert float(below) <= 1e-12, failure(CLAIM_SPEED, "cpu", "float64", "QᵀG below the "
                                              "diagonal", below, "0")  # fmt: skip
        assert bool((torch.diagonal(r) > 0).all()), f"{CLAIM_SPEED}: diag(QᵀG) = {r.diagonal()}"


@pytest.mark.claim("opt.gd-step-quadratic")
def test_quadratic_draws_from_its_generator_and_refuses_bad_input() -> None:
    """A = Q diag(λ) Qᵀ and b are drawn from the generator alone (the same seed gives the same
    quadratic whatever torch's global generator does); b drawn on λ's device; λ = 0 is refused
    (A must be positive definite), and a b of the wrong shape is refused saying what it got."""
    lam = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    qs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        qs.append(problems.quadratic(lam, generator=torch.Generator().manual_seed(3)))
    for field in ("a", "b", "eigenvectors"):
        assert torch.equal(getattr(qs[0], field), getattr(qs[1], field)), f"{field} not seeded"
    check_close(qs[0].a @ qs[0].eigenvectors, qs[0].eigenvectors * lam, Tol(1e-13, 1e-13),
                "opt.gd-step-quadratic", "cpu", "A q_i = λ_i q_i")  # fmt: skip
    meta = problems.quadratic(torch.ones(3, device="meta"))
    assert meta.b.device.type == "meta" and meta.a.device.type == "meta"
    with pytest.raises(ValueError, match="eigenvalues must be a non-empty 1-D tensor of positive"):
        problems.quadratic(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^b must be 1-D, got shape \(3, 1\)$"):
        problems.quadratic(lam, b=torch.ones(3, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^b must have shape \(3,\), got \(2,\)$"):
        problems.quadratic(lam, b=torch.ones(2, dtype=torch.float64))


def _halving(**kwargs: Any) -> int | None:
    """Steps of GD(η = ¼) on w² from w = 1: w_k = 2^{−k}, loss_k = 4^{−k} (all exact)."""
    return problems.steps_to_tolerance(
        lambda w: (w * w).sum(), torch.ones(1, dtype=torch.float64), lambda p: GD(p, lr=0.25),
        **kwargs,
    )  # fmt: skip


@pytest.mark.claim(CLAIM_SPEED)
def test_steps_to_tolerance_counts_exactly() -> None:
    """On loss_k = 4^{−k}: the default tolerance 10⁻¹² is met first at k = 20 (4^{−19} ≈ 3.6e-12,
    4^{−20} ≈ 9.1e-13); tol = 4^{−3} is met with equality at k = 3 (≤, not <), tol = 1 at k = 0;
    max_steps = k allows exactly k steps (one fewer gives None), and max_steps = 0 only looks at
    the start."""
    cases: list[tuple[dict[str, Any], int | None]] = [
        ({}, 20),
        ({"tol": 4.0**-3}, 3),
        ({"tol": 1.0}, 0),
        ({"tol": 1.0, "max_steps": 0}, 0),
        ({"tol": 0.5, "max_steps": 0}, None),
        ({"tol": 4.0**-3, "max_steps": 3}, 3),
        ({"tol": 4.0**-3, "max_steps": 2}, None),
    ]
    for kwargs, want in cases:
        got = _halving(**kwargs)
        assert got == want, f"{CLAIM_SPEED} [cpu, float64]: steps {kwargs}: got {got}, want {want}"


class _Still(torch.optim.Optimizer):
    """An optimizer whose step does nothing: the loss alone decides when the tolerance is met."""

    def __init__(self, params: Any) -> None:
        super().__init__(params, {})

    def step(self, closure: Any = None) -> None:
        return None


@pytest.mark.slow  # 100 002 loss evaluations, 100 001 backward passes: seconds of one core
@pytest.mark.claim(CLAIM_SPEED)
def test_steps_to_tolerance_default_cap_is_100_000_steps() -> None:
    """By default at most 100 000 steps are taken: on a loss that first meets the tolerance at
    x_100001, the count evaluates x_0, ..., x_100000 (each once, after the start) and gives None."""
    k = [-2]  # the start is evaluated once before x_0

    def loss(w: torch.Tensor) -> torch.Tensor:
        k[0] += 1
        return w.sum() * 0.0 + (0.0 if k[0] >= 100_001 else 1.0)

    got = problems.steps_to_tolerance(loss, torch.ones(1, dtype=torch.float64), _Still)
    assert got is None and k[0] == 100_000, f"{CLAIM_SPEED}: got {got}, last step evaluated {k[0]}"
