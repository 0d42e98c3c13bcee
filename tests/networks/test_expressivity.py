"""Tests of spec/networks/expressivity.md: piecewise linearity, maxout, universality and its
limits, depth separation and parity.

Networks are `dlspec.nn.linear.FeedForward` with exact weights from `dlspec.nn.constructions`;
pieces are counted by `dlspec.analysis.pieces.linear_pieces` (from breakpoints), which is itself
checked against an independent formula (one hidden layer) and against the network's values
inside every piece (deep nets). Exact identities run in float64.
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
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dlspec.analysis import pieces as P
from dlspec.nn import activations as ACT
from dlspec.nn import constructions as C
from dlspec.nn.linear import FeedForward, Maxout
from tests import strategies as S
from tests.tolerances import EXACT, Tol, check_close, failure, tol

# =================================================================================================
# net.relu-piecewise-linear
# =================================================================================================

CLAIM_PWL = "net.relu-piecewise-linear"


@st.composite
def _relu_nets(draw: st.DrawFn) -> dict[str, Any]:
    d = draw(S.dims(1, 4))
    sizes = [d, *draw(st.lists(S.dims(1, 8), min_size=1, max_size=3)), draw(S.dims(1, 3))]
    return {
        "sizes": sizes,
        "seed": draw(st.integers(0, 2**31 - 1)),
        "x": draw(S.arrays(d)),
        "delta": draw(S.arrays(d, bound=1.0)),
    }


def _margin(net: FeedForward, x: torch.Tensor) -> float:
    """The smallest |pre-activation| of any hidden unit at x."""
    return min(float(z.abs().min()) for z, _ in net.forward_all(x)[:-1])


@pytest.mark.claim(CLAIM_PWL)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_relu_nets())
@example(
    case={"sizes": [2, 3, 1], "seed": 0, "x": np.array([0.5, -1.0]), "delta": np.array([0.3, 0.2])}
)
def test_relu_net_is_affine_on_its_activation_region(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Where x and x + δ share the activation pattern, f(x + δ) = f(x) + J(x)δ exactly; the
    region's affine map J_P y + c_P (built from the weights and the pattern) equals autograd's
    Jacobian and f."""
    g = torch.Generator(device=device).manual_seed(case["seed"])
    net = FeedForward(case["sizes"], "relu", generator=g, device=device, dtype=dtype)
    x = S.to_torch(case["x"], device, dtype)
    delta = S.to_torch(case["delta"], device, dtype)
    with torch.no_grad():
        assume(_margin(net, x) > 1e-6)  # x is not on a kink
        pattern = P.activation_pattern(net, x)
        for _ in range(40):  # shrink δ into x's region (convex: both ends in it suffice)
            same = all(
                torch.equal(a, b)
                for a, b in zip(pattern, P.activation_pattern(net, x + delta), strict=True)
            )
            if same and _margin(net, x + delta) > 1e-9:
                break
            delta = delta / 2
        else:
            assume(False)
    jac = torch.autograd.functional.jacobian(net, x)  # oracle: (out, d)
    j_p, c_p = P.local_affine_map(net, x)
    t = EXACT
    check_close(j_p, jac, t, CLAIM_PWL, device, "J_P from the pattern vs autograd's Jacobian")
    with torch.no_grad():
        fx, fxd = net(x), net(x + delta)
        check_close(fx, j_p @ x + c_p, t, CLAIM_PWL, device, "f(x) = J_P x + c_P")
        check_close(fxd, fx + jac @ delta, t, CLAIM_PWL, device, "f(x + δ) = f(x) + J(x)δ")


@pytest.mark.claim(CLAIM_PWL)
@pytest.mark.dtypes("float64")
def test_pattern_on_a_kink_follows_the_definition(device: str, dtype: torch.dtype) -> None:
    """The pattern records units with a *positive* pre-activation: on a kink (z = 0) the unit is
    off, and J_P then equals autograd's Jacobian (relu′(0) = 0). N(x) = 2 relu(x) +
    3 relu(½ − x) at x = 0: pattern (off, on), J_P = −3 (a z ≥ 0 pattern would give −1)."""
    net = FeedForward([1, 2, 1], "relu", device=device, dtype=dtype)
    net.load([([[1.0], [-1.0]], [0.0, 0.5]), ([[2.0, 3.0]], [0.0])])
    x = torch.zeros(1, device=device, dtype=dtype)
    (pattern,) = P.activation_pattern(net, x[None])
    assert pattern[0].tolist() == [False, True], f"{CLAIM_PWL}: pattern at a kink {pattern}"
    j_p, c_p = P.local_affine_map(net, x)
    jac = torch.autograd.functional.jacobian(net, x)
    want = torch.tensor([[-3.0]], device=device, dtype=dtype)
    check_close(j_p, want, EXACT, CLAIM_PWL, device, "J_P on a kink")
    check_close(jac, want, EXACT, CLAIM_PWL, device, "autograd's Jacobian on a kink")
    check_close(c_p, torch.full_like(c_p, 1.5), EXACT, CLAIM_PWL, device, "c_P on a kink")


@pytest.mark.claim(CLAIM_PWL)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(step=st.floats(0.01, 1.0))
def test_tanh_net_is_not_locally_affine(device: str, dtype: torch.dtype, step: float) -> None:
    """One tanh unit at x = ½: tanh is strictly concave on (0, ∞), so f(x + δ) < f(x) + f′(x)δ
    for every δ > 0; at δ = ½ the gap is 0.0937, far above rounding."""
    net = FeedForward([1, 1, 1], "tanh", device=device, dtype=dtype)
    net.load([([[1.0]], [0.0]), ([[1.0]], [0.0])])
    x = torch.tensor([0.5], device=device, dtype=dtype)
    jac = torch.autograd.functional.jacobian(net, x)
    for d in (step, 0.5):
        delta = torch.tensor([d], device=device, dtype=dtype)
        with torch.no_grad():
            gap = float((net(x) + jac @ delta - net(x + delta))[0])
        # tanh(½) + (1 − tanh²(½))δ − tanh(½ + δ) > 0, at least δ²·min|tanh″|/2 on [½, 3/2]
        assert gap > 0.5 * d * d * 0.3, failure(
            CLAIM_PWL, device, dtype, f"tanh net looks affine at δ={d}", gap, "gap > 0.15 δ²"
        )
    with torch.no_grad():
        half = float((net(x) + jac @ torch.full_like(x, 0.5) - net(x + 0.5))[0])
    want = math.tanh(0.5) + (1 - math.tanh(0.5) ** 2) * 0.5 - math.tanh(1.0)
    assert abs(half - want) < 1e-12 and round(half, 4) == 0.0937, (
        f"{CLAIM_PWL}: tanh gap at δ = ½ is {half}, expected {want:.6f}"
    )


@pytest.mark.claim(CLAIM_PWL)
@pytest.mark.dtypes("float64")
def test_affine_map_of_identity_and_bias_free_nets(device: str, dtype: torch.dtype) -> None:
    """Identity hidden layers switch nothing off: N(x) = W_2(W_1 x + b_1) + b_2 with W_1 =
    [[1, −1], [2, 1]], b_1 = (0, −5), W_2 = [1, 1], b_2 = ½ has J = W_2 W_1 = [3, 0] and
    c = W_2 b_1 + b_2 = −4.5 everywhere, also at x = 0 where z_1 = (0, −5) would switch both
    units off in a ReLU net. A ReLU net without biases, W_1 = (1, −2, ½)ᵀ, W_2 = [1, 2, 4], at
    x = 1: z_1 = (1, −2, ½), units 1 and 3 on, J = 1·1 + 4·½ = 3 and c = 0."""
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    ident = FeedForward([2, 2, 1], "identity", **where)
    ident.load([([[1.0, -1.0], [2.0, 1.0]], [0.0, -5.0]), ([[1.0, 1.0]], [0.5])])
    j_p, c_p = P.local_affine_map(ident, torch.zeros(2, **where))
    check_close(j_p, torch.tensor([[3.0, 0.0]], **where), EXACT, CLAIM_PWL, device, "identity J")
    check_close(c_p, torch.tensor([-4.5], **where), EXACT, CLAIM_PWL, device, "identity c")
    plain = FeedForward([1, 3, 1], "relu", bias=False, **where)
    plain.load([([[1.0], [-2.0], [0.5]], None), ([[1.0, 2.0, 4.0]], None)])
    x = torch.ones(1, **where)
    j_p, c_p = P.local_affine_map(plain, x)
    check_close(j_p, torch.tensor([[3.0]], **where), EXACT, CLAIM_PWL, device, "bias-free J")
    check_close(c_p, torch.zeros(1, **where), EXACT, CLAIM_PWL, device, "bias-free c")
    with torch.no_grad():
        check_close(plain(x), j_p @ x + c_p, EXACT, CLAIM_PWL, device, "bias-free f(x)")


def _two_slopes(s1: float, s2: float) -> FeedForward:
    """`f(x) = s2·relu(x) − s1·relu(−x)`: slope s1 left of 0, s2 right of it (float64)."""
    net = FeedForward([1, 2, 1], "relu", dtype=torch.float64)
    net.load([([[1.0], [-1.0]], [0.0, 0.0]), ([[s2, -s1]], [0.0])])
    return net


@pytest.mark.claim(CLAIM_PWL)
def test_pieces_merge_rule_and_endpoint_zeros() -> None:
    """Neighbouring slopes merge exactly when they differ by at most `rtol · max(1, max|slope|)`
    (the docstring's rule, at both sides of `max(1, ·)` and at equality); a pre-activation that
    is 0 exactly at a segment's end adds no breakpoint (only strict sign changes do)."""
    cases = [  # (s1, s2, rtol, pieces): the slopes differ by δ; scale = rtol · max(1, |s|max)
        (10.0, 10.05, 0.01, 1),  # δ = 0.05 ≤ 0.1005
        (10.0, 10.15, 0.01, 2),  # δ = 0.15 > 0.1015
        (0.5, 0.515, 0.01, 2),  # δ = 0.015 > 0.01 · max(1, 0.515) = 0.01
        (0.5, 0.505, 0.01, 1),  # δ = 0.005 ≤ 0.01
        (0.0, 0.25, 0.25, 1),  # δ = 0.25 = 0.25 · 1 exactly: "at most" merges
        (0.0, 0.25, 0.125, 2),
    ]
    for s1, s2, rtol, want in cases:
        got = P.linear_pieces(_two_slopes(s1, s2), -1.0, 1.0, rtol=rtol)
        assert len(got.slopes) == want, (
            f"{CLAIM_PWL}: slopes {s1}, {s2} with rtol {rtol}: {len(got.slopes)} pieces, not {want}"
        )
    # relu(x − a) on [a, b] with a unit relu(x − b) beside it (weight 0): both pre-activations
    # are 0 exactly at an end of [a, b]; x = a + (b − a) rounds to b − 9e-16 for these a, b
    a, b = -8.656357558875987, 0.8474337369372327
    net = FeedForward([1, 2, 1], "relu", dtype=torch.float64)
    net.load([([[1.0], [1.0]], [-a, -b]), ([[1.0, 0.0]], [0.0])])
    got = P.linear_pieces(net, a, b)
    assert got.breakpoints.tolist() == [a, b] and got.slopes.tolist() == [1.0], (
        f"{CLAIM_PWL}: zeros at the ends of [a, b] made breakpoints {got.breakpoints.tolist()}"
    )
    with pytest.raises(TypeError, match=r"^a must be a real number"):
        P.linear_pieces(net, "0", 1.0)  # type: ignore[arg-type]
    affine = FeedForward([1, 1], dtype=torch.float64)  # no hidden layer: one affine piece
    affine.load([([[2.0]], [0.5])])
    got = P.linear_pieces(affine, -1.0, 1.0)
    assert (got.breakpoints.tolist(), got.values.tolist(), got.slopes.tolist()) == (
        [-1.0, 1.0],
        [-1.5, 2.5],
        [2.0],
    ), f"{CLAIM_PWL}: 2x + 0.5 on [−1, 1] gave {got}"


@pytest.mark.claim(CLAIM_PWL)
def test_pieces_bad_input() -> None:
    with pytest.raises(
        ValueError,
        match=r"piecewise linear: .* in \('relu', 'identity'\), got 'tanh' and 'identity'",
    ):
        P.linear_pieces(FeedForward([1, 2, 1], "tanh"), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"got 'relu' and 'sigmoid'"):
        P.activation_pattern(FeedForward([1, 2, 1], output="sigmoid"), torch.ones(1, 1))
    with pytest.raises(
        ValueError, match=r"net must map R → R \(sizes 1 → … → 1\), got sizes \[2, 2, 1\]"
    ):
        P.linear_pieces(FeedForward([2, 2, 1]), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"got sizes \[1, 2, 3\]"):
        P.linear_pieces(FeedForward([1, 2, 3]), 0.0, 1.0)
    with pytest.raises(TypeError, match="net must be a dlspec FeedForward network, got Linear"):
        P.linear_pieces(torch.nn.Linear(1, 1), 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"a < b, got a=1\.0, b=1\.0"):
        P.linear_pieces(FeedForward([1, 2, 1]), 1.0, 1.0)
    with pytest.raises(ValueError, match="single network"):
        P.linear_pieces(FeedForward([1, 2, 1], copies=2), 0.0, 1.0)
    with pytest.raises(ValueError, match="needs output='identity'"):
        P.local_affine_map(FeedForward([2, 2, 1], output="relu"), torch.ones(2))
    with pytest.raises(ValueError, match="x must be 1-D"):
        P.local_affine_map(FeedForward([2, 2, 1]), torch.ones(3, 2))


# =================================================================================================
# net.maxout-generalizes-relu
# =================================================================================================

CLAIM_MAX = "net.maxout-generalizes-relu"
#: Multiples of 1/32 in [−3, 3]: crossings and breakpoints coincide exactly or lie ≥ ~1e-4 apart
#: (a hypothesis-drawn 1e-139 would make a piece too narrow to resolve in float64).
DYADIC = st.integers(-96, 96).map(lambda v: v / 32)


@pytest.mark.claim(CLAIM_MAX)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(z=S.arrays((3, 4), bound=10.0), z2=S.arrays((3, 4), bound=10.0))
@example(z=np.zeros((3, 4)), z2=np.zeros((3, 4)))
def test_relu_and_max_are_maxout(
    device: str, dtype: torch.dtype, z: np.ndarray[Any, Any], z2: np.ndarray[Any, Any]
) -> None:
    """relu(z) = maxout over (z, 0), exactly; max(z1, z2) = z2 + relu(z1 − z2)."""
    a, b = S.to_torch(z, device, dtype), S.to_torch(z2, device, dtype)
    pairs = torch.stack([a, torch.zeros_like(a)], dim=-1).reshape(3, 8)  # pieces (z_i, 0)
    assert torch.equal(ACT.maxout(pairs, 2), ACT.relu(a)), f"{CLAIM_MAX}: relu ≠ maxout(z, 0)"
    assert torch.equal(ACT.relu(a), torch.nn.functional.relu(a)), f"{CLAIM_MAX}: relu ≠ F.relu"
    both = torch.stack([a, b], dim=-1).reshape(3, 8)
    check_close(
        b + ACT.relu(a - b),
        ACT.maxout(both, 2),
        tol(dtype),
        CLAIM_MAX,
        device,
        "max(z1, z2) = z2 + relu(z1 − z2)",
    )


@pytest.mark.claim(CLAIM_MAX)
def test_two_piece_maxout_is_abs(device: str, dtype: torch.dtype) -> None:
    unit = Maxout(1, 1, 2, device=device, dtype=dtype)
    unit.linear.load([[1.0], [-1.0]], [0.0, 0.0])  # pieces x and −x
    x = torch.linspace(-3.0, 3.0, 61, device=device, dtype=dtype)[:, None]
    with torch.no_grad():
        assert torch.equal(unit(x), x.abs()), f"{CLAIM_MAX} [{device}, {dtype}]: maxout ≠ |x|"


@pytest.mark.claim(CLAIM_MAX)
def test_maxout_groups_the_last_dimension_of_any_rank(device: str, dtype: torch.dtype) -> None:
    """maxout(z, k) takes the max over consecutive groups of k along the LAST dimension for a
    vector and for a (2, 3, 6) stack alike (expected values written out by hand); a 0-d tensor has
    no dimension to group and is refused with a ValueError."""
    z = torch.tensor([3.0, -1.0, 0.5, 2.0, -4.0, -2.0], device=device, dtype=dtype)
    want = torch.tensor([3.0, 2.0, -2.0], device=device, dtype=dtype)  # max of (3, −1), …
    assert torch.equal(ACT.maxout(z, 2), want), f"{CLAIM_MAX} [{device}]: maxout of a vector"
    want3 = torch.tensor([3.0, 2.0], device=device, dtype=dtype)  # max of (3, −1, 0.5), …
    assert torch.equal(ACT.maxout(z, 3), want3), f"{CLAIM_MAX} [{device}]: 3 pieces"
    stack = torch.stack([torch.stack([z, -z, 2 * z]), torch.stack([z + 1, z - 1, z.flip(0)])])
    got = ACT.maxout(stack, 2)  # (2, 3, 6) → (2, 3, 3)
    assert got.shape == (2, 3, 3), f"{CLAIM_MAX} [{device}]: shape {tuple(got.shape)}"
    for i in range(2):
        for j in range(3):
            row = stack[i, j]
            assert torch.equal(got[i, j], ACT.maxout(row, 2)), (
                f"{CLAIM_MAX} [{device}]: maxout of a (2, 3, 6) stack, row ({i}, {j})"
            )
    want_neg = torch.tensor([1.0, -0.5, 4.0], device=device, dtype=dtype)  # of −z, by hand
    assert torch.equal(got[0, 1], want_neg), f"{CLAIM_MAX} [{device}]: maxout of −z"
    with pytest.raises(ValueError, match=r"multiple of k=1 .*got shape \(\)"):
        ACT.maxout(torch.tensor(1.0, device=device, dtype=dtype), 1)


@st.composite
def _maxout_units(draw: st.DrawFn) -> dict[str, Any]:
    d, k, m = draw(S.dims(1, 3)), draw(S.dims(1, 5)), draw(S.dims(1, 3))
    return {
        "d": d,
        "k": k,
        "m": m,
        "seed": draw(st.integers(0, 2**31 - 1)),
        "x": draw(S.arrays((4, d))),
        "y": draw(S.arrays((4, d))),
    }


@pytest.mark.claim(CLAIM_MAX)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_maxout_units())
def test_maxout_matches_oracle_and_is_convex(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Maxout = nn.Linear(d, m·k).view(…, m, k).amax(−1), forward and backward; each unit is
    midpoint-convex: h((x + y)/2) ≤ (h(x) + h(y))/2."""
    d, k, m = case["d"], case["k"], case["m"]
    g = torch.Generator(device=device).manual_seed(case["seed"])
    unit = Maxout(d, m, k, generator=g, device=device, dtype=dtype)
    # the generator alone draws the pieces: its seed rebuilds the same unit
    g.manual_seed(case["seed"])
    again = Maxout(d, m, k, generator=g, device=device, dtype=dtype)
    for name, a, b in (
        ("W", again.linear.weight, unit.linear.weight),
        ("b", again.linear.bias, unit.linear.bias),
    ):
        assert torch.equal(a, b), f"{CLAIM_MAX}: Maxout's {name} not drawn from its generator"
    lin = torch.nn.Linear(d, m * k, device=device, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(unit.linear.weight)
        lin.bias.copy_(unit.linear.bias)
    x = S.to_torch(case["x"], device, dtype).requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    out, ref = unit(x), lin(xr).view(4, m, k).amax(-1)
    check_close(out, ref, EXACT, CLAIM_MAX, device, "Maxout vs nn.Linear + amax")
    out.sum().backward()
    ref.sum().backward()
    assert x.grad is not None and xr.grad is not None
    check_close(x.grad, xr.grad, EXACT, CLAIM_MAX, device, "Maxout backward")
    y = S.to_torch(case["y"], device, dtype)
    with torch.no_grad():
        mid, avg = unit((x + y) / 2), (unit(x) + unit(y)) / 2
    slack = 1e-12 * (1 + avg.abs())
    assert bool((mid <= avg + slack).all()), failure(
        CLAIM_MAX, device, dtype, "maxout unit is not convex", float((mid - avg).max()), "≤ 0"
    )


@pytest.mark.claim(CLAIM_MAX)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(
    w=st.lists(DYADIC, min_size=5, max_size=5).map(np.array),
    b=st.lists(DYADIC, min_size=5, max_size=5).map(np.array),
    k=S.dims(1, 5),
)
def test_one_d_maxout_is_piecewise_linear_with_at_most_k_pieces(
    device: str, dtype: torch.dtype, w: np.ndarray[Any, Any], b: np.ndarray[Any, Any], k: int
) -> None:
    """h(x) = max_j (w_j x + b_j) on [−R, R]: between consecutive crossing points of the pieces
    h is one of the lines; slopes are non-decreasing (convex) and take at most k values."""
    unit = Maxout(1, 1, k, device=device, dtype=dtype)
    unit.linear.load(S.to_torch(w[:k, None], device, dtype), S.to_torch(b[:k], device, dtype))
    r = 10.0
    cand = [-r, r]
    for i, j in itertools.combinations(range(k), 2):
        if w[i] != w[j]:
            t = (b[j] - b[i]) / (w[i] - w[j])
            if -r < t < r:
                cand.append(float(t))
    xs = torch.tensor(sorted(set(cand)), device=device, dtype=dtype)
    with torch.no_grad():
        h = unit(xs[:, None])[:, 0]
        slopes = (h[1:] - h[:-1]) / (xs[1:] - xs[:-1])
        mids = (xs[1:] + xs[:-1]) / 2
        h_mid = unit(mids[:, None])[:, 0]
    check_close(h_mid, (h[1:] + h[:-1]) / 2, EXACT, CLAIM_MAX, device, "linear between points")
    assert bool((slopes[1:] >= slopes[:-1] - 1e-9).all()), f"{CLAIM_MAX}: slopes decrease"
    distinct = torch.unique(torch.round(slopes * 1e6))
    assert distinct.numel() <= k, f"{CLAIM_MAX}: {distinct.numel()} slopes from {k} pieces"


# =================================================================================================
# net.universality
# =================================================================================================

CLAIM_UNI = "net.universality"
UNI_A, UNI_B = -1.0, 2.0
GRID = 20_001


@st.composite
def _sine_sums(draw: st.DrawFn) -> dict[str, Any]:
    terms = draw(st.integers(1, 3))
    return {
        "amp": [draw(st.floats(-2.0, 2.0)) for _ in range(terms)],
        "omega": [draw(st.floats(0.1, 10.0)) for _ in range(terms)],
        "phase": [draw(st.floats(0.0, 2 * math.pi)) for _ in range(terms)],
        "n": draw(st.integers(1, 64)),
    }


def _sine_sum(case: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    parts = zip(case["amp"], case["omega"], case["phase"], strict=True)
    return sum((a * torch.sin(w * x + p) for a, w, p in parts), torch.zeros_like(x))


@pytest.mark.claim(CLAIM_UNI)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_sine_sums())
@example(case={"amp": [1.0], "omega": [3.0], "phase": [0.0], "n": 1})
@example(case={"amp": [2.0, -0.5], "omega": [10.0, 7.0], "phase": [0.3, 1.0], "n": 64})
def test_interpolating_net_error_bound(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """n ReLUs interpolate f at the n + 1 knots; sup error on a 20 001-point grid ≤ L(b−a)/(2n)."""
    n = case["n"]
    lip = sum(abs(a * w) for a, w in zip(case["amp"], case["omega"], strict=True))  # L
    xk = C.knots(UNI_A, UNI_B, n, device=device, dtype=dtype)
    net = C.interpolating_relu_net(UNI_A, UNI_B, _sine_sum(case, xk))
    assert net.sizes == [1, n, 1], f"{CLAIM_UNI}: sizes {net.sizes}, expected [1, {n}, 1]"
    grid = torch.linspace(UNI_A, UNI_B, GRID, device=device, dtype=dtype)
    with torch.no_grad():
        at_knots = net(xk[:, None])[:, 0]
        err = float((net(grid[:, None])[:, 0] - _sine_sum(case, grid)).abs().max())
    knot_tol = Tol(rtol=0.0, atol=1e-12 * (1 + lip * (UNI_B - UNI_A)))
    check_close(at_knots, _sine_sum(case, xk), knot_tol, CLAIM_UNI, device, "N(x_i) = f(x_i)")
    bound = lip * (UNI_B - UNI_A) / (2 * n)
    assert err <= bound + 1e-12, failure(
        CLAIM_UNI,
        device,
        dtype,
        f"sup error exceeds L(b−a)/(2n) (n={n}, L={lip:.3g})",
        err,
        f"≤ {bound:.3g}",
    )


@pytest.mark.claim(CLAIM_UNI)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(lip=st.floats(0.1, 10.0), n=st.integers(1, 64))
@example(lip=1.0, n=64)
def test_bound_is_tight(device: str, dtype: torch.dtype, lip: float, n: int) -> None:
    """f = L·(distance to the nearest knot) is L-Lipschitz, zero at every knot: N ≡ 0 and the
    error at each cell midpoint is exactly L(b − a)/(2n)."""
    h = (UNI_B - UNI_A) / n
    xk = C.knots(UNI_A, UNI_B, n, device=device, dtype=dtype)
    net = C.interpolating_relu_net(UNI_A, UNI_B, torch.zeros_like(xk))
    mids = (xk[1:] + xk[:-1]) / 2
    f_mid = lip * (mids - xk[:-1])  # L·min(t, h − t) at t = h/2
    with torch.no_grad():
        err = (net(mids[:, None])[:, 0] - f_mid).abs()
    want = torch.full_like(err, lip * h / 2)
    check_close(err, want, EXACT, CLAIM_UNI, device, f"midpoint error = Lh/2 (n={n}, L={lip})")


@pytest.mark.claim(CLAIM_UNI)
def test_universality_figure(evidence: Any) -> None:
    """f(x) = sin 3x + ½ sin 7x on [−1, 2] and its interpolants with n = 4, 8, 16 ReLUs."""
    import matplotlib.pyplot as plt

    case = {"amp": [1.0, 0.5], "omega": [3.0, 7.0], "phase": [0.0, 0.0]}
    lip = 3.0 + 3.5
    grid = torch.linspace(UNI_A, UNI_B, 2001, dtype=torch.float64)
    f = _sine_sum(case, grid)
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    ax.plot(grid, f, color="black", lw=2, label="f(x) = sin 3x + ½ sin 7x")
    errors = {}
    for n, color in ((4, "tab:red"), (8, "tab:orange"), (16, "tab:blue")):
        xk = C.knots(UNI_A, UNI_B, n)
        net = C.interpolating_relu_net(UNI_A, UNI_B, _sine_sum(case, xk))
        with torch.no_grad():
            y = net(grid[:, None])[:, 0]
        err = float((y - f).abs().max())
        bound = lip * (UNI_B - UNI_A) / (2 * n)
        assert err <= bound, f"{CLAIM_UNI}: n={n} error {err} > bound {bound}"
        errors[n] = (round(err, 4), round(bound, 4))
        ax.plot(
            grid, y, color=color, lw=1, label=f"n = {n} ReLUs: max error {err:.3f} ≤ {bound:.3f}"
        )
        ax.plot(xk, _sine_sum(case, xk), "o", color=color, ms=3)
    ax.set_xlabel("x")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    ax.set_title("One hidden layer of n ReLUs interpolating f at n + 1 knots")
    evidence.figure(fig, "net-universality-interpolant")
    plt.close(fig)
    evidence.value("max_error_and_bound_n4_n8_n16", [list(v) for v in errors.values()])


@pytest.mark.claim(CLAIM_UNI)
@pytest.mark.dtypes("float32", "float64")
def test_interpolating_net_kinks_are_the_knots_in_its_dtype(
    device: str, dtype: torch.dtype
) -> None:
    """In float32 too, unit i of the net is relu(x − x_i) at exactly the knots `knots(a, b, n)`
    gives in values' dtype (the points the caller evaluated f on): knots computed in float64
    and rounded differ from them in the last bit for most n, and N(x_i) would miss f(x_i)."""
    for n in (3, 7, 10, 29):
        xk = C.knots(UNI_A, UNI_B, n, device=device, dtype=dtype)
        values = torch.sin(3 * xk)
        net = C.interpolating_relu_net(UNI_A, UNI_B, values)
        first, second = net.layers
        assert first.bias.dtype == dtype and torch.equal(
            first.weight, torch.ones_like(first.weight)
        )
        assert torch.equal(first.bias, -xk[:-1]), failure(
            CLAIM_UNI,
            device,
            dtype,
            f"kinks ≠ knots (n={n})",
            float((first.bias + xk[:-1]).abs().max()),
            "exact",
        )
        assert torch.equal(second.bias, values[:1]), f"{CLAIM_UNI}: N(a) = f(a) (n={n})"


@pytest.mark.claim(CLAIM_UNI)
def test_constructions_bad_input() -> None:
    v = torch.zeros(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="a < b"):
        C.interpolating_relu_net(1.0, 0.0, v)
    with pytest.raises(ValueError, match=r"a < b, got a=1\.0, b=1\.0"):
        C.knots(1.0, 1.0, 3)  # an empty interval: every knot would be a, h = 0
    with pytest.raises(ValueError, match="values must hold f at n"):
        C.interpolating_relu_net(0.0, 1.0, v[:1])
    with pytest.raises(ValueError, match="values must be 1-D"):
        C.interpolating_relu_net(0.0, 1.0, v.reshape(1, 5))
    with pytest.raises(TypeError, match="values must be a floating-point tensor"):
        C.interpolating_relu_net(0.0, 1.0, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"a must be a real number"):
        C.knots(math.nan, 1.0, 3)
    with pytest.raises(ValueError, match="n must be an integer ≥ 1"):
        C.knots(0.0, 1.0, 0)
    with pytest.raises(ValueError, match="k must be an integer ≥ 1"):
        C.tent_map_net(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        C.parity_net(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        C.shallow_tent_map_net(2, dtype=torch.int32)


# =================================================================================================
# net.universality-needs-nonpolynomial
# =================================================================================================

CLAIM_POLY = "net.universality-needs-nonpolynomial"
CERT_POINTS = [-1.0, -0.5, 0.0, 0.5, 1.0]
CERT_WEIGHTS = [1 / 16, -4 / 16, 6 / 16, -4 / 16, 1 / 16]  # 4th difference / 16
# Best uniform approximation of |x| on [−1, 1] by a polynomial of degree ≤ 4 (Remez, float64):
# p*(x) = A + B x² + C x⁴ equioscillates at 0, ±T1, ±T2, ±1 with error E4.
E4 = 0.067620899277784
REMEZ_A, REMEZ_B, REMEZ_C = 0.067620899277784, 1.930299369744947, -1.065541168300515
T1, T2 = 0.284431583143087, 0.777081536424165


@functools.cache
def polynomial_derivation() -> dict[str, Any]:
    """Degrees of symbolic z² nets, and the 5-point certificate for quadratics."""
    x = sp.Symbol("x", real=True)
    w, b, c = sp.symbols("w0:3"), sp.symbols("b0:3"), sp.symbols("c0:3")
    d = sp.Symbol("d", real=True)
    one = sum(c[i] * (w[i] * x + b[i]) ** 2 for i in range(3)) + d  # width 3, depth 1
    v = sp.symbols("v0:4")
    h = [(w[i] * x + b[i]) ** 2 for i in range(2)]  # depth 2, width 2
    two = sum(c[j] * (v[2 * j] * h[0] + v[2 * j + 1] * h[1] + b[2]) ** 2 for j in range(2)) + d
    cubic = sp.Poly(sp.symbols("p0:4"), x)  # a generic cubic's coefficients, as a polynomial
    p = sum(sp.Symbol(f"p{i}") * x**i for i in range(4))
    functional = (
        sum(
            sp.Rational(k) * p.subs(x, t)
            for k, t in zip(
                (1, -4, 6, -4, 1), (-1, sp.Rational(-1, 2), 0, sp.Rational(1, 2), 1), strict=True
            )
        )
        / 16
    )
    on_abs = (
        sum(
            sp.Rational(k) * abs(t)
            for k, t in zip(
                (1, -4, 6, -4, 1), (-1, sp.Rational(-1, 2), 0, sp.Rational(1, 2), 1), strict=True
            )
        )
        / 16
    )
    del cubic
    return {
        "deg1": sp.Poly(sp.expand(one), x).degree(),
        "deg2": sp.Poly(sp.expand(two), x).degree(),
        "kills_cubics": sp.expand(functional),
        "on_abs": on_abs,
    }


@pytest.mark.claim(CLAIM_POLY)
def test_square_nets_are_low_degree_polynomials_sympy() -> None:
    der = polynomial_derivation()
    assert der["deg1"] == 2, f"{CLAIM_POLY}: depth-1 z² net has degree {der['deg1']}, not 2"
    assert der["deg2"] == 4, f"{CLAIM_POLY}: depth-2 z² net has degree {der['deg2']}, not 4"
    assert der["kills_cubics"] == 0, f"{CLAIM_POLY}: functional on cubics {der['kills_cubics']}"
    assert der["on_abs"] == sp.Rational(-1, 8), f"{CLAIM_POLY}: functional on |x| {der['on_abs']}"


def _certificate(points: list[float]) -> tuple[np.ndarray[Any, Any], float]:
    """Divided-difference weights c on len(points) points (they annihilate polynomials of degree
    ≤ len − 2) and the lower bound |Σ c_i |x_i|| / Σ |c_i| on max_i ||x_i| − p(x_i)|."""
    pts = np.array(points)
    c = np.array([1.0 / np.prod([p - q for q in pts if q != p]) for p in pts])
    return c, abs(float(c @ np.abs(pts))) / float(np.abs(c).sum())


@st.composite
def _square_nets(draw: st.DrawFn) -> dict[str, Any]:
    depth = draw(st.integers(1, 2))
    widths = draw(st.lists(S.dims(1, 6), min_size=depth, max_size=depth))
    return {
        "sizes": [1, *widths, 1],
        "seed": draw(st.integers(0, 2**31 - 1)),
        "scale": draw(st.floats(0.1, 3.0)),
    }


@pytest.mark.claim(CLAIM_POLY)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_square_nets())
def test_square_nets_stay_away_from_abs(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Every drawn z² net misses |x| by ≥ 1/8 (depth 1) or ≥ E4 = 0.0676 (depth 2) at the
    certificate's points."""
    g = torch.Generator(device=device).manual_seed(case["seed"])
    net = FeedForward(case["sizes"], "square", generator=g, device=device, dtype=dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(case["scale"])
    depth = len(case["sizes"]) - 2
    pts = CERT_POINTS if depth == 1 else [-1.0, -T2, -T1, 0.0, T1, T2]
    _, bound = _certificate(pts)
    x = torch.tensor(pts, device=device, dtype=dtype)[:, None]
    with torch.no_grad():
        err = float((net(x)[:, 0] - x[:, 0].abs()).abs().max())
    assert err >= bound * (1 - 1e-9), failure(
        CLAIM_POLY,
        device,
        dtype,
        f"a depth-{depth} z² net comes closer to |x| than the bound",
        err,
        f"≥ {bound:.6f}",
    )


@pytest.mark.claim(CLAIM_POLY)
@pytest.mark.dtypes("float64")
def test_bounds_are_attained(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """x² + 1/8 (one z² unit) is within 1/8 of |x| on [−1, 1]; the depth-2 net
    A + B x² + C x⁴ = A − B/2 + (B/2)(x² + 1)² + (C − B/2)(x²)² is within E4, and E4 is
    also the 6-point certificate's lower bound: depth 2 cannot do better."""
    grid = torch.linspace(-1.0, 1.0, GRID, device=device, dtype=dtype)[:, None]
    one = FeedForward([1, 1, 1], "square", device=device, dtype=dtype)
    one.load([([[1.0]], [0.0]), ([[1.0]], [0.125])])
    two = FeedForward([1, 1, 2, 1], "square", device=device, dtype=dtype)
    two.load(
        [
            ([[1.0]], [0.0]),  # u = x²
            ([[1.0], [1.0]], [1.0, 0.0]),  # (u + 1)², u²
            ([[REMEZ_B / 2, REMEZ_C - REMEZ_B / 2]], [REMEZ_A - REMEZ_B / 2]),
        ]
    )
    with torch.no_grad():
        e1 = float((one(grid) - grid.abs()).abs().max())
        e2 = float((two(grid) - grid.abs()).abs().max())
    _, lower1 = _certificate(CERT_POINTS)
    _, lower2 = _certificate([-1.0, -T2, -T1, 0.0, T1, T2])
    assert abs(lower1 - 0.125) < 1e-15 and abs(e1 - 0.125) < 1e-12, (
        f"{CLAIM_POLY}: depth 1: certificate {lower1}, x² + 1/8 error {e1}; both should be 1/8"
    )
    assert abs(lower2 - E4) < 1e-12 and E4 - 1e-12 <= e2 <= E4 + 1e-12, (
        f"{CLAIM_POLY}: depth 2: certificate {lower2}, construction {e2}, expected {E4}"
    )
    assert round(E4, 4) == 0.0676
    evidence.value("depth1_best_error", e1)
    evidence.value("depth2_certificate", lower2)
    evidence.value("depth2_construction_error", e2)


# =================================================================================================
# net.depth-separation
# =================================================================================================

CLAIM_DEPTH = "net.depth-separation"


@pytest.mark.claim(CLAIM_DEPTH)
@pytest.mark.parametrize("k", range(1, 11))
@pytest.mark.dtypes("float64")
def test_tent_map_has_two_to_the_k_pieces(device: str, dtype: torch.dtype, k: int) -> None:
    """Δ^k (k layers of 2 ReLUs) on [0, 1]: exactly 2^k pieces, slopes ±2^k, Δ^k(j/2^k) = j mod 2,
    equal on the dyadic grid j/2^{k+2} to the one-hidden-layer net of 2^k ReLUs."""
    deep = C.tent_map_net(k, device=device, dtype=dtype)
    shallow = C.shallow_tent_map_net(k, device=device, dtype=dtype)
    assert deep.sizes == [1] + [2] * k + [1] and shallow.sizes == [1, 2**k, 1]
    pieces = P.linear_pieces(deep, 0.0, 1.0, rtol=0.0)  # dyadic: exact, no tolerance
    assert pieces.count == 2**k, f"{CLAIM_DEPTH}: Δ^{k} has {pieces.count} pieces, not {2**k}"
    assert bool((pieces.slopes.abs() == 2.0**k).all()), f"{CLAIM_DEPTH}: slopes of Δ^{k}"
    j = torch.arange(2**k + 1, device=device, dtype=dtype)
    expected_bp = j / 2**k
    assert torch.equal(pieces.breakpoints, expected_bp), f"{CLAIM_DEPTH}: breakpoints of Δ^{k}"
    with torch.no_grad():
        assert torch.equal(deep(expected_bp[:, None])[:, 0], j.remainder(2)), (
            f"{CLAIM_DEPTH}: Δ^{k}(j/2^k) ≠ j mod 2"
        )
        fine = torch.arange(2 ** (k + 2) + 1, device=device, dtype=dtype)[:, None] / 2 ** (k + 2)
        assert torch.equal(deep(fine), shallow(fine)), f"{CLAIM_DEPTH}: deep ≠ shallow, k={k}"
    assert P.linear_pieces(shallow, 0.0, 1.0, rtol=0.0).count == 2**k


@pytest.mark.claim(CLAIM_DEPTH)
@pytest.mark.parametrize("k", range(1, 5))
@pytest.mark.dtypes("float64")
def test_two_to_the_k_minus_one_units_cannot_equal_tent_map(
    device: str, dtype: torch.dtype, k: int, evidence: Any
) -> None:
    """The impossibility half of the claim, checked exhaustively for k ≤ 4. With m = 2^k − 1
    units, each interior kink j/2^k of Δ^k needs its own unit (the piece count of
    `test_one_hidden_layer_pieces`), so unit j is c_j·relu(s_j (x − j/2^k)) with s_j = ±1 (|w_j|
    is absorbed into c_j). For every one of the 2^m orientations s, the least-squares fit of
    (c, d) to Δ^k on the grid i/2^{k+1} leaves a residual ≥ 0.1: no such network equals Δ^k.
    With 2^k units the same fit (with one more unit, relu(x)) is exact."""
    m = 2**k - 1
    kinks = torch.arange(1, 2**k, device=device, dtype=dtype) / 2**k
    x = torch.arange(2 ** (k + 1) + 1, device=device, dtype=dtype) / 2 ** (k + 1)
    deep = C.tent_map_net(k, device=device, dtype=dtype)
    with torch.no_grad():
        target = deep(x[:, None])[:, 0]  # Δ^k on the grid
    signs = torch.tensor(list(itertools.product([1.0, -1.0], repeat=m)), device=device, dtype=dtype)
    hidden = ACT.relu(signs[:, None, :] * (x[None, :, None] - kinks))  # (2^m, grid, m)
    design = torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1)  # columns c, then d
    rhs = target.expand(signs.shape[0], -1)[..., None]
    fit = torch.linalg.lstsq(design, rhs).solution
    residual = float(torch.linalg.vector_norm(design @ fit - rhs, dim=(-2, -1)).min())
    assert residual >= 0.1, failure(
        CLAIM_DEPTH,
        device,
        dtype,
        f"a net of 2^{k} − 1 = {m} units fits Δ^{k} on the grid",
        residual,
        "≥ 0.1",
    )
    # the check has power: relu(x) plus the units relu(x − j/2^k) (2^k in all) fit exactly
    full = torch.cat([ACT.relu(x)[:, None], hidden[0], torch.ones_like(x)[:, None]], dim=-1)
    exact = torch.linalg.lstsq(full, target[:, None]).solution
    check_close(full @ exact, target[:, None], EXACT, CLAIM_DEPTH, device, "2^k units fit")
    evidence.value(f"least_residual_with_2^{k}-1_units", residual)


@st.composite
def _shallow_nets(draw: st.DrawFn) -> dict[str, Any]:
    m = draw(S.dims(1, 12))
    small = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])  # forces coincidences, zeros
    vals = st.one_of(small, DYADIC)
    return {
        "w": [draw(vals) for _ in range(m)],
        "b": [draw(vals) for _ in range(m)],
        "c": [draw(vals) for _ in range(m)],
        "d": draw(S.reals()),
    }


@pytest.mark.claim(CLAIM_DEPTH)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_shallow_nets())
@example(case={"w": [1.0, 2.0, 1.0], "b": [-0.5, -1.0, 0.5], "c": [1.0, 1.0, 2.0], "d": 0.0})
@example(case={"w": [1.0, -1.0], "b": [0.0, 0.0], "c": [1.0, 1.0], "d": 0.0})  # |x|: 2 pieces
@example(case={"w": [1.0, 1.0], "b": [0.0, 0.0], "c": [1.0, -1.0], "d": 0.0})  # cancel: 1
def test_one_hidden_layer_pieces(device: str, dtype: torch.dtype, case: dict[str, Any]) -> None:
    """m units: at most m + 1 pieces, and exactly 1 + #{distinct breakpoints −b_i/w_i in (a, b)
    where the slope changes, Σ_{i at t} c_i |w_i| ≠ 0}."""
    m = len(case["w"])
    net = FeedForward([1, m, 1], "relu", device=device, dtype=dtype)
    net.load([(torch.tensor(case["w"])[:, None], case["b"]), ([case["c"]], [case["d"]])])
    a, b = -3.0, 3.0
    jumps: dict[float, float] = {}
    for w, bi, c in zip(case["w"], case["b"], case["c"], strict=True):
        if w != 0 and a < -bi / w < b:
            t = -bi / w
            jumps[t] = jumps.get(t, 0.0) + c * abs(w)  # slope change of c·relu(w x + b) at t
    expected = 1 + sum(1 for v in jumps.values() if abs(v) > 1e-9)
    count = P.linear_pieces(net, a, b).count
    assert count == expected <= m + 1, failure(
        CLAIM_DEPTH,
        device,
        dtype,
        f"one hidden layer of {m}: {count} pieces, expected {expected} (≤ m + 1)",
        float(count - expected),
        "exact",
    )


@pytest.mark.claim(CLAIM_DEPTH)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(widths=st.lists(S.dims(1, 6), min_size=1, max_size=4), seed=st.integers(0, 2**31 - 1))
def test_piece_counter_on_deep_nets(
    device: str, dtype: torch.dtype, widths: list[int], seed: int
) -> None:
    """Deep random nets: inside every reported piece the net is the reported line (checked at
    drawn points), neighbouring pieces differ in slope, and the count is at most ∏(m_i + 1)."""
    g = torch.Generator(device=device).manual_seed(seed)
    net = FeedForward([1, *widths, 1], "relu", generator=g, device=device, dtype=dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # breakpoints spread over [−3, 3]
    pieces = P.linear_pieces(net, -3.0, 3.0)
    bp, vals, slopes = pieces.breakpoints, pieces.values, pieces.slopes
    u = torch.rand(pieces.count, 5, generator=g, device=device, dtype=dtype)
    xs = bp[:-1, None] + u * (bp[1:] - bp[:-1])[:, None]
    with torch.no_grad():
        f = net(xs.reshape(-1, 1)).reshape(pieces.count, 5)
    line = vals[:-1, None] + slopes[:, None] * (xs - bp[:-1, None])
    scale = 1.0 + float(vals.abs().max())
    check_close(f, line, Tol(rtol=1e-9, atol=1e-9 * scale), CLAIM_DEPTH, device, "f on pieces")
    if pieces.count > 1:
        change = (slopes[1:] - slopes[:-1]).abs()
        assert bool((change > 1e-9 * (1 + slopes.abs().max())).all()), f"{CLAIM_DEPTH}: merge"
    assert pieces.count <= math.prod(m + 1 for m in widths), f"{CLAIM_DEPTH}: too many pieces"


@pytest.mark.claim(CLAIM_DEPTH)
@pytest.mark.dtypes("float64")
def test_pieces_on_an_interval_with_inexact_ends(device: str, dtype: torch.dtype) -> None:
    """On [0.1, 0.7] (ends not dyadic) Δ³ has the pieces between the kinks j/8 inside it: the
    reported ends are a and b exactly (in the network's dtype), the values are f there, and the
    count is 1 + #{j/8 in (0.1, 0.7)} = 6."""
    net = C.tent_map_net(3, device=device, dtype=dtype)
    pieces = P.linear_pieces(net, 0.1, 0.7)
    bp = pieces.breakpoints
    assert float(bp[0]) == 0.1 and float(bp[-1]) == 0.7, f"{CLAIM_DEPTH}: ends {bp[0]}, {bp[-1]}"
    inner = torch.arange(1, 6, device=device, dtype=dtype) / 8  # 1/8, …, 5/8
    check_close(bp[1:-1], inner, EXACT, CLAIM_DEPTH, device, "kinks inside [0.1, 0.7]")
    with torch.no_grad():
        check_close(pieces.values, net(bp[:, None])[:, 0], EXACT, CLAIM_DEPTH, device, "values")
    assert pieces.count == 6, f"{CLAIM_DEPTH}: {pieces.count} pieces of Δ³ on [0.1, 0.7]"


@pytest.mark.claim(CLAIM_DEPTH)
def test_tent_map_figure(evidence: Any) -> None:
    import matplotlib.pyplot as plt

    x = torch.linspace(0.0, 1.0, 4097, dtype=torch.float64)[:, None]
    fig, axes = plt.subplots(1, 4, figsize=(12.0, 2.8), sharey=True)
    counts = []
    for k, ax in zip(range(1, 5), axes, strict=True):
        net = C.tent_map_net(k)
        with torch.no_grad():
            y = net(x)[:, 0]
        n = P.linear_pieces(net, 0.0, 1.0, rtol=0.0).count
        counts.append(n)
        ax.plot(x[:, 0], y, color="tab:blue")
        ax.set_title(f"$\\Delta^{k}$: {k} × 2 ReLUs, {n} pieces", fontsize=9)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    assert counts == [2, 4, 8, 16], f"{CLAIM_DEPTH}: figure piece counts {counts}"
    fig.suptitle("The tent map composed k times: each layer doubles the pieces", y=1.06)
    evidence.figure(fig, "net-tent-map-sawtooth")
    plt.close(fig)
    evidence.value("pieces_k1_to_k4", counts)


# =================================================================================================
# net.parity-one-layer
# =================================================================================================

CLAIM_PAR = "net.parity-one-layer"


@pytest.mark.claim(CLAIM_PAR)
@pytest.mark.dtypes("float32", "float64")
@pytest.mark.parametrize("n", range(1, 13))
def test_parity_with_n_relus(device: str, dtype: torch.dtype, n: int) -> None:
    """One hidden layer of n ReLUs gives the parity of all 2^n inputs exactly."""
    net = C.parity_net(n, device=device, dtype=dtype)
    assert net.sizes == [n, n, 1], f"{CLAIM_PAR}: sizes {net.sizes}"
    bits = (
        torch.arange(2**n, device=device)[:, None]
        .bitwise_right_shift(torch.arange(n, device=device))
        .bitwise_and(1)
    )
    x = bits.to(dtype)
    with torch.no_grad():
        out = net(x)[:, 0]
    want = bits.sum(dim=1).remainder(2).to(dtype)
    assert torch.equal(out, want), failure(
        CLAIM_PAR,
        device,
        dtype,
        f"parity of {n} bits wrong on {int((out != want).sum())} inputs",
        float((out - want).abs().max()),
        "exact",
    )
