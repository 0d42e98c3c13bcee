"""Tests of spec/optimization/learning-rates.md: the η/√(t+1) schedule and Adagrad.

Notation as on the page: at step ``t = 0, 1, …`` the gradient is ``g_t``, ``η_t = η/√(t+1)``,
``σ_t = √(Σ_{i≤t} g_i²/(t+1))``; Adagrad's update is ``w_{t+1} = w_t − (η_t/σ_t) g_t``. The
sympy derivation runs once per module (cached); the optimizers under test are reached through
the seams ``Adagrad``, ``GD`` and ``inverse_sqrt_decay``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.optim.adagrad import Adagrad
from dlspec.optim.sgd import GD, inverse_sqrt_decay, inverse_sqrt_lr
from tests import strategies as S
from tests.spy import count_calls
from tests.tolerances import EXACT, Tol, check_close, check_same, failure, fast_form_tol

# =================================================================================================
# opt.lr-decay
# =================================================================================================

CLAIM_DECAY = "opt.lr-decay"


@pytest.mark.claim(CLAIM_DECAY)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(lr=st.floats(1e-3, 10.0), grads=S.arrays((12, 3)))
def test_inverse_sqrt_schedule(device: str, dtype: torch.dtype, lr: float, grads: Any) -> None:
    """After t scheduler steps the learning rate is η/√(t+1) (also `inverse_sqrt_lr(η, t)`);
    GD under the schedule takes the steps θ_{t+1} = θ_t − η/√(t+1) g_t."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=dtype, device=device))
    opt = GD([p], lr=lr)
    sched = inverse_sqrt_decay(opt)
    theta = torch.zeros(3, dtype=dtype, device=device)
    for t in range(12):
        want = lr / math.sqrt(t + 1)
        got = opt.param_groups[0]["lr"]
        assert (
            abs(got - want) <= 1e-15 * want and abs(inverse_sqrt_lr(lr, t) - want) <= 1e-15 * want
        ), failure(CLAIM_DECAY, device, dtype, f"η_{t}", abs(got - want), "1e-15 relative")
        g = S.to_torch(grads[t], device, dtype)
        p.grad = g.clone()
        opt.step()
        sched.step()
        theta = theta - want * g  # θ_{t+1} = θ_t − η_t g_t
        check_close(p.detach(), theta, EXACT, CLAIM_DECAY, device, f"θ_{t + 1}")
    assert inverse_sqrt_lr(lr, 3) == lr / 2.0


@pytest.mark.claim(CLAIM_DECAY)
def test_schedule_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        inverse_sqrt_lr(0.0, 1)
    with pytest.raises(ValueError, match="t must be"):
        inverse_sqrt_lr(1.0, -1)
    with pytest.raises(TypeError, match=r"^optimizer must be a torch\.optim\.Optimizer, got list$"):
        inverse_sqrt_decay([1.0])  # type: ignore[arg-type]


# =================================================================================================
# opt.adagrad-simplified
# =================================================================================================

CLAIM_SIMPLE = "opt.adagrad-simplified"


@functools.cache
def _derivation() -> dict[str, Any]:
    """Sympy: (η_t/σ_t) g_t = η g_t / √(Σ g_i²); first step η·sign(g_0); the no-root variant."""
    eta, s, g = sp.symbols("eta S g", positive=True)
    t = sp.symbols("t", integer=True, nonnegative=True)
    eta_t = eta / sp.sqrt(t + 1)
    sigma_t = sp.sqrt(s / (t + 1))
    notes = eta_t / sigma_t * g
    simple = eta * g / sp.sqrt(s)
    g0 = sp.symbols("g0", real=True, nonzero=True)
    first = (eta / sp.sqrt(1)) / sp.sqrt(g0**2 / 1) * g0
    return {
        "difference": sp.simplify(notes - simple),
        "first": sp.simplify(first - eta * sp.sign(g0)),
        "simple_fn": sp.lambdify((eta, s, g), simple, "math"),
    }


@pytest.mark.claim(CLAIM_SIMPLE)
def test_sympy_root_t_plus_one_cancels(evidence: Any) -> None:
    der = _derivation()
    assert der["difference"] == 0, f"{CLAIM_SIMPLE}: notes − simplified = {der['difference']}"
    assert der["first"] == 0, f"{CLAIM_SIMPLE}: first step − η sign(g0) = {der['first']}"
    evidence.value("sympy_difference", str(der["difference"]))


@st.composite
def _grad_sequences(draw: st.DrawFn) -> tuple[Any, float]:
    t, d = draw(st.integers(1, 20)), draw(st.integers(1, 5))
    return draw(S.arrays((t, d), min_abs=1e-3)), draw(st.floats(1e-3, 1.0))


@pytest.mark.claim(CLAIM_SIMPLE)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_grad_sequences())
@example(case=(np.array([[1e-3, -3.0], [2.0, 0.5]]), 0.1))
def test_adagrad_equals_closed_form(
    device: str, dtype: torch.dtype, case: tuple[Any, float]
) -> None:
    """Adagrad's iterates equal w_0 − Σ_t η g_t/√(Σ_{i≤t} g_i²) (the lambdified sympy form)."""
    grads, lr = case
    fn = _derivation()["simple_fn"]
    p = torch.nn.Parameter(torch.zeros(grads.shape[1], dtype=dtype, device=device))
    opt = Adagrad([p], lr=lr)
    w = np.zeros(grads.shape[1])
    for t in range(grads.shape[0]):
        p.grad = S.to_torch(grads[t], device, dtype).clone()
        opt.step()
        ssum = (grads[: t + 1] ** 2).sum(0)
        w = w - np.array([fn(lr, ssum[j], grads[t, j]) for j in range(len(w))])
        check_close(p.detach(), S.to_torch(w, device, dtype), EXACT, CLAIM_SIMPLE, device,
                    f"w_{t + 1} (lr={lr})")  # fmt: skip


@pytest.mark.claim(CLAIM_SIMPLE)
@settings(deadline=None)
@given(g0=S.arrays(4, bound=1e3, min_abs=1e-3), lr=st.floats(1e-3, 1.0))
def test_first_step_has_size_eta(device: str, dtype: torch.dtype, g0: Any, lr: float) -> None:
    """|w_1 − w_0| = η in every coordinate, whatever |g_0|; the no-root transcription
    η g_0/g_0² = η/g_0 would not be (its size depends on g_0)."""
    p = torch.nn.Parameter(torch.zeros(4, dtype=dtype, device=device))
    if dtype == torch.float16:  # g² must stay a normal float16: |g| ∈ [1e-2, 1e2]
        g0 = np.sign(g0) * np.clip(np.abs(g0), 1e-2, 1e2)
    p.grad = S.to_torch(g0, device, dtype).clone()
    Adagrad([p], lr=lr).step()
    eta = torch.full((4,), lr, dtype=dtype, device=device)
    eps = torch.finfo(dtype).eps
    # a few roundings (square, root, division, product) of a number of size η
    check_close(p.detach().abs(), eta.to(dtype), Tol(rtol=8 * eps, atol=0.0), CLAIM_SIMPLE,
                device, "first step size")  # fmt: skip
    assert bool((torch.sign(p.detach()) == -torch.sign(p.grad)).all())


@pytest.mark.claim(CLAIM_SIMPLE)
def test_first_step_at_the_underflow_edge(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """The page's floating-point condition: at |g_0| = 1.01·√tiny (g² just normal) the first step
    still has size η; far below it (float32, g = 1e-24, g² underflows to 0) it does not."""
    lr = 0.3
    root_tiny = math.sqrt(torch.finfo(dtype).tiny)
    printed = {torch.float64: 1.5e-154, torch.float32: 1.1e-19, torch.bfloat16: 1.1e-19,
               torch.float16: 7.8e-3}  # fmt: skip
    assert float(f"{root_tiny:.2g}") == printed[dtype], failure(
        CLAIM_SIMPLE, device, dtype, "√tiny as the page prints it", root_tiny, str(printed[dtype])
    )
    edge = 1.01 * root_tiny
    p = torch.nn.Parameter(torch.zeros(2, dtype=dtype, device=device))
    p.grad = torch.tensor([edge, -edge], dtype=dtype, device=device)
    Adagrad([p], lr=lr).step()
    eta = torch.full((2,), lr, dtype=dtype, device=device)
    check_close(p.detach().abs(), eta, Tol(rtol=8 * torch.finfo(dtype).eps, atol=0.0),
                CLAIM_SIMPLE, device, f"first step at |g_0| = {edge:.3g}")  # fmt: skip
    q = torch.nn.Parameter(torch.zeros(1))
    q.grad = torch.full((1,), 1e-24)
    Adagrad([q], lr=1.0).step()
    step = abs(float(q.detach()))
    assert 8e13 < step < 9e13, failure(CLAIM_SIMPLE, "cpu", "float32", "step at g = 1e-24", step,
                                       "about 8.5e13 (g² underflows)")  # fmt: skip
    evidence.value("float32_step_at_g_1e-24", step)


@pytest.mark.claim(CLAIM_SIMPLE)
def test_adagrad_state_and_closure() -> None:
    """The state the class documents: after k steps `step` is k and `sum_sq` is Σ g_i²; `step()`
    returns `None`, or the closure's loss (mutation testing, issue 12: `tests/mutation/`)."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = Adagrad([p], lr=0.1)
    grads = [torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.5]), torch.tensor([-1.0, 1.0])]
    for k, g in enumerate(grads, start=1):
        p.grad = g.double()
        assert opt.step() is None, failure(CLAIM_SIMPLE, "cpu", "float64", "step()", "?", "None")
        state = opt.state[p]
        assert state["step"] == k, failure(CLAIM_SIMPLE, "cpu", "float64", "t", state["step"], k)
        sq = sum(x.double() ** 2 for x in grads[:k])
        check_close(state["sum_sq"], sq, EXACT, CLAIM_SIMPLE, "cpu", "Σ g_i²")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    before = float((p.detach() ** 2).sum())
    loss = opt.step(closure)
    assert loss is not None and float(loss.detach()) == before, failure(
        CLAIM_SIMPLE, "cpu", "float64", "step(closure)", loss, before
    )
    assert opt.state[p]["step"] == len(grads) + 1


# =================================================================================================
# opt.adagrad-torch
# =================================================================================================

CLAIM_TORCH = "opt.adagrad-torch"


def _tol_adagrad(dtype: torch.dtype, steps: int) -> Tol:
    """Each step differs by a few roundings of a number of size ≤ η (torch fuses addcdiv): over
    ``steps`` steps at most ``10·steps·eps`` relative to η, and the same relative to |w|."""
    eps = torch.finfo(dtype).eps
    return Tol(rtol=10 * steps * eps, atol=10 * steps * eps)


@st.composite
def _torch_case(draw: st.DrawFn) -> tuple[Any, Any, float]:
    t = draw(st.integers(1, 20))
    d1, d2 = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    return (draw(S.arrays((t, d1), min_abs=1e-3)), draw(S.arrays((t, d2), min_abs=1e-3)),
            draw(st.floats(1e-3, 1.0)))  # fmt: skip


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(case=_torch_case())
@example(case=(np.array([[1e-3], [3.0], [-2.0]]), np.array([[-3.0], [1e-3], [1.0]]), 1.0))
def test_adagrad_equals_torch_with_eps_zero(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, float]
) -> None:
    """Two parameter tensors, T ≤ 20 drawn gradients with |g| ≥ 1e-3: Adagrad(lr=η) equals
    torch.optim.Adagrad(lr=η, lr_decay=0, eps=0, initial_accumulator_value=0) after every step."""
    g1, g2, lr = case
    mine = [
        torch.nn.Parameter(torch.zeros(g.shape[1], dtype=dtype, device=device)) for g in (g1, g2)
    ]
    ref = [
        torch.nn.Parameter(torch.zeros(g.shape[1], dtype=dtype, device=device)) for g in (g1, g2)
    ]
    opt = Adagrad(mine, lr=lr)
    oracle = torch.optim.Adagrad(ref, lr=lr, lr_decay=0, eps=0, initial_accumulator_value=0)
    tl = _tol_adagrad(dtype, g1.shape[0])
    for t in range(g1.shape[0]):
        for ps in (mine, ref):
            for p, g in zip(ps, (g1, g2), strict=True):
                p.grad = S.to_torch(g[t], device, dtype).clone()
        opt.step()
        oracle.step()
        for i, (a, b) in enumerate(zip(mine, ref, strict=True)):
            check_close(a.detach(), b.detach(), Tol(tl.rtol, tl.atol * lr), CLAIM_TORCH, device,
                        f"step {t}, tensor {i} (lr={lr})")  # fmt: skip
    # the documented state: step count t and Σ g², as torch's "step" and "sum"
    for a, b in zip(mine, ref, strict=True):
        mst, tst = opt.state[a], oracle.state[b]
        assert mst["step"] == int(tst["step"]) == g1.shape[0], failure(
            CLAIM_TORCH, device, dtype, "Adagrad's step count", mst["step"], str(g1.shape[0])
        )
        check_close(mst["sum_sq"], tst["sum"], tl, CLAIM_TORCH, device, "Adagrad's Σ g²")


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=20)
@given(case=_torch_case(), eps=st.sampled_from([1e-10, 1e-3, 0.1]), k=st.floats(0.0, 2.0))
def test_torch_eps_and_lr_decay_relation(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, float], eps: float, k: float
) -> None:
    """torch's eps sits outside the root: Adagrad(eps=ε) equals torch(eps=ε); torch's
    lr_decay = k is the extra factor 1/(1 + k t): Adagrad under LambdaLR(1/(1 + k t)) equals it."""
    g1, _, lr = case
    p = torch.nn.Parameter(torch.zeros(g1.shape[1], dtype=dtype, device=device))
    r = torch.nn.Parameter(torch.zeros(g1.shape[1], dtype=dtype, device=device))
    opt = Adagrad([p], lr=lr, eps=eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + k * t))
    oracle = torch.optim.Adagrad([r], lr=lr, lr_decay=k, eps=eps, initial_accumulator_value=0)
    for t in range(g1.shape[0]):
        p.grad = S.to_torch(g1[t], device, dtype).clone()
        r.grad = p.grad.clone()
        opt.step()
        sched.step()
        oracle.step()
        check_close(p.detach(), r.detach(), EXACT, CLAIM_TORCH, device,
                    f"step {t} (eps={eps}, lr_decay={k})")  # fmt: skip


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_defaults_are_torchs_with_eps_zero(device: str, dtype: torch.dtype) -> None:
    """`Adagrad(params)` takes torch's default rate η = 1e-2 and the notes' ε = 0: three steps
    equal `torch.optim.Adagrad(params, eps=0)` with its own defaults; the first moves each
    coordinate by exactly −η·sign(g) (η_0/σ_0 = η/|g_0|)."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=dtype, device=device))
    r = torch.nn.Parameter(torch.zeros(2, dtype=dtype, device=device))
    opt, oracle = Adagrad([p]), torch.optim.Adagrad([r], eps=0)
    for t, g in enumerate(([2.0, -0.5], [1.0, 3.0], [-4.0, 0.25])):
        p.grad = torch.tensor(g, dtype=dtype, device=device)
        r.grad = p.grad.clone()
        opt.step()
        oracle.step()
        if t == 0:
            assert p.detach().tolist() == [-0.01, 0.01], failure(
                CLAIM_TORCH, device, dtype, "first step with the default rate",
                float((p.detach().abs() - 0.01).abs().max()), "−1e-2·sign(g) exactly",
            )  # fmt: skip
        check_close(p.detach(), r.detach(), EXACT, CLAIM_TORCH, device, f"step {t}, defaults")


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_zero_gradient_history_rule(device: str, dtype: torch.dtype) -> None:
    """A coordinate with only zero gradients so far: Adagrad leaves it (0/0 read as 0), torch
    with eps=0 writes NaN there; the other coordinates agree."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=dtype, device=device))
    r = torch.nn.Parameter(torch.zeros(2, dtype=dtype, device=device))
    opt = Adagrad([p], lr=0.5)
    oracle = torch.optim.Adagrad([r], lr=0.5, eps=0)
    p.grad = torch.tensor([0.0, 2.0], dtype=dtype, device=device)
    r.grad = p.grad.clone()
    opt.step()
    oracle.step()
    assert p.detach().tolist() == [0.0, -0.5]
    assert math.isnan(float(r.detach()[0])) and float(r.detach()[1]) == -0.5


@pytest.mark.claim(CLAIM_TORCH)
def test_adagrad_refuses_bad_input() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    for lr in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="lr must be"):
            Adagrad([p], lr=lr)
    with pytest.raises(ValueError, match="eps must be"):
        Adagrad([p], lr=0.1, eps=-1e-3)
    with pytest.raises(ValueError, match="params must hold at least one"):
        Adagrad([], lr=0.1)
    opt = Adagrad([p], lr=0.1)
    p.grad = torch.tensor([math.inf, 1.0])
    with pytest.raises(ValueError, match="gradient of parameter 0 must be finite"):
        opt.step()
    assert torch.equal(p.detach(), torch.zeros(2)) and not opt.state
    # a bad gradient in a later parameter or group refuses the step before anything moves
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = Adagrad([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = torch.ones(2), torch.tensor([1.0, math.nan])
    with pytest.raises(ValueError, match="gradient of parameter 0 must be finite"):
        opt.step()
    assert torch.equal(a.detach(), torch.zeros(2)) and not opt.state
    # the rate is checked again at each step (a scheduler or a user may change it)
    opt = Adagrad([p], lr=0.1)
    p.grad = torch.ones(2)
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr must be"):
        opt.step()
    assert torch.equal(p.detach(), torch.zeros(2))
    # so is each group's ε (a group may set its own), in both forms, before anything moves
    for fast in (False, True):
        a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
        opt = Adagrad([{"params": [a]}, {"params": [b], "eps": -1.0}], lr=0.1, fast=fast)
        a.grad, b.grad = torch.ones(2), torch.ones(2)
        for bad, exc in ((-1.0, ValueError), (math.nan, ValueError), ("0", TypeError)):
            opt.param_groups[1]["eps"] = bad
            with pytest.raises(
                exc, match=r"eps must be a real number in \[0, inf\] \(added to √Σg²"
            ):
                opt.step()
            assert not a.detach().any() and not b.detach().any() and not opt.state, (
                f"{CLAIM_TORCH}: a step refused for eps = {bad!r} (fast={fast}) moved something"
            )


# =================================================================================================
# opt.adagrad-fast-form
# =================================================================================================

CLAIM_FAST = "opt.adagrad-fast-form"


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None, max_examples=20)
@given(run=S.optimizer_runs(), eps=st.sampled_from([0.0, 1e-320, 1e-10, 0.1]))
@example(
    run={
        "steps": 2,
        "groups": [
            {"tensors": [{"init": np.zeros(2), "grads": [np.array([0.0, 2.0])] * 2}], "lr": None}
        ],
        "lr": 0.5,
    },
    eps=0.0,
)
def test_fast_adagrad_equals_plain(
    device: str, dtype: torch.dtype, run: dict[str, Any], eps: float
) -> None:
    """Several steps of Adagrad(fast=True) and Adagrad over drawn groups, rates, eps (0, a
    subnormal, torch's default, large) and gradients (some None, zero coordinates kept by the
    0/0 rule) leave the same parameters and the same state (step counts and Σ g²)."""
    (plain_groups, plain), (fast_groups, fast) = (
        S.optimizer_groups(run, device, dtype) for _ in "ab"
    )
    a = Adagrad(plain_groups, lr=run["lr"], eps=eps)
    b = Adagrad(fast_groups, lr=run["lr"], eps=eps, fast=True)
    rates = [run["lr"]] + [gr["lr"] for gr in run["groups"] if gr["lr"] is not None]
    bound = fast_form_tol(device, dtype, run["steps"], max(rates))  # |Adagrad step| ≤ η
    for t in range(run["steps"]):
        S.set_grads(run, plain, t)
        S.set_grads(run, fast, t)
        a.step()
        b.step()
        for i, (p, q) in enumerate(zip(plain, fast, strict=True)):
            check_same(
                q.detach(), p.detach(), bound, CLAIM_FAST, device, f"w of tensor {i}, step {t}"
            )
    for i, (p, q) in enumerate(zip(plain, fast, strict=True)):
        sp, sq = a.state[p], b.state[q]
        assert sp.keys() == sq.keys() and sp.get("step") == sq.get("step"), failure(
            CLAIM_FAST,
            device,
            dtype,
            f"state of tensor {i}: {dict(sp)} vs {dict(sq)}",
            1.0,
            "equal",
        )
        if sp:
            check_same(sq["sum_sq"], sp["sum_sq"], bound, CLAIM_FAST, device, f"Σg² of tensor {i}")


@pytest.mark.claim(CLAIM_FAST)
def test_fast_adagrad_keeps_the_refusals(device: str, dtype: torch.dtype) -> None:
    """A NaN or ±∞ gradient refuses the fast step with the plain form's error: no parameter
    moves and no state is created; `fast` takes a bool only."""
    for bad in (math.nan, math.inf, -math.inf):
        a, b = (torch.nn.Parameter(torch.zeros(2, device=device, dtype=dtype)) for _ in "ab")
        opt = Adagrad([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, fast=True)
        a.grad = torch.ones_like(a)
        b.grad = torch.tensor([bad, 1.0], device=device, dtype=dtype)
        with pytest.raises(ValueError, match="gradient of parameter 0 must be finite"):
            opt.step()
        assert not a.detach().any() and not b.detach().any() and not opt.state, failure(
            CLAIM_FAST,
            device,
            dtype,
            f"a refused fast step changed something (g = {bad})",
            1.0,
            "nothing",
        )
    with pytest.raises(TypeError, match="fast must be a bool"):
        Adagrad([a], lr=0.1, fast="yes")  # type: ignore[arg-type]


#: (dtype, ε, t): after t steps ε/√(t+1) rounds to 0 in the dtype (below half its least
#: subnormal) while ε·√(t+1) ≥ its least normal number: a skip of the clamp keyed on the wrong
#: one of the two would leave 0/0 = NaN.
LONG_ZERO_HISTORY = [(torch.float16, 1e-6, 10**4), (torch.float32, 3e-42, 10**8)]


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.parametrize(("dt", "eps", "steps"), LONG_ZERO_HISTORY, ids=["float16", "float32"])
def test_fast_adagrad_long_zero_history(
    device: str, dt: torch.dtype, eps: float, steps: int
) -> None:
    """A coordinate whose gradients have all been 0 for `t` steps (a state resumed with
    `load_state_dict`) and an ε so small that ε/√(t+1) rounds to 0: Σ = 0 and the denominator
    √Σ/√(t+1) + ε/√(t+1) is 0, so the fast form must raise it to the least normal number as the
    plain form does (0/0 read as 0): the coordinate stays exactly 0, in both forms."""
    tiny = torch.finfo(dt).tiny
    assert float(torch.tensor(eps / math.sqrt(steps + 1), dtype=dt)) == 0.0 and (
        eps * math.sqrt(steps + 1) >= tiny
    )
    for fast in (False, True):
        p = torch.nn.Parameter(torch.zeros(2, device=device, dtype=dt))
        opt = Adagrad([p], lr=0.1, eps=eps, fast=fast)
        p.grad = torch.zeros_like(p)
        opt.step()
        state = opt.state_dict()
        state["state"][0]["step"] = steps  # resumed after `steps` steps of zero gradients
        opt.load_state_dict(state)
        opt.step()
        assert torch.equal(p.detach(), torch.zeros_like(p)), failure(
            CLAIM_FAST, device, dt, f"w after {steps + 1} zero gradients (fast={fast})",
            float((p.detach() - 0).abs().max()), "exactly 0",
        )  # fmt: skip
        assert opt.state[p]["step"] == steps + 1


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
def test_fast_adagrad_staggered_steps(device: str, dtype: torch.dtype) -> None:
    """Two tensors of one group whose step counts differ (the second sits out step 0), eight
    steps of gradients in [−3, 3] at η = 0.1: each tensor's own t rounds η_t and 1/√(t+1), so
    the parameters match the plain form's bit for bit only if the fast form uses them."""
    rng = np.random.default_rng(0)
    grads = rng.uniform(-3.0, 3.0, (2, 8, 6))
    forms = []
    for fast in (False, True):
        a, b = (torch.nn.Parameter(torch.zeros(6, device=device, dtype=dtype)) for _ in "ab")
        opt = Adagrad([a, b], lr=0.1, fast=fast)
        for t in range(8):
            a.grad = S.to_torch(grads[0, t], device, dtype)
            b.grad = None if t == 0 else S.to_torch(grads[1, t], device, dtype)
            opt.step()
        forms.append((a.detach(), b.detach(), opt.state[b]["step"]))
    (pa, pb, ps), (fa, fb, fs) = forms
    bound = fast_form_tol(device, dtype, 8, 0.1)
    assert ps == fs == 7, failure(CLAIM_FAST, device, dtype, "step count of b", fs, "7")
    check_same(fa, pa, bound, CLAIM_FAST, device, "w of a")
    check_same(fb, pb, bound, CLAIM_FAST, device, "w of b (staggered)")


@pytest.mark.claim(CLAIM_FAST)
def test_plain_form_is_the_default(
    device: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Adagrad(params, lr)` takes the plain per-tensor step (the form the other claims
    decide): no `torch._foreach_*` kernel runs unless `fast=True` asks for it.
    On the CPU the two forms agree bit for bit, so only the kernels run can tell them apart."""
    for fast in (False, True):
        p = torch.nn.Parameter(torch.zeros(3, device=device, dtype=dtype))
        p.grad = torch.full_like(p, 2.0)
        ran = count_calls(monkeypatch, "_foreach_addcdiv_")
        Adagrad([p], lr=0.5).step() if not fast else Adagrad([p], lr=0.5, fast=True).step()
        assert bool(ran) == fast, f"{CLAIM_FAST}: fast={fast} ran foreach {len(ran)} times"
        assert torch.equal(p.detach(), torch.full_like(p, -0.5))  # first step: −η sign(g)
