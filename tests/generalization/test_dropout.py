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
from dlspec.nn.mlp import MLP, StackedMLP, remove_units
from dlspec.train import accuracy, fit
from tests import strategies as S
from tests.stats import binomial_cdf
from tests.threads import one_thread
from tests.tolerances import EXACT, Tol, check_close, failure, tol

MAX_ENUM = 10  # largest number of enumerated units in the hypothesis tests (2^10 sub-networks)


def _scaled_tol(dtype: torch.dtype, scale: float) -> Tol:
    """The dtype's default tolerance, with an absolute part of rtol·scale: for results computed
    from terms of size up to `scale` (logits, sums over sub-networks), whose rounding is relative
    to the terms and not to the possibly much smaller result."""
    t = tol(dtype)
    return Tol(rtol=t.rtol, atol=t.atol + t.rtol * scale)


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
            f"{tuple(out.shape)}/{out.dtype}/{out.device}, input "
            f"{tuple(x.shape)}/{dtype}/{x.device}"
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
        (
            "dropout(training=False, inverted=False)",
            D.dropout(x, p, training=False, inverted=False),
        ),
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
        np.array(
            [math.lgamma(draws + 1) - math.lgamma(i + 1) - math.lgamma(draws - i + 1) for i in k]
        )
        + k * math.log(q)
        + (draws - k) * math.log1p(-q)
    )
    far = np.abs(k / draws - q) >= z * math.sqrt(q * (1 - q) / draws)
    return float(np.exp(log_pmf[far]).sum())


def mc_checks_per_device_and_dtype(profile: str = "ci") -> int:
    """How many z-checks the Monte-Carlo test makes per device and dtype under a hypothesis
    profile: per example, 6 runs × (at most 16 means + 1 keep rate), plus 1 comparison with
    torch."""
    from hypothesis import settings as hsettings

    examples = hsettings.get_profile(profile).max_examples + MC_EXPLICIT_EXAMPLES
    runs = len(_forms(0.5)) + 2  # the four public forms and two oracles
    return examples * (runs * (MC_MAX_ENTRIES + 1) + 1)


#: The false-failure chance of each statistical test per run (device and dtype), under the
#: `thorough` hypothesis profile for the drawn examples (the page's figures; see
#: spec/computation/reliability.md).
FALSE_FAILURES = {
    "test_monte_carlo_mean_and_keep_rate": mc_checks_per_device_and_dtype("thorough")
    * MC_FALSE_FAILURE,
    "test_mask_entries_are_independent_across_rows_and_features": 5.2e-10,  # 32 checks (page)
}


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
    # The independence test: a co-keep rate is a mean of 64,000 indicators of probability q²,
    # b/σ = max(√(q²/(1 − q²)), √((1 − q²)/q²)); 4 drop probabilities × 4 forms × 2 axes.
    pairs = INDEPENDENCE_SHAPE[0] * INDEPENDENCE_SHAPE[1] // 2
    worst = max(
        bernstein_false_failure(
            MC_Z, pairs, max(math.sqrt(q2 / (1 - q2)), math.sqrt((1 - q2) / q2))
        )
        for q2 in ((1 - p) ** 2 for p in INDEPENDENCE_P)
    )
    independence_checks = len(INDEPENDENCE_P) * len(_forms(0.5)) * 2
    ratios = [
        max(math.sqrt(q * q / (1 - q * q)), math.sqrt((1 - q * q) / (q * q)))
        for q in (1 - p for p in INDEPENDENCE_P)
    ]
    assert max(ratios) <= 9.95, f"{CLAIM_EXP}: page states b/σ ≤ 9.95: {max(ratios):.4f}"
    assert worst <= 1.6e-11 and independence_checks == 32, (
        f"{CLAIM_EXP}: page states ≤ 1.6e-11 per co-keep check and 32 checks: {worst:.3g}, "
        f"{independence_checks}"
    )
    assert independence_checks * worst <= 5.2e-10, f"{CLAIM_EXP}: page states ≤ 5.2e-10"
    evidence.value("mc_draws", MC_DRAWS)
    evidence.value("mc_z", MC_Z)
    evidence.value("mc_false_failure_per_check", MC_FALSE_FAILURE)
    evidence.value("mc_checks_per_device_and_dtype", checks)
    thorough = mc_checks_per_device_and_dtype("thorough")
    assert thorough == 103_309, f"{CLAIM_EXP}: the page states 103,309 checks, counted {thorough}"
    assert thorough * MC_FALSE_FAILURE <= 9.5e-7, f"{CLAIM_EXP}: page states ≤ 9.5e-7"
    assert (
        independence_checks * worst
        <= FALSE_FAILURES["test_mask_entries_are_independent_across_rows_and_features"]
    )
    evidence.value("false_failure", FALSE_FAILURES["test_monte_carlo_mean_and_keep_rate"])


@pytest.mark.claim(CLAIM_EXP)
@pytest.mark.parametrize("p", INDEPENDENCE_P)
def test_mask_entries_are_independent_across_rows_and_features(device: str, p: float) -> None:
    """Pairwise co-keep rates: for disjoint pairs of entries in the same row (features 2k, 2k+1)
    and in the same column (rows 2k, 2k+1), both are kept with probability q², as independent
    entries are. A mask drawn per row and broadcast over the features (or per feature and shared
    by the rows) gives q instead, (q − q²)/SE ≥ 40 standard errors away at these sizes."""
    q = 1.0 - p
    pairs_count = INDEPENDENCE_SHAPE[0] * INDEPENDENCE_SHAPE[1] // 2
    separation = (q - q * q) / math.sqrt(q * q * (1 - q * q) / pairs_count)
    assert separation > 40, f"{CLAIM_EXP}: the page says > 40 SE between q and q²: {separation:.1f}"
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
        check_close(
            x.grad,
            want,
            t,
            CLAIM_EXP,
            device,
            f"{name}: training gradient ≠ g·m{'' if standard else '/q'}",
        )
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

                def f(
                    t: torch.Tensor, p: float = p, inv: bool = inverted, tr: bool = training
                ) -> torch.Tensor:
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
    for inverted in (True, False):  # an explicit (bool) mask is applied in x's dtype
        out = D.dropout(x, p, inverted=inverted, mask=m_low.bool())
        want = x * m_low / (1 - p) if inverted else x * m_low
        assert out.dtype == dtype and torch.equal(out, want), (
            f"{CLAIM_EXP} [{device}, {low}]: explicit mask (inverted={inverted}) gives "
            f"{out.dtype}, not x ⊙ m{'/q' if inverted else ''} in {low}"
        )


@pytest.mark.claim(CLAIM_EXP)
def test_mask_uniforms_are_float64_for_float64_masks_else_float32(device: str) -> None:
    """keep_mask's uniforms, against an independent draw from the same seed: float64 for a
    float64 mask, float32 for every other dtype (mutation testing, issue 12: the comparison of
    two keep_mask calls above cannot see a swap of the rule)."""
    p, shape = 0.3, (64, 16)
    for dt in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        u_dtype = torch.float64 if dt == torch.float64 else torch.float32
        g = torch.Generator(device=device).manual_seed(7)
        want = (torch.rand(shape, generator=g, device=device, dtype=u_dtype) >= p).to(dt)
        g = torch.Generator(device=device).manual_seed(7)
        got = D.keep_mask(shape, p, device=device, dtype=dt, generator=g)
        assert got.dtype == dt and torch.equal(got, want), (
            f"{CLAIM_EXP} [{device}, {dt}]: the mask is not u >= p with u drawn in {u_dtype}"
        )


@pytest.mark.claim(CLAIM_EXP)
def test_keep_mask_boundaries() -> None:
    """m_i = 1 exactly when u_i ≥ p: with p = 0 every unit is kept (q = 1), also where the
    uniform draw is exactly 0 (seed 2313 draws u = 0.0 at entry 3997 of 4096 in float32: a
    `u > p` rule would drop it); a shape with a zero size gives an empty mask (mutation testing,
    issue 12)."""
    g = torch.Generator().manual_seed(2313)
    u = torch.rand(4096, generator=g)
    assert float(u[3997]) == 0.0, "seed 2313 no longer draws an exact 0: pick another seed"
    g = torch.Generator().manual_seed(2313)
    m = D.keep_mask((64, 64), 0.0, device="cpu", dtype=torch.float32, generator=g)
    assert bool((m == 1).all()), (
        f"{CLAIM_EXP}: p = 0 dropped {int((m == 0).sum())} unit(s) (where u = 0 exactly)"
    )
    for shape in ((0, 3), (3, 0), (0,)):
        m = D.keep_mask(shape, 0.5, device="cpu", dtype=torch.float32)
        assert m.shape == shape and m.dtype == torch.float32, f"{CLAIM_EXP}: shape {shape}"
    with pytest.raises(ValueError, match=r"shape\[1\] must be an integer ≥ 0, got -1"):
        D.keep_mask((2, -1), 0.5, device="cpu", dtype=torch.float32)


@pytest.mark.claim(CLAIM_EXP)
def test_dropout_mask_is_keep_mask_in_x_dtype() -> None:
    """dropout's mask is keep_mask in x's dtype (float64 uniforms for float64 x); a given mask
    is cast to x's dtype; errors say what p means and what mask was (mutation testing,
    issue 12: `tests/mutation/`)."""
    x = torch.linspace(1.0, 2.0, 60, dtype=torch.float64).reshape(6, 10)
    g = torch.Generator().manual_seed(3)
    want = x * D.keep_mask(x.shape, 0.4, device="cpu", dtype=torch.float64, generator=g) / 0.6
    g = torch.Generator().manual_seed(3)
    assert torch.equal(D.dropout(x, 0.4, generator=g), want), f"{CLAIM_EXP}: float64 mask"
    x32 = torch.ones(2, 3)
    out = D.dropout(x32, 0.5, mask=torch.ones(2, 3, dtype=torch.float64))
    assert out.dtype == torch.float32, f"{CLAIM_EXP}: a float64 mask made a {out.dtype} output"
    with pytest.raises(TypeError, match=r"^mask must be a torch\.Tensor, got list$"):
        D.dropout(x32, 0.5, mask=[[1.0] * 3] * 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(the drop probability\), got 1\.0$"):
        D.dropout(x32, 1.0)


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
        layer = D.Dropout(
            0.3, inverted=inv, generator=torch.Generator(device=device).manual_seed(3)
        )
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
    with pytest.raises(ValueError, match="mask must be on x's device cpu, got meta"):
        D.dropout(x, 0.5, mask=torch.ones(2, 3, device="meta"))
    for bad_p in (1.0, -0.2, math.nan):
        with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\)"):
            D.keep_mask((2, 3), bad_p, device="cpu", dtype=torch.float32)
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
def test_dropout_module_defaults_match_torch() -> None:
    """`Dropout()` has `torch.nn.Dropout()`'s defaults: p = 0.5, the inverted form, and (our
    addition) no generator, i.e. the global RNG."""
    ours, ref = D.Dropout(), torch.nn.Dropout()
    assert (ours.p, ours.inverted, ours.generator) == (ref.p, True, None) and ref.p == 0.5, (
        f"{CLAIM_EXP}: Dropout() is {ours} (generator {ours.generator}), torch's p is {ref.p}"
    )
    x = torch.ones(4000, dtype=torch.float64)
    out = ours.train()(x)  # support {0, x/q} with q = ½: the default form is the inverted one
    assert set(out.unique().tolist()) == {0.0, 2.0}, (
        f"{CLAIM_EXP}: Dropout()(1) gives {out.unique()}"
    )


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
def deep_linear_derivation() -> dict[str, Any]:
    """L = 2, an affine net 2 → 2 → 2 with biases, independent masks d₀ on x (keep q₀) and d₁ on
    the hidden units (keep q₁), 16 sub-networks:
    Σ P(d₀)P(d₁) [W₂(d₁ ⊙ (W₁(d₀ ⊙ x) + b₁)) + b₂] = (q₁W₂)((q₀W₁)x + b₁) + b₂;
    bias-free with q₀ = q₁ = q this is q² W₂W₁x; with dropout on the hidden units only (q₀ = 1)
    it is W₂(q₁W₁x) (bias-free), not the q₁²W₂W₁x of scaling the whole network's weights."""
    q0, q1 = sp.symbols("q0 q1", positive=True)
    w1 = sp.Matrix(2, 2, sp.symbols("a11 a12 a21 a22", real=True))
    w2 = sp.Matrix(2, 2, sp.symbols("c11 c12 c21 c22", real=True))
    b1 = sp.Matrix(sp.symbols("b11 b12", real=True))
    b2 = sp.Matrix(sp.symbols("b21 b22", real=True))
    x = sp.Matrix(sp.symbols("x1 x2", real=True))
    total = sp.zeros(2, 1)
    for d0, d1 in itertools.product(_masks(2), _masks(2)):
        h = w1 * sp.diag(*d0) * x + b1  # W₁(d₀ ⊙ x) + b₁
        total += _prob(d0, q0) * _prob(d1, q1) * (w2 * sp.diag(*d1) * h + b2)
    affine = (q1 * w2) * ((q0 * w1) * x + b1) + b2
    zero_b = {s: 0 for s in (*b1, *b2)}
    q = sp.Symbol("q", positive=True)
    bias_free = total.subs(zero_b).subs({q0: q, q1: q})
    hidden_only = total.subs(zero_b).subs(q0, 1)
    whole = (q1**2 * w2 * w1 * x).applyfunc(sp.expand)  # "multiply the whole network's weights"
    # The page's 1 → 1 → 1 examples (x = W₁ = W₂ = 1, q = ½): hidden-only dropout, and dropout
    # on both layers with b₁ = 1.
    sx, sw1, sw2, sb1, sq0, sq1 = sp.symbols("x w1 w2 b1 q0 q1")
    scalar = sum(
        (
            _prob((e0,), sq0) * _prob((e1,), sq1) * (sw2 * e1 * (sw1 * e0 * sx + sb1))
            for e0, e1 in itertools.product((0, 1), repeat=2)
        ),
        sp.Integer(0),
    )
    half = sp.Rational(1, 2)
    one = {sx: 1, sw1: 1, sw2: 1}
    return {
        "affine": (total - affine).applyfunc(sp.expand),
        "bias_free": (bias_free - q**2 * w2 * w1 * x).applyfunc(sp.expand),
        "hidden_only": (hidden_only - q1 * w2 * w1 * x).applyfunc(sp.expand),
        "hidden_only_vs_whole": (hidden_only - whole).applyfunc(sp.expand),
        "example_hidden_only": scalar.subs({**one, sb1: 0, sq0: 1, sq1: half}),
        "example_whole_scaling": half**2,
        "example_affine": scalar.subs({**one, sb1: 1, sq0: half, sq1: half}),
        "example_q_power": half**2,  # q² W₂W₁x, biases ignored
    }


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
    # Dropout before a ReLU: h = relu(d·x − ½), x = 1, q = ½, logits (4h, 0). The NWGM is
    # softmax(E[4h], 0) = σ(4·¼) = σ(1); the weight-scaled net gives σ(4 relu(½ − ½)) = σ(0) = ½.
    e_h = sp.Rational(1, 2) * sp.Max(0, -sp.Rational(1, 2)) + sp.Rational(1, 2) * sp.Rational(1, 2)
    return {
        "ratio_residuals": ratio_residuals,
        "odds_residual": odds_residual,
        "e_s_residual": e_s_residual,
        "e_sigma": float(e_sig),
        "nwgm": float(nwgm),
        "relu_nwgm": float(sig.subs(s, 4 * e_h)),
        "relu_scaled": float(sig.subs(s, 4 * sp.Max(0, sp.Rational(1, 2) - sp.Rational(1, 2)))),
    }


@functools.cache
def regression_derivation() -> dict[str, sp.Expr]:
    """N = 2 examples, 2 features, masks R on the 4 entries of X (16 sub-networks):
    standard  E‖y − (R⊙X)w‖²   = ‖y − qXw‖² + q(1 − q)‖Γw‖²,
    inverted  E‖y − (R⊙X)w/q‖² = ‖y − Xw‖² + ((1 − q)/q)‖Γw‖²,  Γ = diag(XᵀX)^{1/2};
    the standard form in w̃ = qw: ‖y − Xw̃‖² + ((1 − q)/q)‖Γw̃‖² (generalized ridge)."""
    q = sp.Symbol("q", positive=True)
    x = sp.Matrix(2, 2, sp.symbols("x11 x12 x21 x22", real=True))
    y = sp.Matrix(sp.symbols("y1 y2", real=True))
    w = sp.Matrix(sp.symbols("w1 w2", real=True))
    wt = sp.Matrix(sp.symbols("t1 t2", real=True))  # w̃ = q w
    standard = sp.Integer(0)
    inverted = sp.Integer(0)
    for r in _masks(4):
        rx = x.multiply_elementwise(sp.Matrix(2, 2, list(r)))  # R ⊙ X
        standard += _prob(r, q) * (y - rx * w).dot(y - rx * w)
        inverted += _prob(r, q) * (y - rx * w / q).dot(y - rx * w / q)

    def gamma_sq(v: sp.Matrix) -> sp.Expr:  # ‖Γv‖² = Σ_j v_j² Σ_i X_ij²
        return sum(
            (v[j] ** 2 * sum((x[i, j] ** 2 for i in range(2)), sp.Integer(0)) for j in range(2)),
            sp.Integer(0),
        )

    fit_q = (y - q * x * w).dot(y - q * x * w)
    fit_1 = (y - x * w).dot(y - x * w)
    in_wt = standard.subs({w[0]: wt[0] / q, w[1]: wt[1] / q})
    return {
        "standard": sp.expand(standard - fit_q - q * (1 - q) * gamma_sq(w)),
        "inverted": sp.simplify(sp.expand(inverted - fit_1 - (1 - q) / q * gamma_sq(w))),
        "generalized_ridge": sp.simplify(
            sp.expand(in_wt - (y - x * wt).dot(y - x * wt) - (1 - q) / q * gamma_sq(wt))
        ),
    }


# =================================================================================================
# dropout.linear-average
# =================================================================================================

CLAIM_LIN = "dropout.linear-average"


@pytest.mark.claim(CLAIM_LIN)
def test_linear_average_sympy(evidence: Any) -> None:
    """Symbolic: the n = 2 layer (general q), the notes' four sub-networks (q = ½), the deep affine
    net with its own q per layer, and the page's 1 → 1 → 1 examples."""
    der = linear_derivation()
    assert der["residual"] == 0, f"{CLAIM_LIN}: Σ P(d)(w·(d⊙x)+b) − (q w·x + b) = {der['residual']}"
    assert der["notes_residual"] == 0, f"{CLAIM_LIN}: notes' example: {der['notes_residual']}"
    assert der["notes_scaled_residual"] == 0, f"{CLAIM_LIN}: notes' ½ scaling"
    deep = deep_linear_derivation()
    zero = sp.zeros(2, 1)
    assert deep["affine"] == zero, f"{CLAIM_LIN}: affine residual {deep['affine']}"
    assert deep["bias_free"] == zero, f"{CLAIM_LIN}: bias-free residual {deep['bias_free']}"
    assert deep["hidden_only"] == zero, f"{CLAIM_LIN}: hidden-only residual {deep['hidden_only']}"
    assert deep["hidden_only_vs_whole"] != zero, f"{CLAIM_LIN}: whole-network scaling exact?"
    examples = {
        "example_hidden_only": sp.Rational(1, 2),
        "example_whole_scaling": sp.Rational(1, 4),
        "example_affine": sp.Rational(3, 4),
        "example_q_power": sp.Rational(1, 4),
    }
    for key, value in examples.items():  # the numbers printed on the page
        assert deep[key] == value, f"{CLAIM_LIN}: {key} is {deep[key]}, the page says {value}"
        evidence.value(key, float(deep[key]))


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
def _deep_affine(draw: st.DrawFn) -> dict[str, Any]:
    """An affine net of 2 or 3 layers with biases and its own drop probability per layer (0, no
    dropout, in about a third of the layers: one of three equally likely branches), at most
    MAX_ENUM dropped units in all."""
    layers = draw(st.integers(2, 3))
    widths = [draw(S.dims(1, 4)) for _ in range(layers)]  # masked: input and hidden widths
    while sum(widths) > MAX_ENUM:
        widths[widths.index(max(widths))] -= 1
    sizes = [*widths, draw(S.dims(1, 3))]
    ws = [draw(S.arrays((o, i), bound=1.5)) for i, o in itertools.pairwise(sizes)]
    bs = [draw(S.arrays(o, bound=1.5)) for o in sizes[1:]]
    ps = [
        draw(st.one_of(st.just(0.0), S.drop_probabilities(), S.drop_probabilities()))
        for _ in range(layers)
    ]
    return {"ws": ws, "bs": bs, "ps": ps, "x": draw(S.arrays(sizes[0]))}


def _deep_ensemble(
    case: dict[str, Any], device: str, dtype: torch.dtype, *, inverted: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every sub-network's output of the affine net, P(d), and the closed form: each W_l scaled by
    its own q_l and biases kept (standard form), or the net unchanged (inverted form)."""
    ws = [S.to_torch(w, device, dtype) for w in case["ws"]]
    bs = [S.to_torch(b, device, dtype) for b in case["bs"]]
    ps, x = case["ps"], S.to_torch(case["x"], device, dtype)
    widths = [w.shape[1] for w in ws]
    d = D.all_masks(sum(widths), device=device, dtype=dtype)  # (2^N, N), N = Σ widths
    parts = torch.split(d, widths, dim=1)
    prob = torch.ones(d.shape[0], device=device, dtype=dtype)
    for d_l, p_l in zip(parts, ps, strict=True):
        prob = prob * D.mask_probabilities(d_l, 1 - p_l)  # P(d) = Π_l P(d_l), q_l = 1 − p_l
    h = x.expand(d.shape[0], widths[0])
    closed = x
    for w, b, d_l, p_l in zip(ws, bs, parts, ps, strict=True):
        h = D.dropout(h, p_l, inverted=inverted, mask=d_l) @ w.T + b  # W_l(d_l ⊙ h) + b_l
        closed = (1.0 if inverted else 1 - p_l) * (w @ closed) + b  # (q_l W_l) h + b_l
    return h, prob, closed


@pytest.mark.claim(CLAIM_LIN)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_deep_affine(), inverted=st.booleans())
def test_deep_affine_ensemble_scales_each_layer_by_its_own_q(
    device: str, dtype: torch.dtype, case: dict[str, Any], inverted: bool
) -> None:
    """Independent masks on every layer's input, biases present: Σ P(d) f_d = the net with each
    W_l replaced by q_l W_l and biases kept (standard), or the unchanged net (inverted). Layers
    with p_l = 0 run with an explicit all-kept mask, which P(d) = 0 elsewhere confirms."""
    out, prob, closed = _deep_ensemble(case, device, dtype, inverted=inverted)
    check_close(
        D.ensemble_mean(out, prob),
        closed,
        EXACT,
        CLAIM_LIN,
        device,
        f"deep affine ensemble ≠ (q_l W_l, b_l) net (inverted={inverted}, p={case['ps']})",
    )


@pytest.mark.claim(CLAIM_LIN)
def test_all_masks_rows_are_the_binary_digits_of_k(device: str) -> None:
    """Row k of `all_masks(n)` holds the binary digits of k, d_kj = ⌊k / 2^j⌋ mod 2 (so the 2^n
    rows are the distinct sub-networks, each once), on the requested device and dtype."""
    for n in range(7):
        d = D.all_masks(n, device=device)
        want = [[(k >> j) & 1 for j in range(n)] for k in range(2**n)]
        assert d.dtype == torch.float64 and d.device.type == torch.device(device).type, (
            f"{CLAIM_LIN}: all_masks({n}) is {d.dtype} on {d.device}"
        )
        assert d.shape == (2**n, n) and d.cpu().long().tolist() == want, (
            f"{CLAIM_LIN}: all_masks({n}) rows are not the binary digits of their index"
        )
    assert D.all_masks(3, device=device, dtype=torch.float32).dtype == torch.float32


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


@pytest.mark.claim(CLAIM_LIN, "dropout.softmax-geometric-mean")
def test_ensemble_errors_name_the_argument() -> None:
    """Each averaging helper's error names its own argument (`outputs`, `log_outputs`, `s`) and
    the meaning of `q`, not a neighbour's (mutation testing, issue 12: `tests/mutation/`)."""
    w = torch.full((4,), 0.25)
    ints = torch.ones(4, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"^q must be .* \(the keep probability\), got 1\.5$"):
        D.mask_probabilities(D.all_masks(2), 1.5)
    with pytest.raises(TypeError, match=r"^outputs must be a floating-point tensor"):
        D.ensemble_mean(ints, w)
    with pytest.raises(TypeError, match=r"^weights must be a floating-point tensor"):
        D.ensemble_mean(ints.double(), w.long())
    with pytest.raises(TypeError, match=r"^log_outputs must be a floating-point tensor"):
        D.normalized_geometric_mean(ints, w)
    with pytest.raises(TypeError, match=r"^s must be a floating-point tensor"):
        D.logistic_nwgm(ints, w)
    with pytest.raises(ValueError, match=r"the first dimension of s, 4\), got shape \(3,\)$"):
        D.logistic_nwgm(torch.ones(4, 3), torch.ones(3))
    with pytest.raises(
        ValueError, match=r"the first dimension of outputs, none\), got shape \(4,\)$"
    ):
        D.ensemble_mean(torch.tensor(1.0), w)
    with pytest.raises(ValueError, match=r"^weights must be 1-D .* got shape \(4, 2\)$"):
        D.ensemble_mean(torch.ones(4, 3), torch.ones(4, 2))  # first dimensions agree


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
    printed = {  # the numbers on the page, to their four printed decimals
        "nwgm": 0.8176,
        "e_sigma": 0.7661,
        "relu_nwgm": 0.7311,
        "relu_scaled": 0.5000,
    }
    for key, value in printed.items():
        assert round(der[key], 4) == value, f"{CLAIM_SM}: {key} = {der[key]:.6f}, page {value}"
        evidence.value(key, der[key])


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
@example(  # an asymmetric p, where a swap of p and q would show
    case={
        "w": np.array([[1.0, -2.0], [0.5, 0.0]]),
        "b": np.array([0.3, -0.2]),
        "v": np.array([[1.0, 2.0]]),
    },
    p=0.2,
)
def test_softmax_nwgm_equals_weight_scaled_softmax(
    device: str, dtype: torch.dtype, case: dict[str, np.ndarray[Any, Any]], p: float
) -> None:
    w, b, v = (S.to_torch(case[k], device, dtype) for k in ("w", "b", "v"))  # v: a batch (B, n)
    q = 1 - p
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
    # The logistic unit S_d = w·(d⊙v) + b with the first row of W, against σ(q w·v + b)
    # computed without the implementation.
    s = z[..., 0]  # (2^n, B)
    direct = 1.0 / (1.0 + torch.exp(-(q * (v @ w[0]) + b[0])))  # σ(q w·v + b)
    check_close(
        D.logistic_nwgm(s, prob),
        direct,
        EXACT,
        CLAIM_SM,
        device,
        f"logistic NWGM ≠ σ(q w·v + b) (p={p})",
    )


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_deep_affine())
def test_deep_linear_softmax_nwgm_equals_weight_scaled_net(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Dropout on every layer of a deep affine net feeding a softmax: the NWGM is still the
    weight-scaled net's softmax (the logits are multilinear in independent masks, so their mean
    is the scaled net's logits). Dropout on the softmax's inputs only is sufficient, not
    necessary."""
    z, prob, closed = _deep_ensemble(case, device, dtype, inverted=False)
    if z.shape[-1] < 2:
        z, closed = torch.stack([z[:, 0], -z[:, 0]], dim=-1), torch.stack([closed[0], -closed[0]])
    log_p = z - torch.logsumexp(z, dim=-1, keepdim=True)
    check_close(
        D.normalized_geometric_mean(log_p, prob),
        torch.softmax(closed, dim=-1),
        EXACT,
        CLAIM_SM,
        device,
        f"deep linear net + softmax: NWGM ≠ softmax of the weight-scaled net (p={case['ps']})",
    )


@pytest.mark.claim(CLAIM_SM)
def test_relu_before_the_softmax_breaks_the_identity(device: str, dtype: torch.dtype) -> None:
    """h = relu(d·x − ½), x = 1, q = ½, logits (4h, 0): the NWGM is σ(1) = 0.7311 for class 1, the
    weight-scaled net gives ½: the identity need not hold once a ReLU follows the dropout."""
    x = torch.ones(1, device=device, dtype=dtype)
    inputs, prob = _subnetwork_inputs(x, 0.5, inverted=False)
    h = (inputs - 0.5).clamp_min(0)  # (2, 1)
    z = torch.cat([4 * h, torch.zeros_like(h)], dim=-1)
    nwgm = D.normalized_geometric_mean(z - torch.logsumexp(z, dim=-1, keepdim=True), prob)
    hs = (D.dropout(x, 0.5, training=False, inverted=False) - 0.5).clamp_min(0)
    scaled = torch.softmax(torch.cat([4 * hs, torch.zeros_like(hs)]), dim=-1)
    t = _scaled_tol(dtype, 4.0)
    want = softmax_derivation()
    check_close(
        nwgm[0],
        torch.tensor(want["relu_nwgm"], device=device, dtype=dtype),
        t,
        CLAIM_SM,
        device,
        "NWGM after a ReLU",
    )
    check_close(
        scaled[0],
        torch.tensor(0.5, device=device, dtype=dtype),
        t,
        CLAIM_SM,
        device,
        "weight-scaled net after a ReLU",
    )


@pytest.mark.claim(CLAIM_SM)
def test_log_sigmoid_matches_torch(device: str, dtype: torch.dtype) -> None:
    """`log_sigmoid` (used for G and G′ in log space) is log σ(s), stable at large |s|: compared
    with torch's `F.logsigmoid` (oracle) on [−30, 30]; its values reach −30, so rounding is
    relative to 30 (`_scaled_tol`)."""
    s = torch.linspace(-30.0, 30.0, 241, device=device, dtype=dtype)
    want = F.logsigmoid(s.double()).to(dtype)
    check_close(D.log_sigmoid(s), want, _scaled_tol(dtype, 30.0), CLAIM_SM, device, "log σ(s)")
    big = torch.tensor([-1000.0, 1000.0], device=device, dtype=torch.float64)
    got = D.log_sigmoid(big)
    assert bool(torch.isfinite(got).all()) and float(got[0]) == -1000.0 and float(got[1]) == 0.0, (
        f"{CLAIM_SM}: log_sigmoid(±1000) must be (−1000, 0) without overflow, got {got.tolist()}"
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
    assert der["generalized_ridge"] == 0, f"{CLAIM_REG}: in w̃ = qw: {der['generalized_ridge']}"


@st.composite
def _regressions(draw: st.DrawFn) -> dict[str, np.ndarray[Any, Any]]:
    rows = draw(S.dims(1, 5))
    cols = draw(S.dims(1, MAX_ENUM // rows))
    return {"x": draw(S.arrays((rows, cols))), "y": draw(S.arrays(rows)), "w": draw(S.arrays(cols))}


@pytest.mark.claim(CLAIM_REG)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_regressions(), p=S.drop_probabilities())
@example(  # Srivastava et al.'s setting, 2 × 2, at an asymmetric p
    case={
        "x": np.array([[1.0, 2.0], [-1.0, 0.5]]),
        "y": np.array([1.0, -2.0]),
        "w": np.array([0.5, -1.0]),
    },
    p=0.3,
)
def test_regression_dropout_loss_is_l2_penalty(
    device: str, dtype: torch.dtype, case: dict[str, np.ndarray[Any, Any]], p: float
) -> None:
    """By enumeration of every mask on X: the expected loss is the closed form, and its minimizer
    (where the enumerated loss has zero gradient) is the generalized ridge solution
    w̃ = (XᵀX + λΓ²)⁻¹Xᵀy, λ = (1 − q)/q, w = w̃/q (standard form)."""
    x, y, w = (S.to_torch(case[k], device, dtype) for k in ("x", "y", "w"))
    q = 1 - p
    rows, cols = x.shape
    r = D.all_masks(rows * cols, device=device, dtype=dtype)  # every mask R on X's entries
    prob = D.mask_probabilities(r, q)
    xs = x.reshape(1, -1).expand_as(r)
    gamma_sq = (x**2).sum(dim=0)  # diag(Γ²) = Σ_i X_ij²
    gamma_w_sq = (gamma_sq * w**2).sum()  # ‖Γw‖²

    def expected_loss(v: torch.Tensor, inverted: bool) -> torch.Tensor:
        rx = D.dropout(xs, p, inverted=inverted, mask=r).reshape(-1, rows, cols)  # R⊙X (/q)
        return D.ensemble_mean(((y - rx @ v) ** 2).sum(dim=1), prob)  # E‖y − (R⊙X)v‖²

    for inverted, fit_scale, penalty in ((False, q, q * (1 - q)), (True, 1.0, (1 - q) / q)):
        closed = ((y - fit_scale * (x @ w)) ** 2).sum() + penalty * gamma_w_sq
        form = "inverted" if inverted else "standard"
        check_close(
            expected_loss(w, inverted),
            closed,
            EXACT,
            CLAIM_REG,
            device,
            f"{form}: E‖y − (R⊙X)w‖² ≠ fit + penalty·‖Γw‖² ({rows}×{cols}, p={p})",
        )
    lam = (1 - q) / q
    a = x.T @ x + lam * torch.diag(gamma_sq)  # XᵀX + λΓ², positive definite where Γ_jj > 0
    if bool((gamma_sq > 1e-3).all()) and float(torch.linalg.cond(a)) < 1e4:
        w_star = (torch.linalg.solve(a, x.T @ y) / q).requires_grad_(True)  # w = w̃ / q
        (grad,) = torch.autograd.grad(expected_loss(w_star, False), w_star)
        scale = float((x.abs().sum() * (y.abs().sum() + (x @ w_star).abs().sum())).detach()) + 1
        check_close(
            grad / scale,
            torch.zeros_like(grad),
            Tol(rtol=0.0, atol=1e-9),
            CLAIM_REG,
            device,
            f"the generalized ridge solution is not a stationary point of the dropout loss (p={p})",
        )


# =================================================================================================
# dropout.nonlinear-inexact
# =================================================================================================

CLAIM_NL = "dropout.nonlinear-inexact"
RANDOM_NETS = 20  # nets 6 → 8 → 1 (ReLU), seeds 0..19, dropout p = ½ on the 6 inputs
GAP_FLOOR = 1e-6  # float64: the enumeration's rounding is below 1e-14


@pytest.mark.claim(CLAIM_NL)
@settings(deadline=None)
@given(p=S.drop_probabilities())
@example(p=0.5)
def test_relu_unit_counterexample(device: str, dtype: torch.dtype, p: float) -> None:
    """h = relu(w·m·x + b), w = 1, x = 1, b = −q: the ensemble is q·relu(1 − q) = pq, the
    weight-scaled unit relu(q − q) = 0 (at q = ½: ¼ and 0, the page's numbers)."""
    x = torch.ones(1, device=device, dtype=dtype)
    q = 1 - p
    inputs, prob = _subnetwork_inputs(x, p, inverted=False)  # d ⊙ x for d ∈ {0, 1}
    ensemble = D.ensemble_mean((inputs - q).clamp_min(0), prob)  # q·relu(1 − q) + p·relu(−q)
    scaled = (D.dropout(x, p, training=False, inverted=False) - q).clamp_min(0)
    t = _scaled_tol(dtype, 1.0)
    want = torch.tensor([p * q, 0.0], device=device, dtype=dtype)
    check_close(
        torch.cat([ensemble, scaled]),
        want,
        t,
        CLAIM_NL,
        device,
        f"(ensemble, weight-scaled) ≠ (pq, 0) at p={p}",
    )
    if p == 0.5:
        assert float(ensemble) == 0.25 and float(scaled) == 0.0, (
            f"{CLAIM_NL} [{device}, {dtype}]: page's ¼ and 0: got "
            f"{float(ensemble)}, {float(scaled)}"
        )


@pytest.mark.claim(CLAIM_NL)
@settings(deadline=None)
@given(p=S.drop_probabilities())
@example(p=0.5)
def test_softmax_arithmetic_mean_counterexample(device: str, dtype: torch.dtype, p: float) -> None:
    """n = 1, v = 1, W = [[10], [0]]: arithmetic mean q·softmax(10, 0) + p·(½, ½), weight-scaled
    softmax(10q, 0), which is the NWGM; at q = ½ the page's (0.7500, 0.2500) and (0.9933, 0.0067).

    Logits reach 10, so rounding is relative to 10, not to the (small) second probability:
    tolerance rtol·10 absolute (`_scaled_tol`); the printed values add 5e-5."""
    q = 1 - p
    v = torch.ones(1, device=device, dtype=dtype)
    w = torch.tensor([[10.0], [0.0]], device=device, dtype=dtype)
    inputs, prob = _subnetwork_inputs(v, p, inverted=False)
    z = inputs @ w.T
    mean = D.ensemble_mean(torch.softmax(z, dim=-1), prob)
    scaled = torch.softmax(D.dropout(v, p, training=False, inverted=False) @ w.T, dim=-1)
    nwgm = D.normalized_geometric_mean(z - torch.logsumexp(z, dim=-1, keepdim=True), prob)
    t = _scaled_tol(dtype, 10.0)
    s10 = 1.0 / (1.0 + math.exp(-10.0))  # softmax(10, 0)_1
    sq = 1.0 / (1.0 + math.exp(-10.0 * q))  # softmax(10q, 0)_1
    want_mean = torch.tensor([q * s10 + p / 2, q * (1 - s10) + p / 2], device=device, dtype=dtype)
    want_scaled = torch.tensor([sq, 1 - sq], device=device, dtype=dtype)
    check_close(mean, want_mean, t, CLAIM_NL, device, f"arithmetic mean (p={p})")
    check_close(scaled, want_scaled, t, CLAIM_NL, device, f"weight-scaled softmax (p={p})")
    check_close(
        nwgm, want_scaled, t, CLAIM_NL, device, f"the NWGM is the weight-scaled net (p={p})"
    )
    if p == 0.5:
        printed = Tol(rtol=t.rtol, atol=t.atol + 5e-5)  # four printed decimals
        for got, values, what in (
            (mean, [0.7500, 0.2500], "mean"),
            (scaled, [0.9933, 0.0067], "weight-scaled"),
        ):
            check_close(
                got,
                torch.tensor(values, device=device, dtype=dtype),
                printed,
                CLAIM_NL,
                device,
                f"the page's {what} values",
            )
        gap = float((mean - scaled).abs().max())
        assert abs(gap - 0.24) < 0.01, f"{CLAIM_NL} [{device}, {dtype}]: the page's gap 0.24: {gap}"
        sub = torch.softmax(z, dim=-1)  # the two sub-networks: softmax(0, 0) and softmax(10, 0)
        check_close(
            sub[inputs[:, 0] == 1][0],
            torch.tensor([0.99995, 0.00005], device=device, dtype=dtype),
            Tol(rtol=t.rtol, atol=t.atol + 5e-6),  # five printed decimals
            CLAIM_NL,
            device,
            "the page's softmax(10, 0)",
        )


@pytest.mark.claim(CLAIM_NL)
def test_tanh_equality_without_an_affine_g() -> None:
    """E[g(S)] = g(E[S]) can hold for a nonlinear g: tanh on S ∈ {0, 1, −1, 0} (equal weights)
    gives E[tanh S] = 0 = tanh(E[S]): "≠ unless g is affine on the support" is false."""
    s = sp.Matrix([0, 1, -1, 0])
    e_g = sum((sp.tanh(v) for v in s), sp.Integer(0)) / 4
    g_e = sp.tanh(sum(s, sp.Integer(0)) / 4)
    assert sp.simplify(e_g - g_e) == 0 and g_e == 0, f"{CLAIM_NL}: {e_g} vs {g_e}"


def _random_net(seed: int, device: str, dtype: torch.dtype) -> tuple[MLP, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)  # weights built on the CPU in float64, then moved
    net = MLP([6, 8, 1], generator=g, dtype=torch.float64).to(device=device, dtype=dtype).eval()
    x = torch.randn(6, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return net, x


@pytest.mark.claim(CLAIM_NL)
@pytest.mark.dtypes("float64")
def test_random_relu_nets_have_a_gap(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """Exact ensemble vs weight scaling on RANDOM_NETS seeded ReLU nets 6 → 8 → 1, inputs dropped
    with p = ½ (64 sub-networks): every net shows a gap above GAP_FLOOR, itself eight orders of
    magnitude above float64 rounding. (In float32 the smallest gaps come within a factor 2 of
    ten rounding tolerances; the claim is about real arithmetic, so it is decided in float64.)"""
    p = 0.5
    gaps, spreads = [], []
    for seed in range(RANDOM_NETS):
        net, x = _random_net(seed, device, dtype)
        inputs, prob = _subnetwork_inputs(x, p, inverted=False)
        with torch.no_grad():
            sub = net(inputs)[:, 0]  # f_d
            ensemble = D.ensemble_mean(sub, prob)
            scaled = net(D.dropout(x, p, training=False, inverted=False))[0]  # f(qx)
        gaps.append(float((ensemble - scaled).abs()))
        spreads.append(float(D.ensemble_mean((sub - ensemble) ** 2, prob).sqrt()))
    assert min(gaps) > GAP_FLOOR, failure(
        CLAIM_NL,
        device,
        dtype,
        f"some random ReLU net has no gap between ensemble and weight "
        f"scaling (gaps {[round(g_, 5) for g_ in gaps]})",
        min(gaps),
        f"> {GAP_FLOOR:g}",
    )
    ratios = np.array(gaps) / np.array(spreads)
    assert int((ratios < 1).sum()) > RANDOM_NETS // 2, failure(
        CLAIM_NL,
        device,
        dtype,
        f"the page says the gap is usually a fraction of the sub-networks' spread: ratios "
        f"{ratios.round(3)}",
        int((ratios < 1).sum()),
        f"> {RANDOM_NETS // 2} nets with gap < spread",
    )
    evidence.value("random_relu_nets", RANDOM_NETS)
    evidence.value("gap_min", min(gaps))
    evidence.value("gap_median", float(np.median(gaps)))
    evidence.value("gap_max", max(gaps))
    evidence.value("gap_over_spread_median", float(np.median(ratios)))
    evidence.value("nets_with_gap_below_spread", int((ratios < 1).sum()))


@pytest.mark.claim(CLAIM_NL)
@pytest.mark.dtypes("float64")
def test_relu_on_one_linear_piece_is_exact(device: str, dtype: torch.dtype) -> None:
    """The narrowed statement's last case: when no pre-activation changes sign under any mask,
    weight scaling is the exact ensemble average even with ReLUs. The random nets of the gap test
    with W₁, b₁ and x made non-negative (every hidden pre-activation ≥ 0 for every mask), and
    with b₁ made so negative that every hidden unit is off for every mask."""
    p = 0.5
    for seed in range(RANDOM_NETS):
        net, x = _random_net(seed, device, dtype)
        with torch.no_grad():
            for case in ("active", "off"):
                if case == "active":
                    net.weights[0].abs_()
                    net.biases[0].abs_()
                    x = x.abs()
                else:
                    net.biases[0].copy_(-net.weights[0].abs().sum(dim=1) * x.abs().max() - 1)
                inputs, prob = _subnetwork_inputs(x, p, inverted=False)
                ensemble = D.ensemble_mean(net(inputs)[:, 0], prob)
                scaled = net(D.dropout(x, p, training=False, inverted=False))[0]
                scale = float(net.weights[1].abs().sum() * 10 + net.biases[1].abs().sum())
                check_close(
                    ensemble,
                    scaled,
                    _scaled_tol(dtype, scale),
                    CLAIM_NL,
                    device,
                    f"net {seed} ({case} pieces): ensemble ≠ weight-scaled output",
                )


@pytest.mark.claim(CLAIM_NL)
def test_dropping_units_before_a_linear_output_is_exact(device: str, dtype: torch.dtype) -> None:
    """In the same random nets, dropping the 8 hidden units (which only the linear output layer
    follows) through MLP's unit masks: the 256-sub-network average is the net with the hidden
    outputs scaled by q, at a drawn-looking q = 0.35. Rounding is relative to the size of the
    summed terms |W₂||h| + |b₂|, not to the result, which may cancel (`_scaled_tol`)."""
    q = 0.35
    for seed in range(RANDOM_NETS):
        net, x = _random_net(seed, device, dtype)
        hidden = D.all_masks(8, device=device, dtype=dtype)
        with torch.no_grad():
            h = (net.weights[0] @ x + net.biases[0]).clamp_min(0)
            scale = float((net.weights[1].abs() @ h.abs()).max() + net.biases[1].abs().max())
            hid_ens = D.ensemble_mean(
                net(x, unit_masks=[hidden])[:, 0], D.mask_probabilities(hidden, q)
            )
            hid_scaled = net(x, unit_masks=[torch.full((8,), q, device=device, dtype=dtype)])[0]
            direct = q * (net.weights[1] @ h) + net.biases[1]  # W₂(q h) + b₂, without the MLP
        t = _scaled_tol(dtype, scale)
        check_close(hid_ens, hid_scaled, t, CLAIM_NL, device, f"net {seed}: hidden-unit ensemble")
        check_close(hid_scaled, direct[0], t, CLAIM_NL, device, f"net {seed}: W₂(qh) + b₂")


# =================================================================================================
# dropout.unit-failure
# =================================================================================================

CLAIM_UF = "dropout.unit-failure"
UF_SEEDS = 30  # seeds s = 0..29, all trained at once (StackedMLP)
UF_EPOCHS = 12
UF_HIDDEN = 128
UF_P = 0.5
UF_REMOVED = 0.5  # fraction of hidden units removed in the decisive comparison
UF_MARGIN = 0.02  # required advantage per seed (accuracy points lost: plain − dropout)
UF_MIN_ACCURACY = 0.93  # both nets must be good when intact
UF_MASKS = 20  # random removal masks per seed and fraction, averaged
UF_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.9)
UF_RATE = 0.95  # the claim: a seed succeeds with probability at least this
UF_MIN_SUCCESSES = 20  # the test passes when at least this many of UF_SEEDS seeds succeed


#: Chance that the test fails although each seed succeeds with probability UF_RATE (exact).
UF_FALSE_FAILURE = binomial_cdf(UF_MIN_SUCCESSES - 1, UF_SEEDS, UF_RATE)
FALSE_FAILURES["test_dropout_net_degrades_less_when_units_fail"] = UF_FALSE_FAILURE
#: Chance that it passes although a seed succeeds only with probability ½.
UF_PASS_AT_HALF = 1 - binomial_cdf(UF_MIN_SUCCESSES - 1, UF_SEEDS, 0.5)

# The notes' measurement (000/003 notes, CLAIM-NOTES §1): 3 seeds, accuracy intact and at 50 %
# removed, without / with dropout.
NOTES_INTACT = ((0.978, 0.980), (0.980, 0.978), (0.978, 0.976))
NOTES_AT_HALF = ((0.900, 0.961), (0.893, 0.966), (0.885, 0.960))


@pytest.mark.claim(CLAIM_UF)
def test_unit_failure_statistics_on_the_page() -> None:
    """The page's false-failure chance, the pass chance at a coin-flip success rate, and the
    notes' losses (points) as the page quotes them."""
    assert UF_FALSE_FAILURE <= 1.1e-7, UF_FALSE_FAILURE
    assert round(UF_PASS_AT_HALF, 3) == 0.049, UF_PASS_AT_HALF
    lost = [
        (round(100 * (i0 - h0), 1), round(100 * (i1 - h1), 1))
        for (i0, i1), (h0, h1) in zip(NOTES_INTACT, NOTES_AT_HALF, strict=True)
    ]
    plain, drop = [a for a, _ in lost], [b for _, b in lost]
    assert (min(plain), max(plain)) == (7.8, 9.3), plain
    assert (min(drop), max(drop)) == (1.2, 1.9), drop
    adv = sorted(round(a - b, 1) for a, b in lost)
    assert adv == [5.9, 7.5, 7.7], adv


def _train_stack(p: float, data: Any, device: str) -> StackedMLP:
    """UF_SEEDS copies of 64 → UF_HIDDEN → 10: copy s initialized from seed s (the same for both
    values of p), trained at once with independent minibatch orders and dropout masks."""
    nets = [
        MLP(
            [64, UF_HIDDEN, 10],
            p=p,
            generator=torch.Generator(device=device).manual_seed(s),
            device=device,
            dtype=torch.float32,
        )
        for s in range(UF_SEEDS)
    ]
    stack = StackedMLP(nets)
    g = torch.Generator(device=device).manual_seed(1_000 + int(100 * p))
    fit(stack, data.x_train, data.y_train, epochs=UF_EPOCHS, generator=g, copies=UF_SEEDS)
    return stack


def _removal_curves(
    stacks: dict[float, StackedMLP], data: Any, device: str
) -> dict[float, list[np.ndarray[Any, Any]]]:
    """Test accuracy per seed (mean of UF_MASKS removal masks) at each of UF_FRACTIONS."""
    ev = torch.Generator(device=device).manual_seed(10_000)
    x_test = data.x_test.expand(UF_SEEDS, 1, *data.x_test.shape)  # (M, 1, N, 64)
    curves: dict[float, list[np.ndarray[Any, Any]]] = {p: [] for p in stacks}
    for frac in UF_FRACTIONS:
        # the same removal masks for both nets of a seed, distinct across seeds and masks
        keep = remove_units(UF_HIDDEN, frac, count=UF_SEEDS * UF_MASKS, generator=ev, device=device)
        masks = [keep.reshape(UF_SEEDS, UF_MASKS, 1, UF_HIDDEN)]
        for p, stack in stacks.items():
            acc = accuracy(stack, x_test, data.y_test, unit_masks=masks)  # (M, UF_MASKS)
            curves[p].append(acc.mean(dim=1).cpu().numpy())
    return curves


@pytest.mark.slow  # trains 30 pairs of MLPs: left out of `nox -s quick`
@pytest.mark.claim(CLAIM_UF)
def test_dropout_net_degrades_less_when_units_fail(device: str, evidence: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = digits(device=device)
    # Matmuls of 64×128 per copy: one thread is faster than several on a shared CPU (two threads
    # measured 13x slower on a loaded 2-core machine).
    with one_thread():
        stacks = {p: _train_stack(p, data, device) for p in (0.0, UF_P)}
        curves = _removal_curves(stacks, data, device)
    plain, drop = np.stack(curves[0.0], axis=1), np.stack(curves[UF_P], axis=1)  # (M, fractions)
    at = UF_FRACTIONS.index(UF_REMOVED)
    lost_plain = plain[:, 0] - plain[:, at]  # accuracy lost per seed
    lost_drop = drop[:, 0] - drop[:, at]
    gaps = lost_plain - lost_drop  # D_s
    good = (plain[:, 0] >= UF_MIN_ACCURACY) & (drop[:, 0] >= UF_MIN_ACCURACY)
    success = good & (gaps >= UF_MARGIN)

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    removed = 100 * np.array(UF_FRACTIONS)
    for s in range(UF_SEEDS):
        for curve, color, marker, label in (
            (plain[s], "tab:red", "o", "trained without dropout"),
            (drop[s], "tab:blue", "s", f"trained with dropout p = {UF_P}"),
        ):
            ax.plot(
                removed,
                curve,
                color=color,
                alpha=0.35,
                marker=marker,
                ms=2,
                label=label if s == 0 else None,
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
    evidence.value("successes", int(success.sum()))
    evidence.value("intact_accuracy_plain_min", round(float(plain[:, 0].min()), 4))
    evidence.value("intact_accuracy_dropout_min", round(float(drop[:, 0].min()), 4))
    evidence.value("accuracy_lost_plain_mean", round(float(lost_plain.mean()), 4))
    evidence.value("accuracy_lost_dropout_mean", round(float(lost_drop.mean()), 4))
    evidence.value("advantage_min", round(float(gaps.min()), 4))
    evidence.value("advantage_mean", round(float(gaps.mean()), 4))
    evidence.value("advantage_sd", round(float(gaps.std(ddof=1)), 4))
    evidence.value("advantage_per_seed", [round(float(v), 4) for v in gaps])
    evidence.value("false_failure_bound", UF_FALSE_FAILURE)
    evidence.value("false_failure", UF_FALSE_FAILURE)

    assert int(success.sum()) >= UF_MIN_SUCCESSES, failure(
        CLAIM_UF,
        device,
        torch.float32,
        f"only {int(success.sum())} of {UF_SEEDS} seeds succeed (both nets ≥ {UF_MIN_ACCURACY} "
        f"intact: {int(good.sum())}; advantage at {UF_REMOVED:.0%} removed per seed "
        f"{gaps.round(3)})",
        float(success.sum()),
        f"≥ {UF_MIN_SUCCESSES} successes",
    )


# -- the MLP itself: modes, layers, generator, removal masks, the stack ---------------------------


def _manual_forward(net: MLP, x: torch.Tensor, masks: list[torch.Tensor] | None, q: float) -> Any:
    """relu(h W_lᵀ + b_l) ⊙ m_l / q on the hidden layers, h W_Lᵀ + b_L for the logits."""
    h = x
    last = len(net.weights) - 1
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        h = h @ w.T + b
        if layer < last:
            h = h.clamp_min(0)
            if masks is not None:
                h = h * masks[layer] / q
    return h


@pytest.mark.claim(CLAIM_UF)
@pytest.mark.parametrize("p", [0.2, 0.65])
def test_mlp_modes_layers_and_generator(device: str, p: float) -> None:
    """Training mode drops every hidden layer with inverted dropout, the masks drawn from the
    given generator in layer order (and never the logits); evaluation mode is the plain net (no
    scaling of any weight or bias); the generator, not the global RNG, draws the masks."""
    q = 1.0 - p
    net = MLP(
        [5, 7, 6, 3], p=p, generator=torch.Generator(device=device).manual_seed(0), device=device
    )
    x = torch.randn(400, 5, generator=torch.Generator(device=device).manual_seed(1), device=device)
    t = tol(torch.float32)
    with torch.no_grad():
        net.eval()
        check_close(net(x), _manual_forward(net, x, None, 1.0), t, CLAIM_UF, device, "eval output")
        net.train()
        state = torch.get_rng_state()
        out = net(x, generator=torch.Generator(device=device).manual_seed(9))
        assert torch.equal(torch.get_rng_state(), state), f"{CLAIM_UF}: MLP used the global RNG"
        g = torch.Generator(device=device).manual_seed(9)
        masks = [
            D.keep_mask((400, w), p, device=device, dtype=x.dtype, generator=g) for w in (7, 6)
        ]
        check_close(
            out,
            _manual_forward(net, x, masks, q),
            t,
            CLAIM_UF,
            device,
            "training output ≠ relu layers with keep masks m_l/q drawn in layer order",
        )
        zeros = int((out == 0).sum())
        assert zeros == 0, f"{CLAIM_UF}: {zeros} logits are exactly 0 in training: logits dropped?"
        again = net(x, generator=torch.Generator(device=device).manual_seed(9))
        other = net(x, generator=torch.Generator(device=device).manual_seed(10))
        assert torch.equal(again, out) and not torch.equal(other, out), (
            f"{CLAIM_UF}: training output must be reproducible from the generator's seed"
        )
        assert not torch.equal(net(x), net(x)), f"{CLAIM_UF}: training mode must draw new masks"
        net.eval()
        assert torch.equal(net(x), net(x)), f"{CLAIM_UF}: evaluation mode must be deterministic"


#: The initialization test: per tensor of n entries, an end missed by a tenth of the range
#: (2·0.9^n) or the mean beyond MC_Z standard errors (Bernstein, b/σ = √3); 4 tensors.
FALSE_FAILURES["test_mlp_initialization_and_its_generator"] = sum(
    2 * 0.9**n + bernstein_false_failure(MC_Z, n, math.sqrt(3)) for n in (120_000, 300, 60_000, 200)
)
#: The removal masks: 10 units' removal rates, each a mean of 4000 Bernoulli(0.3) (Bernstein).
FALSE_FAILURES["test_remove_units_masks"] = 10 * bernstein_false_failure(
    MC_Z, 4000, math.sqrt(0.7 / 0.3)
)


@pytest.mark.claim(CLAIM_NL)
@pytest.mark.claim(CLAIM_UF)
def test_mlp_initialization_and_its_generator(device: str) -> None:
    """Both pages' nets start from W_l, b_l ~ U(−1/√fan_in, 1/√fan_in), every entry drawn from
    the given generator: support within the bound, both ends reached (each of max and −min is
    ≥ 0.8·bound unless all n ≥ 200 entries miss a tenth of the range, chance ≤ 2·0.9^200 < 1e-9
    per tensor), the mean within MC_Z standard errors of 0 (Bernstein, b/σ = √3: < 1e-12), and
    the same seed gives the same net, another seed another one."""
    sizes = [400, 300, 200]

    def build(seed: int) -> MLP:
        g = torch.Generator(device=device).manual_seed(seed)
        return MLP(sizes, generator=g, device=device, dtype=torch.float64)

    net = build(0)
    for layer, (fan_in, w, b) in enumerate(zip(sizes, net.weights, net.biases, strict=False)):
        bound = 1 / math.sqrt(fan_in)
        for name, t in ((f"W_{layer + 1}", w.detach()), (f"b_{layer + 1}", b.detach())):
            z = abs(float(t.mean())) / (bound / math.sqrt(3 * t.numel()))
            ok = (
                float(t.abs().max()) <= bound
                and float(t.max()) >= 0.8 * bound
                and float(t.min()) <= -0.8 * bound
                and z <= MC_Z
            )
            assert ok, (
                f"{CLAIM_UF}: {name} must be U(±1/√{fan_in} = ±{bound:.4f}): range "
                f"[{float(t.min()):.4f}, {float(t.max()):.4f}], mean at {z:.1f} SE"
            )
    same, other = build(0), build(1)
    for a, b_, c in zip(net.parameters(), same.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b_) and not torch.equal(a, c), (
            f"{CLAIM_UF}: every weight and bias must come from the generator's seed"
        )


@pytest.mark.claim(CLAIM_UF)
def test_mlp_unit_masks_remove_without_rescaling(device: str) -> None:
    """unit_masks multiply the hidden outputs as given (no 1/q, no rescaling), per copy."""
    net = MLP(
        [4, 6, 2], p=0.5, generator=torch.Generator(device=device).manual_seed(2), device=device
    ).eval()
    x = torch.randn(5, 4, generator=torch.Generator(device=device).manual_seed(3), device=device)
    keep = remove_units(
        6, 0.5, count=3, generator=torch.Generator(device=device).manual_seed(4), device=device
    )  # (3, 6)
    with torch.no_grad():
        out = net(x, unit_masks=[keep[:, None, :]])  # (3, 5, 2)
        for r in range(3):
            h = (x @ net.weights[0].T + net.biases[0]).clamp_min(0) * keep[r]
            check_close(
                out[r],
                h @ net.weights[1].T + net.biases[1],
                tol(torch.float32),
                CLAIM_UF,
                device,
                f"removal copy {r}",
            )


@pytest.mark.claim(CLAIM_UF)
def test_remove_units_masks(device: str) -> None:
    """Each mask removes exactly round(fraction·width) units; the masks of one call are distinct
    and uniform (each unit removed in a fraction of them, within 7.5 standard errors); the
    generator reproduces them."""
    width, frac, count = 10, 0.3, 4000

    def draw(seed: int) -> torch.Tensor:
        g = torch.Generator(device=device).manual_seed(seed)
        return remove_units(width, frac, count=count, generator=g, device=device)

    keep = draw(0)
    assert keep.shape == (count, width) and bool((keep.sum(dim=1) == 7).all()), (
        f"{CLAIM_UF}: every mask must keep exactly 7 of 10 units"
    )
    assert torch.equal(draw(0), keep) and not torch.equal(draw(1), keep), f"{CLAIM_UF}: generator"
    rate = 1 - keep.mean(dim=0).double()  # removal rate per unit, expected 0.3
    z = float(((rate - frac).abs() / math.sqrt(frac * (1 - frac) / count)).max())
    assert z <= MC_Z, failure(
        CLAIM_UF, device, torch.float32, "non-uniform removal", z, f"{MC_Z} SE"
    )
    big = remove_units(
        128, 0.5, count=50, generator=torch.Generator(device=device).manual_seed(0), device=device
    )
    distinct = len({tuple(row.tolist()) for row in big})
    assert distinct == 50, f"{CLAIM_UF}: 50 removal masks of 128 units, only {distinct} distinct"
    for w_, f_, removed in (
        (10, 0.77, 8),
        (10, 0.73, 7),
        (128, 0.9, 115),
        (6, 1.0, 6),
        (6, 0.0, 0),
    ):
        got = remove_units(w_, f_, count=3, device=device).sum(dim=1)  # round(f·w) removed
        assert bool((got == w_ - removed).all()), (
            f"{CLAIM_UF}: remove_units({w_}, {f_}) must remove round({f_}·{w_}) = {removed} "
            f"units, kept {got.tolist()}"
        )
    for dt in (torch.float64, torch.float16):
        m = remove_units(8, 0.5, count=2, device=device, dtype=dt)
        assert m.dtype == dt and m.device.type == torch.device(device).type, (
            f"{CLAIM_UF}: remove_units(dtype={dt}, device={device}) gave {m.dtype} on {m.device}"
        )


@pytest.mark.claim(CLAIM_UF)
def test_stacked_mlp_equals_its_copies_and_trains_each_on_its_own_loss(device: str) -> None:
    """StackedMLP's copies compute what the separate MLPs compute (shared or per-copy input, and
    with per-copy removal masks, which multiply without rescaling), and full-batch
    fit(copies=M) moves each copy as fit moves that MLP alone, under Adam and under plain SGD
    (which, unlike Adam, is not invariant to a wrong scale of each copy's gradient); its
    History.loss is the mean of the copies' losses, and the stack is left in evaluation mode."""

    def build() -> list[MLP]:
        return [
            MLP(
                [4, 5, 3],
                p=0.0,
                generator=torch.Generator(device=device).manual_seed(s),
                device=device,
            )
            for s in range(3)
        ]

    nets = build()
    stack = StackedMLP(nets).eval()
    x = torch.randn(6, 4, generator=torch.Generator(device=device).manual_seed(7), device=device)
    t = tol(torch.float32)
    keep = remove_units(
        5, 0.4, count=6, generator=torch.Generator(device=device).manual_seed(5), device=device
    ).reshape(3, 2, 1, 5)  # 2 removal masks per copy
    with torch.no_grad():
        out = stack(x)
        per = stack(torch.stack([x, 2 * x, -x]))
        removed = stack(x.expand(3, 1, 6, 4), unit_masks=[keep])  # (3, 2, 6, 3)
        for k, net in enumerate(nets):
            check_close(out[k], net(x), t, CLAIM_UF, device, f"stack copy {k}, shared input")
            check_close(
                per[k],
                net((2 * x, 2 * x, -x)[k] if k else x),
                t,
                CLAIM_UF,
                device,
                f"stack copy {k}, own input",
            )
            check_close(
                removed[k],
                net(x, unit_masks=[keep[k]]),
                t,
                CLAIM_UF,
                device,
                f"stack copy {k} with its removal masks",
            )
    y = torch.tensor([0, 1, 2, 0, 1, 2], device=device)
    optimizers: dict[str, Any] = {
        "Adam": None,
        "SGD": lambda ps: torch.optim.SGD(ps, lr=0.5),
    }
    for opt_name, opt in optimizers.items():
        nets = build()
        stack = StackedMLP(nets)
        g = torch.Generator(device=device)
        hist = fit(stack, x, y, epochs=3, generator=g, batch_size=None, copies=3, optimizer=opt)
        assert not stack.training, f"{CLAIM_UF}: fit(copies=3) must leave the stack in eval mode"
        losses = []
        for k, net in enumerate(nets):
            losses.append(
                fit(net, x, y, epochs=3, generator=g, batch_size=None, optimizer=opt).loss
            )
            for a, b in zip(stack.unstack()[k].parameters(), net.parameters(), strict=True):
                check_close(
                    a.detach(),
                    b.detach(),
                    Tol(rtol=1e-5, atol=1e-6),
                    CLAIM_UF,
                    device,
                    f"copy {k} after 3 full-batch {opt_name} steps",
                )
        check_close(
            torch.tensor(hist.loss),
            torch.tensor(losses).mean(dim=0),
            Tol(rtol=1e-5, atol=1e-6),
            CLAIM_UF,
            device,
            f"fit(copies=3).loss ≠ the mean of the copies' losses ({opt_name})",
        )


@pytest.mark.claim(CLAIM_UF)
def test_fit_copies_is_reproducible_from_its_generator(device: str) -> None:
    """fit(copies=M) with minibatches and dropout draws everything (orders and masks) from its
    generator: the same seed gives the same trained stack, another seed another one, and the
    global RNG is left alone."""

    def train(seed: int) -> StackedMLP:
        nets = [
            MLP(
                [4, 6, 3],
                p=0.5,
                generator=torch.Generator(device=device).manual_seed(s),
                device=device,
            )
            for s in range(2)
        ]
        stack = StackedMLP(nets)
        x = torch.randn(
            20, 4, generator=torch.Generator(device=device).manual_seed(1), device=device
        )
        y = torch.arange(20, device=device) % 3
        g = torch.Generator(device=device).manual_seed(seed)
        fit(stack, x, y, epochs=2, generator=g, batch_size=8, copies=2)
        return stack

    state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if torch.device(device).type == "cuda" else None
    a, b, c = train(0), train(0), train(1)
    assert torch.equal(torch.get_rng_state(), state) and (
        cuda_state is None or torch.equal(torch.cuda.get_rng_state(), cuda_state)
    ), f"{CLAIM_UF}: fit(copies=2) used the global RNG"
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc), (
            f"{CLAIM_UF}: fit(copies=2) must be reproducible from its generator's seed"
        )


@pytest.mark.claim(CLAIM_UF)
def test_stacked_mlp_training_mode_drops_each_copy_independently(device: str) -> None:
    """In training mode each copy's hidden layers get their own inverted-dropout masks (drawn
    from the generator as one (M, N, width) mask per layer, in layer order) and the logits none;
    evaluation mode is each copy's plain net."""
    p, q = 0.4, 0.6
    nets = [
        MLP(
            [4, 6, 5, 3],
            p=p,
            generator=torch.Generator(device=device).manual_seed(s),
            device=device,
        )
        for s in range(3)
    ]
    stack = StackedMLP(nets).train()
    x = torch.randn(50, 4, generator=torch.Generator(device=device).manual_seed(8), device=device)
    t = tol(torch.float32)
    with torch.no_grad():
        out = stack(x, generator=torch.Generator(device=device).manual_seed(4))
        g = torch.Generator(device=device).manual_seed(4)
        masks = [
            D.keep_mask((3, 50, w), p, device=device, dtype=x.dtype, generator=g) for w in (6, 5)
        ]
        for k, net in enumerate(nets):
            want = _manual_forward(net, x, [m[k] for m in masks], q)
            check_close(out[k], want, t, CLAIM_UF, device, f"stack copy {k} in training mode")
        assert int((out == 0).sum()) == 0, f"{CLAIM_UF}: stacked logits dropped in training mode"
        assert all(n.training for n in stack.unstack()), f"{CLAIM_UF}: unstack() left train mode"
        assert [n.p for n in stack.unstack()] == [p] * 3, f"{CLAIM_UF}: unstack() lost p = {p}"
        stack.eval()
        assert not any(n.training for n in stack.unstack()), f"{CLAIM_UF}: unstack() left eval"
        for k, net in enumerate(nets):
            check_close(stack(x)[k], net.eval()(x), t, CLAIM_UF, device, f"stack copy {k}, eval")


class _Recorder(torch.nn.Module):
    """Records which examples each copy sees (feature 0 holds the example's index)."""

    def __init__(self, copies: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(copies, 1, 3))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x[..., 0].detach().long())
        return x[..., 1:4] + self.w


@pytest.mark.claim(CLAIM_UF)
def test_fit_copies_draws_an_independent_order_per_copy(device: str) -> None:
    """fit(copies=M): in each epoch every copy sees every example once, with its own labels, in
    its own order (the seeds of dropout.unit-failure are independent trials)."""
    n, copies = 40, 4
    x = torch.zeros(n, 4, device=device)
    x[:, 0] = torch.arange(n, device=device)
    y = torch.arange(n, device=device) % 3
    targets: list[torch.Tensor] = []

    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        targets.append(t)
        return out.pow(2).mean()

    model = _Recorder(copies)
    fit(
        model,
        x,
        y,
        epochs=2,
        generator=torch.Generator(device=device).manual_seed(0),
        loss=loss,
        batch_size=16,
        copies=copies,
    )
    for epoch in range(2):
        seen = torch.cat(model.seen[3 * epoch : 3 * epoch + 3], dim=1)  # (M, n): 16 + 16 + 8
        labels = torch.cat(targets[3 * epoch : 3 * epoch + 3], dim=1)
        for k in range(copies):
            assert torch.equal(seen[k].sort().values, torch.arange(n, device=device)), (
                f"{CLAIM_UF}: copy {k} did not see every example once in epoch {epoch}"
            )
        assert torch.equal(labels, y[seen]), f"{CLAIM_UF}: labels do not follow the examples"
        orders = {tuple(row.tolist()) for row in seen}
        assert len(orders) == copies, f"{CLAIM_UF}: copies share a minibatch order ({epoch=})"
    model, targets[:] = _Recorder(copies), []  # full batch: every copy gets all n examples
    g = torch.Generator(device=device)
    fit(model, x, y, epochs=1, generator=g, loss=loss, batch_size=None, copies=copies)
    want = torch.arange(n, device=device).expand(copies, n)
    assert torch.equal(model.seen[0], want) and torch.equal(targets[0], y.expand(copies, n)), (
        f"{CLAIM_UF}: full-batch fit(copies={copies}) must pass inputs (M, n, ...) and targets "
        f"(M, n), got {tuple(model.seen[0].shape)} and {tuple(targets[0].shape)}"
    )


@pytest.mark.claim(CLAIM_UF)
def test_mlp_bad_inputs() -> None:
    with pytest.raises(ValueError, match="sizes must be a sequence of at least 2"):
        MLP([3])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be an integer ≥ 1"):
        MLP([3, 0, 2])
    with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\)"):
        MLP([3, 4, 2], p=1.0)
    net = MLP([3, 4, 2])
    with pytest.raises(ValueError, match="x must end in 3 features"):
        net(torch.ones(2, 4))
    with pytest.raises(ValueError, match="unit_masks must hold one entry per hidden layer"):
        net(torch.ones(2, 3), unit_masks=[None, None])
    with pytest.raises(
        ValueError,
        match=r"^fraction must be a real number in \[0, 1\] \(the fraction of units removed\), "
        r"got 1\.5$",
    ):
        remove_units(4, 1.5)
    with pytest.raises(ValueError, match=r"width must be an integer ≥ 1"):
        remove_units(0, 0.5)
    keep = remove_units(10, 0.3, count=4)
    assert (keep.sum(dim=1) == 7).all(), f"{CLAIM_UF}: remove_units must remove exactly 3 of 10"


@pytest.mark.claim(CLAIM_UF)
def test_stacked_mlp_and_fit_copies_bad_inputs() -> None:
    nets = [MLP([3, 4, 2]), MLP([3, 4, 2])]
    with pytest.raises(ValueError, match="nets must be a non-empty sequence of MLPs"):
        StackedMLP([])
    with pytest.raises(TypeError, match=r"nets\[1\] must be an MLP, got Linear$"):
        StackedMLP([nets[0], torch.nn.Linear(3, 2)])  # type: ignore[list-item]
    with pytest.raises(
        ValueError, match=r"nets\[0\] has \[3, 4, 2\], p=0\.0; nets\[1\] has \[3, 5, 2\], p=0\.0$"
    ):
        StackedMLP([nets[0], MLP([3, 5, 2])])
    with pytest.raises(
        ValueError, match=r"nets\[0\] has \[3, 4, 2\], p=0\.0; nets\[1\] has \[3, 4, 2\], p=0\.5$"
    ):
        StackedMLP([nets[0], MLP([3, 4, 2], p=0.5)])
    one = StackedMLP([MLP([3, 4, 2], p=0.25)])  # one copy: sizes and p are nets[0]'s
    assert (one.sizes, one.p, one.copies) == ([3, 4, 2], 0.25, 1), f"{CLAIM_UF}: one copy"
    stack = StackedMLP(nets)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\) or \(2, \.\.\., N, 3\)"):
        stack(torch.ones(5, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\) .*got \(3,\)$"):
        stack(torch.ones(3))  # a vector is not (N, 3)
    with pytest.raises(TypeError, match=r"^unit_masks\[0\] must be a torch\.Tensor"):
        stack(torch.ones(5, 3), unit_masks=[[1.0] * 4])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\) or \(2, \.\.\., N, 3\)"):
        stack(torch.ones(3, 5, 3))
    with pytest.raises(ValueError, match="unit_masks must hold one entry per hidden layer"):
        stack(torch.ones(5, 3), unit_masks=[None, None])
    x, y = torch.ones(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"copies must be an integer ≥ 1"):
        fit(stack, x, y, epochs=1, generator=torch.Generator(), copies=0)
    with pytest.raises(TypeError, match=r"copies must be an integer ≥ 1"):
        fit(stack, x, y, epochs=1, generator=torch.Generator(), copies=2.0)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_UF)
def test_mlp_without_hidden_layers_and_x_unlike_the_weights() -> None:
    """`MLP([d, c])` has no hidden layer: its logits are the one affine map `x Wᵀ + b` (the oracle
    is `F.linear` on the same weights), with no ReLU; stacked and unstacked it is the same map.
    An `x` of another dtype or device than the weights is refused naming both."""
    g = torch.Generator().manual_seed(21)
    nets = [MLP([4, 3], generator=g, dtype=torch.float64) for _ in range(2)]
    x = torch.randn(6, 4, generator=g, dtype=torch.float64) * 3  # negative logits: no ReLU
    stack = StackedMLP(nets)
    with torch.no_grad():
        out = stack(x)
        for k, net in enumerate(nets):
            want = F.linear(x, net.weights[0], net.biases[0])
            assert bool((want < 0).any()), "the check needs negative logits"
            check_close(net(x), want, EXACT, CLAIM_UF, "cpu", f"MLP([4, 3]) copy {k}")
            check_close(out[k], want, EXACT, CLAIM_UF, "cpu", f"StackedMLP copy {k}")
            back = stack.unstack()[k]
            check_close(back(x), want, EXACT, CLAIM_UF, "cpu", f"unstack() copy {k}")
    net = nets[0]
    with pytest.raises(TypeError, match=r"^x must have weights's dtype torch\.float64, got"):
        net(x.float())
    with pytest.raises(TypeError, match=r"^x must have weights's dtype torch\.float64, got"):
        stack(x.float())
    with pytest.raises(ValueError, match=r"^x must be on weights's device cpu, got meta"):
        net(x.to("meta"))


@pytest.mark.claim(CLAIM_UF)
@pytest.mark.parametrize("where", ["cpu-float64", "meta-float64", "meta-float32"])
def test_unstack_keeps_the_stacks_device_and_dtype(where: str) -> None:
    """`unstack()` gives MLPs on the stack's device and in its dtype, weights equal entry by
    entry (float64 weights copied into a default-dtype float32 net would be rounded)."""
    device, name = where.split("-")
    dtype = getattr(torch, name)
    g = torch.Generator().manual_seed(22)
    nets = [MLP([3, 5, 2], p=0.25, generator=g, dtype=dtype).to(device) for _ in range(3)]
    stack = StackedMLP(nets)
    for k, back in enumerate(stack.unstack()):
        assert back.sizes == [3, 5, 2] and back.p == 0.25
        for a, b in zip(back.parameters(), nets[k].parameters(), strict=True):
            got = (a.device.type, a.dtype)
            assert got == (device, dtype), f"{CLAIM_UF}: unstack() copy {k} on {got}"
            if device != "meta":
                assert torch.equal(a, b), f"{CLAIM_UF}: unstack() copy {k} changed a weight"
