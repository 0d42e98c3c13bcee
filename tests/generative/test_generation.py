"""Tests of spec/generative/generation.md: autoregressive vs non-autoregressive generation.

Tokens: ``A = 0``, ``B = 1``. ``P`` is the two-token distribution ``{AA: ½, BB: ½}``; its data set
is ``[[0, 0], [1, 1]]`` (its empirical distribution is exactly ``P``). The implementation is
reached through the module ``G`` (one seam: swap it for another implementation of the same API).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any
from unittest import mock

import pytest
import sympy as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.nn import generation as G
from tests.threads import one_thread
from tests.tolerances import EXACT, Tol, check_close, failure

CLAIM_AR = "generate.ar-sequential"
CLAIM_NAR = "generate.nar-multimodality"

#: The data set whose empirical distribution is P = {AA: ½, BB: ½}.
PAIRS = [[0, 0], [1, 1]]
MC_DRAWS = 20_000  # samples per Monte-Carlo frequency check
MC_EPS = 0.025  # allowed |frequency − probability| per cell
#: Hoeffding: P(|f̂ − p| ≥ ε) ≤ 2 exp(−2 N ε²) per cell.
MC_FALSE_FAILURE = 2 * math.exp(-2 * MC_DRAWS * MC_EPS**2)
#: Hoeffding over the cells each test checks (8 and 18): its false-failure chance per run.
FALSE_FAILURES = {
    "test_samplers_draw_from_the_models": 8 * MC_FALSE_FAILURE,
    "test_samplers_draw_from_random_models": 18 * MC_FALSE_FAILURE,
}
FIT_SEEDS = (0, 1, 2, 3, 4)
FIT_STEPS, FIT_LR = 500, 0.05
KL_EXACT_FIT = 0.01  # a model that represents P must fit it to KL < 0.01 in FIT_STEPS steps


def _data(device: str = "cpu") -> torch.Tensor:
    return torch.tensor(PAIRS, device=device)


def _target(dtype: torch.dtype = torch.float64, device: str = "cpu") -> torch.Tensor:
    return torch.tensor([[0.5, 0.0], [0.0, 0.5]], dtype=dtype, device=device)


# =================================================================================================
# generate.ar-sequential
# =================================================================================================


class _Recorder:
    """A next-token model that records every prefix it is called with; its logits depend on
    the last token (so each call needs the previous call's draw)."""

    def __init__(self, vocab: int, dtype: torch.dtype) -> None:
        self.vocab, self.dtype, self.inputs = vocab, dtype, []  # type: ignore[var-annotated]

    def __call__(self, prefix: torch.Tensor) -> torch.Tensor:
        self.inputs.append(prefix.clone())
        b = prefix.shape[0]
        logits = torch.zeros(b, self.vocab, dtype=self.dtype)
        if prefix.shape[1]:
            logits[torch.arange(b), (prefix[:, -1] + 1) % self.vocab] = 3.0
        return logits


@pytest.mark.claim(CLAIM_AR)
@settings(deadline=None, max_examples=30)
@given(
    length=st.integers(1, 12),
    batch=st.integers(1, 5),
    vocab=st.integers(2, 6),
    seed=st.integers(0, 2**31 - 1),
)
@example(length=1, batch=1, vocab=2, seed=0)
def test_autoregressive_makes_one_call_per_token(
    length: int, batch: int, vocab: int, seed: int
) -> None:
    """T tokens: T calls, call t sees exactly the t − 1 tokens drawn before it."""
    rec = _Recorder(vocab, torch.float64)
    gen = torch.Generator().manual_seed(seed)
    out = G.sample_autoregressive(rec, length, batch=batch, vocab=vocab, generator=gen)
    assert out.calls == length == len(rec.inputs), failure(
        CLAIM_AR, "cpu", "-", f"{length} tokens took {out.calls} calls", out.calls - length, "exact"
    )
    assert out.tokens.shape == (batch, length)
    for t, prefix in enumerate(rec.inputs):
        assert prefix.shape == (batch, t) and torch.equal(prefix, out.tokens[:, :t]), (
            f"{CLAIM_AR}: call {t + 1} saw {prefix.tolist()}, not the {t} tokens drawn before it "
            f"{out.tokens[:, :t].tolist()}"
        )
    assert bool(((out.tokens >= 0) & (out.tokens < vocab)).all())


@pytest.mark.claim(CLAIM_AR)
@settings(deadline=None, max_examples=30)
@given(length=st.integers(1, 12), batch=st.integers(1, 5), vocab=st.integers(2, 6))
def test_non_autoregressive_makes_one_call(length: int, batch: int, vocab: int) -> None:
    calls = []

    def model(b: int) -> torch.Tensor:
        calls.append(b)
        return torch.zeros(b, length, vocab, dtype=torch.float64)

    out = G.sample_non_autoregressive(model, length, batch=batch, vocab=vocab)
    assert out.calls == 1 and calls == [batch], (
        f"{CLAIM_AR}: the non-autoregressive sampler made {len(calls)} calls ({out.calls} counted)"
    )
    assert out.tokens.shape == (batch, length)


@pytest.mark.claim(CLAIM_AR)
@settings(deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8).filter(lambda w: sum(w) > 0.1),
    us=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=16),
)
@example(weights=[0.5, 0.0, 0.5], us=[0.0, 0.4999, 0.5, 0.9999])
# F(V−1) = 1 − 2⁻⁵² by rounding and the last token has probability 0: u = 1 − 2⁻⁵³ lies above F
@example(
    weights=[0.23653920902754189, 0.0359241002187428, 0.014490831608383, 0.7130458591693, 0.0],
    us=[1.0 - 2**-53, 0.5],
)
def test_categorical_is_the_inverse_cdf(weights: list[float], us: list[float]) -> None:
    """The inverse-CDF draw equals torch.searchsorted(cdf, u, right=True) (the native oracle)
    wherever u < F(V−1); where rounding leaves F(V−1) ≤ u it is the first token at which F
    reaches F(V−1), searchsorted at the float just below F(V−1)."""
    p = torch.tensor(weights, dtype=torch.float64)
    p = p / p.sum()
    u = torch.tensor(us, dtype=torch.float64)
    probs = p.expand(len(us), len(weights))
    got = G.categorical(probs, u)
    cdf = p.cumsum(0)
    below = torch.nextafter(cdf[-1], torch.tensor(-math.inf, dtype=torch.float64))
    ref = torch.searchsorted(cdf, torch.minimum(u, below), right=True)
    assert torch.equal(got, ref), f"{CLAIM_AR}: categorical {got.tolist()} != oracle {ref.tolist()}"
    inside = u < cdf[-1]
    native = torch.searchsorted(cdf, u, right=True)
    assert torch.equal(got[inside], native[inside]), f"{CLAIM_AR}: differs from searchsorted"
    assert bool((p[got] > 0).all()), f"{CLAIM_AR}: drew a token of probability 0"


# =================================================================================================
# generate.categorical-fast-form
# =================================================================================================

CLAIM_CAT_FAST = "generate.categorical-fast-form"


@st.composite
def _categorical_cases(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    rows, vocab = draw(st.integers(1, 6)), draw(st.integers(1, 40))
    weight = st.one_of(st.floats(0.0, 1.0), st.just(0.0), st.just(1e-300), st.just(1e-17))
    w = torch.tensor(draw(st.lists(weight, min_size=rows * vocab, max_size=rows * vocab)))
    w = w.reshape(rows, vocab).double()
    w[:, draw(st.integers(0, vocab - 1))] += 0.1  # every row has mass
    probs = w / w.sum(-1, keepdim=True)
    edge = st.sampled_from([0.0, 1.0 - 2**-53, 1.0 - 2**-52, 0.5])
    uniform = st.one_of(st.floats(0.0, 1.0, exclude_max=True), edge)
    u = draw(st.lists(uniform, min_size=rows, max_size=rows))
    return probs, torch.tensor(u, dtype=torch.float64)


@pytest.mark.claim(CLAIM_CAT_FAST)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None, max_examples=80)
@given(case=_categorical_cases(), cdf_hits=st.booleans())
def test_categorical_fast_form_draws_the_same_tokens(
    device: str, dtype: torch.dtype, case: tuple[torch.Tensor, torch.Tensor], cdf_hits: bool
) -> None:
    """categorical(probs, u, fast=True) = categorical(probs, u), token for token: V from 1 to
    40 (full and partial blocks), zero and tiny probabilities, uniforms at 0, just below 1 and
    exactly at values of the CDF."""
    probs, u = case[0].to(device, dtype), case[1].to(device, dtype)
    if cdf_hits:  # u exactly at F(k): the boundary between two tokens
        cdf = probs.cumsum(-1)
        u = cdf[:, (torch.arange(u.shape[0], device=device) * 7) % probs.shape[-1]].diagonal()
        one = torch.ones((), device=device, dtype=dtype)
        u = u.clamp_max(torch.nextafter(one, torch.zeros_like(one)))  # u < 1
    plain, fast = G.categorical(probs, u), G.categorical(probs, u, fast=True)
    assert torch.equal(fast, plain), (
        f"{CLAIM_CAT_FAST} [{device}, {dtype}]: fast {fast.tolist()} != plain {plain.tolist()}"
    )
    drawn = probs.gather(-1, fast[:, None])
    assert bool((drawn > 0).all()), f"{CLAIM_CAT_FAST}: a token of probability 0"


@pytest.mark.claim(CLAIM_CAT_FAST)
def test_categorical_fast_form_on_many_rows(device: str) -> None:
    """The benchmark's shape (1024 × 256), a leading batch dimension and one token: the same
    tokens for the same uniforms, on a generator's draws."""
    gen = torch.Generator().manual_seed(5)
    for shape in ((1024, 256), (3, 5, 17), (4, 1)):
        probs = torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64) * 3, -1)
        u = torch.rand(shape[:-1], generator=gen, dtype=torch.float64)
        probs, u = probs.to(device), u.to(device)
        plain, fast = G.categorical(probs, u), G.categorical(probs, u, fast=True)
        assert torch.equal(fast, plain), f"{CLAIM_CAT_FAST}: {shape}: fast and plain differ"
    with pytest.raises(TypeError, match="fast must be a bool"):
        G.categorical(probs, u, fast=None)  # type: ignore[arg-type]


def _frequencies(tokens: torch.Tensor) -> torch.Tensor:
    idx = tokens[:, 0] * 2 + tokens[:, 1]
    return torch.bincount(idx, minlength=4).double().reshape(2, 2) / tokens.shape[0]


_CLASSES: dict[str, Any] = {
    "factorized": G.Factorized,
    "mixture": G.Mixture,
    "ar": G.Autoregressive,
}


@functools.cache
def _fitted_all(kind: str) -> G.PairModel:
    """One model per seed of FIT_SEEDS, fitted as one batch (copies)."""
    gen = torch.Generator().manual_seed(2026)
    model = _CLASSES[kind](copies=len(FIT_SEEDS), generator=gen, dtype=torch.float64)
    G.fit_mle(model, _data(), steps=FIT_STEPS, lr=FIT_LR)
    return model  # type: ignore[no-any-return]


def _joint(kind: str, seed: int) -> torch.Tensor:
    return _fitted_all(kind).joint().detach()[FIT_SEEDS.index(seed)]


@functools.cache
def _fitted_single(kind: str) -> G.PairModel:
    """A single (copies=None) model holding the fitted copy of seed 0, for the samplers."""
    model = _CLASSES[kind](dtype=torch.float64)
    fitted = dict(_fitted_all(kind).named_parameters())
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(fitted[name][0])
    check_close(model.joint().detach(), _joint(kind, 0), EXACT, CLAIM_AR, "cpu", "copy 0")
    return model  # type: ignore[no-any-return]


@pytest.mark.claim(CLAIM_AR, CLAIM_NAR)
def test_samplers_draw_from_the_models(evidence: Any) -> None:
    """Monte-Carlo: the AR sampler on the fitted AR model draws (almost) only AA and BB; the NAR
    sampler on the fitted factorized model puts about ½ on AB/BA. Each cell within MC_EPS."""
    ar = _fitted_single("ar")
    fac = _fitted_single("factorized")
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        a = G.sample_autoregressive(ar.step, 2, batch=MC_DRAWS, vocab=2, generator=gen)  # type: ignore[attr-defined]
        n = G.sample_non_autoregressive(
            lambda b: fac.theta.expand(b, 2, 2),
            2,
            batch=MC_DRAWS,
            vocab=2,
            generator=gen,  # type: ignore[union-attr]
        )
        runs = {"autoregressive": (a, ar.joint()), "non-autoregressive": (n, fac.joint())}
    assert a.calls == 2 and n.calls == 1
    for name, (out, q) in runs.items():
        f = _frequencies(out.tokens)
        err = float((f - q).abs().max())
        assert err <= MC_EPS, failure(
            CLAIM_AR,
            "cpu",
            "float64",
            f"{name} sampler frequencies {f.tolist()} vs {q.tolist()}",
            err,
            f"Monte-Carlo ε={MC_EPS}",
        )
        evidence.value(f"{name}_mass_on_AB_BA", float(f[0, 1] + f[1, 0]))
    evidence.value("mc_draws", MC_DRAWS)
    evidence.value("mc_false_failure", 8 * MC_FALSE_FAILURE)
    evidence.value("false_failure", FALSE_FAILURES["test_samplers_draw_from_the_models"])
    # the page prints these two bounds
    assert f"{MC_FALSE_FAILURE:.1e}" == "2.8e-11" and f"{8 * MC_FALSE_FAILURE:.1e}" == "2.2e-10"


@pytest.mark.claim(CLAIM_AR)
def test_samplers_draw_from_random_models(evidence: Any) -> None:
    """Monte-Carlo on drawn 3-token models (no symmetry to hide a transposed table or a reused
    uniform): AR sampling of q₁(y₁) q₂(y₂ | y₁) and NAR sampling of q₁ ⊗ q₂ match their tables
    in each of the 9 + 9 cells within MC_EPS."""
    gen = torch.Generator().manual_seed(7)
    ar = G.Autoregressive(3, init_scale=1.5, generator=gen, dtype=torch.float64)
    fac = G.Factorized(3, init_scale=1.5, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        a = G.sample_autoregressive(ar.step, 2, batch=MC_DRAWS, vocab=3, generator=gen)
        n = G.sample_non_autoregressive(
            lambda b: fac.theta.expand(b, 2, 3), 2, batch=MC_DRAWS, vocab=3, generator=gen
        )
        for name, out, q in (("AR", a, ar.joint()), ("NAR", n, fac.joint())):
            idx = out.tokens[:, 0] * 3 + out.tokens[:, 1]
            f = torch.bincount(idx, minlength=9).double().reshape(3, 3) / MC_DRAWS
            err = float((f - q).abs().max())
            assert err <= MC_EPS, failure(
                CLAIM_AR,
                "cpu",
                "float64",
                f"{name} frequencies {f.tolist()} vs {q.tolist()}",
                err,
                f"Monte-Carlo ε={MC_EPS}",
            )
    # the table of q₂(· | y₁) is not symmetric, so a transposed lookup would show
    assert float((ar.theta2 - ar.theta2.T).detach().abs().max()) > 0.5
    evidence.value("random_models_mc_false_failure", 18 * MC_FALSE_FAILURE)
    evidence.value("false_failure", FALSE_FAILURES["test_samplers_draw_from_random_models"])
    assert f"{18 * MC_FALSE_FAILURE:.1e}" == "5.0e-10"


@pytest.mark.claim(CLAIM_AR)
def test_categorical_refuses_non_finite_probabilities_by_their_row_sums() -> None:
    """`categorical` reads only the row totals F(V−1) to check finiteness: NaN and ±∞ anywhere
    reach them (and are then named), and finite entries whose sum overflows are refused too."""
    probs = torch.full((3, 4), 0.25, dtype=torch.float64)
    u = torch.full((3,), 0.5, dtype=torch.float64)
    for bad in (math.nan, math.inf, -math.inf):
        p = probs.clone()
        p[1, 2] = bad
        for fast in (False, True):
            with pytest.raises(ValueError, match="probs must be finite"):
                G.categorical(p, u, fast=fast)
    p = probs.clone()
    p[2, :2] = 1e308
    with pytest.raises(ValueError, match="probs must have finite row sums"):
        G.categorical(p, u)


@pytest.mark.claim(CLAIM_AR)
def test_samplers_refuse_bad_arguments() -> None:
    def step(prefix: torch.Tensor) -> torch.Tensor:
        return torch.zeros(prefix.shape[0], 2, dtype=torch.float64)

    with pytest.raises(ValueError, match="length"):
        G.sample_autoregressive(step, 0, vocab=2)
    with pytest.raises(TypeError, match="length"):
        G.sample_autoregressive(step, 2.0, vocab=2)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^step\(prefix\) must return logits of shape \(1, 3\), got \(1, 2\)$"
    ):
        G.sample_autoregressive(step, 2, vocab=3)
    with pytest.raises(ValueError, match="batch"):
        G.sample_non_autoregressive(lambda b: torch.zeros(b, 2, 2), 2, batch=0, vocab=2)
    with pytest.raises(
        ValueError,
        match=r"^model\(batch\) must return logits of shape \(1, 2, 2\), got \(1, 3, 2\)$",
    ):
        G.sample_non_autoregressive(lambda b: torch.zeros(b, 3, 2), 2, vocab=2)
    with pytest.raises(TypeError, match="generator"):
        G.sample_non_autoregressive(lambda b: torch.zeros(b, 2, 2), 2, vocab=2, generator=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="u must have shape"):
        G.categorical(torch.full((2, 3), 1 / 3), torch.rand(3))
    # (issue 12, mutation testing) what the messages report
    with pytest.raises(
        ValueError, match=r"^u must have shape probs\.shape\[:-1\] = \(2, 3\), got \(5,\)$"
    ):
        G.categorical(torch.full((2, 3, 4), 0.25), torch.rand(5))

    def int_step(prefix: torch.Tensor) -> torch.Tensor:
        return torch.zeros(prefix.shape[0], 2, dtype=torch.long)

    with pytest.raises(
        TypeError,
        match=r"^step\(prefix\) must be a floating-point tensor, got dtype torch\.int64$",
    ):
        G.sample_autoregressive(int_step, 2, vocab=2)


@pytest.mark.claim(CLAIM_AR)
def test_categorical_takes_one_distribution_and_defaults_to_the_plain_count() -> None:
    """One distribution `(V,)` with one uniform `()` draws one token (the inverse CDF: F =
    (0.2, 1.0), u = 0.5 gives token 1); the two-level count is taken only with fast=True (the
    plain count is the default, as for every fast form)."""
    token = G.categorical(torch.tensor([0.2, 0.8]), torch.tensor(0.5))
    assert token.shape == () and int(token) == 1, f"{CLAIM_AR}: categorical drew {token}"
    probs, u = torch.full((3, 4), 0.25), torch.tensor([0.1, 0.6, 0.9])
    counted: list[int] = []
    two_level = G._two_level_count

    def spy(cdf: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        counted.append(cdf.shape[-1])
        return two_level(cdf, v)

    with mock.patch.object(G, "_two_level_count", spy):
        plain = G.categorical(probs, u)
        assert counted == [], f"{CLAIM_CAT_FAST}: the default took the two-level count"
        fast = G.categorical(probs, u, fast=True)
        assert counted == [4], f"{CLAIM_CAT_FAST}: fast=True did not take the two-level count"
    assert plain.tolist() == fast.tolist() == [0, 2, 3]


@pytest.mark.claim(CLAIM_AR)
def test_first_prefix_is_on_the_device_given() -> None:
    """`device` places the empty first prefix (the docstring's "an empty prefix on `device`"):
    every call of the step sees its prefix there (meta here, so no data is read)."""
    seen: list[str] = []

    def step(prefix: torch.Tensor) -> torch.Tensor:
        seen.append(prefix.device.type)
        return torch.zeros(prefix.shape[0], 2, device="meta")

    G.sample_autoregressive(step, 2, batch=3, vocab=2, device="meta")
    assert seen == ["meta", "meta"], f"{CLAIM_AR}: the prefixes were on {seen}"


# =================================================================================================
# generate.nar-multimodality
# =================================================================================================


@functools.cache
def _sympy_facts() -> dict[str, Any]:
    a, b = sp.symbols("a b", positive=True)  # a = q_1(A), b = q_2(A)
    q = {"AA": a * b, "AB": a * (1 - b), "BA": (1 - a) * b, "BB": (1 - a) * (1 - b)}
    p = {"AA": sp.Rational(1, 2), "AB": 0, "BA": 0, "BB": sp.Rational(1, 2)}
    no_solution = sp.solve([q[k] - p[k] for k in q], [a, b], dict=True)
    # Expected log-likelihood of the factorized model under P, and its stationary points.
    ell = sp.Rational(1, 2) * sp.log(q["AA"]) + sp.Rational(1, 2) * sp.log(q["BB"])
    crit = sp.solve([sp.diff(ell, a), sp.diff(ell, b)], [a, b], dict=True)
    hess = sp.hessian(ell, (a, b)).subs({a: sp.Rational(1, 2), b: sp.Rational(1, 2)})
    kl_at_mle = sp.simplify(-sp.log(2) - ell.subs({a: sp.Rational(1, 2), b: sp.Rational(1, 2)}))
    # min-TV along a = b = t, in the range where t² ≤ ½ and (1 − t)² ≤ ½: TV = 2t(1 − t).
    t = sp.symbols("t", positive=True)
    tv_sym = sp.Rational(1, 2) * (
        (sp.Rational(1, 2) - t**2) + (sp.Rational(1, 2) - (1 - t) ** 2) + 2 * t * (1 - t)
    )
    tv_at = sp.nsimplify(sp.simplify(tv_sym.subs(t, 1 / sp.sqrt(2))))
    return {
        "no_solution": no_solution,
        "crit": crit,
        "hess_eigs": list(hess.eigenvals()),
        "kl_at_mle": kl_at_mle,
        "tv_expr": sp.expand(tv_sym),
        "tv_at": sp.simplify(tv_at - (sp.sqrt(2) - 1)),
    }


@pytest.mark.claim(CLAIM_NAR)
def test_sympy_no_product_equals_p_and_the_mle_is_uniform(evidence: Any) -> None:
    f = _sympy_facts()
    assert f["no_solution"] == [], (
        f"{CLAIM_NAR}: sympy found products equal to P: {f['no_solution']}"
    )
    half = sp.Rational(1, 2)
    assert f["crit"] == [
        {sp.Symbol("a", positive=True): half, sp.Symbol("b", positive=True): half}
    ], f"{CLAIM_NAR}: stationary points of the factorized likelihood {f['crit']}, expected a=b=½"
    assert all(e < 0 for e in f["hess_eigs"]), f"{CLAIM_NAR}: Hessian at ½ not negative definite"
    assert sp.simplify(f["kl_at_mle"] - sp.log(2)) == 0, (
        f"{CLAIM_NAR}: KL at the MLE {f['kl_at_mle']}"
    )
    t = sp.symbols("t", positive=True)
    assert sp.simplify(f["tv_expr"] - 2 * t * (1 - t)) == 0
    assert f["tv_at"] == 0, f"{CLAIM_NAR}: TV at a=b=1/√2 is not √2 − 1"
    evidence.value("kl_at_mle", float(sp.log(2)))
    evidence.value("min_tv", float(sp.sqrt(2) - 1))


@pytest.mark.claim(CLAIM_NAR)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(a=st.floats(1e-6, 1 - 1e-6), b=st.floats(1e-6, 1 - 1e-6))
@example(a=0.5, b=0.5)
@example(a=2**-0.5, b=2**-0.5)
@example(a=1 - 2**-0.5, b=1 - 2**-0.5)
def test_every_product_is_at_least_log2_and_sqrt2_minus_1_away(
    device: str, dtype: torch.dtype, a: float, b: float
) -> None:
    """KL(P‖q₁⊗q₂) ≥ log 2 and TV(P, q₁⊗q₂) ≥ √2 − 1 for every product (a = q₁(A), b = q₂(A))."""
    q1 = torch.tensor([a, 1 - a], dtype=dtype, device=device)
    q2 = torch.tensor([b, 1 - b], dtype=dtype, device=device)
    q = q1[:, None] * q2[None, :]
    p = _target(dtype, device)
    kl, tv = float(G.kl_divergence(p, q)), float(G.total_variation(p, q))
    assert kl >= math.log(2) - EXACT.atol, failure(
        CLAIM_NAR, device, dtype, f"KL < log 2 at a={a}, b={b}", kl, EXACT
    )
    assert tv >= math.sqrt(2) - 1 - EXACT.atol, failure(
        CLAIM_NAR, device, dtype, f"TV < √2 − 1 at a={a}, b={b}", tv, EXACT
    )
    if a == b and a in (2**-0.5, 1 - 2**-0.5):  # the min-TV fits put √2 − 1 ≈ 0.414 on AB/BA
        mass = float(q[0, 1] + q[1, 0])
        assert abs(mass - (math.sqrt(2) - 1)) <= EXACT.atol and abs(tv - mass) <= EXACT.atol, (
            failure(CLAIM_NAR, device, dtype, f"min-TV product a=b={a}", tv - mass, EXACT)
        )


@pytest.mark.claim(CLAIM_NAR)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=20)
@given(
    seed=st.integers(0, 2**31 - 1),
    vocab=st.integers(2, 4),
    scale=st.floats(0.1, 3.0),
    copies=st.sampled_from([None, 2]),
)
def test_model_tables_follow_their_definitions(
    device: str, dtype: torch.dtype, seed: int, vocab: int, scale: float, copies: int | None
) -> None:
    """For random parameters, each model's joint() sums to 1 and equals its definition built
    with torch.softmax (the oracle); log_prob reads the same table. With copies, each copy's
    table is the definition applied to that copy's parameters."""
    gen = torch.Generator().manual_seed(seed)
    kw: dict[str, Any] = {
        "copies": copies,
        "init_scale": scale,
        "generator": gen,
        "dtype": dtype,
        "device": device,
    }
    fac, mix, ar = (
        G.Factorized(vocab, **kw),
        G.Mixture(vocab, 3, **kw),
        G.Autoregressive(vocab, **kw),
    )
    sm = torch.softmax
    q = sm(fac.theta, -1)  # (…, 2, V): q_1, q_2
    expected = {
        "factorized": (fac, q[..., 0, :, None] * q[..., 1, None, :]),
        "mixture": (
            mix,
            torch.einsum(
                "...k,...ka,...kb->...ab",
                sm(mix.alpha, -1),
                sm(mix.theta[..., 0, :], -1),
                sm(mix.theta[..., 1, :], -1),
            ),
        ),
        "autoregressive": (ar, sm(ar.theta1, -1)[..., :, None] * sm(ar.theta2, -1)),
    }
    lead = () if copies is None else (copies,)
    tokens = torch.cartesian_prod(torch.arange(vocab), torch.arange(vocab)).to(device)
    for name, (model, table) in expected.items():
        joint = model.joint().detach()
        assert joint.shape == (*lead, vocab, vocab), f"{CLAIM_NAR}: {name} {tuple(joint.shape)}"
        check_close(joint, table.detach(), EXACT, CLAIM_NAR, device, f"{name} joint vs definition")
        check_close(
            joint.sum((-2, -1)),
            torch.ones(lead, dtype=dtype, device=device),
            EXACT,
            CLAIM_NAR,
            device,
            f"{name} joint does not sum to 1",
        )
        check_close(
            model.log_prob(tokens).detach().exp(),
            joint.flatten(-2),
            EXACT,
            CLAIM_NAR,
            device,
            f"{name} log_prob vs joint",
        )


@pytest.mark.claim(CLAIM_NAR)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("seed", FIT_SEEDS)
def test_factorized_mle_is_the_product_of_marginals(
    device: str, dtype: torch.dtype, seed: int
) -> None:
    """Adam on the factorized model's likelihood of {AA, BB} reaches (½,½)⊗(½,½) (atol 1e-3):
    ½ of the mass on AB/BA, KL = log 2."""
    q = _joint("factorized", seed)
    p = _target()
    check_close(
        q,
        G.product_of_marginals(p),
        EXACT.__class__(rtol=0.0, atol=1e-3),
        CLAIM_NAR,
        device,
        f"factorized fit (seed {seed}) is not the product of marginals",
    )
    mass = float(q[0, 1] + q[1, 0])
    assert abs(mass - 0.5) <= 2e-3, failure(
        CLAIM_NAR, device, dtype, "mass on AB/BA", mass - 0.5, "atol 2e-3"
    )
    kl = float(G.kl_divergence(p, q))
    assert abs(kl - math.log(2)) <= 1e-4, failure(
        CLAIM_NAR, device, dtype, "KL of the fit", kl - math.log(2), "atol 1e-4"
    )


@pytest.mark.claim(CLAIM_NAR)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=3)
@given(counts=st.lists(st.integers(1, 9), min_size=4, max_size=4))
def test_factorized_mle_matches_marginals_of_any_data(
    device: str, dtype: torch.dtype, counts: list[int]
) -> None:
    """For a drawn data set, the ML factorized model is the product of its marginals."""
    cells = [[0, 0], [0, 1], [1, 0], [1, 1]]
    data = torch.tensor([c for c, k in zip(cells, counts, strict=True) for _ in range(k)])
    p = torch.tensor(counts, dtype=dtype).reshape(2, 2) / sum(counts)
    model = G.Factorized(generator=torch.Generator().manual_seed(sum(counts)), dtype=dtype)
    G.fit_mle(model, data, steps=FIT_STEPS, lr=FIT_LR)
    err = float((model.joint().detach() - G.product_of_marginals(p)).abs().max())
    assert err <= 1e-3, failure(
        CLAIM_NAR, device, dtype, f"fit vs marginals for counts {counts}", err, "atol 1e-3"
    )


@pytest.mark.claim(CLAIM_NAR)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["mixture", "ar"])
def test_mixture_and_autoregressive_fit_p(
    device: str, dtype: torch.dtype, kind: str, evidence: Any
) -> None:
    """A 2-component mixture and the autoregressive model reach KL < 0.01 from random inits
    (Adam, lr 0.05, 500 steps), every seed; both can represent P."""
    p = _target()
    kls = []
    for seed in FIT_SEEDS:
        kl = float(G.kl_divergence(p, _joint(kind, seed)))
        kls.append(kl)
        assert kl < KL_EXACT_FIT, failure(
            CLAIM_NAR, device, dtype, f"{kind} fit, seed {seed}", kl, f"KL < {KL_EXACT_FIT}"
        )
    evidence.value(f"{kind}_max_kl", max(kls))


@pytest.mark.claim(CLAIM_NAR)
def test_fits_figure(evidence: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["AA", "AB", "BA", "BB"]
    tables = {"data P": _target().flatten()}
    for kind, name in (
        ("factorized", "factorized (ML)"),
        ("mixture", "mixture"),
        ("ar", "autoregressive"),
    ):
        tables[name] = _joint(kind, 0).flatten()
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.2
    for i, (name, q) in enumerate(tables.items()):
        ax.bar([j + (i - 1.5) * width for j in range(4)], q.tolist(), width, label=name)
    ax.set_xticks(range(4), labels)
    ax.set_ylabel("probability")
    ax.legend(fontsize=8)
    ax.set_title("Fits of {AA: ½, BB: ½} (seed 0)")
    evidence.figure(fig, "generate-nar-fits")
    plt.close(fig)
    fac = tables["factorized (ML)"]
    assert abs(float(fac[1] + fac[2]) - 0.5) <= 2e-3


@pytest.mark.claim(CLAIM_NAR)
def test_defaults_are_the_pages_conditions() -> None:
    """Left at their defaults: `fit_mle` runs the page's FIT_STEPS Adam steps at learning rate
    FIT_LR; the models have a vocabulary of 2 (the page's tokens A, B), logits drawn as
    1.0 · N(0, 1), and the mixture 2 components; a sampler draws one sequence."""

    def fitted(**kw: Any) -> list[float]:
        model = G.Mixture(generator=torch.Generator().manual_seed(8), dtype=torch.float64)
        return G.fit_mle(model, _data(), **kw)

    with one_thread():  # 2 × 500 steps of a tiny model
        losses, stated = fitted(), fitted(steps=FIT_STEPS, lr=FIT_LR)
    assert len(losses) == FIT_STEPS + 1, f"{CLAIM_NAR}: {len(losses) - 1} steps by default"
    assert losses == stated, f"{CLAIM_NAR}: the default learning rate is not {FIT_LR}"
    for cls in (G.Factorized, G.Mixture, G.Autoregressive):
        default = cls(generator=torch.Generator().manual_seed(1))
        stated_kw: dict[str, Any] = {"init_scale": 1.0}
        if cls is G.Mixture:
            stated_kw["components"] = 2
        stated = cls(2, generator=torch.Generator().manual_seed(1), **stated_kw)
        pairs = zip(default.named_parameters(), stated.named_parameters(), strict=True)
        for (name, a), (_, b) in pairs:
            assert torch.equal(a, b), f"{CLAIM_NAR}: {cls.__name__}().{name} ≠ the stated one"
        assert default.joint().shape == (2, 2), f"{CLAIM_NAR}: {cls.__name__}() vocabulary"
    mixture = {n: tuple(p.shape) for n, p in G.Mixture().named_parameters()}
    assert mixture == {"alpha": (2,), "theta": (2, 2, 2)}, f"{CLAIM_NAR}: Mixture() {mixture}"
    ar = G.Autoregressive()
    assert G.sample_autoregressive(ar.step, 2, vocab=2).tokens.shape == (1, 2)
    logits = torch.zeros(1, 3, 2, dtype=torch.float64)
    assert G.sample_non_autoregressive(lambda b: logits, 3, vocab=2).tokens.shape == (1, 3)
    # the draws come from the generator given: its seed repeats them
    logits = torch.zeros(64, 3, 2, dtype=torch.float64)
    draws = [
        G.sample_non_autoregressive(
            lambda b: logits, 3, batch=64, vocab=2, generator=torch.Generator().manual_seed(6)
        ).tokens
        for _ in range(2)
    ]
    assert torch.equal(*draws), f"{CLAIM_NAR}: a seeded generator's draws not repeated"
    draws = [
        G.sample_autoregressive(
            ar.step, 2, batch=64, vocab=2, generator=torch.Generator().manual_seed(6)
        ).tokens
        for _ in range(2)
    ]
    assert torch.equal(*draws), f"{CLAIM_NAR}: a seeded generator's AR draws not repeated"

    # device left at None: the tokens follow the device of the step's logits (here meta)
    def meta_step(prefix: torch.Tensor) -> torch.Tensor:
        return torch.zeros(prefix.shape[0], 2, device="meta", dtype=torch.float64)

    on_meta = G.sample_autoregressive(meta_step, 3, batch=4, vocab=2).tokens
    assert on_meta.device.type == "meta" and on_meta.shape == (4, 3), f"{CLAIM_AR}: {on_meta}"


@pytest.mark.claim(CLAIM_NAR)
def test_models_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="vocab"):
        G.Factorized(vocab=1)
    with pytest.raises(ValueError, match="components"):
        G.Mixture(components=0)
    with pytest.raises(ValueError, match="tokens must hold class labels"):
        G.Factorized().log_prob(torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="shape"):
        G.fit_mle(G.Factorized(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="lr"):
        G.fit_mle(G.Factorized(), _data(), lr=0.0)
    with pytest.raises(TypeError, match="PairModel"):
        G.fit_mle(torch.nn.Linear(2, 2), _data())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sum to 1"):
        G.kl_divergence(torch.full((2, 2), 0.3, dtype=torch.float64), _target())
    with pytest.raises(ValueError, match="non-negative"):
        G.total_variation(torch.tensor([[1.5, -0.5], [0.0, 0.0]], dtype=torch.float64), _target())
    with pytest.raises(ValueError, match="sum to 1"):
        G.product_of_marginals(torch.full((2, 2), 0.5, dtype=torch.float64))
    # (issue 12, mutation testing) each check pinned by its message, with what was given
    quarter = torch.full((4,), 0.25, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^p must be 2-D, got shape \(4,\)$"):
        G.kl_divergence(quarter, quarter)
    with pytest.raises(ValueError, match=r"^q must be 2-D, got shape \(1, 2, 2\)$"):
        G.total_variation(_target(), _target()[None])
    ninth = torch.full((3, 3), 1 / 9, dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"^p and q must have the same shape, got \(2, 2\), \(3, 3\)$"
    ):
        G.kl_divergence(_target(), ninth)
    with pytest.raises(
        ValueError, match=r"^step\(\) samples a single model: build it with copies=None$"
    ):
        G.Autoregressive(copies=2).step(torch.zeros(3, 0, dtype=torch.long))
    ar = G.Autoregressive(vocab=2)
    with pytest.raises(
        ValueError, match=r"^prefix must hold class labels in \[0, 2\), got values in \[0, 2\]$"
    ):
        ar.step(torch.tensor([[0], [2]]))
    for shape in ((3,), (3, 2)):
        with pytest.raises(
            ValueError,
            match=r"^prefix must have shape \(batch, 0\) or \(batch, 1\), got "
            + re.escape(str(shape))
            + "$",
        ):
            ar.step(torch.zeros(shape, dtype=torch.long))
    for tokens in (torch.tensor([0, 1]), torch.zeros(3, 3, dtype=torch.long)):
        shape = re.escape(str(tuple(tokens.shape)))
        with pytest.raises(ValueError, match=rf"^tokens must have shape \(N, 2\), got {shape}$"):
            G.Factorized().log_prob(tokens)
    with pytest.raises(TypeError, match=r"^model must be a PairModel, got Linear$"):
        G.fit_mle(torch.nn.Linear(2, 2), _data())  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"^lr must be a real number in \(0, inf\] \(the learning rate\), got 0\.0$",
    ):
        G.fit_mle(G.Factorized(), _data(), lr=0.0)
    for tokens in (torch.zeros(3, 3, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long)):
        shape = re.escape(str(tuple(tokens.shape)))
        with pytest.raises(
            ValueError, match=rf"^tokens must have shape \(N ≥ 1, 2\), got {shape}$"
        ):
            G.fit_mle(G.Factorized(), tokens)
    with pytest.raises(ValueError, match=r"^tokens must hold class labels in \[0, 2\), got"):
        G.fit_mle(G.Factorized(), torch.tensor([[0, 2]]), steps=1)
    with pytest.raises(TypeError, match=r"^tokens must be an integer tensor of class labels"):
        G.fit_mle(G.Factorized(), _data().double())
    assert len(G.fit_mle(G.Factorized(), torch.tensor([[0, 1]]), steps=1)) == 2  # N = 1 is data


@pytest.mark.claim(CLAIM_NAR)
def test_fit_mle_matches_a_reference_loop() -> None:
    """Three steps of fit_mle on a 2-copy mixture equal an explicit loop with torch's Adam on
    the loss Σ_c −(1/N) Σ_n log Q_c(y_n), Q_c the mixture's definition with torch.softmax; the
    losses returned are the loss before each step, summed over the copies, then the loss after
    the last step."""
    f64, steps, lr = torch.float64, 3, 0.1
    model = G.Mixture(copies=2, generator=torch.Generator().manual_seed(3), dtype=f64)
    ref = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    data = torch.tensor([[0, 0], [1, 1], [0, 1]])
    losses = G.fit_mle(model, data, steps=steps, lr=lr)

    def loss() -> torch.Tensor:
        sm = torch.softmax
        th = ref["theta"]
        table = torch.einsum(
            "ck,cka,ckb->cab", sm(ref["alpha"], -1), sm(th[:, :, 0], -1), sm(th[:, :, 1], -1)
        )
        return -table[:, data[:, 0], data[:, 1]].log().mean(-1).sum()

    opt = torch.optim.Adam(ref.values(), lr=lr)
    want = []
    for _ in range(steps):
        value = loss()
        opt.zero_grad()
        value.backward()  # type: ignore[no-untyped-call]
        opt.step()
        want.append(float(value.detach()))
    want.append(float(loss().detach()))
    assert len(losses) == steps + 1 and all(isinstance(x, float) for x in losses), losses
    check_close(
        torch.tensor(losses, dtype=f64),
        torch.tensor(want, dtype=f64),
        Tol(1e-12, 1e-12),
        CLAIM_NAR,
        "cpu",
        "losses",
    )
    for name, p in model.named_parameters():
        check_close(p.detach(), ref[name].detach(), Tol(1e-12, 1e-12), CLAIM_NAR, "cpu", name)


@pytest.mark.claim(CLAIM_NAR)
def test_logits_start_as_init_scale_times_a_normal_draw() -> None:
    """`init_scale · N(0, 1)`: the logits are the generator's normal draw times init_scale."""
    model = G.Factorized(init_scale=2.5, generator=torch.Generator().manual_seed(7))
    draw = torch.randn((2, 2), generator=torch.Generator().manual_seed(7))
    assert torch.equal(model.theta.detach(), 2.5 * draw), f"{CLAIM_NAR}: {model.theta}"
