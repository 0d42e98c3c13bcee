"""Exact tail probabilities that the empirical tests use to state their chance of failing by luck.

Plain Python floats, summed term by term (no cancellation), so a page's printed figure can be
recomputed by hand.
"""

from __future__ import annotations

import math


def normal_cdf(z: float) -> float:
    """`Φ(z) = P(Z ≤ z)` for a standard normal `Z`."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """`P(K ≤ k)` for `K ~ Binomial(n, p)`, exactly (at most n + 1 terms)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def binomial_sf(k: int, n: int, p: float) -> float:
    """`P(K > k)` for `K ~ Binomial(n, p)`, summed over the upper terms (no `1 − cdf`)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1, n + 1))


# -- the flakiness budget (issue 12, item 4) ------------------------------------------------------

#: The most a statistical test may fail by bad luck, per run, when its claim holds.
BUDGET = 1e-6


def binomial_threshold(n: int, p: float, budget: float = BUDGET) -> int:
    """The largest `k` with `P(Bin(n, p) < k) ≤ budget`: demand at least `k` successes of `n`.

    If each of `n` independent trials succeeds with probability at least `p`, the number of
    successes is stochastically at least `Bin(n, p)`, so a test that demands `k` successes fails
    by bad luck with probability at most `binomial_cdf(k − 1, n, p) ≤ budget`.
    """
    return max(k for k in range(n + 1) if k == 0 or binomial_cdf(k - 1, n, p) <= budget)


def clopper_pearson_lower(successes: int, runs: int, alpha: float = 1e-3) -> float:
    """The one-sided `1 − alpha` Clopper–Pearson lower bound on a success rate from `successes`
    of `runs` independent trials (a pilot study): a rate that low gives `successes` or more with
    chance `alpha`. Exact: the `alpha` quantile of `Beta(successes, runs − successes + 1)`
    (`alpha^(1/runs)` when every trial succeeded)."""
    from scipy.stats import beta

    return float(beta.ppf(alpha, successes, runs - successes + 1))


def _gaussian_squares_log_mgf(lam: float, c: list[float], v: list[float]) -> float:
    """`log E exp(λQ)` for `Q = Σ_i (c_i + √v_i Z_i)²`, `Z_i` independent standard normals
    (finite for `2λ v_i < 1`)."""
    return sum(
        -0.5 * math.log1p(-2 * lam * vi) + lam * ci * ci / (1 - 2 * lam * vi)
        for ci, vi in zip(c, v, strict=True)
    )


def gaussian_squares_tail(c: list[float], v: list[float], draws: int, t: float) -> float:
    """Chernoff's bound on `P(|Q̄ − E Q| ≥ t)` for the mean `Q̄` of `draws` independent copies of
    `Q = Σ_i (c_i + √v_i Z_i)²` (a noncentral quadratic form of Gaussian noise), with the exact
    moment generating function: `exp(−R sup_λ [λ y − log E e^{λQ}])` for each tail."""
    from scipy.optimize import minimize_scalar

    mean = sum(ci * ci + vi for ci, vi in zip(c, v, strict=True))
    top = 1.0 / (2.0 * max(v)) if max(v) > 0 else 1e6

    def rate(y: float, lo: float, hi: float) -> float:
        res = minimize_scalar(
            lambda lam: -(lam * y - _gaussian_squares_log_mgf(lam, c, v)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12 * max(1.0, abs(hi - lo))},
        )
        return max(0.0, -float(res.fun))

    upper = math.exp(-draws * rate(mean + t, 0.0, top * (1 - 1e-9)))
    lower = math.exp(-draws * rate(mean - t, -1e3 * top, 0.0)) if t < mean else 0.0
    return upper + lower


def gaussian_squares_tolerance(c: list[float], v: list[float], draws: int, delta: float) -> float:
    """The smallest `t` (to 0.1 %) at which `gaussian_squares_tail(c, v, draws, t) ≤ delta`: a
    Monte-Carlo mean of such squares misses its expectation by more only with chance ≤ delta."""
    mean = sum(ci * ci + vi for ci, vi in zip(c, v, strict=True))
    lo, hi = 0.0, mean
    while gaussian_squares_tail(c, v, draws, hi) > delta:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-3 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gaussian_squares_tail(c, v, draws, mid) > delta else (lo, mid)
    return hi
