"""Tests of spec/generalization/bias-variance.md: the bias–variance decomposition, its failure at
a training point, the complexity tradeoff and overfitting with noise and data.

Notation as on the page: training targets ``y_i = f(x_i) + s_i ε_i`` (noise of mean 0, variance
1, scaled by ``s_i``), the least-squares polynomial of degree ``p`` is a linear smoother
``f̂(x₀) = s(x₀)ᵀ y``; ``H`` is the hat matrix at the training points.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.analysis import bias_variance as BV
from tests.stats import gaussian_squares_tolerance
from tests.tolerances import EXACT, check_close, failure

CLAIM = "fit.bias-variance"
CLAIM_TP = "fit.bias-variance-train-point"
CLAIM_CT = "fit.complexity-tradeoff"
CLAIM_NO = "fit.noise-data-overfit"

F64 = torch.float64

#: A small family of true functions f (hypothesis picks one and its parameter).
FAMILY: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "sin": lambda x, a: torch.sin(a * x),
    "cubic": lambda x, a: a * x**3 - x,
    "runge": lambda x, a: 1.0 / (1.0 + (5 * a) ** 2 * x**2),
}


def runge(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + 25.0 * x**2)


def noise_law(name: str, device: str, dtype: torch.dtype) -> BV.Noise:
    """Three laws of mean 0 and variance 1: Rademacher ±1; {−√1.5, 0, √1.5} with probability ⅓
    each; and the skewed {−2, ½} with probabilities (0.2, 0.8) (unequal weights per data set)."""
    if name == "rademacher":
        return BV.Noise.rademacher(device=device, dtype=dtype)
    if name == "three":
        v, p = [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], [1 / 3, 1 / 3, 1 / 3]
    else:
        v, p = [-2.0, 0.5], [0.2, 0.8]
    return BV.Noise.discrete(
        torch.tensor(v, device=device, dtype=dtype), torch.tensor(p, device=device, dtype=dtype)
    )


# =================================================================================================
# Sympy derivations (cached)
# =================================================================================================


@functools.cache
def decomposition_derivation() -> dict[str, sp.Expr]:
    """f̂ takes values a₁..a₃ with probabilities w (Σw = 1); ε₀ takes e₁..e₃ with π (Σπ = 1,
    Σπe = 0), σ² = Σπe². E[(f₀ + ε₀ − f̂)²] − (σ² + bias² + variance) simplifies to 0. For the
    linear smoother f̂ = sᵀ(f + σε), ε Rademacher on 3 points: at a fresh point the error is
    (f₀ − sᵀf)² + σ²‖s‖² + σ²; at training point 1 with its own noise it is that minus 2σ²s₁
    (with f₀ = f₁)."""
    f0 = sp.Symbol("f0", real=True)
    a = sp.symbols("a1:4", real=True)
    w1, w2, p1, p2 = sp.symbols("w1 w2 pi1 pi2", positive=True)
    e1, e2 = sp.symbols("e1 e2", real=True)
    w = (w1, w2, 1 - w1 - w2)
    pi = (p1, p2, 1 - p1 - p2)
    e3 = -(p1 * e1 + p2 * e2) / pi[2]  # mean-zero constraint solved for e₃
    e = (e1, e2, e3)
    sigma2 = sum((pi[j] * e[j] ** 2 for j in range(3)), sp.Integer(0))
    lhs = sum(
        (w[i] * pi[j] * (f0 + e[j] - a[i]) ** 2 for i in range(3) for j in range(3)),
        sp.Integer(0),
    )
    mean = sum((w[i] * a[i] for i in range(3)), sp.Integer(0))
    var = sum((w[i] * (a[i] - mean) ** 2 for i in range(3)), sp.Integer(0))
    rhs = sigma2 + (f0 - mean) ** 2 + var
    # the linear smoother with Rademacher noise
    s = sp.symbols("s1:4", real=True)
    f = sp.symbols("f1:4", real=True)
    sig = sp.Symbol("sigma", positive=True)
    fresh, train = sp.Integer(0), sp.Integer(0)
    for bits in range(8):
        eps = [1 if bits >> i & 1 else -1 for i in range(3)]
        pred = sum((s[i] * (f[i] + sig * eps[i]) for i in range(3)), sp.Integer(0))
        for e0 in (-1, 1):
            fresh += sp.Rational(1, 16) * (f0 + sig * e0 - pred) ** 2
        train += sp.Rational(1, 8) * (f[0] + sig * eps[0] - pred) ** 2
    sf = sum((s[i] * f[i] for i in range(3)), sp.Integer(0))
    ss = sum((s[i] ** 2 for i in range(3)), sp.Integer(0))
    fresh_closed = (f0 - sf) ** 2 + sig**2 * ss + sig**2
    train_closed = (f[0] - sf) ** 2 + sig**2 * ss + sig**2 - 2 * sig**2 * s[0]
    return {
        "general": sp.simplify(sp.expand(lhs - rhs)),
        "fresh": sp.expand(fresh - fresh_closed),
        "train": sp.expand(train - train_closed),
    }


@pytest.mark.claim(CLAIM)
def test_decomposition_sympy() -> None:
    der = decomposition_derivation()
    assert der["general"] == 0, f"{CLAIM}: E[(y − f̂)²] − (σ² + bias² + var) = {der['general']}"
    assert der["fresh"] == 0, f"{CLAIM}: smoother closed form residual {der['fresh']}"


@pytest.mark.claim(CLAIM_TP)
def test_train_point_sympy() -> None:
    der = decomposition_derivation()
    assert der["train"] == 0, f"{CLAIM_TP}: −2σ²s_ii closed form residual {der['train']}"


# =================================================================================================
# fit.bias-variance: exact enumeration against the decomposition and the closed form
# =================================================================================================


@st.composite
def _problems(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(5, 8))
    xs = sorted(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n, unique=True)))
    gaps_ok = min(b - a for a, b in itertools.pairwise(xs)) > 0.05
    if not gaps_ok:  # well-separated design points keep the Vandermonde system well conditioned
        xs = list(np.linspace(-1, 1, n))
    return {
        "x": xs,
        "degree": draw(st.integers(0, min(4, n - 1))),
        "x0": draw(st.floats(-1.2, 1.2)),
        "sigma": draw(st.floats(0.0, 2.0)),
        "f": draw(st.sampled_from(sorted(FAMILY))),
        "a": draw(st.floats(0.5, 3.0)),
        "noise": draw(st.sampled_from(["rademacher", "three", "skewed"])),
    }


@pytest.mark.claim(CLAIM)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(case=_problems())
@example(  # the notes' setting: quadratic fit, 7 points, Rademacher noise (2⁷ sets × 2)
    case={
        "x": list(np.linspace(-1, 1, 7)),
        "degree": 2,
        "x0": 0.3,
        "sigma": 0.5,
        "f": "sin",
        "a": 2.0,
        "noise": "rademacher",
    }
)
def test_exact_enumeration_matches_decomposition(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    x = torch.tensor(case["x"], device=device, dtype=dtype)
    x0 = torch.tensor([case["x0"]], device=device, dtype=dtype)
    a, sigma = case["a"], case["sigma"]

    def f(t: torch.Tensor) -> torch.Tensor:
        return FAMILY[case["f"]](t, a)

    noise = noise_law(case["noise"], device, dtype)
    r = BV.bias_variance(BV.polynomial_learner(case["degree"]), f, x, x0, sigma=sigma, noise=noise)
    what = f"degree {case['degree']}, n={x.numel()}, σ={sigma:.3g}, f={case['f']}"
    check_close(
        r.expected_error,
        r.decomposition,
        EXACT,
        CLAIM,
        device,
        f"E[(y₀ − f̂)²] ≠ σ² + bias² + variance ({what})",
    )
    s = BV.smoother_matrix(x, case["degree"], x0)[0]  # f̂(x₀) = sᵀy
    closed = (f(x0)[0] - s @ f(x)) ** 2 + sigma**2 * (s @ s) + sigma**2
    check_close(
        r.expected_error,
        closed.reshape(1),
        EXACT,
        CLAIM,
        device,
        f"enumeration ≠ (f₀ − sᵀf)² + σ²‖s‖² + σ² ({what})",
    )


@pytest.mark.claim(CLAIM)
@pytest.mark.dtypes("float64")
def test_smoother_matrix_is_the_fit_and_batches(device: str, dtype: torch.dtype) -> None:
    """S y = poly_eval(poly_fit(x, y)) at the evaluation points, and a batch of training sets
    `(B, n)` gives the batch of their matrices `(B, m, n)` (the transposes act on the last two
    axes, whatever the batch)."""
    x = torch.tensor(
        [[-1.0, -0.4, 0.1, 0.5, 1.0], [-0.8, -0.5, 0.0, 0.3, 0.9]], device=device, dtype=dtype
    )
    x0 = torch.tensor([[-0.9, 0.2, 0.7], [-0.1, 0.4, 0.95]], device=device, dtype=dtype)
    y = torch.tensor(
        [[0.3, -1.0, 2.0, 0.5, 1.5], [1.0, 0.0, -0.5, 0.25, 2.0]], device=device, dtype=dtype
    )
    s = BV.smoother_matrix(x, 2, x0)
    assert s.shape == (2, 3, 5), f"{CLAIM}: batched smoother shape {tuple(s.shape)}"
    for b in range(2):
        check_close(
            s[b], BV.smoother_matrix(x[b], 2, x0[b]), EXACT, CLAIM, device, f"S of batch {b}"
        )
        fit = BV.poly_eval(BV.poly_fit(x[b], y[b], 2), x0[b])
        check_close(s[b] @ y[b], fit, EXACT, CLAIM, device, f"S y vs the fit, batch {b}")


MC_DELTA = 1e-8  # Chernoff: chance that one sampled estimate misses its tolerance
#: The statistical tests' chance of failing by bad luck per run (pages; reliability.md).
FALSE_FAILURES = {"test_sampled_estimate_within_standard_errors": 3 * MC_DELTA}  # three points


@pytest.mark.claim(CLAIM)
def test_sampled_estimate_within_standard_errors(device: str, evidence: Any) -> None:
    """Gaussian noise, sampled mode: the estimate of E[(y₀ − f̂)²] is within Chernoff's tolerance
    (chance 1e-8 to miss) of the closed form (only the first two noise moments enter for a
    linear smoother)."""
    x = torch.linspace(-1, 1, 9, device=device, dtype=F64)
    x0 = torch.tensor([-0.9, 0.0, 0.55], device=device, dtype=F64)
    sigma, draws = 0.4, 40_000
    r = BV.bias_variance(
        BV.polynomial_learner(3),
        runge,
        x,
        x0,
        sigma=sigma,
        noise=BV.Noise(),
        exact=False,
        draws=draws,
        generator=torch.Generator(device=device).manual_seed(0),
    )
    s = BV.smoother_matrix(x, 3, x0)
    closed = (runge(x0) - s @ runge(x)) ** 2 + sigma**2 * (s**2).sum(1) + sigma**2
    # y₀ − f̂(x₀) = (f₀ − sᵀf) + σ(ε₀ − sᵀε) ~ N(c, v): one square of a Gaussian per draw
    c = (runge(x0) - s @ runge(x)).tolist()
    v = (sigma**2 * (1 + (s**2).sum(1))).tolist()
    tol = torch.tensor(
        [
            gaussian_squares_tolerance([ci], [vi], draws, MC_DELTA)
            for ci, vi in zip(c, v, strict=True)
        ],
        dtype=F64,
        device=device,
    )
    err = (r.expected_error - closed).abs()
    assert bool((err <= tol).all()), failure(
        CLAIM,
        device,
        F64,
        "sampled estimate off the closed form",
        float((err / tol).max()),
        "Chernoff tolerance (ratio ≤ 1)",
    )
    z = (err / r.error_se).max()
    evidence.value("sampled_max_z", float(z))
    evidence.value("tolerance_in_standard_errors", [round(float(t), 2) for t in tol / r.error_se])
    evidence.value("false_failure", FALSE_FAILURES["test_sampled_estimate_within_standard_errors"])


@pytest.mark.claim(CLAIM)
@pytest.mark.claim(CLAIM_TP)
@pytest.mark.parametrize("law", ["gaussian", "skewed"])
@pytest.mark.parametrize("at_train", [False, True])
def test_sampling_mode_terms(device: str, law: str, at_train: bool) -> None:
    """Sampling mode, every returned term. (i) Replaying the generator (the training noise is drawn
    first, `(R, n)`, then the test noise, `(R, m)`) gives the same draws: the mean, the unbiased
    variance (÷ (R − 1)), bias² = (f₀ − mean)² − variance/R (unbiased: E(f₀ − mean)² = bias² +
    Var/R), the mean squared error and its standard error must equal the replay's exactly.
    (ii) Without test noise (σ_eval = 0) the sampled error is (1/R)Σ_r(f₀ − f̂_r)² =
    (f₀ − mean)² + (R − 1)/R · variance = bias² + variance: the decomposition holds for the
    sample itself, whatever the draws, which pins the −variance/R correction."""
    x = torch.linspace(-1, 1, 7, device=device, dtype=F64)
    x0 = x if at_train else torch.tensor([-1.1, 0.2, 0.9], device=device, dtype=F64)
    sig = 0.3 + 0.4 * (x + 1)  # heteroscedastic training noise
    sig0 = sig if at_train else torch.tensor([0.5, 0.7, 0.2], device=device, dtype=F64)
    noise = BV.Noise() if law == "gaussian" else noise_law("skewed", device, F64)
    learner, draws = BV.polynomial_learner(2), 5

    def run(seed: int, s_eval: torch.Tensor | None) -> BV.BiasVariance:
        kw: dict[str, Any] = {} if at_train else {"sigma_eval": s_eval}
        return BV.bias_variance(
            learner,
            runge,
            x,
            None if at_train else x0,
            sigma=sig,
            noise=noise,
            exact=False,
            draws=draws,
            generator=torch.Generator(device=device).manual_seed(seed),
            at_training_points=at_train,
            **kw,
        )

    r = run(3, sig0)
    g = torch.Generator(device=device).manual_seed(3)
    eps = noise.sample((draws, x.numel()), x, g)
    pred = learner(x, runge(x) + sig * eps, x0)  # (R, m)
    mean = pred.sum(0) / draws
    var = ((pred - mean) ** 2).sum(0) / (draws - 1)
    if at_train:
        sq = (runge(x) + sig * eps - pred) ** 2  # the training noise itself
    else:
        sq = (runge(x0) + sig0 * noise.sample((draws, x0.numel()), x, g) - pred) ** 2
    err = sq.sum(0) / draws
    se = (((sq - err) ** 2).sum(0) / (draws - 1) / draws).sqrt()
    what = f"{law} noise, at_training_points={at_train}"
    for name, got, want in (
        ("variance (unbiased)", r.variance, var),
        ("bias² = (f₀ − mean)² − variance/R", r.bias2, (runge(x0) - mean) ** 2 - var / draws),
        ("noise term s₀²", r.noise, sig0**2),
        ("mean squared error", r.expected_error, err),
        ("its standard error", r.error_se, se),
    ):
        check_close(got, want, EXACT, CLAIM, device, f"sampling mode: {name} ({what})")
    assert r.draws == draws
    if not at_train:
        z = run(4, torch.zeros(3, device=device, dtype=F64))
        check_close(
            z.expected_error,
            z.bias2 + z.variance,
            EXACT,
            CLAIM,
            device,
            f"sampling mode, σ_eval = 0: (1/R)Σ(f₀ − f̂_r)² ≠ bias² + variance ({what})",
        )


# =================================================================================================
# fit.bias-variance-train-point
# =================================================================================================


@pytest.mark.claim(CLAIM_TP)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(case=_problems())
def test_training_point_gains_minus_two_sigma_squared_leverage(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    x = torch.tensor(case["x"], device=device, dtype=dtype)
    n, p = x.numel(), case["degree"]
    a = case["a"]

    def f(t: torch.Tensor) -> torch.Tensor:
        return FAMILY[case["f"]](t, a)

    # heteroscedastic: σ(x_i) drawn from the case's σ and the point
    s_i = case["sigma"] * (0.5 + (x + 1.0) / 2.0)
    learner = BV.polynomial_learner(p)
    noise = noise_law(case["noise"], device, dtype)
    at = BV.bias_variance(learner, f, x, sigma=s_i, at_training_points=True, noise=noise)
    fresh = BV.bias_variance(learner, f, x, x, sigma=s_i, sigma_eval=s_i, noise=noise)
    h = BV.smoother_matrix(x, p, x)
    leverage = torch.diagonal(h)
    what = f"degree {p}, n={n}, f={case['f']}"
    check_close(
        at.expected_error,
        at.decomposition - 2 * s_i**2 * leverage,
        EXACT,
        CLAIM_TP,
        device,
        f"training-point error ≠ σ_i² + bias² + var − 2σ_i²s_ii ({what})",
    )
    check_close(
        fresh.decomposition,
        at.decomposition,
        EXACT,
        CLAIM_TP,
        device,
        f"the decomposition's terms do not depend on the test noise ({what})",
    )
    # optimism summed over the training points: 2 Σ σ_i² s_ii (= 2σ²(p + 1) when homoscedastic)
    check_close(
        (fresh.expected_error - at.expected_error).sum(),
        2 * (s_i**2 * leverage).sum(),
        EXACT,
        CLAIM_TP,
        device,
        "total optimism",
    )
    check_close(
        leverage.sum(),
        torch.tensor(p + 1.0, device=device, dtype=dtype),
        EXACT,
        CLAIM_TP,
        device,
        "tr H = p + 1",
    )


@pytest.mark.claim(CLAIM_TP)
def test_counterexample_and_heteroscedastic_example(device: str, evidence: Any) -> None:
    """The page's numbers: a line fitted to 5 points, σ = 1: at x = 1 the naive decomposition says
    1 + var, the truth is smaller by 2σ²s_ii; with σ(x) rising the −2σ²(x_i)s_ii form is needed."""
    x = torch.linspace(-1, 1, 5, device=device, dtype=F64)
    learner = BV.polynomial_learner(1)
    at = BV.bias_variance(learner, torch.sin, x, sigma=1.0, at_training_points=True)
    s_ii = torch.diagonal(BV.smoother_matrix(x, 1, x))
    # leverage of the end point of 5 equispaced points for a line: 1/5 + 1²/Σx² = 1/5 + 1/2.5
    check_close(
        s_ii[-1],
        torch.tensor(0.6, device=device, dtype=F64),
        EXACT,
        CLAIM_TP,
        device,
        "end-point leverage",
    )
    gap = float(at.decomposition[-1] - at.expected_error[-1])
    assert abs(gap - 1.2) < 1e-12, failure(
        CLAIM_TP, device, F64, "naive − true at x = 1", abs(gap - 1.2), "1e-12"
    )
    evidence.value("endpoint_naive", float(at.decomposition[-1]))
    evidence.value("endpoint_true", float(at.expected_error[-1]))
    # heteroscedastic: σ(x) = 0.05 at x ≤ 0, 0.35 at x > 0 (a line through 5 points)
    s = torch.where(x > 0, 0.35, 0.05).to(F64)
    het = BV.bias_variance(learner, torch.sin, x, sigma=s, at_training_points=True)
    true_gap = float(2 * s[-1] ** 2 * s_ii[-1])
    mean_gap = float(2 * (s**2).mean() * s_ii[-1])
    check_close(
        het.decomposition[-1] - het.expected_error[-1],
        torch.tensor(true_gap, device=device, dtype=F64),
        EXACT,
        CLAIM_TP,
        device,
        "heteroscedastic optimism uses σ²(x_i)",
    )
    assert abs(true_gap - mean_gap) > 0.05, failure(
        CLAIM_TP,
        device,
        F64,
        "mean-σ² formula should be visibly wrong",
        abs(true_gap - mean_gap),
        "> 0.05",
    )
    evidence.value("het_optimism_true", round(true_gap, 4))
    evidence.value("het_optimism_mean_sigma", round(mean_gap, 4))


# =================================================================================================
# fit.complexity-tradeoff
# =================================================================================================

CT_N, CT_SIGMA, CT_DEGREES, CT_SEEDS, CT_DRAWS = 11, 0.3, range(11), 3, 1000
CT_DELTA = 1e-8  # Hoeffding failure chance per sampled check
#: The statistical tests' chance of failing by bad luck per run (pages; reliability.md).
FALSE_FAILURES["test_complexity_tradeoff"] = CT_DELTA * len(CT_DEGREES) * CT_SEEDS


def _hoeffding_t(bound: float, draws: int, delta: float) -> float:
    """Two-sided Hoeffding deviation for the mean of `draws` variables in a range of width
    `bound`: P(|mean − E| ≥ t) ≤ δ."""
    return bound * math.sqrt(math.log(2.0 / delta) / (2.0 * draws))


@pytest.mark.claim(CLAIM_CT)
def test_complexity_tradeoff(device: str, evidence: Any) -> None:
    import matplotlib.pyplot as plt

    x = torch.linspace(-1, 1, CT_N, device=device, dtype=F64)
    grid = torch.linspace(-1, 1, 2001, device=device, dtype=F64)
    exact_in, sampled, off_bias, off_var = [], [], [], []
    for p in CT_DEGREES:
        learner = BV.polynomial_learner(p)
        ex = BV.bias_variance(learner, runge, x, x, sigma=CT_SIGMA)  # 2¹¹ sets, exact
        exact_in.append(
            (float(ex.bias2.mean()), float(ex.variance.mean()), float(ex.expected_error.mean()))
        )
        s0 = BV.smoother_matrix(x, p, grid)
        off_bias.append(float(((runge(grid) - s0 @ runge(x)) ** 2).mean()))
        off_var.append(float(CT_SIGMA**2 * (s0**2).sum(1).mean()))
        per_seed = []
        for seed in range(CT_SEEDS):
            g = torch.Generator(device=device).manual_seed(seed)  # the same noise at every degree
            sm = BV.bias_variance(
                learner, runge, x, x, sigma=CT_SIGMA, exact=False, draws=CT_DRAWS, generator=g
            )
            per_seed.append((float(sm.variance.mean()), float(sm.expected_error.mean())))
        sampled.append(per_seed)
    bias_in = np.array([e[0] for e in exact_in])
    var_in = np.array([e[1] for e in exact_in])
    assert (np.diff(bias_in) <= 1e-12).all(), failure(
        CLAIM_CT,
        device,
        F64,
        f"in-sample bias² must not rise with degree {bias_in.round(5)}",
        float(np.diff(bias_in).max()),
        "≤ 1e-12",
    )
    want_var = CT_SIGMA**2 * (np.arange(len(CT_DEGREES)) + 1) / CT_N  # σ²(p + 1)/n
    assert np.allclose(var_in, want_var, rtol=1e-10, atol=0), failure(
        CLAIM_CT,
        device,
        F64,
        "in-sample variance ≠ σ²(p + 1)/n",
        float(np.abs(var_in - want_var).max()),
        "rtol 1e-10",
    )
    # sampled, per seed: variance rises with every degree (common noise, nested projectors)
    var_s = np.array([[s[0] for s in row] for row in sampled])  # (degree, seed)
    assert (np.diff(var_s, axis=0) > 0).all(), failure(
        CLAIM_CT,
        device,
        F64,
        "sampled in-sample variance not increasing in degree",
        float(np.diff(var_s, axis=0).min()),
        "> 0",
    )
    # sampled expected error within Hoeffding's t of the exact value: each draw's error averaged
    # over the 11 points lies in [0, B], B = max over draws ≤ (max|f − f̂| + σ)² bounded by
    # (‖f‖∞ + σ(1 + max_i Σ_j |H_ij|) + max|f − Hf|)².
    worst = 0.0
    for p, row in zip(CT_DEGREES, sampled, strict=True):
        h = BV.smoother_matrix(x, p, x)
        resid = float((runge(x) - h @ runge(x)).abs().max())
        bound = (resid + CT_SIGMA * (1 + float(h.abs().sum(1).max()))) ** 2
        t = _hoeffding_t(bound, CT_DRAWS, CT_DELTA)
        for _, err in row:
            dev = abs(err - exact_in[p][2])
            worst = max(worst, dev / t)
            assert dev <= t, failure(
                CLAIM_CT,
                device,
                F64,
                f"degree {p}: sampled error {err:.5f} vs exact {exact_in[p][2]:.5f}",
                dev,
                f"Hoeffding t = {t:.4f}",
            )
    assert off_bias[10] > 10 * off_bias[8], failure(
        CLAIM_CT,
        device,
        F64,
        f"off-sample bias² should rise from degree 8 ({off_bias[8]:.4f}) to "
        f"10 ({off_bias[10]:.4f})",
        off_bias[10],
        "> 10 × degree 8",
    )
    assert abs(off_bias[8] - 0.0084) < 5e-5 and abs(off_bias[10] - 0.3367) < 5e-5, failure(
        CLAIM_CT,
        device,
        F64,
        f"page numbers 0.0084 and 0.3367 (got {off_bias[8]:.5f}, {off_bias[10]:.5f})",
        0.0,
        "5e-5",
    )

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=False)
    deg = np.array(list(CT_DEGREES))
    ax = axes[0]
    ax.plot(deg, bias_in, "o-", label="bias² (exact)")
    ax.plot(deg, var_in, "s-", label="variance (exact) = σ²(p+1)/n")
    for j in range(CT_SEEDS):
        ax.plot(
            deg,
            var_s[:, j],
            "k.",
            ms=3,
            alpha=0.5,
            label="variance, sampled seeds" if j == 0 else None,
        )
    ax.set_ylim(1e-4, 1.0)  # bias² is 0 (rounding, ~1e-25) at p = 10: interpolation
    ax.annotate(
        "bias² = 0 at p = 10",
        (10, 1e-4),
        xytext=(6.2, 2.5e-4),
        fontsize=8,
        arrowprops={"arrowstyle": "->"},
    )
    ax.set_title(f"at the {CT_N} training inputs (fresh noise)")
    ax.set_xlabel("polynomial degree p")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(deg, off_bias, "o-", label="bias² (mean over [−1, 1])")
    ax.plot(deg, off_var, "s-", label="variance (mean over [−1, 1])")
    ax.set_title("off the training inputs (Runge)")
    ax.set_xlabel("polynomial degree p")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.suptitle(f"f(x) = 1/(1+25x²), {CT_N} equispaced points, σ = {CT_SIGMA}")
    fig.tight_layout()
    evidence.figure(fig, f"fit-complexity-tradeoff-{device}")
    plt.close(fig)
    evidence.value("in_sample_bias2", [round(float(v), 5) for v in bias_in])
    evidence.value("off_sample_bias2", [round(v, 5) for v in off_bias])
    evidence.value("off_sample_variance", [round(v, 5) for v in off_var])
    evidence.value("worst_sampled_deviation_over_t", round(worst, 3))
    evidence.value("false_failure_bound", CT_DELTA * len(CT_DEGREES) * CT_SEEDS)
    evidence.value("false_failure", FALSE_FAILURES["test_complexity_tradeoff"])


# =================================================================================================
# fit.noise-data-overfit
# =================================================================================================

NO_DEGREE, NO_DRAWS, NO_NODES = 5, 4000, 64
# claimed P(gap larger), the test's threshold, and the probability below which a pass is as
# unlikely as a false failure (Hoeffding either way): the test separates ≥ 0.7 from ≤ 0.6
NO_CLAIMED, NO_THRESHOLD, NO_REFUTED = 0.70, 0.65, 0.60
#: (condition a, condition b) pairs; b should show the larger gap.  (σ, n)
NO_PAIRS = (
    ((0.1, 30), (0.3, 30)),
    ((0.3, 30), (1.0, 30)),
    ((0.3, 120), (0.3, 30)),
    ((0.3, 480), (0.3, 120)),
)
FALSE_FAILURES["test_gap_grows_with_noise_and_shrinks_with_data"] = len(NO_PAIRS) * math.exp(
    -2 * NO_DRAWS * (NO_CLAIMED - NO_THRESHOLD) ** 2
)


def _gaps(sigma: float, n: int, g: torch.Generator, device: str) -> torch.Tensor:
    """Test − training error of degree-5 least squares, for NO_DRAWS independent data sets. The
    test error is exact: σ² + ½∫(f − f̂)² over [−1, 1] by 64-node Gauss–Legendre quadrature."""

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.sin(math.pi * t)

    x = 2 * torch.rand(NO_DRAWS, n, generator=g, device=device, dtype=F64) - 1
    y = f(x) + sigma * torch.randn(NO_DRAWS, n, generator=g, device=device, dtype=F64)
    coef = BV.poly_fit(x, y, NO_DEGREE)
    train = ((y - BV.poly_eval(coef, x)) ** 2).mean(1)
    nodes, weights = (
        torch.as_tensor(a, device=device, dtype=F64)
        for a in np.polynomial.legendre.leggauss(NO_NODES)
    )
    sq = (f(nodes) - BV.poly_eval(coef, nodes.expand(NO_DRAWS, -1))) ** 2
    test = sigma**2 + 0.5 * (sq * weights).sum(1)  # E over x ~ U[−1, 1] and fresh noise
    return test - train


@pytest.mark.claim(CLAIM_NO)
def test_gap_grows_with_noise_and_shrinks_with_data(device: str, evidence: Any) -> None:
    g = torch.Generator(device=device).manual_seed(0)
    cache: dict[tuple[float, int], torch.Tensor] = {}
    fracs = []
    for a, b in NO_PAIRS:
        for c in (a, b):
            if c not in cache:
                cache[c] = _gaps(*c, g, device)
        frac = float((cache[b] > cache[a]).double().mean())  # independent draws paired by index
        fracs.append(frac)
        assert frac >= NO_THRESHOLD, failure(
            CLAIM_NO,
            device,
            F64,
            f"(σ, n) = {b} had the larger gap than {a} in only {frac:.3f} of {NO_DRAWS} draws",
            frac,
            f"≥ {NO_THRESHOLD}",
        )
    bound = len(NO_PAIRS) * math.exp(-2 * NO_DRAWS * (NO_CLAIMED - NO_THRESHOLD) ** 2)
    false_pass = math.exp(-2 * NO_DRAWS * (NO_THRESHOLD - NO_REFUTED) ** 2)  # per comparison
    evidence.value("fraction_larger_gap", [round(v, 3) for v in fracs])
    evidence.value(
        "median_gap",
        {f"sigma={k[0]},n={k[1]}": round(float(v.median()), 4) for k, v in cache.items()},
    )
    evidence.value("false_failure_bound", bound)
    evidence.value("false_failure", bound)
    evidence.value("false_pass_bound_if_probability_at_most_0.6", false_pass)
    assert bound == FALSE_FAILURES["test_gap_grows_with_noise_and_shrinks_with_data"]
    assert bound <= 1e-8 and false_pass <= 1e-8


# =================================================================================================
# Bad input
# =================================================================================================


@pytest.mark.claim(CLAIM)
def test_exact_result_holds_one_value_per_point() -> None:
    """Exact mode: every field holds one value per evaluation point (a scalar σ is spread over
    them: noise = σ² at each), `draws` is 0 and `error_se` is zeros; a 0-d tensor σ is a scalar
    (no per-point `sigma_eval` needed)."""
    x = torch.linspace(-1, 1, 4, dtype=F64)
    x0 = torch.tensor([-0.5, 0.0, 0.5], dtype=F64)
    learner = BV.polynomial_learner(1)
    for sigma in (0.3, torch.tensor(0.3, dtype=F64)):
        r = BV.bias_variance(learner, torch.sin, x, x0, sigma=sigma)
        for name in ("expected_error", "noise", "bias2", "variance", "error_se"):
            assert getattr(r, name).shape == (3,), f"{CLAIM}: {name} {getattr(r, name).shape}"
        check_close(r.noise, torch.full((3,), 0.09, dtype=F64), EXACT, CLAIM, "cpu", "noise σ²")
        assert r.draws == 0 and torch.equal(r.error_se, torch.zeros(3, dtype=F64))


@pytest.mark.claim(CLAIM)
def test_bad_input() -> None:
    x = torch.linspace(-1, 1, 4, dtype=F64)
    learner = BV.polynomial_learner(1)
    with pytest.raises(ValueError, match=r"sigma \(noise level\) must be ≥ 0"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=-0.1)
    with pytest.raises(ValueError, match=r"sigma must be a scalar or hold one noise level per"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match=r"sigma_eval must be a scalar or hold one noise level"):
        BV.bias_variance(
            learner, torch.sin, x, x[:2], sigma=0.1, sigma_eval=torch.ones(3, dtype=F64)
        )
    with pytest.raises(ValueError, match=r"sigma \(noise level\) must be finite"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=math.nan)
    with pytest.raises(TypeError, match=r"^sigma must be a floating-point tensor, got dtype"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=torch.tensor(1))
    with pytest.raises(TypeError, match=r"^sigma must have x_train's dtype torch\.float64, got"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=torch.tensor(0.1))  # float32
    with pytest.raises(ValueError, match=r"^x_train must be 1-D, got shape \(2, 2\)$"):
        BV.bias_variance(learner, torch.sin, x.reshape(2, 2), x, sigma=0.1)
    with pytest.raises(ValueError, match=r"^x_eval must be 1-D, got shape \(2, 2\)$"):
        BV.bias_variance(learner, torch.sin, x, x.reshape(2, 2), sigma=0.1)
    with pytest.raises(ValueError, match=r"^draws must be an integer ≥ 2, got 0$"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.1, exact=False)  # the default draws
    with pytest.raises(TypeError, match=r"^sigma must be a real number or a tensor, got str$"):
        BV.bias_variance(learner, torch.sin, x, x, sigma="0.1")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^sigma_eval must be a real number or a tensor, got bool$"
    ):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.1, sigma_eval=True)
    with pytest.raises(ValueError, match="x_train must be finite"):
        BV.bias_variance(
            learner, torch.sin, torch.tensor([0.0, math.nan, 1.0], dtype=F64), x, sigma=0.1
        )
    with pytest.raises(ValueError, match="x must hold at least degree \\+ 1 = 5 points"):
        BV.poly_fit(x, x, 4)
    with pytest.raises(ValueError, match="exact enumeration of 2\\^20"):
        BV.bias_variance(learner, torch.sin, torch.linspace(-1, 1, 20, dtype=F64), x, sigma=0.1)
    with pytest.raises(ValueError, match=r"mean 0 and variance 1, got 0\.5, 0\.5"):
        BV.Noise.discrete(torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([0.5, 0.5], dtype=F64))
    with pytest.raises(ValueError, match="mean 0 and variance 1, got 0, 4"):  # mean 0, variance 4
        BV.Noise.discrete(torch.tensor([-2.0, 2.0], dtype=F64), torch.tensor([0.5, 0.5], dtype=F64))
    with pytest.raises(ValueError, match="probs must be ≥ 0 and sum to 1"):
        BV.Noise.discrete(torch.tensor([-1.0, 1.0], dtype=F64), torch.tensor([0.5, 0.6], dtype=F64))
    with pytest.raises(ValueError, match="draws must be an integer ≥ 2"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.1, exact=False, draws=1)
    with pytest.raises(ValueError, match="x_eval is required"):
        BV.bias_variance(learner, torch.sin, x, sigma=0.1)
    with pytest.raises(TypeError, match="degree must be an integer"):
        BV.polynomial_learner(1.5)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM)
def test_noise_law_checks_and_their_boundaries() -> None:
    """`Noise.discrete` refuses a law unless its probabilities are ≥ 0 and sum to 1 and it has
    mean 0 and variance 1, each to within tol = 1e3·eps; the constructor refuses values and
    probs of different lengths or none at all (on every device: also on meta)."""
    eps = torch.finfo(F64).eps
    tol = 1e3 * eps

    def t(*v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=F64)

    # A zero probability is allowed: {−1, 0, 1} with (½, 0, ½) has mean 0 and variance 1.
    law = BV.Noise.discrete(t(-1.0, 0.0, 1.0), t(0.5, 0.0, 0.5))
    assert law.probs is not None and law.probs.tolist() == [0.5, 0.0, 0.5]
    # A negative one is not, although {−½, 0, ½} with (2, −3, 2) sums to 1 with mean 0, var 1.
    with pytest.raises(ValueError, match="probs must be ≥ 0"):
        BV.Noise.discrete(t(-0.5, 0.0, 0.5), t(2.0, -3.0, 2.0))
    # {−1, 1} with (½, ½ − δ): Σp = 1 − δ, mean −δ, variance 1 − δ, all exact in float64. At
    # δ = tol every deviation equals tol and the law is accepted; just beyond (1000.5 eps), no.
    at = BV.Noise.discrete(t(-1.0, 1.0), t(0.5, 0.5 - tol))
    assert at.probs is not None and float(at.probs.sum()) == 1 - tol
    with pytest.raises(ValueError, match="probs must be ≥ 0 and sum to 1"):
        BV.Noise.discrete(t(-1.0, 1.0), t(0.5, 0.5 - 1000.5 * eps))
    # One value cannot have mean 0 and variance 1: refused for its moments, which are reported.
    with pytest.raises(ValueError, match="mean 0 and variance 1, got 1, 1"):
        BV.Noise.discrete(t(1.0), t(1.0))
    for values, probs in ((t(-1.0, 1.0), t(0.2, 0.3, 0.5)), (t(), t())):
        shapes = rf"got shapes \({values.numel()},?\) and \({probs.numel()},?\)"
        for make in (BV.Noise, BV.Noise.discrete):
            with pytest.raises(ValueError, match=rf"values and probs must .*{shapes}"):
                make(values, probs)
    with pytest.raises(ValueError, match=r"got shapes \(0,\) and \(0,\)"):
        BV.Noise.discrete(t().to("meta"), t().to("meta"))
    # meta holds no data: the moments go unchecked there, and the law stays on meta
    law = BV.Noise.discrete(t(-1.0, 1.0).to("meta"), t(0.5, 0.5).to("meta"))
    assert law.values is not None and law.values.device.type == "meta"
    with pytest.raises(ValueError, match=r"values must be 1-D, got shape \(1, 2\)"):
        BV.Noise.discrete(t(-1.0, 1.0)[None], t(0.5, 0.5))
    with pytest.raises(ValueError, match=r"probs must be 1-D, got shape \(1, 2\)"):
        BV.Noise.discrete(t(-1.0, 1.0), t(0.5, 0.5)[None])
    with pytest.raises(TypeError, match=r"values must be a torch\.Tensor, got NoneType"):
        BV.Noise.discrete(None, None)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM)
def test_enumeration_limit_and_mode_refusals() -> None:
    """Exact enumeration takes up to MAX_ENUMERATED = 2^16 training sets: 16 Rademacher points
    are enumerated (the decomposition then holds to rounding), 17 are refused with the count;
    exact mode needs a discrete law, and the evaluation points are either given or the
    training points, never both."""
    learner = BV.polynomial_learner(1)
    assert BV.MAX_ENUMERATED == 2**16
    x16 = torch.linspace(-1, 1, 16, dtype=F64)
    r = BV.bias_variance(learner, torch.sin, x16, x16[:2], sigma=0.3)
    check_close(r.expected_error, r.decomposition, EXACT, CLAIM, "cpu", "2^16 sets enumerated")
    with pytest.raises(ValueError, match=r"exact enumeration of 2\^17 training sets exceeds 65536"):
        BV.bias_variance(learner, torch.sin, torch.linspace(-1, 1, 17, dtype=F64), x16, sigma=0.3)
    x = torch.linspace(-1, 1, 4, dtype=F64)
    with pytest.raises(ValueError, match="exact=True needs a discrete noise law"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.3, noise=BV.Noise())
    with pytest.raises(ValueError, match="x_eval must be None when at_training_points=True"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.3, at_training_points=True)
    with pytest.raises(ValueError, match="sigma_eval is required when sigma is given per"):
        BV.bias_variance(learner, torch.sin, x, x[:2], sigma=torch.full((4,), 0.3, dtype=F64))
    with pytest.raises(TypeError, match="noise must be a Noise or None, got str"):
        BV.bias_variance(learner, torch.sin, x, x, sigma=0.3, noise="gauss")  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_noise_samples_follow_like(dtype: torch.dtype) -> None:
    """Normal noise is drawn on `like`'s device in its dtype (checked on meta, which holds no
    data) and, on the CPU, is the generator's standard normal stream in that dtype."""
    meta = BV.Noise().sample((2, 3), torch.zeros(1, device="meta", dtype=dtype), None)
    assert meta.device.type == "meta" and meta.dtype == dtype and meta.shape == (2, 3)
    got = BV.Noise().sample((2, 3), torch.zeros(1, dtype=dtype), torch.Generator().manual_seed(7))
    want = torch.randn((2, 3), generator=torch.Generator().manual_seed(7), dtype=dtype)
    assert torch.equal(got, want), f"{CLAIM}: {got} vs {want}"


@pytest.mark.claim(CLAIM)
def test_rademacher_defaults_and_half_given_laws() -> None:
    """`Noise.rademacher()` with no arguments is ±1 with probability ½ each, in float64 on the
    CPU; a law with only one of `values` and `probs` is refused saying that both are needed."""
    r = BV.Noise.rademacher()
    assert r.values is not None and r.probs is not None
    assert torch.equal(r.values, torch.tensor([-1.0, 1.0], dtype=F64))
    assert torch.equal(r.probs, torch.tensor([0.5, 0.5], dtype=F64))
    assert r.values.device.type == "cpu" and r.probs.device.type == "cpu"
    for half in ({"values": r.values}, {"probs": r.probs}):
        with pytest.raises(ValueError, match=r"^values and probs must be given together"):
            BV.Noise(**half)
