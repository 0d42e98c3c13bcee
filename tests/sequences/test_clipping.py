"""Tests of spec/sequences/clipping.md: gradient clipping by value and by global norm.

Notation as on the page: ``g`` is all gradients concatenated, ``‖g‖`` its Euclidean norm, ``c``
the threshold. The clipping functions are reached through the ``CLIP`` seam; the oracles are
``torch.nn.utils.clip_grad_value_`` and ``clip_grad_norm_``.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlspec.optim import clip as C
from tests.spy import count_calls
from tests.stats import binomial_cdf, binomial_threshold
from tests.tolerances import EXACT, check_close, check_same, failure, fast_form_tol

#: The seam: a module with clip_by_value, clip_by_norm and TORCH_EPS.
CLIP: Any = C

F64 = torch.float64


@st.composite
def _grad_lists(draw: st.DrawFn) -> list[np.ndarray[Any, Any]]:
    k = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]))
    arrays = [
        draw(
            hnp.arrays(
                np.float64,
                hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                elements=st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
            )
        )
        for _ in range(k)
    ]
    return [a * scale for a in arrays]


def _params(arrays: list[Any], device: str, dtype: torch.dtype) -> list[torch.Tensor]:
    out = []
    for a in arrays:
        p = torch.zeros(np.shape(a), dtype=dtype, device=device, requires_grad=True)
        p.grad = torch.tensor(np.asarray(a, dtype=np.float64)).to(
            device=device, dtype=dtype
        )  # a copy
        out.append(p)
    return out


def _flat(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None])


thresholds = st.floats(1e-3, 10.0, allow_nan=False)


# =================================================================================================
# clip.by-value
# =================================================================================================

CLAIM_VALUE = "clip.by-value"


@pytest.mark.claim(CLAIM_VALUE)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(arrays=_grad_lists(), c=thresholds)
@example(arrays=[np.array([10.0, 1.0])], c=1.0)
def test_value_clip_properties_and_oracle(
    device: str, dtype: torch.dtype, arrays: list[Any], c: float
) -> None:
    """|g_i| ≤ c, signs kept, entries in [−c, c] unchanged, ⟨clip(g), g⟩ > 0; = clip_grad_value_."""
    mine, ref = _params(arrays, device, dtype), _params(arrays, device, dtype)
    g = _flat(mine).clone()
    norm = CLIP.clip_by_value(mine, c)
    torch.nn.utils.clip_grad_value_(ref, c)
    new = _flat(mine)
    assert torch.equal(new, _flat(ref)), failure(
        CLAIM_VALUE,
        device,
        dtype,
        "differs from clip_grad_value_",
        float((new - _flat(ref)).abs().max()),
        "exact",
    )
    check_close(
        norm, torch.linalg.vector_norm(g), EXACT, CLAIM_VALUE, device, "returned pre-clip norm"
    )
    assert float(new.abs().max()) <= c, failure(
        CLAIM_VALUE, device, dtype, "|g_i| > c", float(new.abs().max()), f"c={c}"
    )
    assert torch.equal(torch.sign(new), torch.sign(g)), failure(
        CLAIM_VALUE, device, dtype, "a sign changed", 1.0, "exact"
    )
    inside = g.abs() <= c
    assert torch.equal(new[inside], g[inside]), failure(
        CLAIM_VALUE, device, dtype, "an entry inside [−c, c] changed", 1.0, "exact"
    )
    if float(g @ g) > 0:  # g ≠ 0 and its square does not underflow
        assert float(new @ g) > 0, failure(
            CLAIM_VALUE, device, dtype, "⟨clip(g), g⟩ ≤ 0", float(new @ g), "> 0"
        )


@pytest.mark.claim(CLAIM_VALUE)
@pytest.mark.dtypes("float64")
def test_value_clip_changes_direction(device: str, dtype: torch.dtype) -> None:
    """g = (10, 1), c = 1 → (1, 1): the direction turns by 39.3°; norm clipping keeps it."""
    (p,) = _params([np.array([10.0, 1.0])], device, dtype)
    CLIP.clip_by_value([p], 1.0)
    assert p.grad is not None and p.grad.tolist() == [1.0, 1.0], failure(
        CLAIM_VALUE, device, dtype, f"clip gave {p.grad}", 1.0, "(1, 1)"
    )
    cos = (10 + 1) / (math.sqrt(101) * math.sqrt(2))
    angle = math.degrees(math.acos(cos))
    assert 39.2 <= angle <= 39.4, failure(
        CLAIM_VALUE, device, dtype, "turning angle", angle, "39.3°"
    )
    (q,) = _params([np.array([10.0, 1.0])], device, dtype)
    CLIP.clip_by_norm([q], 1.0)
    assert q.grad is not None
    check_close(
        q.grad,
        torch.tensor([10.0, 1.0], dtype=dtype, device=device) / math.sqrt(101),
        EXACT,
        CLAIM_VALUE,
        device,
        "norm clip of (10, 1)",
    )


# =================================================================================================
# clip.by-norm
# =================================================================================================

CLAIM_NORM = "clip.by-norm"


@pytest.mark.claim(CLAIM_NORM)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(arrays=_grad_lists(), c=thresholds, lam=st.floats(0.1, 10.0))
@example(arrays=[np.array([3.0, 4.0]), np.array([[12.0]])], c=1.0, lam=2.0)
def test_exact_norm_clip_properties(
    device: str, dtype: torch.dtype, arrays: list[Any], c: float, lam: float
) -> None:
    """Exact clip (ε = 0): P1 positive multiple of g; P2 ‖clip(g)‖ = min(‖g‖, c); P3 idempotent,
    identity when ‖g‖ ≤ c; P4 ⟨clip(g), g⟩ ≥ 0; P5 projection onto the ball,
    clip_{λc}(λg) = λ clip_c(g);
    the norm is global (one factor for all tensors)."""
    params = _params(arrays, device, dtype)
    g = _flat(params).clone()
    total = torch.linalg.vector_norm(g)
    norm = CLIP.clip_by_norm(params, c)
    new = _flat(params)
    check_close(norm, total, EXACT, CLAIM_NORM, device, "returned pre-clip norm")
    coef = min(1.0, c / float(total)) if float(total) > 0 else 1.0
    check_close(new, coef * g, EXACT, CLAIM_NORM, device, "clip(g) = min(1, c/‖g‖) g (P1, global)")
    new_norm = float(torch.linalg.vector_norm(new))
    assert abs(new_norm - min(float(total), c)) <= 1e-12 * max(c, 1.0), failure(
        CLAIM_NORM,
        device,
        dtype,
        "P2 ‖clip(g)‖ ≠ min(‖g‖, c)",
        abs(new_norm - min(float(total), c)),
        "1e-12",
    )
    assert float(new @ g) >= 0, failure(
        CLAIM_NORM, device, dtype, "P4 ⟨clip(g), g⟩ < 0", float(new @ g), "≥ 0"
    )
    again = new.clone()
    CLIP.clip_by_norm(params, c)
    check_close(_flat(params), again, EXACT, CLAIM_NORM, device, "P3 idempotent")
    # P5: the projection onto {‖v‖ ≤ c}: no drawn point of the ball is closer to g.
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(64, g.numel(), generator=gen, dtype=dtype).to(device)
    v = (
        v
        / torch.linalg.vector_norm(v, dim=1, keepdim=True)
        * c
        * torch.rand(64, 1, generator=gen, dtype=dtype).to(device)
    )
    dist = float(torch.linalg.vector_norm(g - again))
    assert bool((torch.linalg.vector_norm(g - v, dim=1) >= dist - 1e-12 * (1 + dist)).all()), (
        failure(CLAIM_NORM, device, dtype, "P5 a ball point is closer", dist, "projection")
    )
    scaled = _params([lam * np.asarray(a) for a in arrays], device, dtype)
    CLIP.clip_by_norm(scaled, lam * c)
    check_close(
        _flat(scaled), lam * again, EXACT, CLAIM_NORM, device, "P5 clip_{λc}(λg) = λ clip_c(g)"
    )


@pytest.mark.claim(CLAIM_NORM)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(arrays=_grad_lists(), c=thresholds)
@example(arrays=[np.array([2e-6])], c=1e-6)
def test_norm_clip_equals_torch_with_its_epsilon(
    device: str, dtype: torch.dtype, arrays: list[Any], c: float
) -> None:
    """clip_grad_norm_ computes min(1, c/(‖g‖ + 1e-6)) g and returns ‖g‖; eps=TORCH_EPS matches."""
    mine, ref = _params(arrays, device, dtype), _params(arrays, device, dtype)
    g = _flat(ref).clone()
    total = float(torch.linalg.vector_norm(g))
    norm = CLIP.clip_by_norm(mine, c, eps=CLIP.TORCH_EPS)
    ref_norm = torch.nn.utils.clip_grad_norm_(ref, c)
    check_close(norm, ref_norm, EXACT, CLAIM_NORM, device, "returned norm vs clip_grad_norm_")
    check_close(_flat(mine), _flat(ref), EXACT, CLAIM_NORM, device, "grads vs clip_grad_norm_")
    model = min(1.0, c / (total + 1e-6)) * g
    check_close(
        _flat(ref), model, EXACT, CLAIM_NORM, device, "clip_grad_norm_ = min(1, c/(‖g‖+1e-6)) g"
    )


@pytest.mark.claim(CLAIM_NORM)
@pytest.mark.dtypes("float64")
def test_torch_epsilon_visible_at_small_norms(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """‖g‖ = 2e-6, c = 1e-6: torch leaves ‖g‖ = 6.67e-7 < c (and clipping again changes it);
    the exact clip gives c."""
    (p,) = _params([np.array([2e-6])], device, dtype)
    torch.nn.utils.clip_grad_norm_([p], 1e-6)
    assert p.grad is not None
    after = float(p.grad.abs())
    assert abs(after - 2e-6 * 1e-6 / 3e-6) <= 1e-18 and 6.66e-7 <= after <= 6.67e-7, failure(
        CLAIM_NORM, device, dtype, "torch's post-clip norm", after, "6.67e-7"
    )
    torch.nn.utils.clip_grad_norm_([p], 1e-6)
    assert float(p.grad.abs()) < after, failure(
        CLAIM_NORM, device, dtype, "torch's second clip left it", float(p.grad.abs()), f"< {after}"
    )
    (q,) = _params([np.array([2e-6])], device, dtype)
    CLIP.clip_by_norm([q], 1e-6)
    assert q.grad is not None and abs(float(q.grad.abs()) - 1e-6) <= 1e-21, failure(
        CLAIM_NORM, device, dtype, "exact clip", float(q.grad.abs()), "1e-6"
    )
    evidence.value("torch_post_clip_norm", after)


@pytest.mark.claim(CLAIM_NORM)
@pytest.mark.claim(CLAIM_VALUE)
@pytest.mark.dtypes("float64")
def test_bad_input_and_nonfinite(device: str, dtype: torch.dtype) -> None:
    """Thresholds ≤ 0 or non-finite are refused; a non-finite gradient raises unless the caller
    asks for PyTorch's behaviour (nonfinite='propagate'), which then leaves NaN or zeros."""

    def make(vals: list[float]) -> list[torch.Tensor]:
        return _params([np.array(vals)], device, dtype)

    for fn in (CLIP.clip_by_value, CLIP.clip_by_norm):
        for bad in (0.0, -1.0, math.nan, math.inf):
            with pytest.raises(ValueError, match="must be a real number in"):
                fn(make([1.0]), bad)
        with pytest.raises(TypeError, match="must be a real number"):
            fn(make([1.0]), "1")
        with pytest.raises(TypeError, match="parameters"):
            fn(3.0, 1.0)
        with pytest.raises(ValueError, match="nonfinite must be one of"):
            fn(make([1.0]), 1.0, nonfinite="ignore")
        params = make([1.0, math.nan])
        with pytest.raises(C.NonFiniteGradientError, match="NaN or ±inf"):
            fn(params, 1.0)
        assert params[0].grad is not None and params[0].grad[0] == 1.0, (
            "the gradient changed before the error"
        )
    params = make([3.0, math.inf])
    CLIP.clip_by_norm(params, 1.0, nonfinite="propagate")
    ref = make([3.0, math.inf])
    torch.nn.utils.clip_grad_norm_(ref, 1.0)
    assert params[0].grad is not None and ref[0].grad is not None
    assert (
        torch.equal(params[0].grad.isnan(), ref[0].grad.isnan()) and float(params[0].grad[0]) == 0.0
    ), failure(
        CLAIM_NORM,
        device,
        dtype,
        f"propagate gave {params[0].grad.tolist()}, torch {ref[0].grad.tolist()}",
        1.0,
        "same",
    )
    params = make([3.0, -math.inf])
    CLIP.clip_by_value(params, 1.0, nonfinite="propagate")
    assert params[0].grad is not None and params[0].grad.tolist() == [1.0, -1.0]
    with pytest.raises(ValueError, match="must be a real number in"):
        CLIP.clip_by_norm(make([1.0]), 1.0, eps=-1e-6)
    nograd = torch.zeros(2, requires_grad=True)
    assert float(CLIP.clip_by_norm([nograd], 1.0)) == 0.0 and nograd.grad is None


@pytest.mark.claim(CLAIM_NORM, CLAIM_VALUE)
def test_clip_errors_name_the_argument() -> None:
    """Each refusal names its argument, and the parameter or gradient at fault by position
    (mutation testing, issue 12: `tests/mutation/`)."""
    a = torch.zeros(2, requires_grad=True)
    a.grad = torch.ones(2)
    with pytest.raises(
        ValueError,
        match=r"^clip_value must be a real number in \(0, inf\] \(the threshold c\), got 0\.0$",
    ):
        C.clip_by_value([a], 0.0)
    with pytest.raises(
        ValueError,
        match=r"^max_norm must be a real number in \(0, inf\] \(the threshold c\), got 0\.0$",
    ):
        C.clip_by_norm([a], 0.0)
    with pytest.raises(
        ValueError,
        match=r"^eps must be a real number in \[0, inf\] \(added to ‖g‖ in the denominator\), "
        r"got -1\.0$",
    ):
        C.clip_by_norm([a], 1.0, eps=-1.0)
    with pytest.raises(TypeError, match=r"^grads\[1\] must be a tensor, got float$"):
        C.global_norm([a.grad, 3.0])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^parameters\[1\] must be a torch\.Tensor, got float$"):
        C.clip_by_norm([a, 3.0], 1.0)
    with pytest.raises(
        TypeError, match=r"^parameters must be a tensor or an iterable of tensors, got float$"
    ):
        C.clip_by_value(3.0, 1.0)
    n = torch.zeros(2, dtype=torch.int64)
    n.grad = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(
        TypeError, match=r"^parameters\[1\]\.grad must be floating-point, got torch\.int64$"
    ):
        C.clip_by_norm([a, n], 1.0)
    m = torch.zeros(2, device="meta", requires_grad=True)
    m.grad = torch.ones(2, device="meta")
    with pytest.raises(
        ValueError,
        match=r"^every gradient must be on one device; found cpu and meta \(gradient 1\)$",
    ):
        C.clip_by_norm([a, m], 1.0)
    a.grad = torch.tensor([1.0, math.nan])
    with pytest.raises(
        C.NonFiniteGradientError, match=r"\(global norm nan\); pass nonfinite='propagate'"
    ):
        C.clip_by_value(a, 1.0)


# =================================================================================================
# clip.stabilizes
# =================================================================================================

CLAIM_STAB = "clip.stabilizes"
STAB_SEEDS = 16  # M independent models, trained as one ensemble
STAB_T, STAB_H, STAB_RHO = 30, 8, 1.2  # linear RNN with W = ρQ: ‖∂s_T/∂s_0‖ = 1.2^30 ≈ 237
STAB_LR, STAB_CLIP = 0.1, 1.0  # plain SGD; clip each seed's global norm at c = 1
STAB_STEPS, STAB_DIVERGE_BY = 40, 10  # clipped run length; unclipped must diverge by step 10
STAB_DROP = 0.5  # clipped: the training loss must fall by at least half
STAB_RATE = 0.95  # the claim: a seed shows both (diverges unclipped, learns clipped) this often
STAB_NEED = binomial_threshold(STAB_SEEDS, STAB_RATE)  # seeds demanded of 16 (9)
#: Exact binomial: fewer than STAB_NEED successes although each seed succeeds at STAB_RATE.
FALSE_FAILURES = {
    "test_clipping_stabilizes_exploding_rnn": binomial_cdf(STAB_NEED - 1, STAB_SEEDS, STAB_RATE)
}


class _BatchMajor(torch.nn.Module):
    """Ensemble models take (M, B, T, D); fit() batches along dimension 0: swap the two."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x.transpose(0, 1)).transpose(0, 1)
        return out


def _member_losses(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each member's read-out against the cue 2y − 1 = ±1:
    out (B, M, 1), y (B, M) → (M,)."""
    return ((out[..., 0] - (2.0 * y.to(out.dtype) - 1.0)) ** 2).mean(dim=0)


def _clip_each_member(model: torch.nn.Module, c: float, members: int) -> None:
    """Norm-clip every member's gradient on its own (its own global norm over its parameters)."""
    params = [p for p in model.parameters() if p.grad is not None]
    for k in range(members):
        views = []
        for p in params:
            v = torch.zeros_like(p[k]).requires_grad_(True)
            v.grad = p.grad[k]  # a view: clipping it clips member k's slice in place
            views.append(v)
        CLIP.clip_by_norm(views, c)


def _exploding_run(device: str, dtype: torch.dtype, clip: bool) -> torch.Tensor:
    """Train the M linear RNNs; return every step's member losses, shape (steps + 1, M)."""
    from dlspec.data.memory import memory_task
    from dlspec.nn.rnn import RNN, SequenceClassifier
    from dlspec.train import fit

    g = torch.Generator().manual_seed(0)
    m = STAB_SEEDS
    rnn = RNN(
        1, STAB_H, nonlinearity="identity", ensemble=m, generator=g, device=device, dtype=dtype
    )
    q, _ = torch.linalg.qr(torch.randn(m, STAB_H, STAB_H, generator=g, dtype=dtype))
    with torch.no_grad():
        rnn.weight_hh.copy_(STAB_RHO * q)
    sv = torch.linalg.svdvals(rnn.weight_hh.detach().double())  # all ρ: ‖W^T‖ = ρ^T exactly
    assert float((sv / STAB_RHO - 1).abs().max()) <= 1e-5 and 237 <= STAB_RHO**STAB_T <= 238, (
        failure(CLAIM_STAB, device, dtype, "W = ρQ with ρ^30 ≈ 237", float(sv.max()), "1.2")
    )
    model = _BatchMajor(SequenceClassifier(rnn, 1, generator=g)).to(
        device
    )  # one output: regression
    pairs = [memory_task(256, STAB_T, generator=g, dtype=dtype) for _ in range(m)]
    x = torch.stack([p[0] for p in pairs], 1).to(device)
    y = torch.stack([p[1] for p in pairs], 1).to(device)
    seen: list[torch.Tensor] = []

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        per = _member_losses(out, target)
        seen.append(per.detach())
        # A member that went non-finite stays so (its parameters are its own); the others train on.
        return torch.where(torch.isfinite(per), per, 0.0).sum()

    steps = STAB_STEPS if clip else STAB_DIVERGE_BY
    fit(
        model,
        x,
        y,
        epochs=steps,
        batch_size=None,
        generator=g,
        loss=loss,
        optimizer=lambda p: torch.optim.SGD(p, lr=STAB_LR),
        before_step=(lambda mod: _clip_each_member(mod, STAB_CLIP, m)) if clip else None,
    )
    with torch.no_grad():
        seen.append(_member_losses(model(x), y))
    return torch.stack(seen).cpu()


@pytest.mark.claim(CLAIM_STAB)
@pytest.mark.dtypes("float32")
def test_clipping_stabilizes_exploding_rnn(
    device: str, dtype: torch.dtype, evidence: Any, one_thread: Any
) -> None:
    plain = _exploding_run(device, dtype, clip=False)
    clipped = _exploding_run(device, dtype, clip=True)
    finite = torch.isfinite(plain)
    first_bad = [
        int((~finite[:, k]).nonzero()[0]) if bool((~finite[:, k]).any()) else -1
        for k in range(STAB_SEEDS)
    ]
    drop = 1.0 - clipped[-1] / clipped[0]  # relative decrease of each seed's training loss
    diverged = torch.tensor([0 < s <= STAB_DIVERGE_BY for s in first_bad])
    learned = torch.isfinite(clipped).all(dim=0) & (drop >= STAB_DROP)
    success = int((diverged & learned).sum())
    bound = FALSE_FAILURES["test_clipping_stabilizes_exploding_rnn"]
    evidence.value("unclipped_first_nonfinite_step", first_bad)
    evidence.value("clipped_initial_loss", clipped[0].tolist())
    evidence.value("clipped_final_loss", clipped[-1].tolist())
    evidence.value("clipped_min_relative_drop", float(drop.min()))
    evidence.value("seeds_showing_both", success)
    evidence.value("false_failure", bound)
    assert success >= STAB_NEED, failure(
        CLAIM_STAB,
        device,
        dtype,
        f"seeds that diverge unclipped and learn clipped: {success} of {STAB_SEEDS} (first"
        f" non-finite step {first_bad}, clipped relative drop {drop.tolist()})",
        float(STAB_NEED - success),
        f"≥ {STAB_NEED} seeds",
    )
    assert bound <= 1e-6
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for k in range(STAB_SEEDS):
        ax.semilogy(
            range(len(clipped)),
            clipped[:, k].clamp_min(1e-12),
            color="tab:blue",
            alpha=0.5,
            lw=1,
            label="norm clipping, c = 1" if k == 0 else None,
        )
        ok = plain[:, k][torch.isfinite(plain[:, k])]
        ax.semilogy(
            range(len(ok)),
            ok.clamp_min(1e-12),
            "o-",
            color="tab:red",
            alpha=0.5,
            ms=3,
            lw=1,
            label="no clipping (ends at the last finite loss)" if k == 0 else None,
        )
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss (per seed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    evidence.figure(fig, "clip-training-curves")
    plt.close(fig)


@pytest.mark.claim(CLAIM_STAB)
@pytest.mark.parametrize("marker", [False, True])
def test_memory_task_contract(device: str, dtype: torch.dtype, marker: bool) -> None:
    """The task the claim trains on: x_1 = 2y − 1 = ±1, x_2.. ~ N(0, noise²) (independent of y),
    with marker=True a second feature that is 1 at step 1 and 0 after; on x's device and dtype."""
    from dlspec.data.memory import memory_task

    g = torch.Generator(device=device).manual_seed(5)
    n, steps, noise = 4000, 6, 0.7
    x, y = memory_task(
        n, steps, generator=g, noise=noise, marker=marker, device=device, dtype=dtype
    )
    assert x.shape == (n, steps, 2 if marker else 1) and y.shape == (n,), failure(
        CLAIM_STAB, device, dtype, f"shapes {tuple(x.shape)}, {tuple(y.shape)}", 0.0, "as stated"
    )
    assert x.device.type == y.device.type == torch.device(device).type
    assert x.dtype == dtype and y.dtype == torch.int64
    cue = x[:, 0, 0].double()
    assert bool((cue == 2.0 * y.double() - 1.0).all()), failure(
        CLAIM_STAB, device, dtype, "cue ≠ 2y − 1", float((cue - (2 * y - 1)).abs().max()), "0"
    )
    frac = float(y.double().mean())  # Bernoulli(½): sd 0.0079 at n = 4000; 6 sd = 0.047
    assert abs(frac - 0.5) <= 0.05, failure(
        CLAIM_STAB, device, dtype, "P(y = 1)", frac, "0.5 ± 0.05"
    )
    rest = x[:, 1:, 0].double()
    sd = float(rest.std())  # 20 000 draws: relative sd of the sample sd ≈ 0.005; 10 sd = 0.05
    assert abs(sd / noise - 1) <= 0.05 and abs(float(rest.mean())) <= 0.05, failure(
        CLAIM_STAB, device, dtype, "distractor sd", sd, f"{noise} ± 5 %"
    )
    if marker:
        flag = x[..., 1]
        want = torch.zeros_like(flag)
        want[:, 0] = 1.0
        assert bool((flag == want).all()), failure(
            CLAIM_STAB, device, dtype, "marker not 1 at step 1 only", 1.0, "0"
        )
    # the defaults the claim trains with (its conditions): distractors N(0, 0.5²), float32, one
    # feature (no marker)
    x0, y0 = memory_task(n, steps, generator=g, device=device)
    assert x0.shape == (n, steps, 1) and x0.dtype == torch.float32 and y0.dtype == torch.int64
    sd0 = float(x0[:, 1:, 0].double().std())
    assert abs(sd0 / 0.5 - 1) <= 0.05, failure(
        CLAIM_STAB, device, dtype, "default distractor sd", sd0, "0.5 ± 5 %"
    )
    # every draw comes from the generator: the same seed gives the same task whatever torch's
    # global generator is doing; a half-precision task keeps its dtype with the marker
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        gen = torch.Generator(device=device).manual_seed(3)
        runs.append(memory_task(5, 4, generator=gen, marker=marker, device=device, dtype=dtype))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    half = memory_task(3, 4, generator=g, marker=True, device=device, dtype=torch.float16)[0]
    assert half.dtype == torch.float16 and half.shape == (3, 4, 2)
    for call, want in [
        (
            lambda: memory_task(3, 4, generator=g, noise=-1),
            "noise must be a real number in [0, inf] (the distractors' standard deviation), "
            "got -1.0",
        ),
        (
            lambda: memory_task(3, 4, generator=0),  # type: ignore[arg-type]
            "generator must be a torch.Generator, got int",
        ),
    ]:
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        assert str(info.value) == want, f"{CLAIM_STAB}: message {info.value}"


# =================================================================================================
# clip.fast-form
# =================================================================================================

CLAIM_FAST = "clip.fast-form"


def _same_or_nan(got: torch.Tensor, want: torch.Tensor, bound: Any, device: str, what: str) -> None:
    """Equal where finite (bit for bit, or within `bound`), NaN and ±∞ in the same places."""
    same_special = torch.equal(got.isnan(), want.isnan()) and torch.equal(
        got.isinf() & (got > 0), want.isinf() & (want > 0)
    )
    assert same_special, failure(
        CLAIM_FAST, device, got.dtype, f"{what}: NaN/±∞ places", 1.0, "same"
    )
    finite = torch.isfinite(want)
    check_same(got[finite], want[finite], bound, CLAIM_FAST, device, what)


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None, max_examples=30)
@given(
    arrays=_grad_lists(),
    c=thresholds,
    eps=st.sampled_from([0.0, 1e-6]),
    bad=st.sampled_from([None, math.nan, math.inf, -math.inf]),
    nonfinite=st.sampled_from(["raise", "propagate"]),
)
def test_fast_norm_clip_equals_plain(
    device: str,
    dtype: torch.dtype,
    arrays: list[Any],
    c: float,
    eps: float,
    bad: float | None,
    nonfinite: str,
) -> None:
    """clip_by_norm(..., fast=True) returns the same norm and leaves the same gradients as the
    plain form, with and without eps; with a NaN or ±∞ entry it raises as the plain form does
    (gradients untouched) or, with nonfinite='propagate', leaves the same NaN/0 pattern."""
    if bad is not None:
        arrays = [a.copy() for a in arrays]
        arrays[-1].reshape(-1)[0] = bad
    plain, fast = _params(arrays, device, dtype), _params(arrays, device, dtype)
    bound = fast_form_tol(device, dtype, 4, 0.0)  # off the CPU: 16ε relative (another sum order)
    if bad is not None and nonfinite == "raise":
        for ps, f in ((plain, False), (fast, True)):
            with pytest.raises(C.NonFiniteGradientError, match="NaN or ±inf"):
                CLIP.clip_by_norm(ps, c, eps=eps, nonfinite=nonfinite, fast=f)
        _same_or_nan(_flat(fast), _flat(plain), None, device, "gradients left by a refusal")
        return
    want = CLIP.clip_by_norm(plain, c, eps=eps, nonfinite=nonfinite)
    got = CLIP.clip_by_norm(fast, c, eps=eps, nonfinite=nonfinite, fast=True)
    _same_or_nan(got.reshape(1), want.reshape(1), bound, device, "pre-clip norm")
    _same_or_nan(_flat(fast), _flat(plain), bound, device, f"clipped gradients (c={c}, eps={eps})")


@pytest.mark.claim(CLAIM_FAST)
def test_fast_norm_clip_mixed_dtypes_and_flag(device: str, dtype: torch.dtype) -> None:
    """Gradients of two dtypes in one call (one foreach product per dtype), a parameter without
    a gradient, no gradient at all; `fast` takes a bool only."""

    def make() -> list[torch.Tensor]:
        a = torch.zeros(3, 2, device=device, dtype=dtype, requires_grad=True)
        b = torch.zeros(4, device=device, dtype=torch.float64, requires_grad=True)
        n = torch.zeros(2, device=device, dtype=dtype, requires_grad=True)  # no gradient
        a.grad = torch.linspace(-5.0, 7.0, 6, device=device, dtype=dtype).reshape(3, 2)
        b.grad = torch.tensor([1.0, -2.0, 3.0, 0.5], device=device, dtype=torch.float64)
        return [a, n, b]

    plain, fast = make(), make()
    want = CLIP.clip_by_norm(plain, 1.5)
    got = CLIP.clip_by_norm(fast, 1.5, fast=True)
    bound = fast_form_tol(device, dtype, 4, 0.0)
    check_same(got, want, bound, CLAIM_FAST, device, "norm, mixed dtypes")
    for p, q in zip(plain, fast, strict=True):
        if p.grad is None:
            assert q.grad is None
        else:
            assert q.grad is not None and q.grad.dtype == p.grad.dtype
            check_same(q.grad, p.grad, bound, CLAIM_FAST, device, f"{p.grad.dtype} gradient")
    empty = torch.zeros(2, device=device, dtype=dtype, requires_grad=True)
    assert float(CLIP.clip_by_norm([empty], 1.0, fast=True)) == 0.0 and empty.grad is None
    with pytest.raises(TypeError, match="fast must be a bool"):
        CLIP.clip_by_norm(make(), 1.0, fast=1)


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.parametrize("low", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_fast_norm_clip_low_precision_beside_float(device: str, low: torch.dtype) -> None:
    """A float16 or bfloat16 gradient beside a float32 one: the coefficient (float32, the
    norm's dtype) is rounded to each gradient's dtype before the product in both forms, so the
    low-precision gradient is the plain form's bit for bit on the CPU (a product with the
    float32 coefficient, rounded once, differs from it in some of the 64 entries)."""
    gen = torch.Generator().manual_seed(3)
    values = [torch.randn(64, generator=gen) * 4 for _ in range(2)]

    def make() -> list[torch.Tensor]:
        ps = []
        for v, dt in zip(values, (low, torch.float32), strict=True):
            p = torch.zeros(64, device=device, dtype=dt, requires_grad=True)
            p.grad = v.to(device, dt).clone()  # never `values` itself: clipped in place
            ps.append(p)
        return ps

    plain, fast = make(), make()
    want = CLIP.clip_by_norm(plain, 1.0)
    got = CLIP.clip_by_norm(fast, 1.0, fast=True)
    bound = fast_form_tol(device, low, 4, 0.0)
    check_same(got, want, bound, CLAIM_FAST, device, f"norm, {low} beside float32")
    for p, q in zip(plain, fast, strict=True):
        assert p.grad is not None and q.grad is not None
        check_same(q.grad, p.grad, bound, CLAIM_FAST, device, f"{p.grad.dtype} gradient")


@pytest.mark.claim(CLAIM_FAST)
def test_plain_form_is_the_default(
    device: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`clip_by_norm(params, c)` and `global_norm(grads)` take the plain per-tensor form (the
    one the other claims decide): no `torch._foreach_*` kernel runs unless `fast=True` asks.
    On the CPU the two forms agree bit for bit, so only the kernels run can tell them apart."""
    for fast in (False, True):
        p = torch.zeros(4, device=device, dtype=dtype, requires_grad=True)
        p.grad = torch.full_like(p, 1.5)  # ‖g‖ = 3: the clip to c = 1 scales by 1/3
        norms, muls = (
            count_calls(monkeypatch, "_foreach_norm"),
            count_calls(monkeypatch, "_foreach_mul_"),
        )
        got = CLIP.clip_by_norm([p], 1.0) if not fast else CLIP.clip_by_norm([p], 1.0, fast=True)
        again = CLIP.global_norm([p.grad]) if not fast else CLIP.global_norm([p.grad], fast=True)
        assert (len(norms), len(muls)) == (2 * fast, fast), (
            f"{CLAIM_FAST}: fast={fast} ran _foreach_norm {len(norms)}, "
            f"_foreach_mul_ {len(muls)} times"
        )
        assert float(got) == 3.0 and float(again) == pytest.approx(1.0)
