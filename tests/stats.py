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
