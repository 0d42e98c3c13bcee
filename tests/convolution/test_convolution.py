"""Tests of spec/convolution/convolution.md: convolution as a sparse, weight-tied linear layer.

Notation as on the page: input ``x`` ``(N, C_in, H, W)``, kernel ``w`` ``(C_out, C_in/G, k_h,
k_w)``, stride ``s``, padding ``p``, output ``(N, C_out, H′, W′)``. The implementation is reached
through the ``conv`` fixture (the seam); ``torch.nn.functional.conv2d`` is the oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.nn import conv as C
from dlspec.nn.linear import Linear
from tests import strategies as S
from tests.tolerances import EXACT, check_close, failure

CLAIM_MAT = "conv.sparse-tied-linear"
CLAIM_COUNT = "conv.parameter-count"
CLAIM_EQ = "conv.translation-equivariance"

Conv = Callable[..., torch.Tensor]


@pytest.fixture(scope="module")
def conv() -> Conv:
    """The convolution under test (the seam): ``conv(x, w, b, stride=, padding=,
    padding_mode=, groups=)``."""
    return C.conv2d


def oracle(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int],
    padding_mode: str,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d``; circular padding through ``F.pad(mode="circular")`` first."""
    if padding_mode == "circular":
        ph, pw = padding
        x = F.pad(x, (pw, pw, ph, ph), mode="circular")
        return F.conv2d(x, w, b, stride=stride, groups=groups)
    return F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)


@st.composite
def conv_cases(draw: st.DrawFn, *, groups: bool = True, max_side: int = 7) -> dict[str, Any]:
    """A convolution's shapes and options, in scope: the kernel fits the padded input and
    circular padding is at most the input size (``F.pad``'s limit); zero padding may exceed it
    (a tap can then fall a whole input away from it)."""
    g = draw(st.integers(1, 3)) if groups else 1
    c_in = g * draw(st.integers(1, 2))
    c_out = g * draw(st.integers(1, 2))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    mode = draw(st.sampled_from(C.PADDING_MODES))
    ph = draw(st.integers(0, min(h, 2) if mode == "circular" else 3))
    pw = draw(st.integers(0, min(w, 2) if mode == "circular" else 3))
    kh = draw(st.integers(1, min(4, h + 2 * ph)))
    kw = draw(st.integers(1, min(4, w + 2 * pw)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n = draw(st.integers(1, 2))
    return {
        "x": draw(S.arrays((n, c_in, h, w))),
        "w": draw(S.arrays((c_out, c_in // g, kh, kw))),
        "b": draw(S.arrays((c_out,))),
        "stride": stride,
        "padding": (ph, pw),
        "padding_mode": mode,
        "groups": g,
    }


def _options(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("stride", "padding", "padding_mode", "groups")}


def rounding_bound(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, case: dict[str, Any]
) -> torch.Tensor:
    """A forward error bound for a sum of ``n`` products in a dtype with unit roundoff ``u`` and
    smallest normal number ``λ``: ``|ŷ − y| ≤ γ · (|w| ⋆ |x̃| + |b|) + (n + 2)λ`` with
    ``γ = 2(n + 2)u`` (Higham, Accuracy and Stability
    of Numerical Algorithms, §3.1: ``γ_n = nu/(1 − nu)``; the extra terms cover rounding of the
    output to the dtype and a sum that the backend may accumulate in any order)."""
    info = torch.finfo(x.dtype)
    u = info.eps / 2
    n = w.shape[1] * w.shape[2] * w.shape[3] + 1
    opts = _options(case)
    mag = oracle(x.double().abs(), w.double().abs(), b.double().abs(), **opts)
    return 2 * (n + 2) * u * mag + (n + 2) * info.tiny  # + underflow: λ per rounded operation


# =================================================================================================
# conv.sparse-tied-linear: the implementation equals F.conv2d (forward and backward)
# =================================================================================================


@pytest.mark.claim(CLAIM_MAT)
@settings(deadline=None)
@given(case=conv_cases())
@example(
    case={
        "x": np.array([[[[1.5]]]]),
        "w": np.array([[[[1.40129846e-45]]]]),  # rounds to a float32 subnormal
        "b": np.zeros(1),
        "stride": (1, 1),
        "padding": (0, 0),
        "padding_mode": "zeros",
        "groups": 1,
    }
)
@example(
    case={
        "x": np.arange(16.0).reshape(1, 1, 4, 4),
        "w": np.ones((1, 1, 3, 3)),
        "b": np.zeros(1),
        "stride": (1, 1),
        "padding": (1, 1),
        "padding_mode": "circular",
        "groups": 1,
    }
)
def test_forward_equals_conv2d(
    conv: Conv, device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """In every dtype, within a derived rounding bound of F.conv2d in float64 on the same
    (rounded) inputs."""
    x, w, b = (S.to_torch(case[k], device, dtype) for k in ("x", "w", "b"))
    y = conv(x, w, b, **_options(case))
    assert y.dtype == dtype and y.device.type == torch.device(device).type
    exact = oracle(x.double(), w.double(), b.double(), **_options(case))
    bound = rounding_bound(x, w, b, case)
    err = (y.double() - exact).abs()
    assert y.shape == exact.shape, f"{CLAIM_MAT}: shape {tuple(y.shape)} != {tuple(exact.shape)}"
    ok = bool((err <= bound).all())
    assert ok, failure(
        CLAIM_MAT,
        device,
        dtype,
        f"conv2d vs F.conv2d, {case}",
        float(err.max()),
        "2(n+2)u·|w|⋆|x| + (n+2)λ",
    )


@pytest.mark.claim(CLAIM_MAT)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=conv_cases())
def test_backward_equals_conv2d(
    conv: Conv, device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Gradients with respect to x, w and b under a random upstream gradient, in float64."""
    leaves = [S.to_torch(case[k], device, dtype).requires_grad_() for k in ("x", "w", "b")]
    ours = conv(*leaves, **_options(case))
    ref_leaves = [t.detach().clone().requires_grad_() for t in leaves]
    ref = oracle(*ref_leaves, **_options(case))
    check_close(ours, ref, EXACT, CLAIM_MAT, device, "forward, float64")
    g = torch.randn(ours.shape, device=device, dtype=dtype)
    grads = torch.autograd.grad(ours, leaves, g)
    ref_grads = torch.autograd.grad(ref, ref_leaves, g)
    for name, a, r in zip(("x", "w", "b"), grads, ref_grads, strict=True):
        check_close(a, r, EXACT, CLAIM_MAT, device, f"d/d{name} vs F.conv2d's, {case}")


@pytest.mark.claim(CLAIM_MAT)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("mode", C.PADDING_MODES)
def test_module_equals_torch_conv2d(device: str, dtype: torch.dtype, mode: str) -> None:
    """The module form, against torch.nn.Conv2d with the same weights (forward and backward)."""
    g = torch.Generator().manual_seed(3)
    ours = C.Conv2d(
        4,
        6,
        (3, 2),
        stride=(2, 1),
        padding=(1, 2),
        padding_mode=mode,
        groups=2,
        generator=g,
        device=device,
        dtype=dtype,
    )
    ref = torch.nn.Conv2d(
        4,
        6,
        (3, 2),
        stride=(2, 1),
        padding=(1, 2),
        padding_mode=mode,
        groups=2,
        device=device,
        dtype=dtype,
    )
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        assert ours.bias is not None and ref.bias is not None
        ref.bias.copy_(ours.bias)
    x = torch.randn(3, 4, 7, 5, device=device, dtype=dtype)
    y, r = ours(x), ref(x)
    check_close(y, r, EXACT, CLAIM_MAT, device, f"Conv2d vs nn.Conv2d ({mode})")
    y.square().sum().backward()
    r.square().sum().backward()
    assert ours.weight.grad is not None and ref.weight.grad is not None
    check_close(ours.weight.grad, ref.weight.grad, EXACT, CLAIM_MAT, device, "weight gradient")
    # The initialization scale is nn.Conv2d's bound 1/√fan_in, fan_in = C_in/G · k_h k_w = 12:
    # every |w| ≤ bound, and the largest of the 72 entries is above 0.8·bound (for U(−1, 1)
    # draws all below 0.8 has chance 0.8^72 ≈ 1e-7; with fan_in = C_in k_h k_w = 24 the largest
    # could not exceed 0.71·bound).
    bound = 1 / math.sqrt(2 * 3 * 2)
    big = float(ours.weight.detach().abs().max())
    assert big >= 0.8 * bound, failure(
        CLAIM_MAT,
        device,
        dtype,
        "initial weights too small for fan_in = C_in/G · k_h k_w",
        big,
        f"max |w| ≥ {0.8 * bound:.4f}",
    )
    assert float(ours.weight.detach().abs().max()) <= bound, failure(
        CLAIM_MAT,
        device,
        dtype,
        "initial weights exceed 1/√fan_in",
        float(ours.weight.detach().abs().max()),
        f"≤ {bound:.4f}",
    )


# =================================================================================================
# conv.sparse-tied-linear: the explicit matrix
# =================================================================================================


def loop_matrix(
    w: np.ndarray[Any, Any],
    h: int,
    wd: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    mode: str,
) -> np.ndarray[Any, Any]:
    """The matrix of a convolution written entry by entry from its definition (the test's own
    construction, independent of the implementation): row ``(o, i, j)``, column ``(c, r, q)``."""
    c_out, c_in, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    m = np.zeros((c_out * ho * wo, c_in * h * wd))
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                for c in range(c_in):
                    for a in range(kh):
                        for b in range(kw):
                            r, q = sh * i + a - ph, sw * j + b - pw
                            if mode == "circular":
                                r, q = r % h, q % wd
                            elif not (0 <= r < h and 0 <= q < wd):
                                continue  # the tap falls on the zero padding
                            m[(o * ho + i) * wo + j, (c * h + r) * wd + q] += w[o, c, a, b]
    return m


@pytest.mark.claim(CLAIM_MAT)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(case=conv_cases(groups=False, max_side=5))
@example(  # zero padding 3 above a 1-row input: a tap lies 3 rows, more than all of x, above it
    case={
        "x": np.arange(2.0).reshape(1, 1, 1, 2),
        "w": np.arange(1.0, 7.0).reshape(1, 1, 3, 2),
        "b": np.zeros(1),
        "stride": (1, 1),
        "padding": (3, 0),
        "padding_mode": "zeros",
    }
)
@example(  # zero padding 3 left of a one-pixel input: the column index, too, must be clamped
    case={
        "x": np.ones((1, 1, 1, 1)),
        "w": np.arange(1.0, 4.0).reshape(1, 1, 1, 3),
        "b": np.zeros(1),
        "stride": (1, 1),
        "padding": (0, 3),
        "padding_mode": "zeros",
    }
)
def test_matrix_is_the_convolution(device: str, dtype: torch.dtype, case: dict[str, Any]) -> None:
    """M equals the entry-by-entry construction; x ↦ x Mᵀ + b is the convolution; a Linear layer
    loaded with M computes it; and the gradient through M collects the tied entries."""
    x, w, b = (S.to_torch(case[k], device, dtype) for k in ("x", "w", "b"))
    opts = {k: case[k] for k in ("stride", "padding", "padding_mode")}
    h, wd = x.shape[2:]
    m = C.conv_matrix(w, (h, wd), **opts)
    ref_m = S.to_torch(
        loop_matrix(case["w"], h, wd, case["stride"], case["padding"], case["padding_mode"]),
        device,
        dtype,
    )
    check_close(m, ref_m, EXACT, CLAIM_MAT, device, f"conv_matrix vs its definition, {case}")
    y = C.conv2d(x, w, b, **opts)
    ho, wo = y.shape[2:]
    b_rep = b.repeat_interleave(ho * wo)  # b[o] at every output position (o, i, j)
    check_close(
        x.reshape(x.shape[0], -1) @ m.T + b_rep,
        y.reshape(y.shape[0], -1),
        EXACT,
        CLAIM_MAT,
        device,
        "x Mᵀ + b vs conv2d",
    )
    dense = Linear(m.shape[1], m.shape[0], device=device, dtype=dtype).load(m, b_rep)
    check_close(
        dense(x.reshape(x.shape[0], -1)),
        y.reshape(y.shape[0], -1),
        EXACT,
        CLAIM_MAT,
        device,
        "a fully connected layer with weight M vs conv2d",
    )
    # Tied weights: the gradient of ⟨g, x Mᵀ⟩ with respect to w sums over every entry tied to w.
    wg = w.clone().requires_grad_()
    g = torch.randn(y.shape[0], m.shape[0], device=device, dtype=dtype)
    (grad_m,) = torch.autograd.grad(
        (x.reshape(x.shape[0], -1) @ C.conv_matrix(wg, (h, wd), **opts).T * g).sum(), wg
    )
    wg2 = w.clone().requires_grad_()
    (grad_c,) = torch.autograd.grad(
        (oracle(x, wg2, None, **{**opts, "groups": 1}).reshape(g.shape) * g).sum(), wg2
    )
    check_close(grad_m, grad_c, EXACT, CLAIM_MAT, device, "gradient through M vs F.conv2d's")


def _distinct_kernel(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Kernel entries 1, 2, …, n in a random order: every entry is non-zero and identifiable."""
    n = math.prod(shape)
    return (torch.randperm(n, generator=generator).to(torch.float64) + 1).reshape(shape)


@pytest.mark.claim(CLAIM_MAT)
@settings(deadline=None, max_examples=30)
@given(
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    h=st.integers(3, 7),
    wd=st.integers(3, 7),
    k=st.integers(1, 3),
    s=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_matrix_is_sparse_and_tied(
    c_in: int, c_out: int, h: int, wd: int, k: int, s: int, seed: int
) -> None:
    """Without padding: every row holds exactly the C_in k² kernel entries of one output
    position, every kernel entry appears once per output position (H′W′ times), nothing else
    is non-zero; so M has C_out H′W′ · C_in k² non-zeros among (C_out H′W′)(C_in H W) entries
    and C_out C_in k² distinct values."""
    w = _distinct_kernel((c_out, c_in, k, k), torch.Generator().manual_seed(seed))
    m = C.conv_matrix(w, (h, wd), stride=s)
    ho, wo = (h - k) // s + 1, (wd - k) // s + 1
    nz_rows = (m != 0).sum(dim=1)
    assert bool((nz_rows == c_in * k * k).all()), failure(
        CLAIM_MAT, "cpu", "float64", "non-zeros per row", float(nz_rows.max()), f"= {c_in * k * k}"
    )
    values, counts = torch.unique(m[m != 0], return_counts=True)
    assert values.tolist() == sorted(w.flatten().tolist()), failure(
        CLAIM_MAT,
        "cpu",
        "float64",
        "the non-zero values of M are not the kernel entries",
        float(len(values)),
        f"{w.numel()} values",
    )
    assert bool((counts == ho * wo).all()), failure(
        CLAIM_MAT,
        "cpu",
        "float64",
        "a kernel entry is not used once per output position",
        float((counts - ho * wo).abs().max()),
        f"{ho * wo} uses each",
    )
    # Row (o, i, j) of M holds w[o] at the window of (i, j), the same pattern in every row.
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                row = m[(o * ho + i) * wo + j].reshape(c_in, h, wd)
                window = row[:, s * i : s * i + k, s * j : s * j + k]
                assert torch.equal(window, w[o]) and int((row != 0).sum()) == c_in * k * k


@pytest.mark.claim(CLAIM_MAT)
def test_conv_matrix_figure(evidence: Any) -> None:
    """The figure: the matrix of a 3×3 convolution on a 6×6 image, with and without padding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = _distinct_kernel((1, 1, 3, 3), torch.Generator().manual_seed(0))
    valid = C.conv_matrix(w, (6, 6))
    circ = C.conv_matrix(w, (6, 6), padding=1, padding_mode="circular")
    assert valid.shape == (16, 36) and circ.shape == (36, 36)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 1]})
    cmap = plt.get_cmap("tab10", 9)
    for ax, m, title in (
        (axes[0], valid, "no padding: 16 × 36"),
        (axes[1], circ, "circular padding 1: 36 × 36"),
    ):
        img = np.ma.masked_equal(m.numpy(), 0)
        im = ax.imshow(img, cmap=cmap, vmin=0.5, vmax=9.5, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("input pixel (row-major)")
        ax.set_ylabel("output position (row-major)")
    fig.suptitle("The matrix M of a 3×3 convolution on a 6×6 image", fontsize=10)
    fig.colorbar(im, ax=axes, ticks=range(1, 10), label="kernel entry (white: 0)")
    evidence.figure(fig, "conv-matrix")
    plt.close(fig)
    evidence.value("valid_nonzeros", int((valid != 0).sum()))
    evidence.value("valid_entries", valid.numel())
    assert int((valid != 0).sum()) == 16 * 9


@pytest.mark.claim(CLAIM_MAT)
def test_bad_inputs() -> None:
    x = torch.randn(1, 2, 4, 4)
    w = torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="kernel_size must be at most the padded input size"):
        C.conv2d(x, torch.randn(3, 2, 7, 3), padding=1)
    with pytest.raises(ValueError, match="kernel_size must be at most the padded input size"):
        C.conv_matrix(torch.randn(3, 2, 5, 1), (4, 4))
    with pytest.raises(ValueError, match=r"^kernel_size must be at most the padded input size 4 "):
        C.conv_matrix(torch.randn(3, 2, 1, 5), (4, 4))  # the width: the second pair entry
    for bad in (0, -1, (1, 0)):
        with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
            C.conv2d(x, w, stride=bad)
        with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
            C.Conv2d(2, 3, 3, stride=bad)
        with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
            C.conv_matrix(w, (4, 4), stride=bad)
    with pytest.raises(TypeError, match="stride must be an integer"):
        C.conv2d(x, w, stride=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding must be an integer ≥ 0"):
        C.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        C.conv2d(x, w, padding_mode="reflect")
    with pytest.raises(ValueError, match="x must be 4-D"):
        C.conv2d(torch.randn(2, 4, 4), w)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        C.conv2d(torch.ones(1, 2, 4, 4, dtype=torch.long), w)
    with pytest.raises(ValueError, match="weight must be 4-D"):
        C.conv2d(x, torch.randn(3, 2, 3))
    with pytest.raises(ValueError, match="weight must have shape"):
        C.conv2d(x, torch.randn(3, 4, 3, 3))
    with pytest.raises(ValueError, match="bias must have shape"):
        C.conv2d(x, w, torch.randn(2))
    with pytest.raises(TypeError, match="weight must have x's dtype"):
        C.conv2d(x, w.double())
    with pytest.raises(ValueError, match="groups must divide"):
        C.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="input_size must be a pair"):
        C.conv_matrix(w, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bias must be a bool"):
        C.Conv2d(2, 3, 3, bias=1)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_MAT)
def test_output_size_formula_and_int_arguments() -> None:
    """`conv_output_size` is H′ = ⌊(H + 2p − k)/s⌋ + 1 (the shape `F.conv2d` gives, the oracle),
    with stride 1 and padding 0 by default; a kernel larger than the padded input is refused.
    Arguments that are one integer (a size, a channel count, groups) refuse a pair instead of
    silently reading its first entry."""
    for size in range(1, 7):
        for k in range(1, 5):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    if k > size + 2 * p:
                        with pytest.raises(ValueError, match="kernel must be at most"):
                            C.conv_output_size(size, k, s, p)
                        continue
                    y = F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), None, s, p)
                    want = y.shape[2]
                    assert C.conv_output_size(size, k, s, p) == want == (size + 2 * p - k) // s + 1
                    kw = {"stride": s, "padding": p}
                    assert C.conv_output_size(size=size, kernel=k, **kw) == want
    assert C.conv_output_size(5, 3) == 3  # stride 1, padding 0: ⌊(5 − 3)/1⌋ + 1
    assert C.conv_output_size(5, 3, 2) == 2 and C.conv_output_size(5, 3, padding=1) == 5
    with pytest.raises(ValueError, match="kernel must be at most the padded input size 2"):
        C.conv_output_size(2, 3)  # padding 0 by default: the 3-tap kernel does not fit
    x, w = torch.randn(1, 2, 4, 4), torch.randn(2, 1, 3, 3)
    refused: list[tuple[str, Callable[[], Any]]] = [
        ("size", lambda: C.conv_output_size((5, 5), 3)),  # type: ignore[arg-type]
        ("kernel", lambda: C.conv_output_size(5, (3, 3))),  # type: ignore[arg-type]
        ("stride", lambda: C.conv_output_size(5, 3, (1, 1))),  # type: ignore[arg-type]
        ("padding", lambda: C.conv_output_size(5, 3, 1, (0, 0))),  # type: ignore[arg-type]
        ("in_channels", lambda: C.Conv2d((2, 3), 4, 3)),  # type: ignore[arg-type]
        ("out_channels", lambda: C.Conv2d(2, (4, 2), 3)),  # type: ignore[arg-type]
        ("groups", lambda: C.Conv2d(2, 4, 3, groups=(2, 1))),  # type: ignore[arg-type]
        ("groups", lambda: C.conv2d(x, w, groups=(2, 1))),  # type: ignore[arg-type]
    ]
    for name, call in refused:
        with pytest.raises(TypeError, match=f"^{name} must be an integer ≥ [01], got tuple"):
            call()


# =================================================================================================
# conv.parameter-count
# =================================================================================================


@pytest.mark.claim(CLAIM_COUNT)
@settings(deadline=None, max_examples=40)
@given(
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    h=st.integers(3, 9),
    wd=st.integers(3, 9),
    k=st.integers(1, 3),
    bias=st.booleans(),
)
def test_parameter_counts(c_in: int, c_out: int, h: int, wd: int, k: int, bias: bool) -> None:
    """The layers' own parameter counts equal the formulas; M's non-zeros show the two savings:
    local connectivity (C_out H′W′ · C_in k² weights) and sharing (C_out C_in k² values)."""
    ho, wo = h - k + 1, wd - k + 1
    layer = C.Conv2d(c_in, c_out, k, bias=bias)
    n_conv = sum(p.numel() for p in layer.parameters())
    dense = Linear(c_in * h * wd, c_out * ho * wo, bias=bias)
    n_dense = sum(p.numel() for p in dense.parameters())
    assert n_conv == C.conv_parameter_count(c_in, c_out, k, bias=bias)
    assert n_conv == c_out * c_in * k * k + (c_out if bias else 0)
    assert n_dense == C.dense_parameter_count(c_in, h, wd, c_out, ho, wo, bias=bias)
    assert n_dense == (c_in * h * wd) * (c_out * ho * wo) + (c_out * ho * wo if bias else 0)
    m = C.conv_matrix(
        _distinct_kernel((c_out, c_in, k, k), torch.Generator().manual_seed(0)), (h, wd)
    )
    assert int((m != 0).sum()) == c_out * ho * wo * c_in * k * k  # local connectivity
    assert torch.unique(m[m != 0]).numel() == c_out * c_in * k * k  # weight sharing


@pytest.mark.claim(CLAIM_COUNT)
def test_parameter_counts_at_one_and_int_arguments() -> None:
    """The formulas at their smallest arguments (a 1 × 1 image, one channel, a 1 × 1 kernel:
    C_in·H·W = 1 and so on) and with a bias off; a pair where one integer is expected is refused
    by name instead of read as its first entry."""
    assert C.conv_parameter_count(1, 1, 1) == 1 + 1  # C_out·C_in·k² + C_out
    assert C.conv_parameter_count(2, 3, 1, bias=False) == 3 * 2
    assert C.dense_parameter_count(1, 1, 1, 1, 1, 1) == 1 * 1 + 1
    assert C.dense_parameter_count(3, 1, 1, 4, 1, 1) == 3 * 4 + 4
    assert C.dense_parameter_count(3, 1, 2, 4, 2, 1, bias=False) == (3 * 1 * 2) * (4 * 2 * 1)
    assert C.dense_parameter_count(3, 2, 1, 4, 1, 2) == (3 * 2 * 1) * (4 * 1 * 2) + 4 * 1 * 2
    for name, pair in (("c_in", (3, 5)), ("c_out", (4, 6)), ("k", (3, 1))):
        args = {"c_in": 3, "c_out": 4, "k": 3, name: pair}
        with pytest.raises(TypeError, match=f"^{name} must be an integer ≥ 1, got tuple"):
            C.conv_parameter_count(**args)
    for name in ("c_in", "h", "w", "c_out", "h_out", "w_out"):
        dense = {"c_in": 3, "h": 5, "w": 5, "c_out": 4, "h_out": 3, "w_out": 3, name: (2, 1)}
        with pytest.raises(TypeError, match=f"^{name} must be an integer ≥ 1, got tuple"):
            C.dense_parameter_count(**dense)


@pytest.mark.claim(CLAIM_COUNT)
def test_parameter_count_example(evidence: Any) -> None:
    """3 → 8 channels, 10 × 10 input, k = 3, no padding (8 × 8 output): 224 vs 154,112."""
    conv_n = C.conv_parameter_count(3, 8, 3)
    dense_n = C.dense_parameter_count(3, 10, 10, 8, 8, 8)
    layer = C.Conv2d(3, 8, 3)
    assert layer(torch.zeros(1, 3, 10, 10)).shape == (1, 8, 8, 8)
    assert sum(p.numel() for p in layer.parameters()) == conv_n == 224
    assert sum(p.numel() for p in Linear(300, 512).parameters()) == dense_n == 154_112
    m = C.conv_matrix(layer.weight.detach(), (10, 10))
    local = int((m != 0).sum())
    assert local == 13_824  # 512 rows × 27 taps: connectivity kept local, no sharing yet
    evidence.value("conv_parameters", conv_n)
    evidence.value("dense_parameters", dense_n)
    evidence.value("local_unshared_weights", local)
    evidence.value("ratio", round(dense_n / conv_n, 1))


# =================================================================================================
# conv.translation-equivariance
# =================================================================================================


def translate(x: torch.Tensor, u: int, v: int) -> torch.Tensor:
    """``(T_{u,v} x)[.., i, j] = x[.., i − u, j − v]``, zero where ``(i − u, j − v)`` falls
    outside the image (a shift that pushes pixels out and zeros in)."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    rs, re = max(u, 0), min(h, h + u)
    cs, ce = max(v, 0), min(w, w + v)
    if rs < re and cs < ce:
        out[..., rs:re, cs:ce] = x[..., rs - u : re - u, cs - v : ce - v]
    return out


@st.composite
def equivariance_cases(draw: st.DrawFn) -> dict[str, Any]:
    c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = draw(st.sampled_from([1, 3, 5]))
    h, w = draw(st.integers(k, 8)), draw(st.integers(k, 8))
    return {
        "x": draw(S.arrays((2, c_in, h, w))),
        "w": draw(S.arrays((c_out, c_in, k, k))),
        "b": draw(S.arrays((c_out,))),
        "shift": (draw(st.integers(-h, h)), draw(st.integers(-w, w))),
    }


@pytest.mark.claim(CLAIM_EQ)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=equivariance_cases())
def test_circular_padding_is_exactly_equivariant(
    conv: Conv, device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Stride 1, odd k, circular padding (k − 1)/2: conv(roll(x)) = roll(conv(x)) everywhere."""
    x, w, b = (S.to_torch(case[k], device, dtype) for k in ("x", "w", "b"))
    p = w.shape[-1] // 2
    u, v = case["shift"]
    y = conv(x, w, b, padding=p, padding_mode="circular")
    assert y.shape[-2:] == x.shape[-2:]
    shifted = conv(torch.roll(x, (u, v), dims=(2, 3)), w, b, padding=p, padding_mode="circular")
    check_close(
        shifted,
        torch.roll(y, (u, v), dims=(2, 3)),
        EXACT,
        CLAIM_EQ,
        device,
        f"circular shift {(u, v)}",
    )


@pytest.mark.claim(CLAIM_EQ)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=equivariance_cases(), pad=st.integers(0, 3))
def test_zero_padding_is_equivariant_in_the_interior(
    conv: Conv, device: str, dtype: torch.dtype, case: dict[str, Any], pad: bool
) -> None:
    """Stride 1, zero padding p ∈ {0, …, 3}, a zero-filling shift T: (conv T x)[i, j] =
    (conv x)[i − u, j − v] at every output (i, j) whose window lies inside the image
    (p ≤ i ≤ H − k + p, likewise j) and whose source (i − u, j − v) is an output position."""
    x, w, b = (S.to_torch(case[k], device, dtype) for k in ("x", "w", "b"))
    k = w.shape[-1]
    p = pad
    u, v = case["shift"]
    y = conv(x, w, b, padding=p)
    ys = conv(translate(x, u, v), w, b, padding=p)
    h, wd = x.shape[-2:]
    ho, wo = y.shape[-2:]
    for i in range(p, h - k + p + 1):
        for j in range(p, wd - k + p + 1):
            if 0 <= i - u < ho and 0 <= j - v < wo:
                check_close(
                    ys[..., i, j],
                    y[..., i - u, j - v],
                    EXACT,
                    CLAIM_EQ,
                    device,
                    f"interior output ({i}, {j}), shift {(u, v)}, padding {p}",
                )


@pytest.mark.claim(CLAIM_EQ)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(
    w=S.arrays((1, 1, 3, 3), min_abs=0.1),
    h=st.integers(4, 8),
    wd=st.integers(4, 8),
    u=st.sampled_from([-1, 1]),
    v=st.sampled_from([-1, 1]),
)
def test_zero_padding_breaks_equivariance_at_the_border(
    conv: Conv,
    device: str,
    dtype: torch.dtype,
    w: np.ndarray[Any, Any],
    h: int,
    wd: int,
    u: int,
    v: int,
) -> None:
    """The naive statement fails at the border: a pixel in the corner that the shift pushes out
    of the image leaves conv(T x) = 0 everywhere, while T conv(x) keeps kernel entries."""
    wt = S.to_torch(w, device, dtype)
    x = torch.zeros(1, 1, h, wd, device=device, dtype=dtype)
    x[0, 0, 0 if u < 0 else h - 1, 0 if v < 0 else wd - 1] = 1.0  # pushed out by (u, v)
    y = conv(x, wt, None, padding=1)
    ys = conv(translate(x, u, v), wt, None, padding=1)
    assert float(ys.abs().max()) == 0.0
    gap = float((ys - translate(y, u, v)).abs().max())
    assert gap >= 0.1, failure(
        CLAIM_EQ, device, dtype, "the border counterexample vanished", gap, "≥ min |w| = 0.1"
    )


@pytest.mark.claim(CLAIM_EQ)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(
    s=st.integers(2, 3),
    hm=st.integers(2, 3),
    wm=st.integers(2, 3),
    k=st.sampled_from([1, 3]),
    data=st.data(),
)
def test_stride_commutes_only_with_multiples_of_the_stride(
    conv: Conv,
    device: str,
    dtype: torch.dtype,
    s: int,
    hm: int,
    wm: int,
    k: int,
    data: st.DataObject,
) -> None:
    """Stride s, circular padding (k − 1)/2, H and W multiples of s (output H/s × W/s):
    a shift by (s u, s v) shifts the output by (u, v); a shift by 1 row matches no output
    shift (the delta-image counterexample: its output rows come from different kernel rows)."""
    h, wd = s * hm, s * wm
    x = S.to_torch(data.draw(S.arrays((1, 2, h, wd))), device, dtype)
    w = S.to_torch(data.draw(S.arrays((2, 2, k, k), min_abs=0.1)), device, dtype)
    u, v = data.draw(st.integers(-hm, hm)), data.draw(st.integers(-wm, wm))
    p = k // 2
    y = conv(x, w, None, stride=s, padding=p, padding_mode="circular")
    assert y.shape[-2:] == (hm, wm)
    ys = conv(
        torch.roll(x, (s * u, s * v), dims=(2, 3)),
        w,
        None,
        stride=s,
        padding=p,
        padding_mode="circular",
    )
    check_close(
        ys,
        torch.roll(y, (u, v), dims=(2, 3)),
        EXACT,
        CLAIM_EQ,
        device,
        f"shift ({s * u}, {s * v}) with stride {s}",
    )
    # Counterexample: a delta image at a pixel (r, q) ≡ (0, 0) (mod s), shifted by one row, and
    # a kernel of distinct entries ±0.1·(1, 2, …, k²) (any two differ by at least 0.1).
    r, q = s * data.draw(st.integers(0, hm - 1)), s * data.draw(st.integers(0, wm - 1))
    delta = torch.zeros(1, 1, h, wd, device=device, dtype=dtype)
    delta[0, 0, r, q] = 1.0
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    signs = torch.randint(0, 2, (1, 1, k, k), generator=gen).to(dtype) * 2 - 1
    w1 = (0.1 * _distinct_kernel((1, 1, k, k), gen).to(dtype) * signs).to(device)
    yd = conv(delta, w1, None, stride=s, padding=p, padding_mode="circular")
    yd1 = conv(
        torch.roll(delta, (1, 0), dims=(2, 3)),
        w1,
        None,
        stride=s,
        padding=p,
        padding_mode="circular",
    )
    gap = min(
        float((yd1 - torch.roll(yd, (a, b), dims=(2, 3))).abs().max())
        for a in range(hm)
        for b in range(wm)
    )
    assert gap >= 0.1 - 1e-12, failure(
        CLAIM_EQ,
        device,
        dtype,
        f"a one-row shift with stride {s} matched an output shift",
        gap,
        "≥ 0.1 (distinct kernel entries) for every output shift",
    )


@pytest.mark.claim(CLAIM_COUNT)
@settings(deadline=None, max_examples=20)
@given(g=st.integers(1, 3), a=st.integers(1, 3), b=st.integers(1, 3), k=st.integers(1, 3))
def test_grouped_parameter_count(g: int, a: int, b: int, k: int) -> None:
    """With G groups the kernel has C_out (C_in/G) k² entries, plus C_out biases."""
    c_in, c_out = g * a, g * b
    layer = C.Conv2d(c_in, c_out, k, groups=g)
    assert layer.weight.shape == (c_out, c_in // g, k, k)
    assert sum(p.numel() for p in layer.parameters()) == c_out * (c_in // g) * k * k + c_out


#: Each statistical test's chance of failing by bad luck per run (spec/computation/reliability.md):
#: the largest of n independent |U(−1, 1)| stays below 0.8 with chance 0.8^n.
FALSE_FAILURES = {"test_module_equals_torch_conv2d": 0.8**72, "test_bias_init_scale": 0.8**64}


@pytest.mark.claim(CLAIM_MAT)
def test_bias_init_scale(evidence: Any) -> None:
    """The bias starts as U(−1/√fan_in, 1/√fan_in) too (torch.nn.Conv2d's scale), fan_in =
    C_in/G · k_h k_w = 18: all 64 entries within the bound and the largest above 0.8 of it (all
    below has chance 0.8^64 ≈ 6e-7 for a correct draw; the generator is fixed)."""
    layer = C.Conv2d(4, 64, 3, groups=2, generator=torch.Generator().manual_seed(5))
    assert layer.bias is not None
    bound = 1 / math.sqrt(2 * 3 * 3)
    big = float(layer.bias.detach().abs().max())
    assert 0.8 * bound <= big <= bound, failure(
        CLAIM_MAT, "cpu", "float32", "bias initialization scale", big, f"in [0.8, 1]·{bound:.4f}"
    )
    evidence.value("false_failure", FALSE_FAILURES["test_bias_init_scale"])


@pytest.mark.claim(CLAIM_MAT)
def test_bad_inputs_bias_and_flags() -> None:
    """A bias of another dtype and bools given as sizes are refused by name, not promoted."""
    x, w = torch.randn(1, 2, 4, 4), torch.randn(3, 2, 3, 3)
    with pytest.raises(TypeError, match="bias must have x's dtype"):
        C.conv2d(x, w, torch.randn(3, dtype=torch.float64))
    for name in ("stride", "padding"):
        with pytest.raises(TypeError, match=f"{name} must be an integer"):
            C.conv2d(x, w, **{name: True})
    with pytest.raises(TypeError, match="kernel_size must be an integer"):
        C.max_pool2d(x, True)  # type: ignore[arg-type]


# =================================================================================================
# conv.fast-form: conv2d(..., fast=True) equals the plain form (values and gradients)
# =================================================================================================

CLAIM_FAST = "conv.fast-form"


def _plain_and_fast(
    case: dict[str, Any], device: str, dtype: torch.dtype, bias: bool, gy: torch.Tensor | None
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(plain outputs and gradients, fast ones, their magnitudes): `[y, ∂/∂x, ∂/∂w, ∂/∂b]` for
    upstream gradient `gy`, and the same with |x|, |w|, |b|, |gy| through the plain form (every
    product's size, the scale of a sum's rounding)."""
    names = ("x", "w", "b") if bias else ("x", "w")
    out = []
    for fast, absolute in ((False, False), (True, False), (False, True)):
        leaves = [S.to_torch(case[k], device, dtype) for k in names]
        leaves = [(t.abs() if absolute else t).requires_grad_() for t in leaves]
        y = (
            C.conv2d(*leaves, **_options(case), fast=fast)
            if bias
            else C.conv2d(leaves[0], leaves[1], None, **_options(case), fast=fast)
        )
        g = torch.ones_like(y) if gy is None else gy.to(device=device, dtype=dtype)
        grads = torch.autograd.grad(y, leaves, g.abs() if absolute else g)
        out.append([y.detach(), *grads])
    return out[0], out[1], out[2]


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(case=conv_cases(), bias=st.booleans(), block=st.sampled_from([1, 40, 1 << 20]))
@example(
    case={
        "x": np.arange(32.0).reshape(2, 1, 4, 4) / 10,
        "w": np.arange(9.0).reshape(1, 1, 3, 3) - 4,
        "b": np.ones(1),
        "stride": (2, 1),
        "padding": (1, 2),
        "padding_mode": "zeros",
        "groups": 1,
    },
    bias=True,
    block=1,
)
def test_fast_conv_equals_plain(
    device: str, dtype: torch.dtype, case: dict[str, Any], bias: bool, block: int
) -> None:
    """Drawn shapes, strides, paddings (zeros and circular), groups, with and without bias, and
    blocks of one image or several: the fast form's output and its gradients with respect to x,
    w and b equal the plain form's within 4(n + 2)u times the magnitudes of the summands."""
    old = C.BLOCK_ENTRIES
    C.BLOCK_ENTRIES = block  # 1: one image per block; 40: a block per few images; 2^20: one
    try:
        shape = S.to_torch(case["x"], device, dtype)
        y0 = C.conv2d(shape, S.to_torch(case["w"], device, dtype), None, **_options(case))
        gy = torch.randn(y0.shape, dtype=torch.float64)
        plain, fast, mag = _plain_and_fast(case, device, dtype, bias, gy)
    finally:
        C.BLOCK_ENTRIES = old
    w = np.shape(case["w"])
    n_terms = w[0] * w[1] * w[2] * w[3] * 9 + y0.numel() + 1  # more than any one sum has
    u = torch.finfo(dtype).eps / 2
    for name, a, b, m in zip(("y", "d/dx", "d/dw", "d/db"), fast, plain, mag, strict=False):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{CLAIM_FAST}: {name} shape/dtype"
        bound = 4 * (n_terms + 2) * u * m + (n_terms + 2) * torch.finfo(dtype).tiny
        err = (a - b).abs()
        assert bool((err <= bound).all()), failure(
            CLAIM_FAST,
            device,
            dtype,
            f"{name}, fast vs plain, {case}",
            float(err.max()),
            "4(n+2)u·mag",
        )


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
def test_fast_conv_partial_gradients_module_and_limits(device: str, dtype: torch.dtype) -> None:
    """Only some inputs requiring gradients; the module form Conv2d(fast=True) against the plain
    module with the same weights; double backward refused; `fast` takes a bool only."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 6, 5, generator=g, dtype=dtype).to(device)
    w = torch.randn(6, 2, 3, 2, generator=g, dtype=dtype).to(device)
    b = torch.randn(6, generator=g, dtype=dtype).to(device)
    opts = {"stride": (1, 2), "padding": (2, 1), "groups": 2}
    for wants in ((True, False, False), (False, True, False), (False, False, True)):
        leaves = [t.clone().requires_grad_(r) for t, r in zip((x, w, b), wants, strict=True)]
        ref = [t.clone().requires_grad_(r) for t, r in zip((x, w, b), wants, strict=True)]
        y = C.conv2d(*leaves, **opts, fast=True)
        y_ref = C.conv2d(*ref, **opts)
        check_close(y, y_ref, EXACT, CLAIM_FAST, device, f"forward, requires_grad={wants}")
        gy = torch.randn(y.shape, generator=g, dtype=dtype).to(device)
        (got,) = torch.autograd.grad(y, [t for t in leaves if t.requires_grad], gy)
        (want,) = torch.autograd.grad(y_ref, [t for t in ref if t.requires_grad], gy)
        check_close(got, want, EXACT, CLAIM_FAST, device, f"gradient, requires_grad={wants}")
    kw: dict[str, Any] = {
        "stride": (2, 1),
        "padding": 1,
        "groups": 2,
        "device": device,
        "dtype": dtype,
    }
    plain = C.Conv2d(4, 6, (3, 2), generator=torch.Generator().manual_seed(1), **kw)
    fast = C.Conv2d(4, 6, (3, 2), generator=torch.Generator().manual_seed(1), fast=True, **kw)
    assert "fast=True" in repr(fast) and "fast" not in repr(plain)
    xs = x.clone().requires_grad_()
    y_fast, y_plain = fast(xs), plain(x)
    check_close(y_fast, y_plain, EXACT, CLAIM_FAST, device, "Conv2d(fast=True) vs Conv2d")
    (y_fast**2).sum().backward()
    (y_plain**2).sum().backward()
    for p, q in zip(fast.parameters(), plain.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        check_close(p.grad, q.grad, EXACT, CLAIM_FAST, device, "module parameter gradients")
    xs = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(C.conv2d(xs, w, b, fast=True, **opts).sum(), xs, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gx.sum(), xs)  # no second derivative
    with pytest.raises(TypeError, match="fast must be a bool"):
        C.conv2d(x, w, b, **opts, fast=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fast must be a bool"):
        C.Conv2d(2, 3, 3, fast="yes")  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
def test_fast_conv_blocks_of_several_images(device: str, dtype: torch.dtype) -> None:
    """Five images in blocks of two (2, 2, 1): every image of every block is computed and
    back-propagated (a block that lost its last image, or a last partial block that was
    skipped, leaves uninitialized outputs or zero gradients there). The drawn cases have at most
    two images, so there "a few images" is the whole batch."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 2, 5, 4, generator=g, dtype=dtype).to(device)
    w = torch.randn(3, 2, 2, 2, generator=g, dtype=dtype).to(device)
    b = torch.randn(3, generator=g, dtype=dtype).to(device)
    y_ref = C.conv2d(x, w, b, padding=(0, 1))
    per_image = 2 * 2 * 2 * y_ref.shape[2] * y_ref.shape[3]  # C·k_h·k_w·H′·W′
    old = C.BLOCK_ENTRIES
    C.BLOCK_ENTRIES = 2 * per_image  # two images per block
    try:
        assert C._blocks(5, per_image) == [(0, 2), (2, 4), (4, 5)]
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        y = C.conv2d(*leaves, padding=(0, 1), fast=True)
        gy = torch.randn(y.shape, generator=g, dtype=dtype).to(device)
        got = torch.autograd.grad(y, leaves, gy)
    finally:
        C.BLOCK_ENTRIES = old
    ref = [t.clone().requires_grad_() for t in (x, w, b)]
    want = torch.autograd.grad(C.conv2d(*ref, padding=(0, 1)), ref, gy)
    check_close(y, y_ref, EXACT, CLAIM_FAST, device, "forward, blocks of two images")
    for name, a, e in zip(("d/dx", "d/dw", "d/db"), got, want, strict=True):
        check_close(a, e, EXACT, CLAIM_FAST, device, f"{name}, blocks of two images")


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
def test_fast_conv_gradient_penalty_raises(device: str, dtype: torch.dtype) -> None:
    """A gradient penalty through the fast form: `∂/∂w ‖∂L/∂x‖²` for a loss linear in the
    output, beside a term (`‖w‖²`) that has a second derivative. The incoming gradient needs no
    graph, so a once-differentiable backward returned a constant `∂L/∂x` and the penalty's
    gradient silently lost its main term (−38 against −1.4 in one entry); it must raise."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 5, 5, generator=g, dtype=dtype).to(device).requires_grad_()
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=dtype).to(device).requires_grad_()
    v = torch.randn(1, 3, 3, 3, generator=g, dtype=dtype).to(device)
    (gx,) = torch.autograd.grad((C.conv2d(x, w, fast=True) * v).sum(), x, create_graph=True)
    (ref,) = torch.autograd.grad((C.conv2d(x, w) * v).sum(), x)
    check_close(gx, ref, EXACT, CLAIM_FAST, device, "first-order gradient under create_graph")
    with pytest.raises(RuntimeError, match="fast=False"):
        torch.autograd.grad((gx**2).sum() + (w**2).sum(), w)


@pytest.mark.claim(CLAIM_FAST)
def test_fast_conv_blocks_are_as_large_as_fit() -> None:
    """`_blocks(n, per_image)` cuts images `0:n` into consecutive blocks of as many whole images
    as fit in `BLOCK_ENTRIES` window entries, at least one: the block of the fast form stays
    within the entries it was sized for, and no block is smaller than it needs to be."""
    old = C.BLOCK_ENTRIES
    C.BLOCK_ENTRIES = 12
    try:
        for n in range(1, 9):
            for per_image in range(1, 30):
                fit = [m for m in range(1, n + 13) if m * per_image <= 12]
                step = max(fit, default=1)  # whole images per block, at least one
                want = [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]
                got = C._blocks(n, per_image)
                assert got == want, f"{CLAIM_FAST}: blocks of {n} images of {per_image}: {got}"
        assert C._blocks(8, 1) == [(0, 8)]  # 8 entries fit in 12
        assert C._blocks(30, 1) == [(0, 12), (12, 24), (24, 30)]
        assert C._blocks(3, 7) == [(0, 1), (1, 2), (2, 3)]  # two images would be 14 > 12
        assert C._blocks(3, 13) == [(0, 1), (1, 2), (2, 3)]  # one image over the budget
        assert C._blocks(4, 6) == [(0, 2), (2, 4)]
    finally:
        C.BLOCK_ENTRIES = old


@pytest.mark.claim(CLAIM_FAST)
@pytest.mark.dtypes("float64")
def test_fast_conv_of_a_view_and_bias_only_second_derivative(
    device: str, dtype: torch.dtype
) -> None:
    """An input that is a view into a larger tensor (a storage offset, no padding, so the fast
    form reads its windows straight from it) gives the plain form's values; a second
    derivative that reaches the fast form only through the bias (x and w fixed) is refused like
    any other (a backward that returned a constant there would drop the term through ∂L/∂y)."""
    g = torch.Generator().manual_seed(11)
    big = torch.randn(3, 2, 6, 5, generator=g, dtype=dtype).to(device)
    x = big[1:, :, 1:, :]  # storage offset 2·6·5 + 5, strides of big
    w = torch.randn(4, 2, 2, 3, generator=g, dtype=dtype).to(device)
    b = torch.randn(4, generator=g, dtype=dtype).to(device)
    assert x.storage_offset() > 0 and not x.is_contiguous()
    check_close(
        C.conv2d(x, w, b, fast=True),
        C.conv2d(x.contiguous(), w, b),
        EXACT,
        CLAIM_FAST,
        device,
        "fast form of a view",
    )
    bias = b.clone().requires_grad_()
    y = C.conv2d(x, w, bias, stride=(1, 2), fast=True)
    (gb,) = torch.autograd.grad((y**2).sum(), bias, create_graph=True)
    with pytest.raises(RuntimeError, match="fast=False"):
        torch.autograd.grad(gb.sum(), bias)


@pytest.mark.claim(CLAIM_MAT)
@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_matrix_in_low_precision_and_operands_off_x_device(low: str) -> None:
    """`conv_matrix` keeps a low-precision kernel's dtype with circular padding too: with
    H = W = 4, k = 3, p = 1 no two taps of a row land on one pixel, so every entry is one kernel
    entry and the matrix equals the float32 one rounded, exactly. A kernel or bias on another
    device than x is refused naming it and both devices."""
    dtype = getattr(torch, low)
    w = torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(4)).to(dtype)
    for mode in C.PADDING_MODES:
        m = C.conv_matrix(w, (4, 4), padding=1, padding_mode=mode)
        want = C.conv_matrix(w.float(), (4, 4), padding=1, padding_mode=mode).to(dtype)
        assert m.dtype == dtype and torch.equal(m, want), f"{CLAIM_MAT}: {mode}, {low}"
    x, w32 = torch.randn(1, 3, 4, 4), w.float()
    with pytest.raises(ValueError, match=r"^weight must be on x's device cpu, got meta"):
        C.conv2d(x, w32.to("meta"))
    with pytest.raises(ValueError, match=r"^bias must be on x's device cpu, got meta"):
        C.conv2d(x, w32, torch.zeros(2, device="meta"))
