"""Tests of spec/generalization/dropout.md: dropout, its expectation and the sub-network ensemble.

Notation as on the page: ``p`` is the drop probability, ``q = 1 − p`` the keep probability, ``d``
a sub-network's keep mask with probability ``P(d) = q^{|d|}(1 − q)^{n − |d|}``. The sympy
derivations run once per module (cached) and use the notes' small cases (``n = 2``); the torch
implementation is then compared with the closed forms by exhaustive enumeration of all ``2^n``
sub-networks, ``n ≤ 10``, in float64.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.data.digits import digits
from dlspec.nn import dropout as D
from dlspec.nn.mlp import MLP, remove_units
from dlspec.train import accuracy, fit
from tests import strategies as S
from tests.tolerances import EXACT, Tol, check_close, failure, tol

MAX_ENUM = 10  # largest number of enumerated units in the hypothesis tests (2^10 sub-networks)


# =================================================================================================
# dropout.expectation
# =================================================================================================

CLAIM_EXP = "dropout.expectation"
MC_DRAWS = 20_000  # R, Monte-Carlo draws per element
MC_Z = 7.5  # allowed deviation of a Monte-Carlo mean, in standard errors
MC_EXPLICIT_EXAMPLES = 3  # the @example cases of test_monte_carlo_mean_and_keep_rate
MC_MAX_ENTRIES = 16  # the largest drawn vector
INDEPENDENCE_P = (0.07, 0.3, 0.62, 0.9)  # drop probabilities of the independence test
INDEPENDENCE_SHAPE = (2000, 64)  # rows × features: 64,000 disjoint pairs in each direction


def bernstein_false_failure(z: float, draws: int, b_over_sigma: float) -> float:
    """Bernstein's bound on ``P(|X̄ − μ| ≥ z σ/√R)`` for a mean of ``R`` i.i.d. variables with
    ``|X − μ| ≤ b``: ``2 exp(−z² / (2 + 2 z (b/σ) / (3 √R)))``."""
    return 2.0 * math.exp(-(z**2) / (2.0 + 2.0 * z * b_over_sigma / (3.0 * math.sqrt(draws))))


def _b_over_sigma(p: float) -> float:
    # Inverted: X = m x / q ∈ {0, x/q}, X − x ∈ {−x, x p/q}, σ = |x| √(p/q),
    # so b/σ = max(√(q/p), √(p/q)).
    # Standard (X ∈ {0, x}) and the keep indicator (X ∈ {0, 1}) give the same ratio.
    return max(math.sqrt((1 - p) / p), math.sqrt(p / (1 - p)))


#: The worst case over the drawn range p ∈ [0.05, 0.95] (b/σ = √19), per check.
MC_FALSE_FAILURE = bernstein_false_failure(MC_Z, MC_DRAWS, _b_over_sigma(0.05))


def _unit_roundoff(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).eps) / 2


def _forms(p: float, generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every public training-mode form of the layer: the function and the module, both forms."""
    return {
        "dropout inverted": lambda t: D.dropout(t, p, generator=generator),
        "dropout standard": lambda t: D.dropout(t, p, inverted=False, generator=generator),
        "Dropout inverted": D.Dropout(p, generator=generator).train(),
        "Dropout standard": D.Dropout(p, inverted=False, generator=generator).train(),
    }


@st.composite
def _tensors_and_p(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], float]:
    return draw(S.arrays(draw(S.shapes(max_dims=2, max_side=16)))), draw(S.drop_probabilities())


@pytest.mark.claim(CLAIM_EXP)
@settings(deadline=None)
@given(case=_tensors_and_p())
@example(case=(np.array([[1.0, -2.0, 0.5, 0.0]]), 0.5))
@example(case=(np.array([3.0, -3.0, 1e-3]), 0.95))
@example(case=(np.array([3.0, -3.0, 1e-3]), 0.05))
def test_train_outputs_lie_in_zero_or_scaled_input(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], float]
) -> None:
    """Training mode: each output is 0 or x/q (inverted) or x (standard), for the function and
    the module in both forms; so is F.dropout's."""
    a, p = case
    x = S.to_torch(a, device, dtype)
    q = 1.0 - p
    t = tol(dtype)
    forms = _forms(p)
    forms["oracle F.dropout"] = lambda u: F.dropout(u, p, training=True)
    for name, f in forms.items():
        out = f(x)
        kept = x if "standard" in name else x / q
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device, (
            f"{CLAIM_EXP} [{device}, {dtype}]: {name} output has shape/dtype/device "
            f"{tuple(out.shape)}/{out.dtype}/{out.device}, input {tuple(x.shape)}/{dtype}/{x.device}"
        )
        err = torch.minimum(out.abs(), (out - kept).abs() - t.rtol * kept.abs())
        assert bool((err <= t.atol).all()), failure(
            CLAIM_EXP,
            device,
            dtype,
            f"{name} training output not in {{0, {'x' if 'standard' in name else 'x/q'}}} (p={p})",
            float(err.max()),
            t,
        )


@pytest.mark.claim(CLAIM_EXP)
@settings(deadline=None)
@given(case=_tensors_and_p())
@example(case=(np.array([1.0, -2.0]), 0.5))
def test_eval_mode_and_p_zero(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], float]
) -> None:
    """Eval: inverted is the identity (as nn.Dropout), standard is q·x; p = 0 changes nothing, and
    p = 0 with an explicit mask applies that mask (q = 1: no rescaling)."""
    a, p = case
    x = S.to_torch(a, device, dtype)
    q = 1.0 - p
    for name, out in (
        ("dropout(training=False)", D.dropout(x, p, training=False)),
        ("Dropout(p).eval()", D.Dropout(p).eval()(x)),
    ):
        assert out is x, failure(
            CLAIM_EXP,
            device,
            dtype,
            f"inverted {name} must return its input itself (p={p})",
            float((out - x).abs().max()) if out.shape == x.shape else math.inf,
            "the same tensor",
        )
    ref = torch.nn.Dropout(p).eval()(x)
    assert torch.equal(ref, x), "oracle nn.Dropout.eval() changed x"
    for name, out in (
        ("dropout(training=False, inverted=False)", D.dropout(x, p, training=False, inverted=False)),
        ("Dropout(p, inverted=False).eval()", D.Dropout(p, inverted=False).eval()(x)),
    ):
        check_close(out, x * q, tol(dtype), CLAIM_EXP, device, f"standard {name} ≠ q·x (p={p})")
    mask = (torch.arange(x.numel(), device=device) % 3 != 1).reshape(x.shape)
    for inverted in (True, False):
        for out in (D.dropout(x, 0.0, inverted=inverted), D.Dropout(0.0, inverted=inverted)(x)):
            assert out is x, failure(
                CLAIM_EXP,
                device,
                dtype,
                f"p = 0 (inverted={inverted}) must return x itself",
                float((out - x).abs().max()),
                "the same tensor",
            )
        for m in (mask, mask.to(dtype)):  # p = 0 with an explicit (bool or float) mask: m ⊙ x
            out = D.dropout(x, 0.0, inverted=inverted, mask=m)
            assert torch.equal(out, x * mask.to(dtype)), failure(
                CLAIM_EXP,
                device,
                dtype,
                f"p = 0 with an explicit {m.dtype} mask (inverted={inverted}) must give m ⊙ x",
                float((out - x * mask.to(dtype)).abs().max()),
                "exact",
            )


@st.composite
def _vectors_and_p(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], float]:
    n = draw(S.dims(1, MC_MAX_ENTRIES))
    return draw(S.arrays(n, min_abs=0.1)), draw(S.drop_probabilities())


@pytest.mark.claim(CLAIM_EXP)
@settings(deadline=None)
@given(case=_vectors_and_p())
@example(case=(np.array([1.0, -2.0, 0.5, 3.0]), 0.5))
@example(case=(np.array([1.0, -0.1, 3.0]), 0.05))
@example(case=(np.array([1.0, -0.1, 3.0]), 0.95))
def test_monte_carlo_mean_and_keep_rate(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], float]
) -> None:
    """E[train output] = eval output within MC_Z standard errors, for every public form and the
    oracles; the keep rate is q for each, and the impl's and torch's keep rates agree.

    In float16/bfloat16 a kept value x/q is rounded once to the dtype (relative error at most
    the unit roundoff u), so a mean may also be off by u·|x/q|·q = u·|x| beyond the standard
    errors; the test allows exactly that (zero in float64 up to 1e-16)."""
    a, p = case
    x = S.to_torch(a, device, dtype)
    q = 1.0 - p
    n = x.shape[0]
    xs = x.expand(MC_DRAWS, n)
    runs = {name: (f(xs), "standard" in name) for name, f in _forms(p).items()}
    runs["oracle F.dropout"] = (F.dropout(xs, p, training=True), False)
    runs["oracle nn.Dropout"] = (torch.nn.Dropout(p).train()(xs), False)
    x64 = x.double()
    slack = 2 * _unit_roundoff(dtype) * x64.abs()  # one rounding of x/q, and of the eval q·x
    rates = {}
    for name, (out, standard) in runs.items():
        target, scale = (q * x64, 1.0) if standard else (x64, q)
        mean = out.double().mean(dim=0)
        # sd of one draw: |x| √(pq) / q (inverted) or |x| √(pq) (standard)
        se = x64.abs() * math.sqrt(p * q) / scale / math.sqrt(MC_DRAWS)
        z = float((((mean - target).abs() - slack).clamp_min(0) / se).max())
        assert z <= MC_Z, failure(
            CLAIM_EXP,
            device,
            dtype,
            f"{name}: Monte-Carlo mean differs from the eval output "
            f"(p={p}, R={MC_DRAWS}) by {z:.2f} standard errors",
            z,
            f"{MC_Z} SE",
        )
        rate = float((out != 0).double().mean())
        rates[name] = rate
        z_rate = abs(rate - q) / math.sqrt(p * q / out.numel())
        assert z_rate <= MC_Z, failure(
            CLAIM_EXP,
            device,
            dtype,
            f"{name}: keep rate {rate:.4f} is not q = {q:.4f} ({z_rate:.2f} SE)",
            z_rate,
            f"{MC_Z} SE",
        )
    # The impl and torch use the same convention: their keep rates agree (difference of 2 means).
    z_diff = abs(rates["dropout inverted"] - rates["oracle F.dropout"]) / math.sqrt(
        2 * p * q / (MC_DRAWS * n)
    )
    assert z_diff <= MC_Z, failure(
        CLAIM_EXP, device, dtype, "impl and F.dropout keep rates differ", z_diff, f"{MC_Z} SE"
    )


def _binomial_two_sided_tail(draws: int, q: float, z: float) -> float:
    """Exact ``P(|K/R − q| ≥ z √(q(1 − q)/R))`` for ``K ~ Binomial(R, q)``."""
    k = np.arange(draws + 1)
    log_pmf = (
        np.array([math.lgamma(draws + 1) - math.lgamma(i + 1) - math.lgamma(draws - i + 1) for i in k])
        + k * math.log(q)
        + (draws - k) * math.log1p(-q)
    )
    far = np.abs(k / draws - q) >= z * math.sqrt(q * (1 - q) / draws)
    return float(np.exp(log_pmf[far]).sum())


def mc_checks_per_device_and_dtype() -> int:
    """How many z-checks the Monte-Carlo test makes per device and dtype under the ``ci`` profile:
    per example, 6 runs × (at most 16 means + 1 keep rate), plus 1 comparison with torch."""
    from hypothesis import settings as hsettings

    examples = hsettings.get_profile("ci").max_examples + MC_EXPLICIT_EXAMPLES
    runs = len(_forms(0.5)) + 2  # the four public forms and two oracles
    return examples * (runs * (MC_MAX_ENTRIES + 1) + 1)


@pytest.mark.claim(CLAIM_EXP)
def test_bernstein_bound_covers_the_binomial_tail(evidence: Any) -> None:
    """The Monte-Carlo test's stated chance of a false failure is a true bound: Bernstein's
    inequality dominates the exact binomial tail of the keep rate at the drawn range's worst
    ends and in the middle, and the page's numbers follow from it."""
    for p in (0.05, 0.3, 0.5, 0.95):
        exact = _binomial_two_sided_tail(MC_DRAWS, 1 - p, MC_Z)
        bound = bernstein_false_failure(MC_Z, MC_DRAWS, _b_over_sigma(p))
        assert exact <= bound <= MC_FALSE_FAILURE, (
            f"{CLAIM_EXP}: at p={p} the exact tail {exact:.3g} must lie below Bernstein's bound "
            f"{bound:.3g}, itself below the worst case {MC_FALSE_FAILURE:.3g}"
        )
    checks = mc_checks_per_device_and_dtype()
    assert checks == 5459, f"{CLAIM_EXP}: the page states 5,459 checks, counted {checks}"
    assert MC_FALSE_FAILURE <= 9.2e-12, f"{CLAIM_EXP}: page states ≤ 9.2e-12: {MC_FALSE_FAILURE}"
    total = checks * MC_FALSE_FAILURE
    assert total <= 5.1e-8, f"{CLAIM_EXP}: page states ≤ 5.1e-8 per device and dtype: {total:.3g}"
    evidence.value("mc_draws", MC_DRAWS)
    evidence.value("mc_z", MC_Z)
    evidence.value("mc_false_failure_per_check", MC_FALSE_FAILURE)
    evidence.value("mc_checks_per_device_and_dtype", checks)


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.parametrize("p", INDEPENDENCE_P)
def test_mask_entries_are_independent_across_rows_and_features(device: str, p: float) -> None:
    """Pairwise co-keep rates: for disjoint pairs of entries in the same row (features 2k, 2k+1)
    and in the same column (rows 2k, 2k+1), both are kept with probability q², as independent
    entries are. A mask drawn per row and broadcast over the features (or per feature and shared
    by the rows) gives q instead, (q − q²)/SE ≥ 40 standard errors away at these sizes."""
    q = 1.0 - p
    x = torch.ones(INDEPENDENCE_SHAPE, device=device)
    g = torch.Generator(device=device).manual_seed(int(1000 * p))
    for name, f in _forms(p, g).items():
        m = (f(x) != 0).double()
        for axis, pairs in (
            ("features", m[:, 0::2] * m[:, 1::2]),
            ("rows", m[0::2, :] * m[1::2, :]),
        ):
            rate = float(pairs.mean())
            z = abs(rate - q * q) / math.sqrt(q * q * (1 - q * q) / pairs.numel())
            assert z <= MC_Z, failure(
                CLAIM_EXP,
                device,
                torch.float32,
                f"{name}: co-keep rate across {axis} {rate:.4f} is not q² = {q * q:.4f} (p={p})",
                z,
                f"{MC_Z} SE",
            )


@pytest.mark.claim(CLAIM_EXP)
@settings(deadline=None)
@given(case=_vectors_and_p(), standard=st.booleans())
@example(case=(np.array([1.0, -2.0, 0.5]), 0.3), standard=False)
def test_backward_scales_the_gradient_by_the_mask(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], float], standard: bool
) -> None:
    """∂out/∂x = m/q (inverted) or m (standard) in training mode, 1 or q in evaluation mode; with
    F.dropout's own mask the impl's gradient equals F.dropout's."""
    a, p = case
    q = 1.0 - p
    t = tol(dtype)
    x0 = S.to_torch(np.tile(a, (4, 1)), device, dtype)  # no zero entries: min_abs = 0.1
    upstream = S.to_torch(np.linspace(-2.0, 3.0, x0.numel()).reshape(x0.shape), device, dtype)
    forms = {
        k: v for k, v in _forms(p).items() if ("standard" in k) == standard
    }  # the function and the module in one form
    for name, f in forms.items():
        x = x0.clone().requires_grad_(True)
        out = f(x)
        out.backward(upstream)
        m = (out != 0).to(dtype)
        want = upstream * m if standard else upstream * m / q
        check_close(x.grad, want, t, CLAIM_EXP, device, f"{name}: training gradient ≠ g·m{'' if standard else '/q'}")
    x = x0.clone().requires_grad_(True)
    D.dropout(x, p, training=False, inverted=not standard).backward(upstream)
    check_close(x.grad, upstream * (q if standard else 1.0), t, CLAIM_EXP, device, "eval gradient")
    if not standard:  # the oracle's gradient, with the oracle's mask
        xr = x0.clone().requires_grad_(True)
        ref = F.dropout(xr, p, training=True)
        ref.backward(upstream)
        x = x0.clone().requires_grad_(True)
        D.dropout(x, p, mask=ref != 0).backward(upstream)
        check_close(x.grad, xr.grad, t, CLAIM_EXP, device, "gradient ≠ F.dropout's (same mask)")


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.dtypes("float64")
def test_gradcheck(device: str, dtype: torch.dtype) -> None:
    """torch.autograd.gradcheck (finite differences, float64) with a fixed mask, both forms, and
    in evaluation mode."""
    x = torch.linspace(-1.5, 2.0, 12, device=device, dtype=dtype).reshape(3, 4).requires_grad_()
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0] * 3, device=device, dtype=dtype).reshape(3, 4)
    for p in (0.3, 0.8):
        for inverted in (True, False):
            for training in (True, False):

                def f(t: torch.Tensor, inv: bool = inverted, tr: bool = training) -> torch.Tensor:
                    return D.dropout(t, p, inverted=inv, training=tr, mask=mask if tr else None)

                assert torch.autograd.gradcheck(f, (x,)), (
                    f"{CLAIM_EXP}: gradcheck p={p} inverted={inverted} training={training}"
                )


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_low_precision_masks_use_float32_uniforms(device: str, low: str) -> None:
    """keep_mask draws its uniforms in float32 for float16/bfloat16 (bfloat16 has only 8 bits of
    mantissa, so uniforms drawn in it would bias P(u ≥ p)): the low-precision mask is exactly the
    float32 mask of the same generator seed, and the layer's low-precision output uses it."""
    dtype = getattr(torch, low)
    p = 0.3
    shape = (500, 40)

    def mask(dt: torch.dtype) -> torch.Tensor:
        g = torch.Generator(device=device).manual_seed(5)
        return D.keep_mask(shape, p, device=device, dtype=dt, generator=g)

    m32, m_low = mask(torch.float32), mask(dtype)
    assert m_low.dtype == dtype and torch.equal(m_low.float(), m32), (
        f"{CLAIM_EXP} [{device}, {low}]: the {low} mask is not the float32 mask of the same seed "
        f"({int((m_low.float() != m32).sum())} of {m32.numel()} entries differ)"
    )
    x = torch.full(shape, 1.5, device=device, dtype=dtype)
    g = torch.Generator(device=device).manual_seed(5)
    out = D.dropout(x, p, inverted=False, generator=g)
    assert torch.equal(out, x * m_low), f"{CLAIM_EXP} [{device}, {low}]: dropout ≠ x ⊙ keep_mask"


@pytest.mark.claim(CLAIM_EXP)
def test_generator_makes_masks_reproducible(device: str, dtype: torch.dtype) -> None:
    """The same generator seed gives the same mask; a different seed a different one; a given
    generator leaves the global RNG alone."""
    x = torch.linspace(1.0, 2.0, 2000, device=device, dtype=dtype)

    def run(seed: int, inverted: bool = True) -> torch.Tensor:
        g = torch.Generator(device=device).manual_seed(seed)
        return D.dropout(x, 0.3, generator=g, inverted=inverted)

    for inv in (True, False):
        assert torch.equal(run(7, inv), run(7, inv)), f"{CLAIM_EXP} [{device}, {dtype}]: same seed"
        # P(equal masks) = (p² + q²)^2000 < 10^-250
        assert not torch.equal(run(7, inv), run(8, inv)), f"{CLAIM_EXP}: different seeds agree"
    for inv in (True, False):
        layer = D.Dropout(0.3, inverted=inv, generator=torch.Generator(device=device).manual_seed(3))
        state = torch.get_rng_state()
        first = layer(x)
        assert torch.equal(torch.get_rng_state(), state), f"{CLAIM_EXP}: layer used the global RNG"
        layer.generator = torch.Generator(device=device).manual_seed(3)
        assert torch.equal(layer(x), first), f"{CLAIM_EXP} [{device}, {dtype}]: layer generator"
    torch.manual_seed(11)
    a = D.dropout(x, 0.3)
    torch.manual_seed(11)
    assert torch.equal(D.dropout(x, 0.3), a), f"{CLAIM_EXP}: the global RNG seed is not used"


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, math.nan, math.inf, -math.inf])
def test_bad_p_value(p: float) -> None:
    x = torch.ones(3)
    with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\)"):
        D.dropout(x, p)
    with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\)"):
        D.Dropout(p)


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.parametrize("p", ["0.5", None, True, 0.5j, torch.tensor(True), torch.ones(2)])
def test_bad_p_type(p: Any) -> None:
    with pytest.raises(TypeError, match=r"p must be a real number in \[0, 1\)"):
        D.dropout(torch.ones(3), p)


@pytest.mark.claim(CLAIM_EXP)
def test_bad_tensors_and_masks() -> None:
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        D.dropout(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        D.dropout([1.0, 2.0], 0.5)  # type: ignore[arg-type]
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"mask must have x's shape \(2, 3\)"):
        D.dropout(x, 0.5, mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="mask is used only in training mode"):
        D.dropout(x, 0.5, training=False, mask=torch.ones(2, 3))
    with pytest.raises(TypeError, match="mask must be a bool or floating-point tensor"):
        D.dropout(x, 0.5, mask=torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        D.Dropout(0.5, generator=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        D.dropout(x, 0.5, generator=0)  # type: ignore[arg-type]
    for flag in ("inverted", "training"):
        with pytest.raises(TypeError, match=f"{flag} must be a bool"):
            D.dropout(x, 0.5, **{flag: "no"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inverted must be a bool"):
        D.Dropout(0.5, inverted="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dtype must be a floating-point torch\.dtype"):
        D.all_masks(3, dtype="float32")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="weights must have outputs's dtype"):
        D.ensemble_mean(torch.ones(4, 2), torch.ones(4, dtype=torch.float64))


@pytest.mark.claim(CLAIM_EXP)
def test_zero_dim_tensor_p_is_accepted() -> None:
    """`nn.Dropout` accepts `p=torch.tensor(0.3)`; so does dlspec, with the same meaning."""
    layer = D.Dropout(torch.tensor(0.3))  # type: ignore[arg-type]
    assert layer.p == pytest.approx(0.3), f"{CLAIM_EXP}: p=torch.tensor(0.3) read as {layer.p}"
    x = torch.ones(1000, dtype=torch.float64)
    kept = D.dropout(x, torch.tensor(0.3), inverted=False)  # type: ignore[arg-type]
    assert set(kept.unique().tolist()) <= {0.0, 1.0}


# =================================================================================================
# Sympy derivations (cached: once per module)
# =================================================================================================


def _masks(n: int) -> list[tuple[int, ...]]:
    return list(itertools.product((0, 1), repeat=n))


def _prob(d: tuple[int, ...], q: sp.Expr) -> sp.Expr:
    return q ** sum(d) * (1 - q) ** (len(d) - sum(d))  # P(d) = q^{|d|}(1 − q)^{n − |d|}


@functools.cache
def linear_derivation() -> dict[str, Any]:
    """n = 2: Σ_d P(d) (w·(d⊙x) + b) = q w·x + b, and the notes' four sub-networks at q = ½."""
    w1, w2, x1, x2, b = sp.symbols("w1 w2 x1 x2 b", real=True)
    q = sp.Symbol("q", positive=True)
    ensemble = sum(
        (_prob(d, q) * (w1 * d[0] * x1 + w2 * d[1] * x2 + b) for d in _masks(2)), sp.Integer(0)
    )
    scaled = q * (w1 * x1 + w2 * x2) + b
    # The note: (w1x1 + w2x2 + w1x1 + w2x2 + 0)/4 = ½w1x1 + ½w2x2 (no bias).
    notes = (w1 * x1 + w2 * x2 + w1 * x1 + w2 * x2 + 0) / 4
    half = sp.Rational(1, 2)
    return {
        "residual": sp.expand(ensemble - scaled),
        "notes_residual": sp.expand(ensemble.subs({q: half, b: 0}) - notes),
        "notes_scaled_residual": sp.expand(notes - (half * w1 * x1 + half * w2 * x2)),
        "ensemble": sp.lambdify((w1, w2, x1, x2, b, q), ensemble, "math"),
    }


@functools.cache
def deep_linear_derivation() -> sp.Expr:
    """L = 2, 2 → 2 → 2, independent masks on x and on the hidden units:
    Σ_{d₀,d₁} P(d₀)P(d₁) W₂(d₁ ⊙ W₁(d₀ ⊙ x)) = q² W₂W₁x (16 sub-networks)."""
    q = sp.Symbol("q", positive=True)
    w1 = sp.Matrix(2, 2, sp.symbols("a11 a12 a21 a22", real=True))
    w2 = sp.Matrix(2, 2, sp.symbols("c11 c12 c21 c22", real=True))
    x = sp.Matrix(sp.symbols("x1 x2", real=True))
    total = sp.zeros(2, 1)
    for d0, d1 in itertools.product(_masks(2), _masks(2)):
        h = w1 * sp.diag(*d0) * x  # W₁(d₀ ⊙ x)
        total += _prob(d0, q) * _prob(d1, q) * (w2 * sp.diag(*d1) * h)
    return (total - q**2 * w2 * w1 * x).applyfunc(sp.expand)


@functools.cache
def softmax_derivation() -> dict[str, Any]:
    """n = 2, K = 3: log NWGM(y) − log NWGM(1) = (qWv + b)_y − (qWv + b)_1, with the log-partition
    terms of every sub-network cancelling; and the logistic unit's NWGM = σ(E[S])."""
    q = sp.Symbol("q", positive=True)
    w = sp.Matrix(3, 2, sp.symbols("w11 w12 w21 w22 w31 w32", real=True))
    v = sp.Matrix(sp.symbols("v1 v2", real=True))
    bias = sp.Matrix(sp.symbols("b1 b2 b3", real=True))
    log_g = sp.zeros(3, 1)  # log G(y) = Σ_d P(d) log softmax(W(d⊙v) + b)_y
    for d in _masks(2):
        z = w * sp.diag(*d) * v + bias
        log_z = sp.log(sum((sp.exp(z[k]) for k in range(3)), sp.Integer(0)))
        log_g += _prob(d, q) * (z - sp.Matrix([log_z] * 3))
    u = q * w * v + bias  # the weight-scaled logits
    ratio_residuals = [sp.expand((log_g[y] - log_g[0]) - (u[y] - u[0])) for y in (1, 2)]

    # Logistic unit: σ(S)/(1 − σ(S)) = e^S, so log(G/G′) = Σ_d P(d) S_d = E[S].
    s = sp.Symbol("s", real=True)
    sig = 1 / (1 + sp.exp(-s))
    odds_residual = sp.simplify(sig / (1 - sig) - sp.exp(s))
    wx = sp.symbols("u1 u2", real=True)  # w_j x_j products
    c = sp.Symbol("c", real=True)
    e_s = sum((_prob(d, q) * (d[0] * wx[0] + d[1] * wx[1] + c) for d in _masks(2)), sp.Integer(0))
    e_s_residual = sp.expand(e_s - (q * (wx[0] + wx[1]) + c))
    # A concrete point where E[σ(S)] ≠ σ(E[S]): w·x terms (1, 2), c = 0, q = ½ → S ∈ {0, 1, 2, 3}.
    point = {wx[0]: 1, wx[1]: 2, c: 0, q: sp.Rational(1, 2)}
    e_sig = sum(
        (_prob(d, q) * sig.subs(s, d[0] * wx[0] + d[1] * wx[1] + c) for d in _masks(2)),
        sp.Integer(0),
    ).subs(point)
    nwgm = sig.subs(s, e_s).subs(point)
    return {
        "ratio_residuals": ratio_residuals,
        "odds_residual": odds_residual,
        "e_s_residual": e_s_residual,
        "e_sigma": float(e_sig),
        "nwgm": float(nwgm),
    }


@functools.cache
def regression_derivation() -> dict[str, sp.Expr]:
    """N = 2 examples, 2 features, masks R on the 4 entries of X (16 sub-networks):
    standard  E‖y − (R⊙X)w‖²   = ‖y − qXw‖² + q(1 − q)‖Γw‖²,
    inverted  E‖y − (R⊙X)w/q‖² = ‖y − Xw‖² + ((1 − q)/q)‖Γw‖²,  Γ = diag(XᵀX)^{1/2}."""
    q = sp.Symbol("q", positive=True)
    x = sp.Matrix(2, 2, sp.symbols("x11 x12 x21 x22", real=True))
    y = sp.Matrix(sp.symbols("y1 y2", real=True))
    w = sp.Matrix(sp.symbols("w1 w2", real=True))
    standard = sp.Integer(0)
    inverted = sp.Integer(0)
    for r in _masks(4):
        rx = x.multiply_elementwise(sp.Matrix(2, 2, list(r)))  # R ⊙ X
        standard += _prob(r, q) * (y - rx * w).dot(y - rx * w)
        inverted += _prob(r, q) * (y - rx * w / q).dot(y - rx * w / q)
    gamma_w_sq = sum(
        (w[j] ** 2 * sum((x[i, j] ** 2 for i in range(2)), sp.Integer(0)) for j in range(2)),
        sp.Integer(0),
    )  # ‖Γw‖² = Σ_j w_j² Σ_i X_ij²
    fit_q = (y - q * x * w).dot(y - q * x * w)
    fit_1 = (y - x * w).dot(y - x * w)
    return {
        "standard": sp.expand(standard - fit_q - q * (1 - q) * gamma_w_sq),
        "inverted": sp.simplify(sp.expand(inverted - fit_1 - (1 - q) / q * gamma_w_sq)),
    }


# =================================================================================================
# dropout.linear-average
# =================================================================================================

CLAIM_LIN = "dropout.linear-average"


@pytest.mark.claim(CLAIM_LIN)
def test_linear_average_sympy() -> None:
    """Symbolic: the n = 2 layer (general q) and the notes' four sub-networks (q = ½)."""
    der = linear_derivation()
    assert der["residual"] == 0, f"{CLAIM_LIN}: Σ P(d)(w·(d⊙x)+b) − (q w·x + b) = {der['residual']}"
    assert der["notes_residual"] == 0, f"{CLAIM_LIN}: notes' example: {der['notes_residual']}"
    assert der["notes_scaled_residual"] == 0, f"{CLAIM_LIN}: notes' ½ scaling"
    deep = deep_linear_derivation()
    assert deep == sp.zeros(2, 1), f"{CLAIM_LIN}: deep linear residual {deep}"


@st.composite
def _linear_layers(draw: st.DrawFn) -> dict[str, np.ndarray[Any, Any]]:
    n, k = draw(S.dims(1, MAX_ENUM)), draw(S.dims(1, 3))
    return {"w": draw(S.arrays((k, n))), "b": draw(S.arrays(k)), "x": draw(S.arrays(n))}


def _subnetwork_inputs(x: torch.Tensor, p: float, *, inverted: bool) -> tuple[Any, Any]:
    """Every sub-network's input d ⊙ x (or d ⊙ x / q), stacked on a new first dimension, and P(d).

    ``x`` has shape ``(..., n)``; one mask ``d`` applies to every leading index (a batch)."""
    n = x.shape[-1]
    d = D.all_masks(n, device=x.device, dtype=x.dtype)  # (2^n, n)
    shape = (d.shape[0], *x.shape)
    mask = d.reshape(d.shape[0], *([1] * (x.dim() - 1)), n).expand(shape)
    inputs = D.dropout(x.expand(shape), p, inverted=inverted, mask=mask)
    return inputs, D.mask_probabilities(d, 1 - p)


@pytest.mark.claim(CLAIM_LIN)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_linear_layers(), p=S.drop_probabilities())
@example(  # the notes' four sub-networks: n = 2, q = ½
    case={"w": np.array([[1.5, -2.0]]), "b": np.array([0.0]), "x": np.array([2.0, 1.0])}, p=0.5
)
def test_linear_layer_ensemble_equals_weight_scaling(
    device: str, dtype: torch.dtype, case: dict[str, np.ndarray[Any, Any]], p: float
) -> None:
    w, b, x = (S.to_torch(case[k], device, dtype) for k in ("w", "b", "x"))
    q = 1 - p
    inputs, prob = _subnetwork_inputs(x, p, inverted=False)
    check_close(
        prob.sum(),
        torch.ones((), dtype=dtype, device=device),
        EXACT,
        CLAIM_LIN,
        device,
        "Σ_d P(d) ≠ 1",
    )
    ensemble = D.ensemble_mean(inputs @ w.T + b, prob)  # Σ_d P(d) (W(d⊙x) + b)
    scaled = D.dropout(x, p, training=False, inverted=False) @ w.T + b  # W(qx) + b
    check_close(
        ensemble,
        scaled,
        EXACT,
        CLAIM_LIN,
        device,
        f"standard dropout: ensemble ≠ weight-scaled net (n={x.shape[0]}, p={p})",
    )
    check_close(scaled, q * (w @ x) + b, EXACT, CLAIM_LIN, device, "eval net ≠ qWx + b")
    inputs_inv, _ = _subnetwork_inputs(x, p, inverted=True)
    check_close(
        D.ensemble_mean(inputs_inv @ w.T + b, prob),
        D.dropout(x, p, training=False) @ w.T + b,
        EXACT,
        CLAIM_LIN,
        device,
        f"inverted dropout: ensemble ≠ eval net Wx + b (p={p})",
    )
    if x.shape[0] == 2:  # the lambdified sympy ensemble
        f = linear_derivation()["ensemble"]
        sym = torch.tensor(
            [f(*w[i].tolist(), *x.tolist(), float(b[i]), q) for i in range(w.shape[0])],
            dtype=dtype,
            device=device,
        )
        check_close(ensemble, sym, EXACT, CLAIM_LIN, device, "torch ensemble ≠ sympy ensemble")


@st.composite
def _deep_linear(draw: st.DrawFn) -> dict[str, Any]:
    layers = draw(st.integers(2, 3))
    widths = [draw(S.dims(1, 4)) for _ in range(layers)]  # masked: input and hidden widths
    while sum(widths) > MAX_ENUM:
        widths[widths.index(max(widths))] -= 1
    sizes = [*widths, draw(S.dims(1, 3))]
    ws = [draw(S.arrays((o, i), bound=1.5)) for i, o in itertools.pairwise(sizes)]
    return {"ws": ws, "x": draw(S.arrays(sizes[0]))}


@pytest.mark.claim(CLAIM_LIN)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_deep_linear(), p=S.drop_probabilities())
def test_deep_linear_ensemble_is_q_power_product(
    device: str, dtype: torch.dtype, case: dict[str, Any], p: float
) -> None:
    """Independent masks on every layer's input: Σ P(d) f_d = q^L W_L⋯W_1 x."""
    ws = [S.to_torch(w, device, dtype) for w in case["ws"]]
    x = S.to_torch(case["x"], device, dtype)
    q = 1 - p
    widths = [w.shape[1] for w in ws]
    d = D.all_masks(sum(widths), device=device, dtype=dtype)  # (2^N, N), N = Σ widths
    prob = D.mask_probabilities(d, q)  # P(d) = Π_l P(d_l)
    h = x.expand(d.shape[0], widths[0])
    for w, d_l in zip(ws, torch.split(d, widths, dim=1), strict=True):
        h = D.dropout(h, p, inverted=False, mask=d_l) @ w.T  # W_l (d_l ⊙ h_{l−1})
    closed = x
    for w in ws:
        closed = w @ closed
    closed = q ** len(ws) * closed  # q^L W_L⋯W_1 x
    check_close(
        D.ensemble_mean(h, prob),
        closed,
        EXACT,
        CLAIM_LIN,
        device,
        f"deep linear ensemble ≠ q^L W_L⋯W_1 x (L={len(ws)}, widths={widths}, p={p})",
    )


@pytest.mark.claim(CLAIM_LIN)
def test_enumeration_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"n must be an integer in \[0, 20\]"):
        D.all_masks(21)
    with pytest.raises(ValueError, match=r"n must be an integer in \[0, 20\]"):
        D.all_masks(-1)
    with pytest.raises(TypeError, match=r"n must be an integer"):
        D.all_masks(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"n must be an integer"):
        D.all_masks(True)
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        D.all_masks(3, dtype=torch.int64)
    masks = D.all_masks(3)
    with pytest.raises(ValueError, match=r"q must be a real number in \[0, 1\]"):
        D.mask_probabilities(masks, 1.5)
    with pytest.raises(ValueError, match=r"q must be a real number in \[0, 1\]"):
        D.mask_probabilities(masks, math.nan)
    with pytest.raises(ValueError, match="masks must be 2-D"):
        D.mask_probabilities(masks[0], 0.5)
    with pytest.raises(TypeError, match="masks must be a floating-point tensor"):
        D.mask_probabilities(masks.long(), 0.5)
    with pytest.raises(ValueError, match="weights must be 1-D with one entry per sub-network"):
        D.ensemble_mean(torch.ones(8, 2, dtype=torch.float64), torch.ones(7, dtype=torch.float64))
    with pytest.raises(ValueError, match="weights must be 1-D with one entry per sub-network"):
        D.normalized_geometric_mean(torch.ones(8, 3), torch.ones(4))
    with pytest.raises(ValueError, match="log_outputs must have a sub-network dimension"):
        D.normalized_geometric_mean(torch.ones(8), torch.ones(8))
    assert D.all_masks(0).shape == (1, 0), f"{CLAIM_LIN}: n = 0 has one (empty) sub-network"


# =================================================================================================
# dropout.softmax-geometric-mean
# =================================================================================================

CLAIM_SM = "dropout.softmax-geometric-mean"


@pytest.mark.claim(CLAIM_SM)
def test_softmax_geometric_mean_sympy(evidence: Any) -> None:
    der = softmax_derivation()
    for y, r in zip((2, 3), der["ratio_residuals"], strict=True):
        assert r == 0, f"{CLAIM_SM}: log NWGM({y}) − log NWGM(1) − (u_{y} − u_1) = {r}"
    assert der["odds_residual"] == 0, f"{CLAIM_SM}: σ/(1−σ) − e^S = {der['odds_residual']}"
    assert der["e_s_residual"] == 0, f"{CLAIM_SM}: E[S] − (q w·x + c) = {der['e_s_residual']}"
    gap = der["nwgm"] - der["e_sigma"]
    assert abs(gap) > 1e-2, (
        f"{CLAIM_SM}: expected E[σ(S)] ≠ NWGM = σ(E[S]) at S ∈ {{0,1,2,3}}; gap {gap:.3g}"
    )
    evidence.value("logistic_nwgm_at_S_0123", der["nwgm"])
    evidence.value("logistic_mean_at_S_0123", der["e_sigma"])


@st.composite
def _softmax_layers(draw: st.DrawFn) -> dict[str, np.ndarray[Any, Any]]:
    n, k, batch = draw(S.dims(1, MAX_ENUM)), draw(S.dims(2, 4)), draw(S.dims(1, 3))
    return {"w": draw(S.arrays((k, n))), "b": draw(S.arrays(k)), "v": draw(S.arrays((batch, n)))}


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_softmax_layers(), p=S.drop_probabilities())
@example(  # the counterexample of dropout.nonlinear-inexact: NWGM is exact where the mean is not
    case={"w": np.array([[10.0 / 3], [0.0]]), "b": np.zeros(2), "v": np.array([[3.0]])}, p=0.5
)
def test_softmax_nwgm_equals_weight_scaled_softmax(
    device: str, dtype: torch.dtype, case: dict[str, np.ndarray[Any, Any]], p: float
) -> None:
    w, b, v = (S.to_torch(case[k], device, dtype) for k in ("w", "b", "v"))  # v: a batch (B, n)
    inputs, prob = _subnetwork_inputs(v, p, inverted=False)  # (2^n, B, n)
    z = inputs @ w.T + b  # logits of sub-network d: W(d⊙v) + b, (2^n, B, K)
    log_p = z - torch.logsumexp(z, dim=-1, keepdim=True)  # log p(y | v; d)
    nwgm = D.normalized_geometric_mean(log_p, prob)
    scaled = torch.softmax(D.dropout(v, p, training=False, inverted=False) @ w.T + b, dim=-1)
    check_close(
        nwgm,
        scaled,
        EXACT,
        CLAIM_SM,
        device,
        f"softmax NWGM ≠ softmax(qWv + b) (n={v.shape[1]}, K={w.shape[0]}, p={p})",
    )
    # The logistic unit S_d = w·(d⊙v) + b with the first row of W.
    s = z[..., 0]  # (2^n, B)
    e_s = D.ensemble_mean(s, prob)
    check_close(
        D.logistic_nwgm(s, prob),
        torch.sigmoid(e_s),
        EXACT,
        CLAIM_SM,
        device,
        f"logistic NWGM ≠ σ(E[S]) (p={p})",
    )


# =================================================================================================
# dropout.linear-regression-l2
# =================================================================================================

CLAIM_REG = "dropout.linear-regression-l2"


@pytest.mark.claim(CLAIM_REG)
def test_linear_regression_l2_sympy() -> None:
    der = regression_derivation()
    assert der["standard"] == 0, f"{CLAIM_REG}: standard-form residual {der['standard']}"
    assert der["inverted"] == 0, f"{CLAIM_REG}: inverted-form residual {der['inverted']}"


@st.composite
def _regressions(draw: st.DrawFn) -> dict[str, np.ndarray[Any, Any]]:
    rows = draw(S.dims(1, 5))
    cols = draw(S.dims(1, MAX_ENUM // rows))
    return {"x": draw(S.arrays((rows, cols))), "y": draw(S.arrays(rows)), "w": draw(S.arrays(cols))}


@pytest.mark.claim(CLAIM_REG)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_regressions(), p=S.drop_probabilities())
@example(  # Srivastava et al.'s setting at q = ½, 2 × 2
    case={
        "x": np.array([[1.0, 2.0], [-1.0, 0.5]]),
        "y": np.array([1.0, -2.0]),
        "w": np.array([0.5, -1.0]),
    },
    p=0.5,
)
def test_regression_dropout_loss_is_l2_penalty(
    device: str, dtype: torch.dtype, case: dict[str, np.ndarray[Any, Any]], p: float
) -> None:
    x, y, w = (S.to_torch(case[k], device, dtype) for k in ("x", "y", "w"))
    q = 1 - p
    rows, cols = x.shape
    r = D.all_masks(rows * cols, device=device, dtype=dtype)  # every mask R on X's entries
    prob = D.mask_probabilities(r, q)
    xs = x.reshape(1, -1).expand_as(r)
    gamma_w_sq = ((x**2).sum(dim=0) * w**2).sum()  # ‖Γw‖², Γ² = diag(XᵀX)
    for inverted, fit_scale, penalty in ((False, q, q * (1 - q)), (True, 1.0, (1 - q) / q)):
        rx = D.dropout(xs, p, inverted=inverted, mask=r).reshape(-1, rows, cols)  # R⊙X (/q)
        losses = ((y - rx @ w) ** 2).sum(dim=1)  # ‖y − (R⊙X)w‖² per mask
        expected = ((y - fit_scale * (x @ w)) ** 2).sum() + penalty * gamma_w_sq
        form = "inverted" if inverted else "standard"
        check_close(
            D.ensemble_mean(losses, prob),
            expected,
            EXACT,
            CLAIM_REG,
            device,
            f"{form}: E‖y − (R⊙X)w‖² ≠ fit + penalty·‖Γw‖² ({rows}×{cols}, p={p})",
        )


# =================================================================================================
# dropout.nonlinear-inexact
# =================================================================================================

CLAIM_NL = "dropout.nonlinear-inexact"
RANDOM_NETS = 20  # nets 6 → 8 → 1 (ReLU), seeds 0..19, dropout p = ½ on the 6 inputs


@pytest.mark.claim(CLAIM_NL)
def test_relu_unit_counterexample(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """h = relu(w·m·x + b), w = 1, x = 1, b = −½, q = ½: ensemble ¼, weight-scaled 0."""
    x = torch.ones(1, device=device, dtype=dtype)
    p = 0.5
    inputs, prob = _subnetwork_inputs(x, p, inverted=False)  # d ⊙ x for d ∈ {0, 1}
    ensemble = D.ensemble_mean((1.0 * inputs - 0.5).clamp_min(0), prob)  # ½·relu(−½) + ½·relu(½)
    scaled = (1.0 * D.dropout(x, p, training=False, inverted=False) - 0.5).clamp_min(0)
    assert float(ensemble) == 0.25 and float(scaled) == 0.0, (
        f"{CLAIM_NL} [{device}, {dtype}]: expected ensemble 0.25 and weight-scaled 0, got "
        f"{float(ensemble)} and {float(scaled)}"
    )
    evidence.value("relu_ensemble", float(ensemble))
    evidence.value("relu_weight_scaled", float(scaled))


@pytest.mark.claim(CLAIM_NL)
def test_softmax_arithmetic_mean_counterexample(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """n = 1, v = 1, W = [[10], [0]], q = ½: mean (0.75, 0.25), softmax(qWv) (0.9933, 0.0067)."""
    v = torch.ones(1, device=device, dtype=dtype)
    w = torch.tensor([[10.0], [0.0]], device=device, dtype=dtype)
    p = 0.5
    inputs, prob = _subnetwork_inputs(v, p, inverted=False)
    z = inputs @ w.T
    mean = D.ensemble_mean(torch.softmax(z, dim=-1), prob)
    scaled = torch.softmax(D.dropout(v, p, training=False, inverted=False) @ w.T, dim=-1)
    nwgm = D.normalized_geometric_mean(z - torch.logsumexp(z, dim=-1, keepdim=True), prob)
    t = Tol(rtol=0.0, atol=1e-4)  # the printed 4-decimal values
    check_close(
        mean,
        torch.tensor([0.75, 0.25], device=device, dtype=dtype),
        t,
        CLAIM_NL,
        device,
        "arithmetic mean of the two sub-networks' softmax",
    )
    check_close(
        scaled,
        torch.tensor([0.9933, 0.0067], device=device, dtype=dtype),
        t,
        CLAIM_NL,
        device,
        "softmax of the weight-scaled logits",
    )
    gap = float((mean - scaled).abs().max())
    assert gap > 0.2, f"{CLAIM_NL} [{device}, {dtype}]: arithmetic mean ≈ weight-scaled (gap {gap})"
    check_close(nwgm, scaled, tol(dtype), CLAIM_NL, device, "the NWGM is the weight-scaled net")
    evidence.value("softmax_mean_vs_scaled_gap", gap)


@pytest.mark.claim(CLAIM_NL)
def test_random_relu_nets_have_a_gap(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """Exact ensemble vs weight scaling on RANDOM_NETS seeded ReLU nets 6 → 8 → 1, inputs dropped
    with p = ½ (64 sub-networks): every net shows a gap far above rounding."""
    p, q = 0.5, 0.5
    gaps, spreads = [], []
    for seed in range(RANDOM_NETS):
        g = torch.Generator().manual_seed(seed)  # weights built on the CPU in float64, then moved
        net = MLP([6, 8, 1], generator=g, dtype=torch.float64).to(device=device, dtype=dtype).eval()
        x = torch.randn(6, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
        inputs, prob = _subnetwork_inputs(x, p, inverted=False)
        with torch.no_grad():
            sub = net(inputs)[:, 0]  # f_d
            ensemble = D.ensemble_mean(sub, prob)
            scaled = net(D.dropout(x, p, training=False, inverted=False))[0]  # f(qx)
        gaps.append(float((ensemble - scaled).abs()))
        spreads.append(float(D.ensemble_mean((sub - ensemble) ** 2, prob).sqrt()))
        # the same comparison in the hidden layer, through MLP's unit masks: exact there, since
        # only the linear output layer follows the dropped units
        hidden = D.all_masks(8, device=device, dtype=dtype)
        with torch.no_grad():
            hid_ens = D.ensemble_mean(
                net(x, unit_masks=[hidden])[:, 0], D.mask_probabilities(hidden, q)
            )
            hid_scaled = net(x, unit_masks=[torch.full((8,), q, device=device, dtype=dtype)])[0]
        check_close(
            hid_ens,
            hid_scaled,
            tol(dtype),
            CLAIM_NL,
            device,
            f"net {seed}: dropping units before a linear output layer should be exact",
        )
    t = tol(dtype)
    floor = 10 * (t.atol + t.rtol)  # ten times the rounding tolerance for outputs of size ~1
    assert min(gaps) > floor, failure(
        CLAIM_NL,
        device,
        dtype,
        f"some random ReLU net has no gap between ensemble and weight "
        f"scaling (gaps {[round(g_, 5) for g_ in gaps]})",
        min(gaps),
        f"> {floor:.1g}",
    )
    evidence.value("random_relu_nets", RANDOM_NETS)
    evidence.value("gap_min", min(gaps))
    evidence.value("gap_median", float(np.median(gaps)))
    evidence.value("gap_max", max(gaps))
    evidence.value("gap_over_spread_median", float(np.median(np.array(gaps) / np.array(spreads))))


# =================================================================================================
# dropout.unit-failure
# =================================================================================================

CLAIM_UF = "dropout.unit-failure"
UF_SEEDS = 5
UF_EPOCHS = 30
UF_HIDDEN = 128
UF_P = 0.5
UF_REMOVED = 0.5  # fraction of hidden units removed in the decisive comparison
UF_MARGIN = 0.02  # required mean advantage (accuracy points lost: plain − dropout)
UF_MIN_ACCURACY = 0.93  # both nets must be good when intact
UF_MASKS = 50  # random removal masks per fraction, averaged
UF_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@pytest.mark.claim(CLAIM_UF)
def test_dropout_net_degrades_less_when_unitsfailure(device: str, evidence: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = digits(device=device)
    curves: dict[float, list[list[float]]] = {0.0: [], UF_P: []}
    for seed in range(UF_SEEDS):
        for p in (0.0, UF_P):
            g = torch.Generator(device=device).manual_seed(seed)
            net = MLP([64, UF_HIDDEN, 10], p=p, generator=g, device=device, dtype=torch.float32)
            fit(net, data.x_train, data.y_train, epochs=UF_EPOCHS, generator=g)
            ev = torch.Generator(device=device).manual_seed(10_000 + seed)
            curve = []
            for frac in UF_FRACTIONS:
                keep = remove_units(UF_HIDDEN, frac, count=UF_MASKS, generator=ev, device=device)
                masks = [keep[:, None, :]]
                acc = accuracy(net, data.x_test, data.y_test, unit_masks=masks)  # (UF_MASKS,)
                curve.append(float(acc.mean()))
            curves[p].append(curve)
    plain, drop = np.array(curves[0.0]), np.array(curves[UF_P])
    at = UF_FRACTIONS.index(UF_REMOVED)
    lost_plain = plain[:, 0] - plain[:, at]  # accuracy lost per seed
    lost_drop = drop[:, 0] - drop[:, at]
    gaps = lost_plain - lost_drop  # D_s
    mean, sd = float(gaps.mean()), float(gaps.std(ddof=1))
    # Chance of a false failure, seeds as independent draws, normal model with twice the measured
    # seed-to-seed spread: P(mean of 5 < margin) + P(some D_s ≤ 0).
    sigma = max(2 * sd, 1e-9)  # identical runs (sd = 0) must not divide by zero
    p_mean = _normal_cdf((UF_MARGIN - mean) * math.sqrt(UF_SEEDS) / sigma)
    p_sign = UF_SEEDS * _normal_cdf(-mean / sigma)

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    removed = 100 * np.array(UF_FRACTIONS)
    for s in range(UF_SEEDS):
        ax.plot(
            removed,
            plain[s],
            color="tab:red",
            alpha=0.6,
            marker="o",
            ms=3,
            label="trained without dropout" if s == 0 else None,
        )
        ax.plot(
            removed,
            drop[s],
            color="tab:blue",
            alpha=0.6,
            marker="s",
            ms=3,
            label=f"trained with dropout p = {UF_P}" if s == 0 else None,
        )
    ax.axvline(100 * UF_REMOVED, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("hidden units removed at test time (%)")
    ax.set_ylabel(f"test accuracy (mean of {UF_MASKS} removal masks)")
    ax.set_title(f"Digits, MLP 64→{UF_HIDDEN}→10, {UF_SEEDS} seeds, {UF_EPOCHS} epochs")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    evidence.figure(fig, f"dropout-unit-failure-{device}")
    plt.close(fig)

    evidence.value("seeds", UF_SEEDS)
    evidence.value("intact_accuracy_plain", [round(float(v), 4) for v in plain[:, 0]])
    evidence.value("intact_accuracy_dropout", [round(float(v), 4) for v in drop[:, 0]])
    evidence.value("accuracy_lost_plain_at_50pct", [round(float(v), 4) for v in lost_plain])
    evidence.value("accuracy_lost_dropout_at_50pct", [round(float(v), 4) for v in lost_drop])
    evidence.value("advantage_mean", round(mean, 4))
    evidence.value("advantage_sd", round(sd, 4))
    evidence.value("false_failure_bound", p_mean + p_sign)

    intact = np.concatenate([plain[:, 0], drop[:, 0]])
    assert intact.min() >= UF_MIN_ACCURACY, failure(
        CLAIM_UF,
        device,
        torch.float32,
        f"an intact net is below {UF_MIN_ACCURACY} accuracy "
        f"(plain {plain[:, 0].round(3)}, dropout {drop[:, 0].round(3)})",
        float(UF_MIN_ACCURACY - intact.min()),
        f"accuracy ≥ {UF_MIN_ACCURACY}",
    )
    assert (gaps > 0).all(), failure(
        CLAIM_UF,
        device,
        torch.float32,
        f"with {UF_REMOVED:.0%} of hidden units removed, the dropout net did not lose less "
        f"accuracy than the plain net for some seed (advantage per seed "
        f"{gaps.round(4)})",
        float(gaps.min()),
        "> 0 for every seed",
    )
    assert mean >= UF_MARGIN, failure(
        CLAIM_UF,
        device,
        torch.float32,
        f"mean advantage {mean:.4f} over {UF_SEEDS} seeds (per seed {gaps.round(4)})",
        UF_MARGIN - mean,
        f"≥ {UF_MARGIN}",
    )


@pytest.mark.claim(CLAIM_UF)
def test_mlp_bad_inputs() -> None:
    with pytest.raises(ValueError, match="sizes must be a sequence of at least 2"):
        MLP([3])
    with pytest.raises(ValueError, match="sizes must hold positive integers"):
        MLP([3, 0, 2])
    with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\)"):
        MLP([3, 4, 2], p=1.0)
    net = MLP([3, 4, 2])
    with pytest.raises(ValueError, match="x must end in 3 features"):
        net(torch.ones(2, 4))
    with pytest.raises(ValueError, match="unit_masks must hold one entry per hidden layer"):
        net(torch.ones(2, 3), unit_masks=[None, None])
    with pytest.raises(ValueError, match=r"fraction must be a real number in \[0, 1\]"):
        remove_units(4, 1.5)
    with pytest.raises(ValueError, match=r"width must be an integer ≥ 1"):
        remove_units(0, 0.5)
    keep = remove_units(10, 0.3, count=4)
    assert (keep.sum(dim=1) == 7).all(), f"{CLAIM_UF}: remove_units must remove exactly 3 of 10"
