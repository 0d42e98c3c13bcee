"""Tests of spec/explaining/explain.md: saliency, perturbation, occlusion, surrogates, activation
maximization and hidden features.

Notation as on the page: a score ``S(x) = wᵀx + b`` (or class scores ``Wx + b``), patches ``P``
with fill values ``v``, kernel weights ``π``. The implementation is reached through the module
``E``; the autograd Jacobian, scikit-learn's ``Ridge`` and explicit loops are the oracles.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlspec.analysis import explain as E
from dlspec.data.digits import digits
from dlspec.nn.activations import softmax
from dlspec.nn.linear import FeedForward, Linear
from dlspec.train import accuracy, fit
from tests import strategies as S
from tests.threads import one_thread
from tests.tolerances import EXACT, Tol, check_close, failure

CLAIM_SAL = "explain.saliency-linear"
CLAIM_PERT = "explain.perturbation-first-order"
CLAIM_OCC = "explain.occlusion"
CLAIM_SUR = "explain.surrogate-recovers-linear"
CLAIM_AM = "explain.activation-max"
CLAIM_HID = "explain.hidden-features"
F64 = torch.float64


@st.composite
def _linear_case(draw: st.DrawFn, max_d: int = 12, max_c: int = 5) -> tuple[Any, Any, Any]:
    d, c = draw(st.integers(1, max_d)), draw(st.integers(1, max_c))
    return (
        draw(S.arrays((c, d))),
        draw(S.arrays(c)),
        draw(S.arrays((draw(st.integers(1, 4)), d))),
    )


def _linear(w: Any, b: Any, device: str = "cpu") -> Linear:
    w = np.asarray(w)
    return Linear(w.shape[1], w.shape[0], dtype=F64, device=device).load(
        torch.as_tensor(w), torch.as_tensor(np.asarray(b))
    )


@functools.cache
def _digits_net() -> tuple[FeedForward, Any]:
    """A 64-32-16-10 ReLU net trained 15 epochs on the digits (seed 0), float64."""
    data = digits(dtype=F64)
    gen = torch.Generator().manual_seed(0)
    net = FeedForward([64, 32, 16, 10], "relu", generator=gen, dtype=F64)
    with one_thread():
        fit(net, data.x_train, data.y_train, epochs=15, generator=gen, lr=3e-3)
    return net, data


# =================================================================================================
# explain.saliency-linear
# =================================================================================================


@pytest.mark.claim(CLAIM_SAL)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_linear_case())
def test_saliency_of_a_linear_score_is_its_weights(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, Any]
) -> None:
    """∂S_c/∂x = w_c at every x; gradient × input sums to S_c(x) − b_c."""
    w, b, x = case
    lin = _linear(w, b, device)
    xt = S.to_torch(x, device, dtype)
    for c in range(len(b)):
        g = E.saliency(lin, xt, c)
        check_close(
            g,
            lin.weight[c].detach().expand_as(xt),
            EXACT,
            CLAIM_SAL,
            device,
            f"saliency of class {c}",
        )
        check_close(
            (g * xt).sum(1),
            lin(xt)[:, c].detach() - float(b[c]),
            EXACT,
            CLAIM_SAL,
            device,
            "gradient × input is not S(x) − b",
        )


@pytest.mark.claim(CLAIM_SAL)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_linear_case(max_c=6), scale=st.floats(0.1, 30.0))
@example(
    case=(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2), np.array([[30.0, -30.0]])), scale=1.0
)
def test_softmax_probability_gradient(
    device: str, dtype: torch.dtype, case: tuple[Any, Any, Any], scale: float
) -> None:
    """∇p_c = p_c (w_c − Σ_k p_k w_k), and ‖∇p_c‖ ≤ (1 − p_c) max_k ‖w_c − w_k‖ → 0 as p_c → 1."""
    w, b, x = case
    lin = _linear(w, b, device)
    xt = S.to_torch(x, device, dtype) * scale
    wt = lin.weight.detach()

    def prob(v: torch.Tensor) -> torch.Tensor:
        return softmax(lin(v))

    p = prob(xt).detach()  # (N, C)
    for c in range(wt.shape[0]):
        g = E.saliency(prob, xt, c)
        expected = p[:, c : c + 1] * (wt[c] - p @ wt)  # p_c (w_c − Σ_k p_k w_k)
        check_close(g, expected, EXACT, CLAIM_SAL, device, f"∇p_{c}")
        spread = (wt[c] - wt).norm(dim=1).max()
        bound = (1 - p[:, c]) * spread + EXACT.atol
        assert bool((g.norm(dim=1) <= bound).all()), failure(
            CLAIM_SAL,
            device,
            dtype,
            "‖∇p_c‖ above (1 − p_c)·max‖w_c − w_k‖",
            float((g.norm(dim=1) - bound).max()),
            EXACT,
        )


@pytest.mark.claim(CLAIM_SAL)
def test_saliency_matches_the_autograd_jacobian_on_digits() -> None:
    """On the trained digits net, saliency equals row c of torch.autograd.functional.jacobian."""
    net, data = _digits_net()
    x = data.x_test[:3]
    for c in (0, 7):
        g = E.saliency(net, x, c)
        for n in range(3):
            jac = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0))[0], x[n])
            check_close(g[n], jac[c], EXACT, CLAIM_SAL, "cpu", f"digit {n}, class {c}")


@pytest.mark.claim(CLAIM_SAL, CLAIM_OCC)
def test_saliency_and_occlusion_maps_on_digits(evidence: Any) -> None:
    """The figure: three test digits, |∂S_c/∂x| and the occlusion map (2×2 patch, fill 0) for
    the predicted class. The occlusion map equals an explicit loop over patches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net, data = _digits_net()
    acc = float(accuracy(net, data.x_test, data.y_test))
    evidence.value("digits_net_test_accuracy", acc)

    def f(imgs: torch.Tensor) -> torch.Tensor:
        return net(imgs.reshape(imgs.shape[0], -1))

    fig, axes = plt.subplots(3, 3, figsize=(6, 6))
    for row, n in enumerate((0, 1, 2)):
        img = data.x_test[n].reshape(8, 8)
        c = int(net(data.x_test[n : n + 1]).argmax())
        sal = E.saliency(net, data.x_test[n : n + 1], c).reshape(8, 8)
        occ = E.occlusion_map(f, img, c, 2, fill=0.0)
        # oracle: an explicit loop over the 16 tiles
        ref = torch.zeros(4, 4, dtype=F64)
        s0 = float(f(img.unsqueeze(0))[0, c].detach())
        for i in range(4):
            for j in range(4):
                o = img.clone()
                o[2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = 0.0
                ref[i, j] = s0 - f(o.unsqueeze(0))[0, c]
        check_close(
            occ.detach(), ref.detach(), EXACT, CLAIM_OCC, "cpu", f"occlusion map of digit {n}"
        )
        for ax, im, title in zip(
            axes[row],
            (img, sal.abs(), occ.detach()),
            (f"digit, class {c}", "|∂S_c/∂x|", "occlusion Δ (2×2, fill 0)"),
            strict=True,
        ):
            ax.imshow(im.numpy(), cmap="gray" if title.startswith("digit") else "viridis")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    evidence.figure(fig, "explain-digits-saliency-occlusion")
    plt.close(fig)


@pytest.mark.claim(CLAIM_OCC)
def test_occlusion_map_with_a_stride_and_the_default_fill() -> None:
    """An overlapping `2 × 3` patch slid with stride `(1, 2)` over a `4 × 5` image, with the
    default fill: the map `(3, 2)` equals an explicit loop that zeroes each patch position."""
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(20, 3, generator=g, dtype=F64)
    img = torch.randn(4, 5, generator=g, dtype=F64)

    def f(imgs: torch.Tensor) -> torch.Tensor:
        return imgs.reshape(imgs.shape[0], -1) @ weight

    occ = E.occlusion_map(f, img, 1, (2, 3), stride=(1, 2))
    ref = torch.zeros(3, 2, dtype=F64)
    for i in range(3):
        for j in range(2):
            o = img.clone()
            o[i : i + 2, 2 * j : 2 * j + 3] = 0.0
            ref[i, j] = f(img.unsqueeze(0))[0, 1] - f(o.unsqueeze(0))[0, 1]
    check_close(occ, ref, EXACT, CLAIM_OCC, "cpu", "occlusion map, stride (1, 2), fill 0")


@pytest.mark.claim(CLAIM_OCC)
def test_occlusion_map_tiles_a_wide_image_with_a_wide_patch() -> None:
    """A `2 × 3` patch on a `2 × 7` image (the patch is wider than the image is tall, and fits),
    default stride (the patch: rows by 2, columns by 3): two tiles, columns 0–2 and 3–5, the map
    `(1, 2)` equals the explicit loop; fill 0.5. A `3 × 1` patch does not fit."""
    g = torch.Generator().manual_seed(4)
    weight = torch.randn(14, 2, generator=g, dtype=F64)
    img = torch.randn(2, 7, generator=g, dtype=F64)

    def f(imgs: torch.Tensor) -> torch.Tensor:
        return imgs.reshape(imgs.shape[0], -1) @ weight

    occ = E.occlusion_map(f, img, 0, (2, 3), fill=0.5)
    ref = torch.zeros(1, 2, dtype=F64)
    for j in range(2):
        o = img.clone()
        o[:, 3 * j : 3 * j + 3] = 0.5
        ref[0, j] = f(img.unsqueeze(0))[0, 0] - f(o.unsqueeze(0))[0, 0]
    check_close(occ, ref, EXACT, CLAIM_OCC, "cpu", "occlusion map, 2×3 tiles of a 2×7 image")
    with pytest.raises(ValueError, match=r"^patch must fit the image: patch 3×1 is larger than"):
        E.occlusion_map(f, img, 0, (3, 1))  # taller than the image, though narrower


# =================================================================================================
# explain.perturbation-first-order
# =================================================================================================


@pytest.mark.claim(CLAIM_PERT)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(
    x=hnp.arrays(np.float64, 5, elements=S.reals()),
    u=hnp.arrays(np.float64, 5, elements=S.reals(min_abs=0.1)),
    seed=st.integers(0, 1000),
)
def test_smooth_net_remainder_is_second_order(
    device: str, dtype: torch.dtype, x: Any, u: Any, seed: int
) -> None:
    """tanh net: f(x + tΔ) − f(x) − t∇f·Δ = ½ t² ΔᵀHΔ + O(t³); at t = 1e-3 the ratio
    remainder/t² is within 1e-2 of ½ΔᵀHΔ (H from torch.autograd.functional.hessian)."""
    net = FeedForward(
        [5, 8, 1], "tanh", generator=torch.Generator().manual_seed(seed), dtype=dtype
    ).to(device)
    xt = S.to_torch(x, device, dtype)
    ut = S.to_torch(u, device, dtype)
    ut = ut / ut.norm()

    def f(v: torch.Tensor) -> torch.Tensor:
        return net(v.reshape(-1, 5))[:, 0]

    g = E.saliency(lambda v: net(v), xt.unsqueeze(0), 0)[0]
    h = torch.autograd.functional.hessian(lambda v: f(v)[0], xt)
    quad = 0.5 * float(ut @ h @ ut)
    for t in (1e-2, 1e-3):  # the O(t³) term: remainder/t² − ½ΔᵀHΔ = O(t), so 1e-2·(t/1e-3)
        r = float((f(xt + t * ut)[0] - f(xt)[0] - t * (g @ ut)).detach())
        err = abs(r / t**2 - quad)
        assert err <= 1e-2 * (t / 1e-3), failure(
            CLAIM_PERT,
            device,
            dtype,
            f"remainder/t² at t={t} vs ½ΔᵀHΔ={quad:.3g}",
            err,
            f"{1e-2 * (t / 1e-3):.0e}",
        )
    fd = E.perturbation_sensitivity(lambda v: net(v), xt, 0, 1e-6)
    check_close(fd, g, Tol(0.0, 1e-5), CLAIM_PERT, device, "per-feature perturbation vs gradient")


@pytest.mark.claim(CLAIM_PERT)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=15)
@given(
    w=hnp.arrays(np.float64, 4, elements=S.reals(min_abs=0.1)),
    u=hnp.arrays(np.float64, 4, elements=S.reals()),
)
def test_relu_kink_remainder_is_first_order(
    device: str, dtype: torch.dtype, w: Any, u: Any
) -> None:
    """f(x) = relu(wᵀx) at a kink (wᵀx = 0): whatever one-sided gradient g autograd picks, the
    remainder is t·(max(wᵀu, 0) − gᵀu) along Δ = t u: divided by t it does not shrink, and it is
    non-zero along u or −u."""
    wt, ut = S.to_torch(w, device, dtype), S.to_torch(u, device, dtype)
    x = torch.zeros(4, dtype=dtype, device=device)
    lin = Linear(4, 1, bias=False, dtype=dtype, device=device).load(wt.unsqueeze(0))

    def f(v: torch.Tensor) -> torch.Tensor:
        return lin(v).clamp_min(0.0)

    g = E.saliency(f, x.unsqueeze(0), 0)[0]
    slopes = []
    for sign in (1.0, -1.0):  # Δ = ±t u: the remainder over t is the constant below, not O(t)
        v = sign * ut
        slope = max(float(wt @ v), 0.0) - float(g @ v)
        slopes.append(abs(slope))
        for t in (1e-1, 1e-3, 1e-5):
            r = float(
                (f((x + t * v).unsqueeze(0))[0, 0] - f(x.unsqueeze(0))[0, 0] - t * (g @ v)).detach()
            )
            assert abs(r / t - slope) <= 1e-9, failure(
                CLAIM_PERT, device, dtype, f"remainder/t at t={t}", r / t - slope, "1e-9"
            )
    if abs(float(wt @ ut)) > 1e-6:  # one of the two directions keeps a first-order remainder
        assert max(slopes) >= abs(float(wt @ ut)) - 1e-12, failure(
            CLAIM_PERT, device, dtype, "no first-order remainder at the kink", max(slopes), "> 0"
        )


@pytest.mark.claim(CLAIM_PERT)
def test_perturbation_refuses_bad_arguments() -> None:
    lin = Linear(3, 2, dtype=F64)
    with pytest.raises(
        ValueError,
        match=r"eps must be a real number in \(0, inf\] \(the perturbation size\), got 0\.0",
    ):
        E.perturbation_sensitivity(lin, torch.zeros(3, dtype=F64), 0, 0.0)
    with pytest.raises(ValueError, match="target"):
        E.saliency(lin, torch.zeros(1, 3, dtype=F64), 2)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        E.saliency(lin, torch.zeros(1, 3, dtype=torch.long), 0)


@pytest.mark.claim(CLAIM_PERT)
def test_perturbation_quotient_of_a_linear_score_is_its_weight() -> None:
    """For S_c(x) = w_cᵀx + b_c the quotient (S_c(x + ε e_i) − S_c(x))/ε is w_ci up to rounding
    in S (≈ 1e-15/ε): with ε = 0.1, not a float32 number, a step taken in float32 would be off
    by 1.5e-8 relative. The result keeps x's dtype when the default dtype differs."""
    w = torch.tensor([[0.5, -1.25, 2.0], [1.0, 3.0, -0.75]], dtype=F64)
    lin = Linear(3, 2, dtype=F64).load(w, torch.tensor([0.3, -0.1], dtype=F64))
    x = torch.tensor([0.7, -0.2, 1.1], dtype=F64)
    got = E.perturbation_sensitivity(lin, x, 1, 0.1)
    check_close(got, w[1], Tol(1e-12, 1e-12), CLAIM_PERT, "cpu", "linear quotient")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got32 = E.perturbation_sensitivity(lin.to(torch.float32), x.float(), 1, 0.5)
    finally:
        torch.set_default_dtype(old)
    assert got32.dtype == torch.float32, f"{CLAIM_PERT}: result in {got32.dtype}"


# =================================================================================================
# explain.occlusion
# =================================================================================================


@st.composite
def _occlusion_case(draw: st.DrawFn) -> tuple[Any, ...]:
    d = draw(st.integers(2, 20))
    labels = draw(hnp.arrays(np.int64, d, elements=st.integers(0, 3)))  # patch of each feature
    w = draw(S.arrays(d))
    ignored = draw(hnp.arrays(np.bool_, d))
    w = np.where(ignored, 0.0, w)  # the model ignores these features
    return w, draw(S.reals()), draw(S.arrays(d)), draw(S.arrays(d)), labels, ignored


@pytest.mark.claim(CLAIM_OCC)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_occlusion_case())
def test_linear_occlusion_is_additive(
    device: str, dtype: torch.dtype, case: tuple[Any, ...]
) -> None:
    """Δ_P = Σ_{i∈P} w_i(x_i − v_i); Δ over a union of disjoint patches is the sum; occluding only
    ignored features (w_i = 0) changes nothing (exactly)."""
    w, b, x, v, labels, ignored = case
    lin = _linear(w[None, :], [b], device)
    xt, vt = S.to_torch(x, device, dtype), S.to_torch(v, device, dtype)
    wt = lin.weight.detach()[0]
    lab = torch.as_tensor(labels, device=device)
    masks = torch.stack([(lab == k) for k in range(4)] + [lab >= 0]).to(dtype)  # 4 patches + all
    delta = E.occlusion(lin, xt, 0, masks, vt).detach()
    expected = masks @ (wt * (xt - vt))
    check_close(delta, expected, EXACT, CLAIM_OCC, device, "Δ_P vs Σ_{i∈P} w_i(x_i − v_i)")
    check_close(
        delta[4], delta[:4].sum(), EXACT, CLAIM_OCC, device, "additivity over disjoint patches"
    )
    if ignored.any():
        m = torch.as_tensor(ignored, device=device).to(dtype).unsqueeze(0)
        d0 = E.occlusion(lin, xt, 0, m, vt).detach()
        assert float(d0.abs().max()) <= EXACT.atol, failure(
            CLAIM_OCC,
            device,
            dtype,
            "occluding ignored features changed the score",
            float(d0.abs().max()),
            EXACT,
        )


@pytest.mark.claim(CLAIM_OCC)
def test_nonlinear_occlusion_is_not_additive(evidence: Any) -> None:
    """f(x) = relu(x₁ + x₂ − 1) at x = (1, 1), fill 0: Δ_{1} = Δ_{2} = 1, Δ_{1,2} = 1 ≠ 2."""
    lin = Linear(2, 1, dtype=F64).load([[1.0, 1.0]], [-1.0])

    def f(v: torch.Tensor) -> torch.Tensor:
        return lin(v).clamp_min(0.0)

    masks = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=F64)
    delta = E.occlusion(f, torch.ones(2, dtype=F64), 0, masks, 0.0).detach()
    assert delta.tolist() == [1.0, 1.0, 1.0], f"{CLAIM_OCC}: {delta.tolist()}"
    evidence.value("nonlinear_deltas", delta.tolist())


@pytest.mark.claim(CLAIM_OCC)
def test_patch_masks_and_bad_input() -> None:
    m = E.patch_masks(8, 8, 3, stride=1)
    assert m.shape == (36, 8, 8) and bool((m.sum((1, 2)) == 9).all())
    m2 = E.patch_masks(8, 8, (2, 4))
    assert m2.shape == (8, 8, 8) and bool((m2.sum(0) == 1).all())  # tiles cover each pixel once
    img = torch.zeros(8, 8, dtype=F64)
    with pytest.raises(ValueError, match="patch 9×9 is larger than the image 8×8"):
        E.patch_masks(8, 8, 9)
    with pytest.raises(ValueError, match="patch 3×7 is larger than the image 4×6"):
        E.patch_masks(4, 6, (3, 7))
    with pytest.raises(ValueError, match="patch must fit the image"):
        E.occlusion_map(lambda t: t.reshape(len(t), -1), img, 0, (2, 9))
    with pytest.raises(ValueError, match="patch height"):
        E.patch_masks(8, 8, 0)
    with pytest.raises(ValueError, match=r"^patch width must be an integer ≥ 1, got 0$"):
        E.patch_masks(8, 8, (2, 0))
    with pytest.raises(ValueError, match=r"^stride width must be an integer ≥ 1, got 0$"):
        E.patch_masks(8, 8, 2, stride=(1, 0))
    full = E.patch_masks(4, 6, (4, 6))  # a patch as large as the image fits: one mask
    assert full.shape == (1, 4, 6) and bool((full == 1).all()), f"{CLAIM_OCC}: full-size patch"
    with pytest.raises(ValueError, match="masks must hold only 0"):
        E.occlusion(lambda t: t, torch.zeros(3, dtype=F64), 0, torch.full((1, 3), 0.5, dtype=F64))
    with pytest.raises(ValueError, match=r"masks must have shape \(P ≥ 1, 3\), got \(1, 4\)"):
        E.occlusion(lambda t: t, torch.zeros(3, dtype=F64), 0, torch.zeros(1, 4, dtype=F64))
    with pytest.raises(ValueError, match="fill must be a number or have x's shape"):
        E.occlusion(
            lambda t: t,
            torch.zeros(3, dtype=F64),
            0,
            torch.zeros(1, 3, dtype=F64),
            torch.zeros(2, dtype=F64),
        )
    x3, m3 = torch.zeros(3, dtype=F64), torch.zeros(1, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"^masks must have shape \(P ≥ 1, 3\), got \(0, 3\)$"):
        E.occlusion(lambda t: t, x3, 0, m3[:0])  # no patch at all
    with pytest.raises(ValueError, match=r"masks must have shape \(P ≥ 1, 2, 3\), got \(1, 3\)"):
        E.occlusion(lambda t: t.reshape(len(t), -1), torch.zeros(2, 3, dtype=F64), 0, m3)
    with pytest.raises(TypeError, match=r"^fill must be a floating-point tensor, got dtype"):
        E.occlusion(lambda t: t, x3, 0, m3, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"^fill must have x's dtype torch\.float64, got"):
        E.occlusion(lambda t: t, x3, 0, m3, torch.zeros(3))
    with pytest.raises(ValueError, match=r"^f must return scores of shape \(N, C\), got \(2,\)$"):
        E.occlusion(lambda t: t.sum(-1), x3, 0, m3)
    for dtype in (torch.float32, F64):  # the masks are 0/1 numbers of the dtype asked for
        assert E.patch_masks(4, 4, 2, dtype=dtype).dtype == dtype, f"{CLAIM_OCC}: mask dtype"
    assert E.patch_masks(4, 4, 2).dtype == torch.float32


@pytest.mark.claim(CLAIM_OCC)
def test_occlusion_default_fill_is_zero() -> None:
    """`occlusion` without `fill` replaces the occluded entries by 0: for a linear score
    `S = w·x`, `Δ_P = Σ_{i∈P} w_i x_i`."""
    w = torch.tensor([[1.0, 2.0, 4.0]], dtype=F64)
    x = torch.tensor([3.0, 5.0, 7.0], dtype=F64)
    masks = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=F64)
    delta = E.occlusion(lambda t: t @ w.T, x, 0, masks)
    assert delta.tolist() == [3.0, 38.0], f"{CLAIM_OCC}: default-fill Δ {delta.tolist()}"


# =================================================================================================
# explain.surrogate-recovers-linear
# =================================================================================================


@pytest.mark.claim(CLAIM_SUR)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 8), elements=S.reals()),
    b=S.reals(),
    seed=st.integers(0, 2**31 - 1),
    log_w=st.floats(-3.0, 3.0),
)
def test_wls_recovers_a_linear_black_box_for_any_weights(
    device: str, dtype: torch.dtype, w: Any, b: float, seed: int, log_w: float
) -> None:
    """No penalty: WLS on 200 Gaussian perturbations returns (w, b) to 1e-8 for drawn positive
    kernel weights spanning 6 orders of magnitude, and local_surrogate does with its kernel."""
    wt = S.to_torch(w, device, dtype)
    d = wt.shape[0]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(d, generator=gen, dtype=dtype).to(device)
    z = x + torch.randn((200, d), generator=gen, dtype=dtype).to(device)
    pi = torch.exp(
        log_w * 2 * (torch.rand(200, generator=gen, dtype=dtype).to(device) - 0.5) * math.log(10)
    )
    coef, icpt = E.weighted_least_squares(z, z @ wt + b, pi)
    tol8 = Tol(0.0, 1e-8)
    check_close(coef, wt, tol8, CLAIM_SUR, device, "WLS coefficients")
    check_close(
        icpt, torch.tensor(b, dtype=dtype, device=device), tol8, CLAIM_SUR, device, "WLS intercept"
    )
    coef2, _ = E.local_surrogate(lambda v: v @ wt + b, x, generator=gen, kernel_width=2.0)
    check_close(coef2, wt, tol8, CLAIM_SUR, device, "local_surrogate coefficients")


@pytest.mark.claim(CLAIM_SUR)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 6), elements=S.reals()),
    alpha=st.floats(0.01, 50.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_ridge_matches_sklearn_and_shrinks_the_norm(
    device: str, dtype: torch.dtype, w: Any, alpha: float, seed: int
) -> None:
    """With α > 0 the fit equals scikit-learn's Ridge(α) with sample weights (1e-8) and
    ‖β‖ < ‖w‖ (for w ≠ 0)."""
    from sklearn.linear_model import Ridge

    wt = S.to_torch(w, device, dtype)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((50, wt.shape[0]), generator=gen, dtype=dtype).to(device)
    pi = torch.rand(50, generator=gen, dtype=dtype).to(device) + 0.1
    y = z @ wt + 0.7
    coef, icpt = E.weighted_least_squares(z, y, pi, alpha=alpha)
    ref = Ridge(alpha=alpha).fit(z.cpu().numpy(), y.cpu().numpy(), sample_weight=pi.cpu().numpy())
    check_close(
        coef.cpu(),
        torch.as_tensor(ref.coef_),
        Tol(1e-8, 1e-8),
        CLAIM_SUR,
        device,
        "ridge vs sklearn",
    )
    check_close(
        icpt.cpu(),
        torch.tensor(ref.intercept_, dtype=dtype),
        Tol(1e-8, 1e-8),
        CLAIM_SUR,
        device,
        "intercept",
    )
    if float(wt.norm()) > 1e-3:
        assert float(coef.norm()) < float(wt.norm()), failure(
            CLAIM_SUR,
            device,
            dtype,
            "ridge did not shrink the norm",
            float(coef.norm() - wt.norm()),
            "< 0",
        )


#: The pinned correlated design of the ridge counterexample.
RIDGE_N, RIDGE_RHO, RIDGE_ALPHA = 100, 0.995, 1.0
RIDGE_W = (1.0, 0.0, 0.5)


@pytest.mark.claim(CLAIM_SUR)
def test_ridge_does_not_shrink_each_coefficient(evidence: Any) -> None:
    """Centred design with ZᵀZ = N·Σ, Σ = [[1, ρ, 0], [ρ, 1, 0], [0, 0, 1]], N = 100, ρ = 0.995,
    w = (1, 0, 0.5), α = 1: β = (NΣ + αI)⁻¹NΣw = (799/1203, 398/1203, 50/101)
    = (0.664, 0.331, 0.495); |β₂| grows from 0."""
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn((RIDGE_N, 3), generator=gen, dtype=F64)
    q, _ = torch.linalg.qr(raw - raw.mean(0))  # orthonormal columns, each summing to 0
    sigma = torch.tensor([[1.0, RIDGE_RHO, 0.0], [RIDGE_RHO, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    z = math.sqrt(RIDGE_N) * q @ torch.linalg.cholesky(sigma).T  # ZᵀZ = N Σ, column means 0
    w = torch.tensor(RIDGE_W, dtype=F64)
    coef, _ = E.weighted_least_squares(
        z, z @ w + 0.3, torch.ones(RIDGE_N, dtype=F64), alpha=RIDGE_ALPHA
    )
    closed = torch.linalg.solve(
        RIDGE_N * sigma + RIDGE_ALPHA * torch.eye(3, dtype=F64), RIDGE_N * sigma @ w
    )
    check_close(coef, closed, Tol(1e-10, 1e-10), CLAIM_SUR, "cpu", "ridge vs closed form")
    exact = torch.tensor([799 / 1203, 398 / 1203, 50 / 101], dtype=F64)  # by hand (sympy agrees)
    check_close(coef, exact, Tol(1e-10, 1e-10), CLAIM_SUR, "cpu", "ridge vs exact fractions")
    assert [round(v, 3) for v in coef.tolist()] == [0.664, 0.331, 0.495], coef.tolist()
    # the page's derivation: eigenvalues 1 ± ρ = 1.995, 0.005; shrink factors 0.995 and 1/3
    lam = torch.linalg.eigvalsh(sigma)
    assert [round(v, 3) for v in lam.tolist()] == [0.005, 1.0, 1.995]
    shrink = RIDGE_N * lam / (RIDGE_N * lam + RIDGE_ALPHA)
    assert abs(float(shrink[0]) - 1 / 3) < 1e-12 and round(float(shrink[2]), 3) == 0.995
    assert float(coef.norm()) < float(w.norm()) and float(coef[1]) > 0.3
    evidence.value("ridge_coefficients", [round(v, 4) for v in coef.tolist()])
    evidence.value("ridge_norm", float(coef.norm()))


@pytest.mark.claim(CLAIM_SUR)
def test_local_surrogate_is_the_documented_fit() -> None:
    """local_surrogate of a nonlinear f with a ridge penalty equals scikit-learn's Ridge fitted to
    the documented design: z_n = x + scale·ε_n (ε_n ~ N(0, I) from the same generator),
    π_n = exp(−‖z_n − x‖²/width²), sample weights π_n (1e-8). Here the perturbations, the
    kernel and the penalty all change the answer."""
    from sklearn.linear_model import Ridge

    x = torch.tensor([0.8, -1.3, 2.1], dtype=F64)

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(z).sum(1) + z[:, 0] * z[:, 1]

    scale, width, alpha, n = 0.7, 1.3, 0.5, 60
    coef, icpt = E.local_surrogate(
        f,
        x,
        samples=n,
        scale=scale,
        kernel_width=width,
        alpha=alpha,
        generator=torch.Generator().manual_seed(3),
    )
    eps = torch.randn((n, 3), generator=torch.Generator().manual_seed(3), dtype=F64)
    z = x + scale * eps
    pi = torch.exp(-(eps * scale).pow(2).sum(1) / width**2)
    ref = Ridge(alpha=alpha).fit(z.numpy(), f(z).numpy(), sample_weight=pi.numpy())
    tol = Tol(1e-8, 1e-8)
    check_close(coef, torch.as_tensor(ref.coef_), tol, CLAIM_SUR, "cpu", "surrogate vs Ridge")
    check_close(
        icpt, torch.tensor(ref.intercept_, dtype=F64), tol, CLAIM_SUR, "cpu", "surrogate intercept"
    )


@pytest.mark.claim(CLAIM_SUR)
def test_surrogate_refuses_bad_arguments() -> None:
    z = torch.randn(10, 2, dtype=F64)
    y = torch.randn(10, dtype=F64)
    with pytest.raises(ValueError, match="weights must be positive"):
        E.weighted_least_squares(z, y, torch.zeros(10, dtype=F64))
    with pytest.raises(
        ValueError, match=r"alpha must be a real number in \[0, inf\] \(the ridge penalty\)"
    ):
        E.weighted_least_squares(z, y, torch.ones(10, dtype=F64), alpha=-1.0)
    with pytest.raises(
        TypeError, match=r"weights must have z's dtype torch\.float64, got torch\.float32"
    ):
        E.weighted_least_squares(z, y, torch.ones(10, dtype=torch.float32))
    with pytest.raises(ValueError, match="z must have at least 1 rows for 2 features"):
        E.weighted_least_squares(z[:0], y[:0], torch.ones(0, dtype=F64), alpha=0.5)
    with pytest.raises(ValueError, match="one entry per row"):
        E.weighted_least_squares(z, y[:5], torch.ones(10, dtype=F64))
    with pytest.raises(ValueError, match="at least 3 rows"):
        E.weighted_least_squares(z[:2], y[:2], torch.ones(2, dtype=F64))
    with pytest.raises(ValueError, match="kernel_width"):
        E.local_surrogate(lambda v: v.sum(1), torch.zeros(2, dtype=F64), kernel_width=0.0)
    with pytest.raises(ValueError, match="samples"):
        E.local_surrogate(lambda v: v.sum(1), torch.zeros(2, dtype=F64), samples=1)
    with pytest.raises(ValueError, match=r"x must be 1-D, got shape \(1, 2\)"):
        E.local_surrogate(lambda v: v.sum(1), torch.zeros(1, 2, dtype=F64))
    with pytest.raises(ValueError, match=r"f\(z\) must be 1-D, got shape \(200, 1\)"):
        E.local_surrogate(lambda v: v.sum(1, keepdim=True), torch.zeros(2, dtype=F64))
    with pytest.raises(TypeError, match=r"f\(z\) must be a floating-point tensor"):
        E.local_surrogate(lambda v: (v.sum(1) > 0).long(), torch.zeros(2, dtype=F64))


@pytest.mark.claim(CLAIM_SUR)
def test_wls_with_the_fewest_rows_interpolates() -> None:
    """d + 1 rows in general position are the fewest without a penalty: the fit passes through
    every point, y_n = β_0 + βᵀz_n, here for y = 2 + z_1 − 3 z_2 at 3 points in R²."""
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = 2 + z[:, 0] - 3 * z[:, 1]
    coef, icpt = E.weighted_least_squares(z, y, torch.tensor([1.0, 2.0, 0.5], dtype=F64))
    got = torch.cat([coef, icpt[None]])
    want = torch.tensor([1.0, -3.0, 2.0], dtype=F64)
    check_close(got, want, Tol(1e-12, 1e-12), CLAIM_SUR, "cpu", "interpolating WLS")


@pytest.mark.claim(CLAIM_SUR)
def test_ridge_keeps_the_data_dtype() -> None:
    """The penalty rows are built in z's dtype: float32 data give float32 coefficients also when
    the default dtype is float64."""
    z = torch.randn((6, 2), generator=torch.Generator().manual_seed(0)).float()
    y = z.sum(1)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        coef, icpt = E.weighted_least_squares(z, y, torch.ones(6, dtype=torch.float32), alpha=0.5)
    finally:
        torch.set_default_dtype(old)
    assert coef.dtype == icpt.dtype == torch.float32, f"{CLAIM_SUR}: {coef.dtype}, {icpt.dtype}"


@pytest.mark.claim(CLAIM_SUR)
def test_local_surrogate_defaults_are_the_documented_fit() -> None:
    """With its defaults (200 samples, scale 1, kernel width 1, no penalty) local_surrogate of a
    nonlinear f is the weighted least-squares fit to z_n = x + ε_n (ε_n from the same generator),
    π_n = exp(−‖z_n − x‖²): numpy's lstsq on the rows √π_n [z_n, 1], √π_n f(z_n) (1e-8)."""
    x = torch.tensor([0.8, -1.3], dtype=F64)

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * z).sum(1) + z[:, 0] ** 2 * z[:, 1]

    coef, icpt = E.local_surrogate(f, x, generator=torch.Generator().manual_seed(5))
    eps = torch.randn((200, 2), generator=torch.Generator().manual_seed(5), dtype=F64).numpy()
    z = x.numpy() + eps
    r = np.sqrt(np.exp(-(eps**2).sum(1)))[:, None]
    design = np.hstack([z, np.ones((200, 1))])
    ref = np.linalg.lstsq(r * design, r[:, 0] * f(torch.from_numpy(z)).numpy(), rcond=None)[0]
    tol = Tol(1e-8, 1e-8)
    got = torch.cat([coef, icpt[None]])
    check_close(got, torch.from_numpy(ref), tol, CLAIM_SUR, "cpu", "default surrogate vs lstsq")


@pytest.mark.claim(CLAIM_SUR)
def test_two_samples_fit_a_line_in_one_dimension() -> None:
    """samples = 2 is the fewest allowed: in one dimension two distinct points fix the line, so
    the surrogate of f(z) = 3z − 1 is exactly β = 3, β_0 = −1 (up to rounding)."""
    coef, icpt = E.local_surrogate(
        lambda v: 3 * v[:, 0] - 1,
        torch.tensor([0.5], dtype=F64),
        samples=2,
        generator=torch.Generator().manual_seed(0),
    )
    got = torch.cat([coef, icpt[None]])
    want = torch.tensor([3.0, -1.0], dtype=F64)
    check_close(got, want, Tol(1e-10, 1e-10), CLAIM_SUR, "cpu", "two-sample surrogate")


# =================================================================================================
# explain.activation-max
# =================================================================================================


@pytest.mark.claim(CLAIM_AM)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 10), elements=S.reals()),
    x0=st.data(),
    r=st.floats(0.1, 5.0),
)
def test_projected_ascent_reaches_r_w_over_norm(
    device: str, dtype: torch.dtype, w: Any, x0: st.DataObject, r: float
) -> None:
    """Ascent on S(x) = wᵀx + 0.3 over ‖x‖ ≤ r from a drawn start converges to r w/‖w‖ (1e-8)."""
    wt = S.to_torch(w, device, dtype)
    if float(wt.norm()) < 0.1:
        wt = wt + 0.5
    start = S.to_torch(x0.draw(hnp.arrays(np.float64, len(w), elements=S.reals())), device, dtype)
    x = E.activation_maximization(
        lambda v: v @ wt + 0.3, start, r, steps=100, lr=r / float(wt.norm())
    )
    check_close(x, r * wt / wt.norm(), Tol(0.0, 1e-8), CLAIM_AM, device, "activation maximization")
    assert float(x.norm()) <= r * (1 + 1e-12)


@pytest.mark.claim(CLAIM_AM)
def test_projection_is_onto_the_ball() -> None:
    """Π(u) = u·min(1, r/‖u‖): a start inside the ball is kept (0 steps), one outside is scaled
    to the sphere, and a step that stays inside is the plain step x + η∇S."""
    w = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    inside = torch.tensor([0.1, 0.2, -0.3], dtype=F64)
    outside = torch.tensor([3.0, 4.0, 0.0], dtype=F64)
    score = lambda v: v @ w  # noqa: E731
    assert torch.equal(E.activation_maximization(score, inside, 1.0, steps=0), inside)
    check_close(
        E.activation_maximization(score, outside, 2.0, steps=0),
        outside * 2.0 / 5.0,
        EXACT,
        CLAIM_AM,
        "cpu",
        "projection of a point outside",
    )
    check_close(
        E.activation_maximization(score, inside, 1.0, steps=1, lr=0.01),
        inside + 0.01 * w,
        EXACT,
        CLAIM_AM,
        "cpu",
        "one step inside the ball",
    )


@pytest.mark.claim(CLAIM_AM)
def test_activation_max_radius_zero_and_bad_input() -> None:
    w = torch.tensor([1.0, -2.0], dtype=F64)
    x = E.activation_maximization(lambda v: v @ w, torch.ones(2, dtype=F64), 0.0, steps=5)
    assert float(x.abs().max()) == 0.0
    with pytest.raises(ValueError, match=r"radius must be .* \(the norm bound r ≥ 0\)"):
        E.activation_maximization(lambda v: v @ w, torch.ones(2, dtype=F64), -1.0)
    with pytest.raises(ValueError, match=r"lr must be .* \(the step size\)"):
        E.activation_maximization(lambda v: v @ w, torch.ones(2, dtype=F64), 1.0, lr=0.0)


@pytest.mark.claim(CLAIM_AM)
def test_activation_max_defaults_take_200_steps_of_a_tenth() -> None:
    """By default 200 steps of size 0.1: for the linear score wᵀx from x0 = 0 inside a ball too
    large to reach, every step adds 0.1·w, so the last iterate is 20·w."""
    w = torch.tensor([1.0, -2.0], dtype=F64)
    x = E.activation_maximization(lambda v: v @ w, torch.zeros(2, dtype=F64), 1e6)
    check_close(x, 20 * w, Tol(1e-12, 1e-12), CLAIM_AM, "cpu", "200 steps of 0.1·w")
    with pytest.raises(ValueError, match="0-d"):
        E.activation_maximization(lambda v: v * w, torch.ones(2, dtype=F64), 1.0)


# =================================================================================================
# explain.hidden-features
# =================================================================================================


@pytest.mark.claim(CLAIM_HID)
@pytest.mark.parametrize("layer", [1, 2])
def test_cut_net_outputs_are_the_hidden_activations(layer: int, evidence: Any) -> None:
    """On the trained digits net, FeatureExtractor(net, l)(x) is exactly forward_all(x)[l−1][1];
    the remaining layers on top of it give net(x) exactly; it shares the net's parameters."""
    net, data = _digits_net()
    cut = E.FeatureExtractor(net, layer)
    x = data.x_test
    with torch.no_grad():
        feats = cut(x)
        ref = net.forward_all(x)[layer - 1][1]
        assert torch.equal(feats, ref), f"{CLAIM_HID}: layer {layer} features differ"
        a = feats
        for i, lin in enumerate(list(net.layers)[layer:]):
            z = lin(a)
            a = net.out_act(z) if i == len(net.layers) - layer - 1 else net.act(z)
        assert torch.equal(a, net(x)), f"{CLAIM_HID}: the remaining layers do not rebuild net(x)"
    shared = {id(p) for p in net.parameters()}
    assert (
        all(id(p) in shared for p in cut.parameters()) and len(list(cut.parameters())) == 2 * layer
    )
    with torch.no_grad():
        net.layers[0].weight.add_(0.01)  # type: ignore[operator]
        moved = torch.equal(cut(x), net.forward_all(x)[layer - 1][1])
        net.layers[0].weight.sub_(0.01)  # type: ignore[operator]
    assert moved, f"{CLAIM_HID}: the extractor does not follow the net's weights"
    evidence.value(f"layer{layer}_width", int(feats.shape[1]))


@pytest.mark.claim(CLAIM_HID)
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_cut_follows_the_nets_activation(act: str) -> None:
    """The extractor applies the net's own hidden activation (not ReLU): on a drawn tanh or
    sigmoid net its features equal forward_all's activations bit for bit."""
    net = FeedForward([6, 5, 4, 3], act, generator=torch.Generator().manual_seed(1), dtype=F64)
    x = torch.randn((7, 6), generator=torch.Generator().manual_seed(2), dtype=F64)
    with torch.no_grad():
        for layer in (1, 2):
            assert torch.equal(E.FeatureExtractor(net, layer)(x), net.forward_all(x)[layer - 1][1])


@pytest.mark.claim(CLAIM_HID)
def test_feature_extractor_refuses_bad_arguments() -> None:
    net = FeedForward([4, 3, 2], dtype=F64)
    with pytest.raises(ValueError, match=r"layer must be an integer in \[1, 1\], got 2"):
        E.FeatureExtractor(net, 2)
    with pytest.raises(ValueError, match=r"layer must be an integer in \[1, 1\], got 0"):
        E.FeatureExtractor(net, 0)
    with pytest.raises(TypeError, match="FeedForward, got Linear"):
        E.FeatureExtractor(torch.nn.Linear(2, 2), 1)  # type: ignore[arg-type]
    # one hidden layer is enough to cut after
    x = torch.randn((3, 4), generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        assert torch.equal(E.FeatureExtractor(net, 1)(x), net.forward_all(x)[0][1])
    with pytest.raises(ValueError, match="no hidden layer"):
        E.FeatureExtractor(FeedForward([4, 2], dtype=F64), 1)
