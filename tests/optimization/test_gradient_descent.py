"""Tests of spec/optimization/gradient-descent.md: the GD step, its step size, SGD, basins.

Notation as on the page: ``θ_{t+1} = θ_t − η∇L(θ_t)``; a quadratic ``f(x) = ½xᵀAx − bᵀx`` with
``A = Q diag(λ) Qᵀ ≻ 0`` and error ``e_k = x_k − x*``. The implementation is reached through the
seams ``GD`` (the optimizer under test) and ``problems`` (the problem builders).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dlspec.data import problems
from dlspec.nn.linear import FeedForward
from dlspec.optim.sgd import GD, minibatch
from dlspec.train import fit
from tests import strategies as S
from tests.spy import count_calls
from tests.tolerances import EXACT, check_close, check_same, failure, fast_form_tol, tol

# =================================================================================================
# opt.gd-update
# =================================================================================================

CLAIM_UPDATE = "opt.gd-update"


def _rounding_tol(dtype: torch.dtype) -> float:
    """Two roundings (the product ηg and the difference) of at most one unit roundoff each."""
    return 2.0 * torch.finfo(dtype).eps


@st.composite
def _params_grads(draw: st.DrawFn) -> tuple[list[np.ndarray[Any, Any]], list[Any], float]:
    k = draw(st.integers(1, 3))
    shapes = [draw(S.shapes(max_dims=2, max_side=6)) for _ in range(k)]
    ps = [draw(S.arrays(s)) for s in shapes]
    gs = [draw(st.one_of(st.none(), S.arrays(s))) if i else draw(S.arrays(s)) for i, s in
          enumerate(shapes)]  # fmt: skip
    lr = draw(st.floats(1e-3, 10.0))
    return ps, gs, lr


@pytest.mark.claim(CLAIM_UPDATE)
@settings(deadline=None)
@given(case=_params_grads())
@example(case=([np.array([1.0, -2.0])], [np.array([0.5, 3.0])], 0.1))
@example(  # float32 subnormals (nox -s flake, seed 3941316923): an error of one subnormal step
    case=(
        [np.array([2.08968616e-40]), np.array([0.0]), np.array([0.0])],
        [np.array([1.17549435e-38]), None, None],
        0.3111238974083763,
    )
)
@example(  # the smallest subnormal (flake seed 1292178641): θ − 1.5 θ rounds by one step
    case=([np.array([1.40129846e-45, 0.0])], [np.array([1.40129846e-45, 0.0])], 1.5)
)
def test_gd_step_is_theta_minus_eta_grad_and_equals_sgd(
    device: str, dtype: torch.dtype, case: tuple[list[Any], list[Any], float]
) -> None:
    """One and three GD steps: θ − ηg exactly as torch.optim.SGD (no momentum) computes them;
    parameters without a gradient stay unchanged."""
    ps, gs, lr = case
    mine = [torch.nn.Parameter(S.to_torch(p, device, dtype).clone()) for p in ps]
    ref = [torch.nn.Parameter(S.to_torch(p, device, dtype).clone()) for p in ps]
    start = [p.detach().clone() for p in mine]
    opt, oracle = GD(mine, lr=lr), torch.optim.SGD(ref, lr=lr, momentum=0.0)
    for step in range(3):
        for a, b, g in zip(mine, ref, gs, strict=True):
            a.grad = None if g is None else S.to_torch(g, device, dtype)
            b.grad = None if g is None else S.to_torch(g, device, dtype)
        before = [p.detach().clone() for p in mine]
        opt.step()
        oracle.step()
        for i, (a, b, g, p0) in enumerate(zip(mine, ref, gs, before, strict=True)):
            if g is None:
                assert torch.equal(a.detach(), start[i]), failure(
                    CLAIM_UPDATE, device, dtype, f"parameter {i} without grad moved", math.inf, "0"
                )
                continue
            grad = S.to_torch(g, device, dtype)
            expected = p0 - lr * grad  # θ − η∇L
            # relative error 2 eps, plus the spacing of the subnormals (where a rounding's error
            # is absolute: Higham's model fl(x op y) = (x op y)(1 + δ) + η) for each of the two
            # computations compared
            tiny = torch.finfo(dtype).tiny * torch.finfo(dtype).eps  # the smallest subnormal
            bound = _rounding_tol(dtype) * (p0.abs() + lr * grad.abs()).double() + 2 * tiny
            # θ − ηg from the same θ: two roundings; SGD's own iterate drifts by two per step
            for what, other, k in (
                ("θ − ηg", expected, 1),
                ("torch.optim.SGD", b.detach(), step + 1),
            ):
                err = (a.detach() - other).abs().double()
                assert bool((err <= k * bound).all()), failure(
                    CLAIM_UPDATE, device, dtype,
                    f"step {step}, parameter {i}: GD differs from {what} (lr={lr})",
                    float(err.max()), f"{k}·2 eps (|θ| + η|g|)",
                )  # fmt: skip


@pytest.mark.claim(CLAIM_UPDATE)
@pytest.mark.dtypes("float64")
def test_gd_plugs_into_fit_like_sgd(device: str, dtype: torch.dtype) -> None:
    """fit(optimizer=GD factory) trains exactly as fit(optimizer=SGD factory), minibatches too."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, 3, (40,), generator=g).to(device)
    nets = []
    for factory in (
        lambda p: GD(p, lr=0.3),
        lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.0),
    ):
        net = FeedForward([4, 6, 3], "tanh", generator=torch.Generator().manual_seed(1),
                          dtype=dtype, device=device)  # fmt: skip
        hist = fit(net, x, y, epochs=3, generator=torch.Generator(device=device).manual_seed(2),
                   optimizer=factory, batch_size=8)  # fmt: skip
        assert hist.steps == 15 and not hist.diverged
        nets.append(net)
    for (n1, p1), p2 in zip(nets[0].named_parameters(), nets[1].parameters(), strict=True):
        check_close(p1.detach(), p2.detach(), EXACT, CLAIM_UPDATE, device, f"fit-trained {n1}")


@pytest.mark.claim(CLAIM_UPDATE)
@pytest.mark.dtypes("float64")
def test_parameter_groups_take_their_own_rates(device: str, dtype: torch.dtype) -> None:
    """Two parameter groups with learning rates 0.1 and 2.5: each moves by its own η·g, as SGD."""
    g = torch.Generator().manual_seed(7)
    init = [torch.randn(3, generator=g, dtype=dtype).to(device) for _ in range(2)]
    grads = [torch.randn(3, generator=g, dtype=dtype).to(device) for _ in range(2)]
    mine = [torch.nn.Parameter(t.clone()) for t in init]
    ref = [torch.nn.Parameter(t.clone()) for t in init]
    opt = GD([{"params": [mine[0]]}, {"params": [mine[1]], "lr": 2.5}], lr=0.1)
    oracle = torch.optim.SGD([{"params": [ref[0]]}, {"params": [ref[1]], "lr": 2.5}], lr=0.1)
    for ps in (mine, ref):
        for p, gr in zip(ps, grads, strict=True):
            p.grad = gr.clone()
    opt.step()
    oracle.step()
    for p, q, t, gr, lr in zip(mine, ref, init, grads, (0.1, 2.5), strict=True):
        check_close(p.detach(), t - lr * gr, EXACT, CLAIM_UPDATE, device, f"group lr={lr}")
        check_close(p.detach(), q.detach(), EXACT, CLAIM_UPDATE, device, f"SGD group lr={lr}")


@pytest.mark.claim(CLAIM_UPDATE)
@pytest.mark.dtypes("float64")
def test_step_with_closure_like_sgd(device: str, dtype: torch.dtype) -> None:
    """step(closure) evaluates the closure with gradients enabled, returns its loss and takes the
    same step as torch.optim.SGD(closure) (the torch.optim protocol for re-evaluated losses)."""
    g = torch.Generator().manual_seed(11)
    init, c = (torch.randn(4, generator=g, dtype=dtype).to(device) for _ in range(2))
    out = []
    for make in (lambda q: GD(q, lr=0.3), lambda q: torch.optim.SGD(q, lr=0.3, momentum=0.0)):
        p = torch.nn.Parameter(init.clone())
        opt = make([p])

        def closure(p: torch.nn.Parameter = p, opt: Any = opt) -> torch.Tensor:
            opt.zero_grad()
            loss = (c * p * p).sum()
            loss.backward()
            return loss

        with torch.no_grad():  # step() must turn gradients on for the closure itself
            losses = [float(opt.step(closure)) for _ in range(3)]
        out.append((losses, p.detach().clone()))
    assert out[0][0] == out[1][0], failure(CLAIM_UPDATE, device, dtype, "closure losses",
                                           math.inf, "equal to SGD's")  # fmt: skip
    check_close(out[0][1], out[1][1], EXACT, CLAIM_UPDATE, device, "GD(closure) vs SGD(closure)")


# =================================================================================================
# opt.gd-descent
# =================================================================================================

CLAIM_DESCENT = "opt.gd-descent"


@st.composite
def _softplus_problem(draw: st.DrawFn) -> tuple[Any, Any, Any, float]:
    d, m = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    a = np.abs(draw(S.arrays(m, min_abs=0.1)))
    w = draw(S.arrays((m, d)))
    x0 = draw(S.arrays(d))
    return a, w, x0, draw(st.floats(0.05, 1.0))


@pytest.mark.claim(CLAIM_DESCENT)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_softplus_problem())
@example(case=(np.array([1.0]), np.array([[2.0]]), np.array([0.0]), 1.0))
def test_descent_lemma_on_smooth_functions(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, Any, float]
) -> None:
    """f(x) = Σ a_i softplus(w_i·x), L = ¼Σ a_i‖w_i‖²; η = c/L, c ≤ 1: 20 GD steps, each with
    f(x_{t+1}) ≤ f(x_t) − η(1 − Lη/2)‖∇f(x_t)‖² ≤ f(x_t) − (η/2)‖∇f(x_t)‖² (up to 1e-12 (1 + |f|)
    rounding)."""
    a_np, w_np, x0, c = case
    a, w = S.to_torch(a_np, device, dtype), S.to_torch(w_np, device, dtype)
    lips = 0.25 * float((a * (w * w).sum(1)).sum())  # softplus″ ≤ ¼
    # L ≈ 0 (all weights tiny) makes η = c/L overflow to inf, which GD rightly refuses
    assume(lips > 1e-8)
    eta = c / lips

    def f(x: torch.Tensor) -> torch.Tensor:
        return (a * F.softplus(w @ x)).sum()

    p = torch.nn.Parameter(S.to_torch(x0, device, dtype).clone())
    opt = GD([p], lr=eta)
    for t in range(20):
        opt.zero_grad()
        val = f(p)
        val.backward()
        assert p.grad is not None
        gnorm2 = float((p.grad * p.grad).sum())
        opt.step()
        new = float(f(p.detach()))
        slack = 1e-12 * (1.0 + abs(float(val.detach())))
        # the descent lemma's bound η(1 − Lη/2)‖∇f‖², and the weaker (η/2)‖∇f‖² it implies
        for what, gain in (("η(1 − Lη/2)", eta * (1 - 0.5 * lips * eta)), ("η/2", 0.5 * eta)):
            bound = float(val.detach()) - gain * gnorm2
            assert new <= bound + slack, failure(
                CLAIM_DESCENT, device, dtype,
                f"step {t}: f rose above the descent bound f − {what}‖∇f‖² (η·L={c})",
                new - bound, f"{slack:.2g}",
            )  # fmt: skip


# =================================================================================================
# opt.gd-step-quadratic
# =================================================================================================

CLAIM_QUAD = "opt.gd-step-quadratic"
QUAD_STEPS = 50


@st.composite
def _spectra(draw: st.DrawFn) -> tuple[Any, int]:
    d = draw(st.integers(1, 5))
    lam = draw(S.arrays(d, bound=10.0, min_abs=0.1))
    return np.abs(lam), draw(st.integers(0, 2**31 - 1))


def _run_gd(q: problems.Quadratic, x0: torch.Tensor, eta: float, steps: int) -> torch.Tensor:
    """Iterates x_0 … x_steps of the GD optimizer on q.loss (autograd gradients)."""
    p = torch.nn.Parameter(x0.clone())
    opt = GD([p], lr=eta)
    xs = [x0.clone()]
    for _ in range(steps):
        opt.zero_grad()
        q.loss(p).backward()
        opt.step()
        xs.append(p.detach().clone())
    return torch.stack(xs)


@pytest.mark.claim(CLAIM_QUAD)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(spec=_spectra(), c=st.floats(0.01, 0.99))
@example(spec=(np.array([2.0, 2.0]), 0), c=0.5)  # equal eigenvalues: one step to the minimum
def test_below_two_over_lambda_max_iterates_and_monotone_loss(
    device: str, dtype: torch.dtype, spec: tuple[Any, int], c: float
) -> None:
    """η = c·2/λ_max: e_k = (I − ηA)^k e_0, f non-increasing, ‖e_k‖ ≤ ρ^k ‖e_0‖."""
    lam_np, seed = spec
    g = torch.Generator().manual_seed(seed)
    q = problems.quadratic(S.to_torch(lam_np, device, dtype), generator=g)
    lam_max = float(q.eigenvalues.max())
    eta = c * 2.0 / lam_max
    xstar = q.minimizer
    x0 = torch.randn(lam_np.shape[0], generator=g, dtype=dtype).to(device)
    xs = _run_gd(q, x0, eta, QUAD_STEPS)
    m = torch.eye(len(lam_np), dtype=dtype, device=device) - eta * q.a  # I − ηA
    e = x0 - xstar
    scale = float(e.norm()) + float(xstar.norm())
    fs = q.loss(xs)
    f_slack = 1e-12 * (abs(float(fs[0])) + abs(float(q.loss(xstar))) + 1.0)
    rho = float((1.0 - eta * q.eigenvalues).abs().max())
    for k in range(QUAD_STEPS + 1):
        err = float((xs[k] - xstar - e).norm())
        assert err <= 1e-10 * scale, failure(
            CLAIM_QUAD, device, dtype, f"e_{k} ≠ (I − ηA)^k e_0 (c={c})", err, f"1e-10·{scale:.3g}"
        )
        if k < QUAD_STEPS:
            rise = float(fs[k + 1] - fs[k])
            assert rise <= f_slack, failure(
                CLAIM_QUAD, device, dtype, f"f rose at step {k} (c={c})", rise, f"{f_slack:.2g}"
            )
        assert float(e.norm()) <= rho**k * float((x0 - xstar).norm()) * (1 + 1e-9) + 1e-10 * scale
        e = m @ e


@pytest.mark.claim(CLAIM_QUAD)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(spec=_spectra(), c=st.floats(1.0, 2.0))
@example(spec=(np.array([10.0, 0.5]), 3), c=1.0)  # η = 2/λ_max: persistent oscillation
def test_above_two_over_lambda_max_top_component_grows(
    device: str, dtype: torch.dtype, spec: tuple[Any, int], c: float
) -> None:
    """η = c·2/λ_max, c ≥ 1: each top-eigenvector component is multiplied by 1 − ηλ_max per
    step, |1 − ηλ_max| ≥ 1, so GD from such a start does not converge."""
    lam_np, seed = spec
    g = torch.Generator().manual_seed(seed)
    q = problems.quadratic(S.to_torch(lam_np, device, dtype), generator=g)
    lam = q.eigenvalues
    top = int(lam.argmax())
    eta = c * 2.0 / float(lam[top])
    factor = 1.0 - eta * float(lam[top])
    u = q.eigenvectors[:, top]
    xstar = q.minimizer
    x0 = xstar + u + 0.3 * torch.randn(len(lam_np), generator=g, dtype=dtype).to(device)
    xs = _run_gd(q, x0, eta, 20)
    comp = (xs - xstar) @ u  # u_maxᵀ e_k
    growth = abs(factor) ** 20
    for k in range(20):
        want = float(comp[k]) * factor
        err = abs(float(comp[k + 1]) - want)
        assert err <= 1e-9 * (abs(float(comp[0])) + 1.0) * growth, failure(
            CLAIM_QUAD, device, dtype, f"u_maxᵀe_{k + 1} ≠ (1 − ηλ_max) u_maxᵀe_{k} (c={c})",
            err, "1e-9 relative",
        )  # fmt: skip
    # η = 2/λ_max is rounded: |1 − ηλ_max| = 1 only to a few units in the last place
    assert abs(factor) >= 1.0 - 1e-12 and abs(float(comp[20])) >= abs(float(comp[0])) * (1 - 1e-9)


@pytest.mark.claim(CLAIM_QUAD)
@pytest.mark.dtypes("float64")
def test_start_decides_above_the_threshold(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """A = diag(10, 9, 0.1), η = 0.25 > 2/λ_max = 0.2: e_0 = (0, 0, 1) converges; e_0 = (0, 1, 1)
    (no top-eigenvector component, but |1 − 9η| = 1.25 ≥ 1) diverges, ‖e_50‖ = 1.25^50 ≈ 7.0e4."""
    lam = torch.tensor([10.0, 9.0, 0.1], dtype=dtype, device=device)
    eye = torch.eye(3, dtype=dtype, device=device)
    q = problems.Quadratic(a=torch.diag(lam), b=torch.zeros(3, dtype=dtype, device=device),
                           eigenvalues=lam, eigenvectors=eye)  # fmt: skip
    conv = _run_gd(q, torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device), 0.25, 400)
    div = _run_gd(q, torch.tensor([0.0, 1.0, 1.0], dtype=dtype, device=device), 0.25, 50)
    n_conv, n_div = float(conv[-1].norm()), float(div[-1].norm())
    assert n_conv <= 0.975**400 * (1 + 1e-9), failure(
        CLAIM_QUAD, device, dtype, "e_0 = (0,0,1) did not converge", n_conv, "0.975^400"
    )
    assert abs(n_div - math.hypot(1.25**50, 0.975**50)) <= 1e-9 * n_div, failure(
        CLAIM_QUAD, device, dtype, "‖e_50‖ from (0,1,1) ≠ √(1.25^100 + 0.975^100)", n_div, "1e-9"
    )
    assert round(n_div, -3) == 70_000.0
    evidence.value("e50_norm_diverging_start", n_div)


@pytest.mark.claim(CLAIM_QUAD)
@pytest.mark.dtypes("float64")
def test_loss_vs_step_figure(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """The notes' 'loss vs learning rate' picture on A = diag(4, 1): η·λ_max = 0.1 (slow),
    1 (fast), 1.9 (oscillating but converging), 2.1 (diverging); the loss ordering is asserted."""
    lam = torch.tensor([4.0, 1.0], dtype=dtype, device=device)
    eye = torch.eye(2, dtype=dtype, device=device)
    q = problems.Quadratic(a=torch.diag(lam), b=torch.zeros(2, dtype=dtype, device=device),
                           eigenvalues=lam, eigenvectors=eye)  # fmt: skip
    x0 = torch.tensor([1.0, 1.0], dtype=dtype, device=device)
    runs = {}
    for c in (0.1, 1.0, 1.9, 2.1):
        runs[c] = q.loss(_run_gd(q, x0, c / 4.0, 30)).cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c, f in runs.items():
        ax.semilogy(np.maximum(f, 1e-16), marker=".", label=f"η = {c:g}/λ_max")
    ax.set_xlabel("step k")
    ax.set_ylabel("loss f(x_k)")
    ax.set_title("GD on ½(4x₁² + x₂²): loss vs step for four learning rates")
    ax.legend()
    evidence.figure(fig, "opt-loss-vs-step")
    plt.close(fig)
    assert runs[2.1][-1] > runs[2.1][0] > runs[0.1][-1] > runs[1.0][-1]
    assert runs[1.9][-1] < runs[1.9][0]


# =================================================================================================
# opt.gd-step-not-always-diverge
# =================================================================================================

CLAIM_HUBER = "opt.gd-step-not-always-diverge"


def _gd_path(
    f: Any, x0: float, eta: float, steps: int, dtype: torch.dtype, device: str
) -> list[float]:
    p = torch.nn.Parameter(torch.tensor(x0, dtype=dtype, device=device))
    opt = GD([p], lr=eta)
    path = [x0]
    for _ in range(steps):
        opt.zero_grad()
        f(p).backward()
        opt.step()
        path.append(float(p.detach()))
    return path


@pytest.mark.claim(CLAIM_HUBER)
@pytest.mark.dtypes("float64")
def test_huber_eta_three_two_cycle(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """Huber (δ = 1, L = 1), η = 3 = 3/L: 10 → 7 → 4 → 1 → −2 → 1 → −2 …, bounded, exactly."""
    path = _gd_path(problems.huber, 10.0, 3.0, 12, dtype, device)
    want = [10.0, 7.0, 4.0, 1.0] + [-2.0, 1.0] * 4 + [-2.0]
    assert path == want, failure(CLAIM_HUBER, device, dtype, f"path {path}", math.inf, "exact")
    # L = 1: the gradient clamp(x, −1, 1) is 1-Lipschitz, and 1 is attained on [−1, 1].
    xs = torch.linspace(-5, 5, 1001, dtype=dtype, device=device, requires_grad=True)
    (gr,) = torch.autograd.grad(problems.huber(xs).sum(), xs)
    slopes = (gr[1:] - gr[:-1]) / (xs[1:] - xs[:-1]).detach()
    assert float(slopes.abs().max()) <= 1 + 1e-9 and float(slopes.abs().max()) >= 1 - 1e-9
    evidence.value("huber_path", path[:7])


@pytest.mark.claim(CLAIM_HUBER)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(delta=st.floats(0.1, 5.0))
def test_huber_values_equal_torch(device: str, dtype: torch.dtype, delta: float) -> None:
    """huber(x, δ) equals F.huber_loss(x, 0, delta=δ) on a grid over [−3δ, 3δ] (values, so also
    continuity at ±δ), and its autograd gradient is clamp(x, −δ, δ)."""
    xs = torch.linspace(-3 * delta, 3 * delta, 241, dtype=dtype, device=device)
    xs.requires_grad_(True)
    mine = problems.huber(xs, delta)
    ref = F.huber_loss(xs, torch.zeros_like(xs), reduction="none", delta=delta)
    check_close(mine, ref, tol(dtype), CLAIM_HUBER, device, f"Huber values (δ={delta})")
    (gr,) = torch.autograd.grad(mine.sum(), xs)
    check_close(gr, xs.detach().clamp(-delta, delta), tol(dtype), CLAIM_HUBER, device, "Huber′")


@pytest.mark.claim(CLAIM_HUBER)
@pytest.mark.dtypes("float64")
def test_quartic_small_step_depends_on_start(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """f = x⁴ (not globally smooth), η = 0.2: x_0 = 1 converges, x_0 = 2 blows up
    (−4.4, 63.7, −2.1e5, 7.1e15)."""

    def quartic(x: torch.Tensor) -> torch.Tensor:
        return x**4

    small = _gd_path(quartic, 1.0, 0.2, 200, dtype, device)
    assert all(abs(b) < abs(a) for a, b in itertools.pairwise(small)) and abs(small[-1]) < 0.1
    big = _gd_path(quartic, 2.0, 0.2, 4, dtype, device)
    rounded = [float(f"{v:.2g}") for v in big[1:]]
    assert rounded == [-4.4, 64.0, -2.1e5, 7.1e15], failure(
        CLAIM_HUBER, device, dtype, f"x⁴ path from 2: {big}", math.inf, "2 significant digits"
    )
    evidence.value("quartic_path_from_2", big[1:])


# =================================================================================================
# opt.sgd-unbiased
# =================================================================================================

CLAIM_SGD = "opt.sgd-unbiased"


def _per_example_grads(net: FeedForward, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row i: the flattened gradient of ℓ_i = ½‖net(x_i) − y_i‖²."""
    rows = []
    for i in range(x.shape[0]):
        net.zero_grad()
        (0.5 * ((net(x[i : i + 1]) - y[i : i + 1]) ** 2).sum()).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))  # type: ignore[union-attr]
    return torch.stack(rows)


@pytest.mark.claim(CLAIM_SGD)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=20)
@given(n=st.integers(1, 6), b=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_minibatch_gradient_is_unbiased_by_enumeration(
    device: str, dtype: torch.dtype, n: int, b: int, seed: int
) -> None:
    """Averaged over all C(n, b) equally likely minibatches, the minibatch gradient equals the
    full gradient of the mean loss (b = 1: one uniformly drawn example)."""
    b = min(b, n)
    g = torch.Generator().manual_seed(seed)
    net = FeedForward([3, 4, 2], "tanh", generator=g, dtype=dtype, device=device)
    x = torch.randn(n, 3, generator=g, dtype=dtype).to(device)
    y = torch.randn(n, 2, generator=g, dtype=dtype).to(device)
    per = _per_example_grads(net, x, y)
    net.zero_grad()
    (0.5 * ((net(x) - y) ** 2).sum(1).mean()).backward()
    full = torch.cat([p.grad.reshape(-1) for p in net.parameters()])  # type: ignore[union-attr]
    subsets = list(itertools.combinations(range(n), b))
    mean = torch.stack([per[list(s)].mean(0) for s in subsets]).mean(0)
    check_close(mean, full, EXACT, CLAIM_SGD, device, f"E[minibatch gradient] (n={n}, b={b})")


SAMPLER_DRAWS = 20_000
SAMPLER_Z = 7.0
#: Bernstein's bound on the chance that one of the 10 subset frequencies (Bernoulli(0.1) means
#: with b/σ = 3) is SAMPLER_Z standard errors off: the test's false-failure chance (page).
FALSE_FAILURES = {
    "test_minibatch_sampler_is_uniform_and_seeded": 10
    * 2
    * math.exp(-(SAMPLER_Z**2) / (2 + 2 * SAMPLER_Z * 3.0 / (3 * math.sqrt(SAMPLER_DRAWS))))
}


@pytest.mark.claim(CLAIM_SGD)
def test_minibatch_sampler_is_uniform_and_seeded(evidence: Any) -> None:
    """minibatch(5, 2): each of the 10 subsets within 7 standard errors of 1/10 over 20 000 draws
    (Bernstein: false failure ≤ 1.6e-9); the same seed gives the same draw."""
    g = torch.Generator().manual_seed(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(SAMPLER_DRAWS):
        s = tuple(sorted(minibatch(5, 2, generator=g).tolist()))
        counts[s] = counts.get(s, 0) + 1
    assert set(counts) == set(itertools.combinations(range(5), 2))
    p = 0.1
    se = math.sqrt(p * (1 - p) / SAMPLER_DRAWS)
    worst = max(abs(c / SAMPLER_DRAWS - p) / se for c in counts.values())
    assert worst <= SAMPLER_Z, failure(CLAIM_SGD, "cpu", "-", "subset frequency", worst, "7 s.e.")
    b_over_sigma = max(math.sqrt(p / (1 - p)), math.sqrt((1 - p) / p))
    chance = (
        10
        * 2
        * math.exp(
            -(SAMPLER_Z**2) / (2 + 2 * SAMPLER_Z * b_over_sigma / (3 * math.sqrt(SAMPLER_DRAWS)))
        )
    )
    assert chance <= 1.6e-9
    evidence.value("sampler_worst_z", worst)
    evidence.value("sampler_false_failure", chance)
    evidence.value("false_failure", chance)
    assert math.isclose(chance, FALSE_FAILURES["test_minibatch_sampler_is_uniform_and_seeded"])
    a = minibatch(9, 4, generator=torch.Generator().manual_seed(3))
    b = minibatch(9, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and len(set(a.tolist())) == 4
    # size = n is a uniformly drawn permutation: every index once
    for n in (1, 6):
        full = minibatch(n, n, generator=torch.Generator().manual_seed(4))
        got = full.tolist()
        assert sorted(got) == list(range(n)), failure(
            CLAIM_SGD, "cpu", "-", f"minibatch({n}, {n}) = {got}", math.inf, "all of 0…n−1"
        )


# =================================================================================================
# opt.init-decides-minimum
# =================================================================================================

CLAIM_INIT = "opt.init-decides-minimum"


def _grid_descent(x0: float) -> float:
    """Independent oracle: walk downhill on a grid of spacing 1e-5 (NumPy, no autograd)."""
    h = 1e-5
    f = lambda x: math.sin(3 * x) + 0.1 * x * x  # noqa: E731
    x, step = x0, h
    # coarse-to-fine discrete descent
    for step in (1e-2, 1e-3, 1e-4, h):
        while True:
            if f(x + step) < f(x):
                x += step
            elif f(x - step) < f(x):
                x -= step
            else:
                break
    return x


@pytest.mark.claim(CLAIM_INIT)
@pytest.mark.dtypes("float64")
def test_multi_basin_smoothness_constant(device: str, dtype: torch.dtype) -> None:
    """The page's L = 9.2 is max |f″| of f = sin 3x + x²/10 (f″ by autograd, on a grid over two
    periods around 0, where −9 sin 3x + 0.2 reaches −9.2), so the GD map x − f′(x)/L is
    non-decreasing: 1 − f″/L ≥ 0."""
    assert problems.MULTI_BASIN_SMOOTHNESS == 9.2
    xs = torch.linspace(-2.2, 2.2, 20_001, dtype=dtype, device=device, requires_grad=True)
    (d1,) = torch.autograd.grad(problems.multi_basin(xs).sum(), xs, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), xs)
    top = float(d2.abs().max())
    assert 9.2 - 1e-6 <= top <= 9.2 + 1e-12, failure(
        CLAIM_INIT, device, dtype, "max |f″|", top, "9.2"
    )
    assert float((1 - d2 / problems.MULTI_BASIN_SMOOTHNESS).min()) >= -1e-12


@pytest.mark.claim(CLAIM_INIT)
@pytest.mark.dtypes("float64")
def test_starts_in_different_basins_end_in_different_minima(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """f = sin 3x + x²/10, η = 1/L: GD from 13 starts in [−6, 6] ends at 7 distinct local
    minima; each end is where an independent grid descent from the same start ends (to 1e-4),
    f′ = 0 and f″ > 0 there, and the path is monotone (GD stays in its start's basin)."""
    eta = 1.0 / problems.MULTI_BASIN_SMOOTHNESS
    starts = np.linspace(-6.0, 6.0, 13)
    ends, paths = [], []
    for x0 in starts:
        path = _gd_path(problems.multi_basin, float(x0), eta, 400, dtype, device)
        paths.append(path)
        end = path[-1]
        assert abs(end - _grid_descent(float(x0))) <= 1e-4, failure(
            CLAIM_INIT, device, dtype, f"GD from {x0:g} ended at {end:g}, grid descent elsewhere",
            abs(end - _grid_descent(float(x0))), "1e-4",
        )  # fmt: skip
        fp = 3 * math.cos(3 * end) + 0.2 * end
        fpp = -9 * math.sin(3 * end) + 0.2
        assert abs(fp) <= 1e-8 and fpp > 0
        steps = np.diff(path)
        assert bool((steps <= 1e-15).all()) or bool((steps >= -1e-15).all())
        ends.append(end)
    distinct = sorted({round(e, 6) for e in ends})
    assert len(distinct) == 7, failure(CLAIM_INIT, device, dtype, f"minima {distinct}", 0, "7")
    evidence.value("distinct_minima", distinct)
    best = min(distinct, key=lambda e: math.sin(3 * e) + 0.1 * e * e)
    assert round(best, 2) == -0.51, failure(CLAIM_INIT, device, dtype, "global", best, "-0.51")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    grid = np.linspace(-6.5, 6.5, 800)
    ax.plot(grid, np.sin(3 * grid) + 0.1 * grid**2, color="0.3")
    for path in paths:
        pa = np.array(path)
        ax.plot(pa, np.sin(3 * pa) + 0.1 * pa**2, ".", ms=3)
        ax.plot(pa[-1], math.sin(3 * pa[-1]) + 0.1 * pa[-1] ** 2, "kv")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x) = sin 3x + x²/10")
    ax.set_title("GD (η = 1/L) from 13 starts: the start decides the minimum")
    evidence.figure(fig, "opt-multi-basin")
    plt.close(fig)


# =================================================================================================
# Bad input
# =================================================================================================


@pytest.mark.claim(CLAIM_UPDATE)
def test_gd_refuses_bad_input() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    for lr in (0.0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="lr must be"):
            GD([p], lr=lr)
    with pytest.raises(TypeError, match="lr must be"):
        GD([p], lr="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="params must hold at least one"):
        GD([], lr=0.1)
    with pytest.raises(TypeError, match="params must be an iterable"):
        GD(p, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^lr must be .* \(the learning rate η\), got 0\.0$"):
        GD([p], lr=0.0)  # (what lr is, in the message: mutation testing, issue 12)
    with pytest.raises(
        TypeError,
        match=r"^params\[1\] must be a tensor or a parameter group \(dict\), got float$",
    ):
        GD([p, 1.0], lr=0.1)  # type: ignore[list-item]
    opt = GD([p], lr=0.1)
    p.grad = torch.tensor([1.0, math.nan])
    with pytest.raises(ValueError, match="gradient of parameter 0 must be finite"):
        opt.step()
    assert torch.equal(p.detach(), torch.zeros(2))
    # a NaN in a later parameter refuses the step before the earlier ones move
    q = torch.nn.Parameter(torch.zeros(2))
    p.grad, q.grad = torch.ones(2), torch.tensor([math.inf, 1.0])
    with pytest.raises(ValueError, match="gradient of parameter 1 must be finite"):
        GD([p, q], lr=0.1).step()
    assert torch.equal(p.detach(), torch.zeros(2)) and torch.equal(q.detach(), torch.zeros(2))
    opt.param_groups[0]["lr"] = -1.0
    p.grad = torch.ones(2)
    with pytest.raises(ValueError, match="lr must be"):
        opt.step()
    with pytest.raises(ValueError, match="size must be"):
        minibatch(3, 4)
    with pytest.raises(TypeError, match="generator must be"):
        minibatch(3, 1, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eigenvalues must be"):
        problems.quadratic(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="delta must be"):
        problems.huber(torch.zeros(1), 0.0)


# =================================================================================================
# opt.gd-fast-form
# =================================================================================================

CLAIM_FAST = "opt.gd-fast-form"


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None, max_examples=20)
@given(run=S.optimizer_runs())
def test_fast_gd_equals_plain(device: str, dtype: torch.dtype, run: dict[str, Any]) -> None:
    """Several steps of GD(fast=True) and GD over drawn groups, rates and gradients (some None)
    leave the same parameters."""
    (plain_groups, plain), (fast_groups, fast) = (
        S.optimizer_groups(run, device, dtype) for _ in "ab"
    )
    a, b = GD(plain_groups, lr=run["lr"]), GD(fast_groups, lr=run["lr"], fast=True)
    rates = [run["lr"]] + [gr["lr"] for gr in run["groups"] if gr["lr"] is not None]
    bound = fast_form_tol(device, dtype, run["steps"], 3.0 * max(rates))
    for t in range(run["steps"]):
        S.set_grads(run, plain, t)
        S.set_grads(run, fast, t)
        a.step()
        b.step()
        for i, (p, q) in enumerate(zip(plain, fast, strict=True)):
            check_same(
                q.detach(), p.detach(), bound, CLAIM_FAST, device, f"θ of tensor {i}, step {t}"
            )


@pytest.mark.claim(CLAIM_FAST)
def test_fast_gd_keeps_the_refusals(device: str, dtype: torch.dtype) -> None:
    """A NaN or ±∞ gradient anywhere refuses the fast step with the plain form's error and moves
    nothing; finite gradients whose sum overflows (the fast check's first read) are not refused;
    a bad rate is refused at each step; `fast` takes a bool only."""
    big = torch.finfo(dtype).max
    for bad in (math.nan, math.inf, -math.inf):
        for fast in (False, True):
            a, b, c = (
                torch.nn.Parameter(torch.zeros(2, device=device, dtype=dtype)) for _ in "abc"
            )
            opt = GD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1, fast=fast)
            a.grad, b.grad = torch.ones_like(a), torch.ones_like(b)
            c.grad = torch.tensor([1.0, bad], device=device, dtype=dtype)
            with pytest.raises(ValueError, match="gradient of parameter 1 must be finite"):
                opt.step()
            moved = [bool(t.detach().any()) for t in (a, b, c)]
            assert not any(moved), failure(
                CLAIM_FAST,
                device,
                dtype,
                f"a refused step moved {moved} (fast={fast})",
                1.0,
                "none",
            )
    # finite entries whose sum is ±∞ in the dtype: both forms take the step
    p, q = (torch.nn.Parameter(torch.zeros(2, device=device, dtype=dtype)) for _ in "pq")
    for r in (p, q):
        r.grad = torch.tensor([big, big], device=device, dtype=dtype)
    GD([p], lr=1e-3).step()
    GD([q], lr=1e-3, fast=True).step()
    assert torch.equal(p, q) and bool(torch.isfinite(q).all()), failure(
        CLAIM_FAST,
        device,
        dtype,
        "overflowing sum of finite gradients",
        float((p - q).abs().max()),
        "equal",
    )
    r = torch.nn.Parameter(torch.zeros(1, device=device, dtype=dtype))
    opt = GD([r], lr=0.1, fast=True)
    r.grad = torch.ones(1, device=device, dtype=dtype)
    opt.param_groups[0]["lr"] = 0.0
    with pytest.raises(ValueError, match="lr must be"):
        opt.step()
    assert not r.detach().any()
    with pytest.raises(TypeError, match="fast must be a bool"):
        GD([r], lr=0.1, fast=1)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_UPDATE)
def test_gd_step_returns_the_closure_loss() -> None:
    """`step()` follows `torch.optim.Optimizer`: `None` without a closure, the closure's loss
    (evaluated with gradients on) with one (mutation testing, issue 12: `tests/mutation/`)."""
    p = torch.nn.Parameter(torch.ones(2))  # θ = 1, then 0.5 after one step, then 0
    opt = GD([p], lr=0.5)
    p.grad = torch.ones(2)
    assert opt.step() is None, f"{CLAIM_UPDATE}: step() without a closure returns None"

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss is not None and float(loss.detach()) == 0.5, f"{CLAIM_UPDATE}: the closure's loss"
    assert p.detach().tolist() == [0.0, 0.0], f"{CLAIM_UPDATE}: θ − η ∇L with the closure's ∇L"


@pytest.mark.claim(CLAIM_SGD)
def test_minibatch_names_n_and_keeps_the_device() -> None:
    """`minibatch` names `n` in its refusals and draws on the device it is given (mutation
    testing, issue 12: `tests/mutation/`)."""
    with pytest.raises(ValueError, match=r"^n must be an integer ≥ 1, got 0$"):
        minibatch(0, 1)
    with pytest.raises(TypeError, match=r"^n must be an integer ≥ 1, got float$"):
        minibatch(2.0, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^size must be an integer in \[1, 3\], got 4$"):
        minibatch(3, 4)
    idx = minibatch(5, 2, device="meta")
    assert idx.device.type == "meta" and idx.shape == (2,), f"{CLAIM_SGD}: device= is ignored"


@pytest.mark.claim(CLAIM_FAST)
def test_fast_gd_mixed_dtypes_in_one_group(device: str) -> None:
    """Parameters of two dtypes interleaved in one group: the fast form splits them into
    (device, dtype) buckets, and each parameter must still get its own gradient (bit for bit on
    the CPU). A bucket that paired a parameter with another tensor's gradient fails here."""
    gen = torch.Generator().manual_seed(7)
    dtypes = (torch.float64, torch.float32, torch.float64, torch.float32, torch.float64)
    init = [torch.randn(3, generator=gen, dtype=torch.float64) for _ in dtypes]
    grads = [torch.randn(3, generator=gen, dtype=torch.float64) * (k + 1) for k in range(5)]
    runs = []
    for fast in (False, True):
        ps = [torch.nn.Parameter(v.to(device, dt)) for v, dt in zip(init, dtypes, strict=True)]
        for p, g in zip(ps, grads, strict=True):
            p.grad = g.to(device, p.dtype)
        GD([{"params": ps}], lr=0.3, fast=fast).step()
        runs.append(ps)
    for i, (p, q) in enumerate(zip(*runs, strict=True)):
        check_same(
            q.detach(),
            p.detach(),
            fast_form_tol(device, p.dtype, 1, 0.3 * 5 * 3),
            CLAIM_FAST,
            device,
            f"θ of tensor {i} ({p.dtype}) in a mixed-dtype group",
        )


@pytest.mark.claim(CLAIM_FAST)
def test_plain_form_is_the_default(
    device: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`GD(params, lr)` takes the plain per-tensor step (the form the other claims decide): no
    `torch._foreach_*` kernel runs unless `fast=True` asks for it.
    On the CPU the two forms agree bit for bit, so only the kernels run can tell them apart."""
    for fast in (False, True):
        p = torch.nn.Parameter(torch.zeros(3, device=device, dtype=dtype))
        p.grad = torch.ones_like(p)
        ran = count_calls(monkeypatch, "_foreach_add_")
        GD([p], lr=0.5).step() if not fast else GD([p], lr=0.5, fast=True).step()
        assert bool(ran) == fast, f"{CLAIM_FAST}: fast={fast} ran foreach {len(ran)} times"
        assert torch.equal(p.detach(), torch.full_like(p, -0.5))


@pytest.mark.claim(CLAIM_FAST)
def test_fast_gd_reads_finiteness_once(
    device: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast form's check of finite gradients is one `isfinite` over one sum per gradient, for
    all groups together (one device synchronization), not the plain form's one per gradient.
    The two forms agree on every value, so only the kernels run can tell them apart."""
    for fast, expected in ((False, 3), (True, 1)):
        ps = [torch.nn.Parameter(torch.zeros(2, device=device, dtype=dtype)) for _ in range(3)]
        for p in ps:
            p.grad = torch.ones_like(p)
        opt = GD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}], lr=0.1, fast=fast)
        ran = count_calls(monkeypatch, "isfinite")
        opt.step()
        assert len(ran) == expected, (
            f"{CLAIM_FAST}: fast={fast} ran isfinite {len(ran)} times, expected {expected}"
        )
