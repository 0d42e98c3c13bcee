"""Tests of spec/losses/cross-entropy.md: cross-entropy from maximum likelihood, the logistic
gradient, and cross-entropy against square error.

Oracles: `F.binary_cross_entropy`, `F.binary_cross_entropy_with_logits`, `F.cross_entropy`,
`F.mse_loss`, `torch.distributions` (entropy, KL), autograd; sympy for the identities. The losses
under test are reached through one seam, `L` (`dlspec.nn.losses`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlspec.nn import losses as L
from dlspec.nn.activations import sigmoid
from tests import strategies as S
from tests.compiled_path import compiled_path
from tests.tolerances import EXACT, Tol, check_close, failure, tol

REDUCTIONS = ("mean", "sum", "none")

# =================================================================================================
# loss.ce-is-nll-bernoulli
# =================================================================================================

CLAIM_BER = "loss.ce-is-nll-bernoulli"


@functools.cache
def bernoulli_derivation() -> sp.Expr:
    """N = 3: −ln Π f_n^{y_n} (1 − f_n)^{1 − y_n} − Σ_n H(y_n, f_n)."""
    f = sp.symbols("f1:4", positive=True)
    y = sp.symbols("y1:4", real=True)
    likelihood = sp.Mul(*(f[n] ** y[n] * (1 - f[n]) ** (1 - y[n]) for n in range(3)))
    h = sum(-(y[n] * sp.log(f[n]) + (1 - y[n]) * sp.log(1 - f[n])) for n in range(3))
    return sp.simplify(sp.expand_log(-sp.log(likelihood), force=True) - h)


@pytest.mark.claim(CLAIM_BER)
def test_bernoulli_nll_is_bce_sympy() -> None:
    residual = bernoulli_derivation()
    assert residual == 0, f"{CLAIM_BER}: −ln L − Σ H(y, f) simplifies to {residual}"


@st.composite
def _binary_batches(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(S.dims(1, 12))
    soft = draw(st.booleans())
    y = (
        draw(S.arrays(n, bound=1.0)).__abs__()
        if soft
        else np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    )
    return {"z": draw(S.arrays(n, bound=30.0)), "y": y, "soft": soft}


@pytest.mark.claim(CLAIM_BER)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_binary_batches())
@example(
    case={
        "z": np.array([30.0, -30.0, 0.0, 2.0]),
        "y": np.array([1.0, 0.0, 1.0, 0.0]),
        "soft": False,
    }
)
def test_bce_sum_is_negative_log_likelihood(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """BCE (sum) on logits and on probabilities = −ln Π f^y (1 − f)^{1−y}, the likelihood
    multiplied out in float64; with hard labels it is −ln of the probability of the labels."""
    z, y = S.to_torch(case["z"], device, dtype), S.to_torch(case["y"], device, dtype)
    f, one_minus_f = sigmoid(z), sigmoid(-z)  # 1 − f = σ(−z), without cancellation
    log_lik = torch.log(torch.prod(f**y * one_minus_f ** (1 - y)))  # ln Π f^y (1−f)^{1−y}
    t = Tol(rtol=1e-10, atol=1e-10)
    value = L.binary_cross_entropy_with_logits(z, y, reduction="sum")
    check_close(value, -log_lik, t, CLAIM_BER, device, "BCE with logits vs −ln L")
    # On probabilities 1 − f is formed from f: |z| ≤ 15 keeps its relative error below 4e-10
    # per example (ε / (1 − σ(15))), so N ≤ 12 examples stay within 1e-8.
    zc = z.clamp(-15.0, 15.0)
    fc, log_lik_c = sigmoid(zc), torch.log(torch.prod(sigmoid(zc) ** y * sigmoid(-zc) ** (1 - y)))
    value = L.binary_cross_entropy(fc, y, reduction="sum")
    check_close(
        value,
        -log_lik_c,
        Tol(rtol=1e-10, atol=1e-8),
        CLAIM_BER,
        device,
        "BCE on probabilities vs −ln L",
    )


@pytest.mark.claim(CLAIM_BER)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(case=_binary_batches(), reduction=st.sampled_from(REDUCTIONS))
def test_bce_matches_torch_forward_and_backward(
    device: str, dtype: torch.dtype, case: dict[str, Any], reduction: str
) -> None:
    """Both BCE forms equal PyTorch's, values and gradients (z, and f), every reduction."""
    t = tol(dtype)
    y = S.to_torch(case["y"], device, dtype)
    z = S.to_torch(case["z"], device, dtype).requires_grad_(True)
    zr = z.detach().clone().requires_grad_(True)
    mine = L.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    ref = F.binary_cross_entropy_with_logits(zr, y, reduction=reduction)
    check_close(mine, ref, t, CLAIM_BER, device, f"BCE with logits ({reduction})")
    (gm,) = torch.autograd.grad(mine.sum(), z)
    (gr,) = torch.autograd.grad(ref.sum(), zr)
    check_close(gm, gr, t, CLAIM_BER, device, f"BCE with logits backward ({reduction})")
    # probabilities away from 0 and 1 (torch clamps ln at −100; ours is exact)
    f = torch.sigmoid(z.detach().clamp(-15, 15)).requires_grad_(True)
    fr = f.detach().clone().requires_grad_(True)
    mine = L.binary_cross_entropy(f, y, reduction=reduction)
    ref = F.binary_cross_entropy(fr, y, reduction=reduction)
    check_close(mine, ref, t, CLAIM_BER, device, f"BCE on probabilities ({reduction})")
    (gm,) = torch.autograd.grad(mine.sum(), f)
    (gr,) = torch.autograd.grad(ref.sum(), fr)
    bt = Tol(rtol=t.rtol * 10, atol=t.atol * 10)  # 1/(f(1−f)) amplifies rounding near 0 or 1
    check_close(gm, gr, bt, CLAIM_BER, device, f"BCE on probabilities backward ({reduction})")


@pytest.mark.claim(CLAIM_BER)
@pytest.mark.dtypes("float32")
def test_bce_extremes(device: str, dtype: torch.dtype) -> None:
    """0·ln 0 = 0: f = y ∈ {0, 1} costs 0; f = 0 with y = 1 costs +∞ (the true value); logits
    of ±1e4 give finite losses equal to |z| where wrong."""
    f = torch.tensor([0.0, 1.0, 0.0], device=device, dtype=dtype)
    y = torch.tensor([0.0, 1.0, 1.0], device=device, dtype=dtype)
    h = L.binary_cross_entropy(f, y, reduction="none")
    assert h[0] == 0 and h[1] == 0 and h[2] == math.inf, f"{CLAIM_BER}: extremes give {h}"
    z = torch.tensor([1e4, -1e4, 1e4], device=device, dtype=dtype)
    hz = L.binary_cross_entropy_with_logits(
        z, torch.tensor([1.0, 0.0, 0.0], device=device, dtype=dtype), reduction="none"
    )
    assert hz.tolist() == [0.0, 0.0, 1e4], f"{CLAIM_BER}: logits ±1e4 give {hz.tolist()}"


@pytest.mark.claim(CLAIM_BER)
@pytest.mark.dtypes("float64")
def test_bce_with_logits_keeps_relative_accuracy_in_the_tails(
    device: str, dtype: torch.dtype
) -> None:
    """Where the loss is tiny (a confident right prediction: z ≪ 0 with y = 0, z ≫ 0 with
    y = 1) it is ln(1 + e^{−|z|}) ≈ e^{−|z|}; the logit form keeps it to 1e-12 relative down to
    e^{−700} (ln(1 + e^{−|z|}) with log1p, not a 1 + e^{−|z|} that rounds to 1)."""
    mag = torch.linspace(20.0, 700.0, 69, device=device, dtype=dtype)
    z = torch.cat([-mag, mag])
    y = torch.cat([torch.zeros_like(mag), torch.ones_like(mag)])
    got = L.binary_cross_entropy_with_logits(z, y, reduction="none")
    want = torch.exp(-mag).repeat(2) - torch.exp(-2 * mag).repeat(2) / 2  # e^{−t} − e^{−2t}/2
    check_close(got, want, Tol(rtol=1e-12, atol=0.0), CLAIM_BER, device, "tiny BCE, relative")


@pytest.mark.claim(CLAIM_BER)
def test_binary_losses_bad_input() -> None:
    f, y = torch.full((3,), 0.5), torch.ones(3)
    with pytest.raises(ValueError, match=r"f must hold probabilities in \[0, 1\]"):
        L.binary_cross_entropy(torch.tensor([0.5, 1.5, 0.2]), y)
    with pytest.raises(ValueError, match=r"y must hold targets in \[0, 1\]"):
        L.binary_cross_entropy_with_logits(f, torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"^y must hold targets in \[0, 1\]"):
        L.binary_cross_entropy(f, torch.tensor([0.0, 2.0, 1.0]))  # (the name and the meaning)
    with pytest.raises(ValueError, match=r"y must have z's shape \(3,\)"):
        L.binary_cross_entropy_with_logits(f, torch.ones(2))
    with pytest.raises(TypeError, match="y must be a floating-point tensor"):
        L.binary_cross_entropy(f, torch.ones(3, dtype=torch.long))
    with pytest.raises(TypeError, match="y must have f's dtype"):
        L.binary_cross_entropy(f, y.double())
    with pytest.raises(ValueError, match="f must hold at least one entry"):
        L.binary_cross_entropy(torch.ones(0), torch.ones(0))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.square_error(f, y, reduction="avg")
    with pytest.raises(ValueError, match=r"^y must have f's shape \(3,\), got \(2,\)$"):
        L.square_error(f, torch.ones(2))  # (issue 12, mutation testing: both names)
    with pytest.raises(ValueError, match="NaN"):
        L.binary_cross_entropy(torch.tensor([math.nan, 0.5, 0.5]), y)


# =================================================================================================
# loss.ce-is-nll-categorical
# =================================================================================================

CLAIM_CAT = "loss.ce-is-nll-categorical"


@functools.cache
def categorical_derivation() -> dict[str, sp.Expr]:
    """K = 3: −ln softmax(z)_y = ln Σ e^{z} − z_y, and H(p, q) − H(p) − KL(p‖q)."""
    z = sp.symbols("z1:4", real=True)
    p = sp.symbols("p1:4", positive=True)
    q = sp.symbols("q1:4", positive=True)
    lse = sp.log(sum(sp.exp(v) for v in z))
    nll = [
        sp.simplify(
            sp.expand_log(-sp.log(sp.exp(z[c]) / sum(sp.exp(v) for v in z)), force=True)
            - (lse - z[c])
        )
        for c in range(3)
    ]
    cross = -sum(p[c] * sp.log(q[c]) for c in range(3))
    ent = -sum(p[c] * sp.log(p[c]) for c in range(3))
    kl = sum(p[c] * sp.log(p[c] / q[c]) for c in range(3))
    return {
        "nll": sp.Matrix(nll),
        "decomposition": sp.simplify(sp.expand_log(cross - ent - kl, force=True)),
    }


@pytest.mark.claim(CLAIM_CAT)
def test_categorical_identities_sympy() -> None:
    der = categorical_derivation()
    assert der["nll"] == sp.zeros(3, 1), f"{CLAIM_CAT}: −ln softmax_y residual {der['nll']}"
    assert der["decomposition"] == 0, f"{CLAIM_CAT}: H(p,q) − H(p) − KL {der['decomposition']}"


@st.composite
def _classification(draw: st.DrawFn) -> dict[str, Any]:
    n, c = draw(S.dims(1, 8)), draw(S.dims(1, 6))
    return {
        "z": draw(S.arrays((n, c), bound=30.0)),
        "y": draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)),
        "p": draw(S.arrays((n, c), bound=1.0)),
    }


@pytest.mark.claim(CLAIM_CAT)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(case=_classification(), reduction=st.sampled_from(REDUCTIONS))
@example(
    case={"z": np.array([[1e4 / 400, -30.0, 0.0]]), "y": [1], "p": np.ones((1, 3))}, reduction="sum"
)
def test_cross_entropy_matches_torch(
    device: str, dtype: torch.dtype, case: dict[str, Any], reduction: str
) -> None:
    """cross_entropy = F.cross_entropy (labels and target distributions), values and gradients."""
    t = tol(dtype)
    z = S.to_torch(case["z"], device, dtype).requires_grad_(True)
    zr = z.detach().clone().requires_grad_(True)
    y = torch.tensor(case["y"], device=device)
    p = S.to_torch(np.abs(case["p"]) + 1e-3, device, dtype)
    p = p / p.sum(dim=1, keepdim=True)  # rows are distributions
    for target, what in ((y, "labels"), (p, "target distributions")):
        mine = L.cross_entropy(z, target, reduction=reduction)
        ref = F.cross_entropy(zr, target, reduction=reduction)
        check_close(mine, ref, t, CLAIM_CAT, device, f"cross_entropy, {what} ({reduction})")
        (gm,) = torch.autograd.grad(mine.sum(), z)
        (gr,) = torch.autograd.grad(ref.sum(), zr)
        check_close(gm, gr, t, CLAIM_CAT, device, f"cross_entropy backward, {what}")


@pytest.mark.claim(CLAIM_CAT)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_classification())
def test_cross_entropy_is_nll_and_decomposes(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Sum = −ln Π_n q_{y_n} (the likelihood multiplied out); H(p, q) = H(p) + KL(p‖q) with
    KL ≥ 0, and entropy and KL equal torch.distributions'."""
    z = S.to_torch(case["z"], device, dtype)
    y = torch.tensor(case["y"], device=device)
    q = torch.softmax(z, dim=-1)
    lik = torch.prod(q[torch.arange(len(y), device=device), y])
    nll = L.cross_entropy(z, y, reduction="sum")
    if float(lik) > 1e-300:  # the product is representable
        check_close(
            nll,
            -torch.log(lik),
            Tol(rtol=1e-10, atol=1e-10),
            CLAIM_CAT,
            device,
            "Σ −ln q_y vs −ln Π q_y",
        )
    p = S.to_torch(np.abs(case["p"]), device, dtype)
    p[:, 0] += 1e-3
    p = p / p.sum(dim=1, keepdim=True)
    cross = L.cross_entropy(z, p, reduction="none")  # H(p, q)
    ent, kl = L.entropy(p), L.kl_divergence(p, q)
    check_close(cross, ent + kl, EXACT, CLAIM_CAT, device, "H(p, q) = H(p) + KL(p‖q)")
    assert bool((kl >= -1e-12).all()), failure(
        CLAIM_CAT, device, dtype, "KL(p‖q) < 0", float(kl.min()), "≥ 0"
    )
    cat_p = torch.distributions.Categorical(probs=p)
    cat_q = torch.distributions.Categorical(logits=z)  # (probs= would clamp q at ε)
    check_close(ent, cat_p.entropy(), EXACT, CLAIM_CAT, device, "entropy vs Categorical")
    check_close(
        kl,
        torch.distributions.kl_divergence(cat_p, cat_q),
        Tol(rtol=1e-9, atol=1e-9),
        CLAIM_CAT,
        device,
        "KL vs torch.distributions",
    )
    zero = L.kl_divergence(q, q)
    check_close(zero, torch.zeros_like(zero), EXACT, CLAIM_CAT, device, "KL(q‖q) = 0")


@pytest.mark.claim(CLAIM_CAT)
@pytest.mark.dtypes("float32", "float64")
def test_cross_entropy_with_leading_copies(device: str, dtype: torch.dtype) -> None:
    """The form `dlspec.train.fit` uses for `FeedForward(copies=S)`: logits (S, N, C) with one
    label vector (N,) (or target distributions (S, N, C)) give copy s the loss of its own
    logits; "mean" averages over copies and examples, "sum" adds them, "none" is (S, N)."""
    g = torch.Generator(device=device).manual_seed(4)
    z = torch.randn(3, 5, 4, generator=g, device=device, dtype=dtype) * 3
    y = torch.tensor([0, 3, 1, 1, 2], device=device)
    p = torch.softmax(torch.randn(3, 5, 4, generator=g, device=device, dtype=dtype), -1)
    t = tol(dtype)
    rows = torch.tensor([[0, 3, 1, 1, 2], [2, 2, 0, 3, 1], [1, 0, 0, 2, 3]], device=device)
    for target, ref_target in ((y, lambda s: y), (p, lambda s: p[s]), (rows, lambda s: rows[s])):
        per = torch.stack(
            [F.cross_entropy(z[s], ref_target(s), reduction="none") for s in range(3)]
        )
        none = L.cross_entropy(z, target, reduction="none")
        assert none.shape == (3, 5), f"{CLAIM_CAT}: reduction='none' shape {tuple(none.shape)}"
        check_close(none, per, t, CLAIM_CAT, device, "copies, reduction='none'")
        check_close(L.cross_entropy(z, target), per.mean(), t, CLAIM_CAT, device, "copies, mean")
        check_close(
            L.cross_entropy(z, target, reduction="sum"), per.sum(), t, CLAIM_CAT, device, "sum"
        )


@pytest.mark.claim(CLAIM_CAT)
def test_cross_entropy_bad_input() -> None:
    z = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 3\)"):
        L.cross_entropy(z, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 3\)"):
        L.cross_entropy(z, torch.tensor([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="y must hold one label per example"):
        L.cross_entropy(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="N ≥ 1 examples"):
        L.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\)"):
        L.cross_entropy(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        L.cross_entropy(torch.zeros(4, 3, dtype=torch.long), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(TypeError, match="y must be an integer tensor of class labels"):
        L.cross_entropy(z, torch.tensor([True, False, True, False]))
    with pytest.raises(TypeError, match=r"^p must be a floating-point tensor, got dtype"):
        L.entropy(torch.ones(3, dtype=torch.long))  # (issue 12, mutation testing)
    half = torch.tensor([0.5, 0.5])
    for p, q, name in (
        (torch.tensor([0.5, 1.5]), half, "p"),
        (half, torch.tensor([-0.5, 1.0]), "q"),
    ):
        with pytest.raises(
            ValueError, match=rf"^{name} must hold probabilities in \[0, 1\], got values outside"
        ):
            L.kl_divergence(p, q)
    with pytest.raises(ValueError, match=r"y must have logits's shape \(4, 3\)"):
        L.cross_entropy(z, torch.full((4, 2), 0.5))
    for empty in (torch.zeros(4, 0), torch.zeros(2, 4, 0)):  # no classes, with and without copies
        with pytest.raises(
            ValueError,
            match=rf"^logits must have shape \(N, C\) with N ≥ 1 examples and C ≥ 1 classes, "
            rf"got \({', '.join(map(str, empty.shape))}\)$",
        ):
            L.cross_entropy(empty, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^y must hold target probabilities in \[0, 1\]"):
        L.cross_entropy(z, torch.full((4, 3), -0.5))
    z3 = torch.zeros(2, 4, 3)  # the message gives both label shapes it accepts
    with pytest.raises(
        ValueError,
        match=r"^y must hold one label per example, shape \(4,\) \(or \(2, 4\)\), got \(3,\)$",
    ):
        L.cross_entropy(z3, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.cross_entropy(z, torch.tensor([0, 1, 2, 0]), reduction=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        L.entropy(torch.tensor([2.0, -1.0]))
    with pytest.raises(ValueError, match=r"q must have p's shape"):
        L.kl_divergence(torch.ones(3) / 3, torch.ones(2) / 2)


@pytest.mark.claim(CLAIM_CAT)
@pytest.mark.parametrize("dim", [-2, -1, 0, 1])
def test_entropy_and_kl_along_any_dim(dim: int) -> None:
    """`dim` takes every value in [−p.dim(), p.dim() − 1]: H and KL along rows (dim 1 or −1)
    and along columns (dim 0 or −2) of p = [[½, ½], [1, 0]], q = [[¼, ¾], [½, ½]] (by hand,
    with 0 ln 0 = 0), and a dim outside that range is refused."""
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=torch.float64)
    ln2, ln3 = math.log(2.0), math.log(3.0)
    rows = dim % 2 == 1
    # H along rows: ln 2, 0; along columns: −(½ ln ½ + 1 ln 1) = ½ ln 2, −(½ ln ½ + 0) = ½ ln 2
    h = [ln2, 0.0] if rows else [ln2 / 2, ln2 / 2]
    # KL along rows: ½ ln 2 + ½ ln(2/3), 1 ln 2; along columns: ½ ln 2 + ln 2, ½ ln(2/3)
    kl = [ln2 - ln3 / 2, ln2] if rows else [1.5 * ln2, (ln2 - ln3) / 2]
    want = {"entropy": h, "KL": kl}
    for what, got in (("entropy", L.entropy(p, dim=dim)), ("KL", L.kl_divergence(p, q, dim=dim))):
        expected = torch.tensor(want[what], dtype=torch.float64)
        check_close(
            got, expected, Tol(rtol=1e-15, atol=1e-16), CLAIM_CAT, "cpu", f"{what}, dim {dim}"
        )
    bad = dim + 4 if dim >= 0 else dim - 2  # 2 or 3 (too high), −3 or −4 (too low)
    for call in (lambda: L.entropy(p, dim=bad), lambda: L.kl_divergence(p, q, dim=bad)):
        with pytest.raises(ValueError, match=rf"^dim must be an integer in \[-2, 1\], got {bad}$"):
            call()


# =================================================================================================
# loss.logistic-gradient
# =================================================================================================

CLAIM_LG = "loss.logistic-gradient"


@functools.cache
def logistic_derivation() -> dict[str, Any]:
    """d = 2: ∂/∂w_i, ∂/∂b of H(y, σ(w·x + b)), and its Hessian σ(1 − σ) x̃ x̃ᵀ, x̃ = (x, 1)."""
    w1, w2, b, x1, x2, y = sp.symbols("w1 w2 b x1 x2 y", real=True)
    z = w1 * x1 + w2 * x2 + b
    s = 1 / (1 + sp.exp(-z))
    loss = -(y * sp.log(s) + (1 - y) * sp.log(1 - s))
    params, xt = (w1, w2, b), (x1, x2, 1)
    grads = [
        sp.simplify(sp.diff(loss, v) - (-(y - s) * xi)) for v, xi in zip(params, xt, strict=True)
    ]
    hess = sp.Matrix(
        3,
        3,
        lambda i, j: sp.simplify(sp.diff(loss, params[i], params[j]) - s * (1 - s) * xt[i] * xt[j]),
    )
    return {"grads": grads, "hessian": hess}


@pytest.mark.claim(CLAIM_LG)
def test_logistic_gradient_and_hessian_sympy() -> None:
    der = logistic_derivation()
    assert all(g == 0 for g in der["grads"]), f"{CLAIM_LG}: gradient residuals {der['grads']}"
    assert der["hessian"] == sp.zeros(3, 3), f"{CLAIM_LG}: Hessian residual {der['hessian']}"


@st.composite
def _logistic_data(draw: st.DrawFn) -> dict[str, Any]:
    n, d = draw(S.dims(1, 20)), draw(S.dims(1, 5))
    return {
        "x": draw(S.arrays((n, d))),
        "y": np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))),
        "w": draw(S.arrays(d)),
        "b": draw(S.reals()),
    }


@pytest.mark.claim(CLAIM_LG)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_logistic_data())
@example(
    case={"x": np.array([[3.0, 3.0]]), "y": np.array([0.0]), "w": np.array([3.0, 3.0]), "b": 1.0}
)
@example(case={"x": np.full((1, 5), 3.0), "y": np.array([0.0]), "w": np.full(5, 3.0), "b": 0.0})
def test_logistic_regression_gradient_and_convexity(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Autograd through the implementation's BCE: ∇_w = −Σ(y − f)x, ∂_b = −Σ(y − f); Hessian
    = Σ f(1 − f) x̃ x̃ᵀ, positive semidefinite (convex in (w, b))."""
    x, y = S.to_torch(case["x"], device, dtype), S.to_torch(case["y"], device, dtype)
    theta = torch.cat(
        [
            S.to_torch(case["w"], device, dtype),
            torch.tensor([case["b"]], device=device, dtype=dtype),
        ]
    )
    xt = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)  # x̃ = (x, 1)

    def loss(th: torch.Tensor) -> torch.Tensor:
        return L.binary_cross_entropy_with_logits(xt @ th, y, reduction="sum")

    def loss_prob(th: torch.Tensor) -> torch.Tensor:
        return L.binary_cross_entropy(sigmoid(xt @ th), y, reduction="sum")

    f = torch.sigmoid(xt @ theta)
    want = -((y - f)[:, None] * xt).sum(dim=0)  # (−Σ(y − f)x, −Σ(y − f))
    # On probabilities, 1 − f is formed from f: relative error ε/min(f, 1 − f) per example, which
    # the gradient inherits (at z = 19 it is 4e-8, above 1e-9: hypothesis found x = w = (3, 3)).
    small = torch.sigmoid(-(xt @ theta).abs())  # min(f, 1 − f), accurately
    eps = torch.finfo(dtype).eps
    cond = float((2 * eps * xt.abs().amax(dim=1) / small).sum())
    for fn, what, atol in (
        (loss, "with logits", 1e-9),
        (loss_prob, "on probabilities", 1e-9 + cond),
    ):
        if fn is loss_prob and float(small.min()) < eps:
            # f rounds to 0 or 1 (|z| ≥ 37 in float64): the loss on probabilities is log 0 there,
            # outside its domain (the thorough profile drew x = w = (3, …, 3), z = 45); the
            # logits form above covers such examples.
            continue
        th = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(th), th)
        check_close(g, want, Tol(rtol=1e-9, atol=atol), CLAIM_LG, device, f"gradient ({what})")
    hess = torch.autograd.functional.hessian(loss, theta)
    want_h = (xt.T * (f * (1 - f))) @ xt  # Σ f(1 − f) x̃ x̃ᵀ
    check_close(hess, want_h, Tol(rtol=1e-9, atol=1e-9), CLAIM_LG, device, "Hessian")
    low = float(torch.linalg.eigvalsh(hess).min())
    assert low >= -1e-10 * (1 + float(hess.abs().max())), failure(
        CLAIM_LG, device, dtype, "Hessian not positive semidefinite", low, "≥ 0"
    )


# =================================================================================================
# loss.square-error-plateau
# =================================================================================================

CLAIM_SE = "loss.square-error-plateau"


@functools.cache
def plateau_derivation() -> dict[str, Any]:
    z, y = sp.symbols("z y", real=True)
    s = 1 / (1 + sp.exp(-z))
    se = (s - y) ** 2
    ce = -(y * sp.log(s) + (1 - y) * sp.log(1 - s))
    u = sp.Symbol("u", real=True)
    return {
        "se_grad": sp.simplify(sp.diff(se, z) - 2 * (s - y) * s * (1 - s)),
        "ce_grad": sp.simplify(sp.diff(ce, z) - (s - y)),
        "max_s1s": sp.maximum(u * (1 - u), u, sp.Interval(0, 1)),
        "se_limit": sp.limit(sp.diff(se, z).subs(y, 1), z, -sp.oo),
        "ce_limit": sp.limit(sp.diff(ce, z).subs(y, 1), z, -sp.oo),
    }


@pytest.mark.claim(CLAIM_SE)
def test_plateau_sympy() -> None:
    der = plateau_derivation()
    assert der["se_grad"] == 0, f"{CLAIM_SE}: ∂SE/∂z residual {der['se_grad']}"
    assert der["ce_grad"] == 0, f"{CLAIM_SE}: ∂CE/∂z residual {der['ce_grad']}"
    assert der["max_s1s"] == sp.Rational(1, 4), f"{CLAIM_SE}: max σ(1−σ) = {der['max_s1s']}"
    assert der["se_limit"] == 0, f"{CLAIM_SE}: lim ∂SE/∂z = {der['se_limit']}"
    assert der["ce_limit"] == -1, f"{CLAIM_SE}: lim ∂CE/∂z = {der['ce_limit']}"


@pytest.mark.claim(CLAIM_SE)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(
    z=S.arrays(16, bound=30.0), y=st.lists(st.sampled_from([0.0, 1.0]), min_size=16, max_size=16)
)
@example(z=np.linspace(-30.0, 30.0, 16), y=[1.0] * 16)
def test_square_error_gradient_is_at_most_half_ce(
    device: str, dtype: torch.dtype, z: np.ndarray[Any, Any], y: list[float]
) -> None:
    """Autograd: ∂SE/∂z = 2(σ − y)σ(1 − σ), ∂CE/∂z = σ − y, |∂SE/∂z| ≤ ½|∂CE/∂z|."""
    zt = S.to_torch(z, device, dtype).requires_grad_(True)
    yt = torch.tensor(y, device=device, dtype=dtype)
    (g_se,) = torch.autograd.grad(L.square_error(sigmoid(zt), yt, reduction="sum"), zt)
    (g_ce,) = torch.autograd.grad(L.binary_cross_entropy_with_logits(zt, yt, reduction="sum"), zt)
    s = torch.sigmoid(zt.detach())
    check_close(g_se, 2 * (s - yt) * s * (1 - s), EXACT, CLAIM_SE, device, "∂SE/∂z")
    check_close(g_ce, s - yt, EXACT, CLAIM_SE, device, "∂CE/∂z")
    excess = float((g_se.abs() - 0.5 * g_ce.abs()).max())
    assert excess <= 1e-15, failure(CLAIM_SE, device, dtype, "|∂SE/∂z| > ½|∂CE/∂z|", excess, "≤ 0")
    ref = F.mse_loss(s, yt, reduction="sum")
    check_close(L.square_error(s, yt, reduction="sum"), ref, EXACT, CLAIM_SE, device, "vs mse")
    mean = F.mse_loss(s, yt)  # the default reduction is torch's: the mean
    check_close(L.square_error(s, yt), mean, EXACT, CLAIM_SE, device, "default vs mse mean")


@pytest.mark.claim(CLAIM_SE)
def test_plateau_figure(evidence: Any) -> None:
    """y = 1: the two gradients over z (the plateau), and their values at z = −10."""
    import matplotlib.pyplot as plt

    z = torch.linspace(-12.0, 6.0, 721, dtype=torch.float64).requires_grad_(True)
    y = torch.ones_like(z)
    (g_se,) = torch.autograd.grad(L.square_error(sigmoid(z), y, reduction="sum"), z)
    (g_ce,) = torch.autograd.grad(L.binary_cross_entropy_with_logits(z, y, reduction="sum"), z)
    at = int(torch.argmin((z.detach() + 10).abs()))
    se10, ce10 = float(g_se[at]), float(g_ce[at])
    assert abs(se10) < 1e-4 and ce10 < -0.9999, f"{CLAIM_SE}: at z = −10: {se10}, {ce10}"
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    zz = z.detach()
    ax.plot(zz, g_ce.abs(), color="black", label="cross-entropy |∂L/∂z| = 1 − σ")
    ax.plot(zz, g_se.abs(), color="tab:red", label="square error |∂L/∂z| = 2σ(1 − σ)²")
    ax.plot(zz, 0.5 * g_ce.abs(), color="0.5", ls=":", label="½ |∂CE/∂z| (the bound)")
    ax.set_xlabel("logit z (target y = 1)")
    ax.set_ylabel("gradient magnitude")
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 2)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Far on the wrong side, square error's gradient vanishes")
    evidence.figure(fig, "loss-square-error-plateau")
    plt.close(fig)
    evidence.value("grad_se_at_minus_10", se10)
    evidence.value("grad_ce_at_minus_10", ce10)


# =================================================================================================
# loss.square-error-consistent
# =================================================================================================

CLAIM_CONS = "loss.square-error-consistent"


@functools.cache
def consistency_derivation() -> dict[str, Any]:
    """Expected losses of predicting q when P(y = 1) = η, and their minimizers."""
    q = sp.Symbol("q", positive=True)
    eta = sp.Symbol("eta", positive=True)
    se = eta * (1 - q) ** 2 + (1 - eta) * q**2
    ce = -eta * sp.log(q) - (1 - eta) * sp.log(1 - q)
    return {
        "se_min": sp.solve(sp.diff(se, q), q),
        "ce_min": sp.solve(sp.diff(ce, q), q),
        "se_curv": sp.simplify(sp.diff(se, q, 2)),
        "ce_curv": sp.simplify(sp.diff(ce, q, 2) - (eta / q**2 + (1 - eta) / (1 - q) ** 2)),
    }


@pytest.mark.claim(CLAIM_CONS)
def test_both_losses_are_proper_sympy() -> None:
    der = consistency_derivation()
    eta = sp.Symbol("eta", positive=True)
    assert der["se_min"] == [eta], f"{CLAIM_CONS}: SE minimizer {der['se_min']}"
    assert der["ce_min"] == [eta], f"{CLAIM_CONS}: CE minimizer {der['ce_min']}"
    assert der["se_curv"] == 2, f"{CLAIM_CONS}: SE curvature {der['se_curv']}"
    assert der["ce_curv"] == 0, f"{CLAIM_CONS}: CE curvature residual {der['ce_curv']}"


@pytest.mark.claim(CLAIM_CONS)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(eta=st.floats(0.02, 0.98))
@example(eta=0.3)
def test_expected_losses_are_minimized_at_the_probability(
    device: str, dtype: torch.dtype, eta: float
) -> None:
    """With the implementation's losses, η·L(q, 1) + (1 − η)·L(q, 0) over a grid of q has its
    minimum at the grid point nearest η, for square error and cross-entropy alike."""
    q = torch.linspace(1e-4, 1 - 1e-4, 9999, device=device, dtype=dtype)
    ones, zeros = torch.ones_like(q), torch.zeros_like(q)
    for name, fn in (("square error", L.square_error), ("cross-entropy", L.binary_cross_entropy)):
        risk = eta * fn(q, ones, reduction="none") + (1 - eta) * fn(q, zeros, reduction="none")
        best = float(q[int(risk.argmin())])
        assert abs(best - eta) <= 1e-4, failure(
            CLAIM_CONS,
            device,
            dtype,
            f"{name}: expected loss minimized at q={best}, η={eta}",
            abs(best - eta),
            "grid spacing 1e-4",
        )


@pytest.mark.claim(CLAIM_CONS)
@pytest.mark.dtypes("float64")
def test_square_error_is_slow_not_wrong(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """One example with y = 1 and logit z₀ = −6, gradient descent with step 1: cross-entropy gets
    σ(z) > ½ in a few steps, square error needs more than 10 times as many, and both get there."""
    y = torch.ones(1, device=device, dtype=dtype)
    steps = {}
    for name, loss in (
        ("cross-entropy", lambda z: L.binary_cross_entropy_with_logits(z, y, reduction="sum")),
        ("square error", lambda z: L.square_error(sigmoid(z), y, reduction="sum")),
    ):
        z = torch.full((1,), -6.0, device=device, dtype=dtype, requires_grad=True)
        for k in range(1, 5001):
            (g,) = torch.autograd.grad(loss(z), z)
            with torch.no_grad():
                z -= g
            if float(z.detach()) > 0:
                steps[name] = k
                break
    assert set(steps) == {"cross-entropy", "square error"}, f"{CLAIM_CONS}: did not converge"
    assert steps["square error"] > 10 * steps["cross-entropy"], (
        f"{CLAIM_CONS}: steps to σ > ½: {steps}"
    )
    # the page prints the counts of this deterministic float64 run
    assert steps == {"cross-entropy": 7, "square error": 214}, f"{CLAIM_CONS}: {steps}"
    evidence.value("steps_to_correct_ce", steps["cross-entropy"])
    evidence.value("steps_to_correct_se", steps["square error"])


# =================================================================================================
# loss.ce-fast-form
# =================================================================================================

CLAIM_CE_FAST = "loss.ce-fast-form"


@st.composite
def _fast_cases(draw: st.DrawFn) -> dict[str, Any]:
    n, c = draw(S.dims(1, 8)), draw(S.dims(1, 6))
    lead = draw(st.sampled_from([(), (2,)]))
    bound = draw(st.sampled_from([30.0, 1e300]))
    values = st.one_of(S.reals(bound), st.sampled_from([bound, -bound, 0.0]))
    size = math.prod((*lead, n, c))
    z = np.array(draw(st.lists(values, min_size=size, max_size=size))).reshape(*lead, n, c)
    per_row = bool(lead) and draw(st.booleans())
    y_shape = (*lead, n) if per_row else (n,)
    y = draw(hnp.arrays(np.int64, y_shape, elements=st.integers(0, c - 1)))
    return {"z": z, "y": y, "p": draw(S.arrays(z.shape, bound=1.0))}


@pytest.mark.claim(CLAIM_CE_FAST)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(case=_fast_cases(), reduction=st.sampled_from(REDUCTIONS))
@example(
    case={"z": np.array([[1e300, -1e300, 0.0]]), "y": np.array([1]), "p": np.ones((1, 3))},
    reduction="mean",
)
@example(
    case={"z": np.array([[-1e300, -1e300], [5.0, 5.0]]), "y": np.array([0, 1]), "p": np.eye(2)},
    reduction="sum",
)
def test_cross_entropy_fast_form_equals_plain(
    device: str, dtype: torch.dtype, case: dict[str, Any], reduction: str
) -> None:
    """cross_entropy(..., fast=True) = the plain form, value and gradient, labels (shared or per
    row) and target distributions, every reduction, logits up to ±1e300."""
    eps = torch.finfo(dtype).eps
    z = S.to_torch(case["z"], device, dtype).requires_grad_(True)
    y = torch.as_tensor(case["y"], device=device)
    p = S.to_torch(np.abs(case["p"]) + 1e-3, device, dtype)
    p = p / p.sum(dim=-1, keepdim=True)
    for target, what in ((y, "labels"), (p, "target distributions")):
        plain = L.cross_entropy(z, target, reduction=reduction)
        fast = L.cross_entropy(z, target, reduction=reduction, fast=True)
        assert bool(torch.isfinite(fast).all()), f"{CLAIM_CE_FAST}: non-finite fast loss"
        vt = Tol(rtol=4 * eps, atol=0.0)
        check_close(fast, plain, vt, CLAIM_CE_FAST, device, f"fast loss, {what} ({reduction})")
        g = torch.linspace(0.5, 2.0, plain.numel(), device=device, dtype=dtype).reshape(plain.shape)
        (g_plain,) = torch.autograd.grad(plain, z, g)
        (g_fast,) = torch.autograd.grad(fast, z, g)
        per_example = 1.0 / math.prod(z.shape[:-1]) if reduction == "mean" else 1.0
        gt = Tol(rtol=4 * eps, atol=4 * eps * 2.0 * per_example)  # max |ḡ_n| = 2 (·1/N)
        check_close(g_fast, g_plain, gt, CLAIM_CE_FAST, device, f"fast gradient, {what}")
        assert bool(torch.isfinite(g_fast).all()), f"{CLAIM_CE_FAST}: non-finite fast gradient"


@pytest.mark.claim(CLAIM_CE_FAST)
@pytest.mark.dtypes("float32")
def test_cross_entropy_fast_form_float32_extremes(device: str, dtype: torch.dtype) -> None:
    """Float32 logits up to ±1e4: fast = plain (value and gradient), finite."""
    z = torch.tensor([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4, -1e4, -1e4]], device=device)
    z.requires_grad_(True)
    y = torch.tensor([1, 3], device=device)
    plain, fast = L.cross_entropy(z, y), L.cross_entropy(z, y, fast=True)
    eps = torch.finfo(dtype).eps
    check_close(fast, plain, Tol(4 * eps, 0.0), CLAIM_CE_FAST, device, "fast loss, float32")
    (g_plain,) = torch.autograd.grad(plain, z)
    (g_fast,) = torch.autograd.grad(fast, z)
    check_close(g_fast, g_plain, Tol(4 * eps, 4 * eps / 2), CLAIM_CE_FAST, device, "gradient")


@pytest.mark.claim(CLAIM_CE_FAST)
@pytest.mark.dtypes("float64")
def test_cross_entropy_fast_cuda_path(device: str, dtype: torch.dtype) -> None:
    """The fast form's CUDA path (`tests.compiled_path`), on any device: the plain per-example
    loss handed to `torch.compile(·, dynamic=True)` once, whatever the shapes; torch's loss and
    gradient for shared and per-row labels, logits up to ±1e300."""
    z0 = torch.tensor([[1e300, -1e300, 0.0], [2.0, -3.0, 0.5]], dtype=dtype)
    z1 = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(3), dtype=dtype)
    cases = [
        (z0, torch.tensor([1, 2]), lambda z, y: F.cross_entropy(z, y, reduction="sum")),
        (
            z1,
            torch.tensor([0, 2, 1, 1]),
            lambda z, y: F.cross_entropy(z.transpose(1, 2), y[None].expand(2, 4), reduction="sum"),
        ),
        (
            z1,
            torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]]),
            lambda z, y: F.cross_entropy(z.transpose(1, 2), y, reduction="sum"),
        ),
    ]
    with compiled_path(L) as calls:
        for z_, y_, oracle in cases:
            z, y = z_.to(device).requires_grad_(True), y_.to(device)
            fast, want = L.cross_entropy(z, y, reduction="sum", fast=True), oracle(z, y)
            what = f"CUDA path, logits {tuple(z.shape)}, labels {tuple(y.shape)}"
            check_close(fast, want, tol(dtype), CLAIM_CE_FAST, device, what)
            (g_fast,) = torch.autograd.grad(fast, z)
            (g_want,) = torch.autograd.grad(want, z)
            check_close(g_fast, g_want, tol(dtype), CLAIM_CE_FAST, device, f"∂ {what}")
    assert calls == [(L._nll, {"dynamic": True})], f"{CLAIM_CE_FAST}: compiled {calls}"
    p = torch.softmax(z1, dim=-1)  # target distributions: the fast log-softmax's CUDA path
    with compiled_path(L) as calls:
        fast = L.cross_entropy(z1, p, reduction="sum", fast=True)
    want = -(p * F.log_softmax(z1, dim=-1)).sum()
    check_close(fast, want, tol(dtype), CLAIM_CE_FAST, "cpu", "CUDA path, target distributions")
    assert [fn.__name__ for fn, _ in calls] == ["_log_softmax"], (
        f"{CLAIM_CE_FAST}: target distributions compiled {calls}"
    )


@pytest.mark.claim(CLAIM_CAT)
@pytest.mark.dtypes("float64")
def test_default_cross_entropy_is_the_plain_form(device: str, dtype: torch.dtype) -> None:
    """`cross_entropy(z, y)` without `fast=` is the plain form, made of tensor ops only:
    torch.func's `grad` differentiates it (the fast form's old-style autograd.Function is refused
    by torch.func) and gives (softmax(z) − onehot(y)) / N, the gradient of the mean NLL."""
    z = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 1.0]], device=device, dtype=dtype)
    y = torch.tensor([2, 0], device=device)
    got = torch.func.grad(lambda v: L.cross_entropy(v, y))(z)
    want = (torch.softmax(z, dim=-1) - F.one_hot(y, 3).to(dtype)) / 2
    check_close(got, want, tol(dtype), CLAIM_CAT, device, "torch.func.grad of the default form")


@pytest.mark.claim(CLAIM_CE_FAST)
def test_cross_entropy_fast_flag_takes_a_bool() -> None:
    with pytest.raises(TypeError, match="fast must be a bool"):
        L.cross_entropy(torch.ones(2, 3), torch.tensor([0, 1]), fast="yes")  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_CE_FAST)
@pytest.mark.dtypes("float64")
def test_cross_entropy_fast_second_derivative_raises(device: str, dtype: torch.dtype) -> None:
    """A gradient penalty through the fast form with labels, `∂/∂W ‖∂L/∂x‖²` for `z = x W`:
    its backward keeps `e^{s}` outside the graph, so the penalty's term through the softmax was
    silently missing (the gradient off in the second digit); it must raise, while the
    first-order gradient under `create_graph=True` still equals the plain form's. The eager
    form only: on CUDA the fast form is the plain one compiled, whose double backward is
    torch.compile's (not claimed)."""
    if torch.device(device).type != "cpu":
        pytest.skip("the CUDA fast form is torch.compile's; its double backward is not claimed")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, generator=g, dtype=dtype).to(device).requires_grad_()
    w = torch.randn(3, 5, generator=g, dtype=dtype).to(device).requires_grad_()
    y = torch.tensor([0, 2, 4, 1], device=device)
    (gx,) = torch.autograd.grad(L.cross_entropy(x @ w, y, fast=True), x, create_graph=True)
    (ref,) = torch.autograd.grad(L.cross_entropy(x @ w, y), x)
    eps = torch.finfo(dtype).eps
    check_close(gx, ref, Tol(4 * eps, 4 * eps), CLAIM_CE_FAST, device, "first-order gradient")
    with pytest.raises(RuntimeError, match="fast=False"):
        torch.autograd.grad((gx**2).sum() + (w**2).sum(), w)
