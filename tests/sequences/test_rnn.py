"""Tests of spec/sequences/rnn.md: the recurrent layer and its vanishing and exploding gradients.

Notation as on the page: ``s_t = act(W s_{t−1} + U x_t + b)``, ``J_T = ∂s_T/∂s_0``,
``γ = sup |act′|``. The layer under test is reached through the ``RNN_IMPL`` seam; the oracles are
``torch.nn.RNN`` (tanh) and an explicit float64 loop written here (sigmoid, identity: ``nn.RNN``
has neither).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.analysis.jacobians import state_jacobian
from dlspec.nn import rnn as R
from dlspec.nn.lstm import LSTM
from tests.sequences.export import check_export_placement
from tests.tolerances import EXACT, Tol, check_close, failure

#: The seam: the recurrent layer under test (any class with RNN's constructor and forward).
RNN_IMPL: Any = R.RNN
F64 = torch.float64
#: Slack on the vanishing bound: it is attained exactly for W = cQ, zero input, s_0 = 0.
BOUND_SLACK = 1e-9


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _set(layer: Any, **weights: torch.Tensor) -> Any:
    with torch.no_grad():
        for name, value in weights.items():
            getattr(layer, name).copy_(value)
    return layer


def _orthogonal(n: int, g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal Q


def _spec2(m: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(m, ord=2)


def _loop_oracle(layer: Any, x: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """The definition, one scalar product at a time (float64), for any activation."""
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}[
        layer.nonlinearity
    ]
    w, u = layer.weight_hh, layer.weight_ih
    b = layer.bias_ih + layer.bias_hh
    s, out = s0, []
    for t in range(x.shape[1]):
        s = act(torch.einsum("ij,bj->bi", w, s) + torch.einsum("ij,bj->bi", u, x[:, t]) + b)
        out.append(s)
    return torch.stack(out, dim=1)


# =================================================================================================
# rnn.matches-torch
# =================================================================================================

CLAIM_TORCH = "rnn.matches-torch"


@st.composite
def _shapes(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    return (
        draw(st.integers(1, 3)),  # B
        draw(st.integers(1, 8)),  # T
        draw(st.integers(1, 4)),  # D
        draw(st.integers(1, 5)),  # H
        draw(st.integers(0, 2**31 - 1)),  # seed
    )


def _grads(out: torch.Tensor, probe: torch.Tensor, leaves: list[torch.Tensor]) -> list[Any]:
    return list(torch.autograd.grad((out * probe).sum(), leaves))


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(shapes=_shapes(), with_s0=st.booleans())
@example(shapes=(2, 1, 1, 1, 0), with_s0=True)
def test_rnn_equals_torch_forward_and_backward(
    device: str, dtype: torch.dtype, shapes: tuple[int, int, int, int, int], with_s0: bool
) -> None:
    b, t, d, h, seed = shapes
    g = _gen(seed)
    oracle = torch.nn.RNN(d, h, batch_first=True, device=device, dtype=dtype)
    _set(
        oracle,
        **{
            n: torch.randn(p.shape, generator=g, dtype=dtype).to(device)
            for n, p in oracle.named_parameters()
        },
    )
    layer = RNN_IMPL(d, h, device=device, dtype=dtype).load_torch(oracle)
    x = torch.randn(b, t, d, generator=g, dtype=dtype).to(device).requires_grad_(True)
    s0 = torch.randn(b, h, generator=g, dtype=dtype).to(device).requires_grad_(True)
    out, last = layer(x, s0) if with_s0 else layer(x)
    ref, ref_last = oracle(x, s0[None]) if with_s0 else oracle(x)
    check_close(out, ref, EXACT, CLAIM_TORCH, device, "states s_1..s_T")
    check_close(last, ref_last[0], EXACT, CLAIM_TORCH, device, "last state s_T")
    probe = torch.randn(b, t, h, generator=g, dtype=dtype).to(device)
    leaves = [x, *([s0] if with_s0 else [])]
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    mine = _grads(out, probe, leaves + [getattr(layer, n) for n in names])
    theirs = _grads(ref, probe, leaves + [getattr(oracle, f"{n}_l0") for n in names])
    labels = (
        ["x", "s0", "U", "W", "b_ih", "b_hh"][-len(mine) :]
        if with_s0
        else ["x", "U", "W", "b_ih", "b_hh"]
    )
    for name, a, e in zip(labels, mine, theirs, strict=True):
        check_close(a, e, EXACT, CLAIM_TORCH, device, f"gradient with respect to {name}")
    # Export: our weights in a torch.nn.RNN compute the same.
    exported = RNN_IMPL(d, h, generator=g, device=device, dtype=dtype)
    out2, _ = exported.to_torch()(x)
    check_close(exported(x)[0], out2, EXACT, CLAIM_TORCH, device, "to_torch() export")


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("act", ["sigmoid", "identity", "tanh"])
def test_rnn_equals_loop_oracle_and_gradcheck(device: str, dtype: torch.dtype, act: str) -> None:
    """nn.RNN has no sigmoid or identity: an explicit loop is the oracle, gradcheck the backward."""
    g = _gen(3)
    layer = RNN_IMPL(3, 4, nonlinearity=act, generator=g, device=device, dtype=dtype)
    x = torch.randn(2, 6, 3, generator=g, dtype=dtype).to(device).requires_grad_(True)
    s0 = torch.randn(2, 4, generator=g, dtype=dtype).to(device).requires_grad_(True)
    out, last = layer(x, s0)
    check_close(out, _loop_oracle(layer, x, s0), EXACT, CLAIM_TORCH, device, f"{act} states")
    assert torch.equal(last, out[:, -1]), failure(
        CLAIM_TORCH, device, dtype, "s_T is not the last state", math.inf, "exact"
    )
    ok = torch.autograd.gradcheck(lambda a, b: layer(a, b)[0], (x, s0), eps=1e-6, atol=1e-8)
    assert ok, f"{CLAIM_TORCH} [{device}]: gradcheck failed for {act}"


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_ensemble_members_are_independent_layers(device: str, dtype: torch.dtype) -> None:
    """An ensemble of M layers computes, member by member, what M separate layers compute."""
    g = _gen(5)
    ens = RNN_IMPL(2, 3, ensemble=3, generator=g, device=device, dtype=dtype)
    x = torch.randn(3, 4, 5, 2, generator=g, dtype=dtype).to(device)
    out, _ = ens(x)
    for k in range(3):
        one = RNN_IMPL(2, 3, device=device, dtype=dtype)
        _set(
            one, **{n: getattr(ens, n)[k] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        check_close(out[k], one(x[k])[0], EXACT, CLAIM_TORCH, device, f"ensemble member {k}")


# =================================================================================================
# rnn.vanishing-bound
# =================================================================================================

CLAIM_VANISH = "rnn.vanishing-bound"


@pytest.mark.claim(CLAIM_VANISH)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 8),
    steps=st.integers(1, 60),
    c=st.floats(0.1, 0.99),
    act=st.sampled_from(["tanh", "sigmoid", "identity"]),
    seed=st.integers(0, 2**31 - 1),
)
@example(n=4, steps=60, c=0.99, act="sigmoid", seed=1)
def test_jacobian_below_bound(
    device: str, dtype: torch.dtype, n: int, steps: int, c: float, act: str, seed: int
) -> None:
    """‖W‖₂ = c/γ (drawn W rescaled), drawn U, b, x, s_0: ‖∂s_T/∂s_0‖₂ ≤ c^T."""
    g = _gen(seed)
    layer = RNN_IMPL(2, n, nonlinearity=act, generator=g, device=device, dtype=dtype)
    w = torch.randn(n, n, generator=g, dtype=dtype)
    w = w * (c / layer.gamma) / _spec2(w)  # σ_max(W) = c/γ < 1/γ
    _set(layer, weight_hh=w.to(device))
    x = torch.randn(3, steps, 2, generator=g, dtype=dtype).to(device)
    s0 = torch.randn(3, n, generator=g, dtype=dtype).to(device)
    norms = _spec2(state_jacobian(layer, x, s0))
    bound = c**steps  # (γ σ_max)^T
    worst = float((norms / bound).max())
    assert worst <= 1 + BOUND_SLACK, failure(
        CLAIM_VANISH, device, dtype, f"‖J_T‖/(γσ)^T above 1 ({act}, T={steps})", worst, "1 + 1e-9"
    )


@pytest.mark.claim(CLAIM_VANISH)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=10)
@given(
    n=st.integers(1, 8),
    steps=st.integers(1, 60),
    c=st.floats(0.1, 0.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_bound_is_attained(
    device: str, dtype: torch.dtype, n: int, steps: int, c: float, seed: int
) -> None:
    """Tight: W = cQ (tanh), zero input and bias, s_0 = 0 stay at 0 where tanh′ = 1: ‖J_T‖ = c^T."""
    g = _gen(seed)
    layer = RNN_IMPL(1, n, device=device, dtype=dtype)
    zero = torch.zeros(n, dtype=dtype, device=device)
    _set(layer, weight_hh=(c * _orthogonal(n, g)).to(device), bias_ih=zero, bias_hh=zero)
    x = torch.zeros(1, steps, 1, dtype=dtype, device=device)
    norm = float(_spec2(state_jacobian(layer, x, torch.zeros(1, n, dtype=dtype, device=device))))
    err = abs(norm / c**steps - 1)
    assert err <= 1e-10, failure(
        CLAIM_VANISH, device, dtype, "‖J_T‖ ≠ c^T at the fixed point", err, "1e-10"
    )


@pytest.mark.claim(CLAIM_VANISH)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "identity"])
def test_gamma_is_sup_of_the_derivative(device: str, dtype: torch.dtype, act: str) -> None:
    """γ = sup |φ′| (1 for tanh and the identity, ¼ for σ), measured on a grid by autograd
    through torch's own functions: a larger γ would make the bound vacuous, a smaller one false."""
    z = torch.linspace(-6.0, 6.0, 12001, dtype=dtype, device=device).requires_grad_(True)
    fn = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda v: v * 1.0}[act]
    (d,) = torch.autograd.grad(fn(z).sum(), z)
    sup = float(d.abs().max())  # the grid contains z = 0, where every sup is attained
    layer = RNN_IMPL(1, 2, nonlinearity=act, device=device, dtype=dtype)
    assert abs(layer.gamma - sup) <= 1e-12, failure(
        CLAIM_VANISH, device, dtype, f"γ of {act}", layer.gamma, f"sup|φ′| = {sup}"
    )


# =================================================================================================
# rnn.exploding
# =================================================================================================

CLAIM_EXPLODE = "rnn.exploding"


@pytest.mark.claim(CLAIM_EXPLODE)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 8),
    steps=st.integers(1, 60),
    rho=st.floats(0.5, 1.5),
    seed=st.integers(0, 2**31 - 1),
)
@example(n=5, steps=60, rho=1.2, seed=0)
def test_linear_rnn_jacobian_is_rho_power(
    device: str, dtype: torch.dtype, n: int, steps: int, rho: float, seed: int
) -> None:
    """Linear RNN, W = ρQ: J_T = W^T, every singular value equals ρ^T (any input, any s_0)."""
    g = _gen(seed)
    layer = RNN_IMPL(2, n, nonlinearity="identity", generator=g, device=device, dtype=dtype)
    q = _orthogonal(n, g)
    _set(layer, weight_hh=(rho * q).to(device))
    x = torch.randn(2, steps, 2, generator=g, dtype=dtype).to(device)
    s0 = torch.randn(2, n, generator=g, dtype=dtype).to(device)
    jac = state_jacobian(layer, x, s0)
    sv = torch.linalg.svdvals(jac)
    err = float((sv / rho**steps - 1).abs().max())
    assert err <= 1e-10, failure(
        CLAIM_EXPLODE, device, dtype, "singular values of J_T ≠ ρ^T", err, "rtol 1e-10"
    )
    expected = torch.linalg.matrix_power(rho * q, steps).to(device).expand_as(jac)
    check_close(jac, expected, Tol(1e-10, 1e-12 * rho**steps), CLAIM_EXPLODE, device, "J_T = W^T")


@pytest.mark.claim(CLAIM_EXPLODE)
@pytest.mark.claim(CLAIM_VANISH)
@pytest.mark.dtypes("float64")
def test_figure_jacobian_norm_against_steps(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """The figure: ‖∂s_T/∂s_0‖ against T for σ_max below and above 1 and for an LSTM."""
    g = _gen(11)
    n, t_max = 8, 60
    steps = list(range(1, t_max + 1))
    x = torch.randn(1, t_max, 1, generator=g, dtype=dtype).to(device)
    s0 = 0.5 * torch.randn(1, n, generator=g, dtype=dtype).to(device)
    curves: dict[str, list[float]] = {}
    w = torch.randn(n, n, generator=g, dtype=dtype)
    for label, act, weight in (
        ("tanh RNN, σ_max(W) = 0.9", "tanh", 0.9 * w / _spec2(w)),
        ("linear RNN, W = 1.1·Q", "identity", 1.1 * _orthogonal(n, g)),
        ("linear RNN, W = 0.9·Q", "identity", 0.9 * _orthogonal(n, g)),
    ):
        layer = RNN_IMPL(1, n, nonlinearity=act, generator=g, device=device, dtype=dtype)
        _set(layer, weight_hh=weight.to(device))
        # ∂s_t/∂s_0 for every t at once: forward mode, H tangents through one run.
        jac = torch.func.jacfwd(lambda s, layer=layer: layer(x, s[None])[0][0])(s0[0])
        curves[label] = _spec2(jac).tolist()
    lstm = LSTM(1, n, forget_bias=3.0, generator=g, device=device, dtype=dtype)
    c0 = torch.zeros(1, n, dtype=dtype, device=device)
    jac = torch.func.jacfwd(lambda c: lstm.trace(x, (s0, c[None])).c[0])(c0[0])
    curves["LSTM dc_T/dc_0, b_f = 3"] = _spec2(jac).tolist()
    tanh_curve = curves["tanh RNN, σ_max(W) = 0.9"]
    assert all(v <= 0.9**t * (1 + BOUND_SLACK) for v, t in zip(tanh_curve, steps, strict=True)), (
        failure(
            CLAIM_VANISH, device, dtype, "figure's tanh curve above 0.9^T", max(tanh_curve), "0.9^T"
        )
    )
    grow = curves["linear RNN, W = 1.1·Q"]
    err = abs(grow[-1] / 1.1**t_max - 1)
    assert err <= 1e-10, failure(
        CLAIM_EXPLODE, device, dtype, "figure: ‖J_60‖ ≠ 1.1^60", err, "1e-10"
    )
    evidence.value("linear_rho_1.1_T60", grow[-1])
    evidence.value("tanh_0.9_T60", tanh_curve[-1])
    evidence.value("lstm_bf3_T60", curves["LSTM dc_T/dc_0, b_f = 3"][-1])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, ys in curves.items():
        ax.semilogy(steps, ys, label=label)
    ax.semilogy(steps, [0.9**t for t in steps], "k:", label="bound 0.9^T")
    ax.set_xlabel("T (steps)")
    ax.set_ylabel("‖∂s_T/∂s_0‖₂")
    ax.legend(fontsize=7)
    fig.tight_layout()
    evidence.figure(fig, "rnn-jacobian-norm")
    plt.close(fig)


# =================================================================================================
# rnn.bounds-one-sided
# =================================================================================================

CLAIM_ONE_SIDED = "rnn.bounds-one-sided"


def _saturated_product(h0: float, steps: int) -> float:
    """Scalar recursion h_t = tanh(3 h_{t−1}): ∂h_T/∂h_0 = Π_t 3 (1 − h_t²), in plain floats."""
    h, prod = h0, 1.0
    for _ in range(steps):
        h = math.tanh(3.0 * h)
        prod *= 3.0 * (1.0 - h * h)
    return prod


@pytest.mark.claim(CLAIM_ONE_SIDED)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("n", [1, 3])
def test_saturated_three_identity_vanishes(
    device: str, dtype: torch.dtype, n: int, evidence: Any
) -> None:
    """W = 3I (σ_max = 3 > 1/γ), tanh, zero input, h_0 = 1: J_30 = 3.3e-46·I; h_0 = 0: 3^30·I."""
    layer = RNN_IMPL(1, n, device=device, dtype=dtype)
    zero = torch.zeros(n, dtype=dtype, device=device)
    _set(
        layer,
        weight_hh=3.0 * torch.eye(n, dtype=dtype, device=device),
        weight_ih=torch.zeros(n, 1, dtype=dtype, device=device),
        bias_ih=zero,
        bias_hh=zero,
    )
    x = torch.randn(1, 30, 1, generator=_gen(0), dtype=dtype).to(device)  # ignored: U = 0
    eye = torch.eye(n, dtype=dtype, device=device)[None]
    sat = state_jacobian(layer, x, torch.ones(1, n, dtype=dtype, device=device))
    expected = _saturated_product(1.0, 30)
    check_close(sat, expected * eye, Tol(1e-10, 0.0), CLAIM_ONE_SIDED, device, "J_30 from h_0 = 1")
    assert 3.3e-46 <= expected <= 3.4e-46, failure(
        CLAIM_ONE_SIDED, device, dtype, "printed 3.3e-46", expected, "[3.3e-46, 3.4e-46]"
    )
    lin = state_jacobian(layer, x, torch.zeros(1, n, dtype=dtype, device=device))
    check_close(lin, 3.0**30 * eye, EXACT, CLAIM_ONE_SIDED, device, "J_30 = 3^30 I from h_0 = 0")
    evidence.value("saturated_J30", expected)
    # The page's printed 3^30 ≈ 2.06e14, and the fixed point h* = tanh(3h*) ≈ 0.995 with
    # 3(1 − h*²) ≈ 0.03 (the factor the saturated product tends to).
    h_star = 1.0
    for _ in range(200):
        h_star = math.tanh(3.0 * h_star)
    slope = 3.0 * (1.0 - h_star**2)
    assert 2.055e14 <= 3.0**30 <= 2.065e14 and 0.9945 <= h_star <= 0.9955, failure(
        CLAIM_ONE_SIDED, device, dtype, "printed 3^30 ≈ 2.06e14, h* ≈ 0.995", h_star, "0.995"
    )
    assert 0.025 <= slope <= 0.035, failure(
        CLAIM_ONE_SIDED, device, dtype, "printed 3(1 − h*²) ≈ 0.03", slope, "[0.025, 0.035]"
    )
    # Pascanu's parametrization x_t = W tanh(x_{t−1}) from x_0 = 1 gives a different number.
    xs, prod = 1.0, 1.0
    for _ in range(30):
        prod *= 3.0 * (1.0 - math.tanh(xs) ** 2)
        xs = 3.0 * math.tanh(xs)
    assert 6.2e-44 <= prod <= 6.3e-44, failure(
        CLAIM_ONE_SIDED, device, dtype, "printed 6.2e-44", prod, "[6.2e-44, 6.3e-44]"
    )


@pytest.mark.claim(CLAIM_ONE_SIDED)
@pytest.mark.dtypes("float64")
def test_non_normal_linear_rnn_vanishes(device: str, dtype: torch.dtype) -> None:
    """Linear W = [[½, 10], [0, ½]]: σ_max = 10.02 but ρ = ½; J_k = W^k has a transient
    (‖W⁵‖ = 3.13) and then vanishes (‖W⁶⁰‖ = 1.0e-15)."""
    w = torch.tensor([[0.5, 10.0], [0.0, 0.5]], dtype=dtype, device=device)
    layer = RNN_IMPL(1, 2, nonlinearity="identity", generator=_gen(1), device=device, dtype=dtype)
    _set(layer, weight_hh=w)
    x = torch.randn(1, 60, 1, generator=_gen(2), dtype=dtype).to(device)
    s0 = torch.randn(1, 2, generator=_gen(3), dtype=dtype).to(device)
    smax = float(_spec2(w))
    assert 10.02 <= smax <= 10.03, failure(
        CLAIM_ONE_SIDED, device, dtype, "σ_max", smax, "[10.02, 10.03]"
    )
    norms = []
    for k in (5, 60):
        jac = state_jacobian(layer, x[:, :k], s0)[0]
        closed = torch.tensor(
            [[0.5**k, 10 * k * 0.5 ** (k - 1)], [0.0, 0.5**k]], dtype=dtype, device=device
        )
        check_close(jac, closed, EXACT, CLAIM_ONE_SIDED, device, f"J_{k} = W^{k} (closed form)")
        norms.append(float(_spec2(jac)))
    assert 3.12 <= norms[0] <= 3.13 and 1.0e-15 <= norms[1] <= 1.05e-15, failure(
        CLAIM_ONE_SIDED, device, dtype, f"‖W⁵‖, ‖W⁶⁰‖ = {norms}", norms[1], "3.13, 1.0e-15"
    )


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_export_keeps_device_and_dtype_and_checks_each_weight(
    device: str, dtype: torch.dtype
) -> None:
    """`to_torch()` builds the `torch.nn.RNN` on the layer's device, in its dtype (on `meta` too,
    which nothing can be copied out of); a weight whose shape is not the layer's is refused,
    naming it, by `load_torch` and by `to_torch`, where `copy_` would broadcast it silently."""
    check_export_placement(RNN_IMPL, CLAIM_TORCH, device, dtype)
    oracle = torch.nn.RNN(2, 3, batch_first=True, device=device, dtype=dtype)
    oracle.bias_hh_l0 = torch.nn.Parameter(torch.zeros(1, device=device, dtype=dtype))
    with pytest.raises(ValueError, match=r"bias_hh must have shape \(3,\) .*got \(1,\)"):
        RNN_IMPL(2, 3, device=device, dtype=dtype).load_torch(oracle)
    layer = RNN_IMPL(2, 3, device=device, dtype=dtype)
    layer.weight_ih = torch.nn.Parameter(torch.zeros(1, 2, device=device, dtype=dtype))
    with pytest.raises(ValueError, match=r"weight_ih must have shape \(3, 2\) .*got \(1, 2\)"):
        layer.to_torch()


# =================================================================================================
# Bad input
# =================================================================================================


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_bad_input_is_refused(device: str, dtype: torch.dtype) -> None:
    layer = RNN_IMPL(2, 3, device=device, dtype=dtype)
    x = torch.zeros(4, 5, 2, dtype=dtype, device=device)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: layer(torch.zeros(4, 0, 2, dtype=dtype, device=device)), ValueError, "length 0"),
        (
            lambda: layer(torch.zeros(4, 5, 3, dtype=dtype, device=device)),
            ValueError,
            r"^x must have shape \(batch, steps, 2\) \(batch-first\), got \(4, 5, 3\)$",
        ),
        (
            lambda: RNN_IMPL(2, 3, ensemble=2, device=device, dtype=dtype)(x),
            ValueError,
            r"^x must have shape \(models, batch, steps, 2\) \(batch-first\), got \(4, 5, 2\)$",
        ),
        (
            lambda: layer(torch.zeros(5, 2, dtype=dtype, device=device)),
            ValueError,
            "x must have shape",
        ),
        (
            lambda: layer(x, torch.zeros(4, 2, dtype=dtype, device=device)),
            ValueError,
            "s0 must have shape",
        ),
        (
            lambda: layer(x, torch.zeros(1, 4, 3, dtype=dtype, device=device)),
            ValueError,
            "s0 must have shape",
        ),
        (
            lambda: layer(x, torch.zeros(4, 3, dtype=dtype, device="meta")),
            ValueError,
            "s0 must be on",
        ),
        (lambda: layer(x.float()), TypeError, "x must have the layer's dtype"),
        (lambda: layer(x.to("meta")), ValueError, "x must be on the layer's device"),
        (lambda: RNN_IMPL(2, 3, nonlinearity="relu"), ValueError, "nonlinearity must be one of"),
        (lambda: RNN_IMPL(0, 3), ValueError, "input_size"),
        (lambda: layer.load_torch(torch.nn.RNN(2, 4)), ValueError, "mismatched sizes"),
        (lambda: layer.load_torch(torch.nn.RNN(2, 3, num_layers=2)), ValueError, "one-layer"),
        (lambda: layer.load_torch(torch.nn.LSTM(2, 3)), TypeError, "torch.nn.RNN, got LSTM"),
        (
            lambda: layer.load_torch(torch.nn.RNN(2, 3, bidirectional=True)),
            ValueError,
            "got num_layers=1, bidirectional=True, bias=True",
        ),
        (
            lambda: layer.load_torch(torch.nn.RNN(2, 3, bias=False)),
            ValueError,
            "got num_layers=1, bidirectional=False, bias=False",
        ),
        (
            lambda: layer.load_torch(torch.nn.RNN(2, 3, nonlinearity="relu")),
            ValueError,
            "module has nonlinearity 'relu', this layer 'tanh'",
        ),
        (
            lambda: RNN_IMPL(2, 3, nonlinearity="sigmoid").load_torch(torch.nn.RNN(2, 3)),
            ValueError,
            "module has nonlinearity 'tanh', this layer 'sigmoid'",
        ),
        (lambda: RNN_IMPL(2, 3, nonlinearity="sigmoid").to_torch(), ValueError, "no 'sigmoid'"),
        (lambda: RNN_IMPL(2, 3, ensemble=2).to_torch(), ValueError, "ensemble"),
        (lambda: state_jacobian("rnn", x, x[:, 0]), TypeError, "rnn must be"),
        (
            lambda: R.input_drive(x, layer.weight_ih, layer.bias_ih.float()),
            TypeError,
            r"^bias must have x's dtype",
        ),
        (
            lambda: R.SequenceClassifier(_HiddenSizeOnly(), 2),  # type: ignore[arg-type]
            TypeError,
            r"^recurrent must be a recurrent layer .*, got _HiddenSizeOnly$",
        ),
    ]
    for k, (call, exc, words) in enumerate(cases):
        with pytest.raises(exc, match=words):
            call()
        del k


class _HiddenSizeOnly:
    """Has a `hidden_size` but is no `nn.Module`: not a recurrent layer."""

    hidden_size = 3


class _NoLead(torch.nn.Module):
    """A recurrent layer without an ensemble attribute `lead`: `(B, T, 2)` → last state `(B, 3)`."""

    hidden_size = 3

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.tanh(x @ self.w)
        return out, out[:, -1]


@pytest.mark.claim(CLAIM_TORCH)
def test_sequence_classifier_of_a_layer_without_an_ensemble() -> None:
    """A recurrent module with no `lead` attribute is one layer: the read-out `V` is
    `(classes, H)`, `c` is `(classes,)`, and the logits `V s_T + c` are `(B, classes)`."""
    model = R.SequenceClassifier(_NoLead(), 4, generator=torch.Generator().manual_seed(0))
    assert model.weight.shape == (4, 3) and model.bias.shape == (4,), f"{CLAIM_TORCH}: read-out"
    x = torch.randn(5, 6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = torch.tanh(x @ torch.ones(2, 3, dtype=torch.float64))[:, -1] @ model.weight.T
    check_close(model(x), want + model.bias, EXACT, CLAIM_TORCH, "cpu", "read-out of s_T")
