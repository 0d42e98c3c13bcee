"""Tests of spec/convolution/pooling.md: max pooling, the notes' example, and when it ignores
the order of the values inside a window.

The implementation is reached through the ``pool`` fixture (the seam);
``torch.nn.functional.max_pool2d`` is the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.nn import conv as C
from tests import strategies as S
from tests.tolerances import EXACT, check_close, failure

CLAIM_EX = "pool.max-example"
CLAIM_INV = "pool.local-invariance"

Pool = Callable[..., torch.Tensor]


@pytest.fixture(scope="module")
def pool() -> Pool:
    """The max pooling under test (the seam): ``pool(x, kernel_size, stride)``."""
    return C.max_pool2d


@st.composite
def pool_cases(draw: st.DrawFn, *, overlap: bool = True) -> dict[str, Any]:
    """An image batch and a window that fits: ``k ≤ H, W``; stride ``s ≥ 1`` (any, or ``= k``)."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    k = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if overlap else k
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    return {"x": draw(S.arrays(shape)), "k": k, "s": s}


def distinct(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Values 0.5·(0, 1, …, n − 1) − n/4 in a random order: no two equal, so every window has
    a unique maximum."""
    n = int(np.prod(shape))
    return (torch.randperm(n, generator=generator).to(torch.float64) * 0.5 - n / 4).reshape(shape)


# =================================================================================================
# pool.max-example
# =================================================================================================


@pytest.mark.claim(CLAIM_EX)
def test_notes_example(pool: Pool, device: str, dtype: torch.dtype, evidence: Any) -> None:
    """[[1, 3], [2, 0]] → [3], by the function, the module and F.max_pool2d."""
    x = torch.tensor([[[[1.0, 3.0], [2.0, 0.0]]]], device=device, dtype=dtype)
    for name, y in (
        ("max_pool2d", pool(x, 2)),
        ("MaxPool2d", C.MaxPool2d(2)(x)),
        ("F.max_pool2d", F.max_pool2d(x, 2)),
    ):
        assert y.shape == (1, 1, 1, 1) and float(y) == 3.0, failure(
            CLAIM_EX,
            device,
            dtype,
            f"{name}([[1, 3], [2, 0]]) = {y.flatten().tolist()}",
            abs(float(y.flatten()[0]) - 3.0),
            "exact: 3",
        )
    evidence.value("pooled", float(pool(x, 2)))


@pytest.mark.claim(CLAIM_EX)
@settings(deadline=None)
@given(case=pool_cases())
@example(case={"x": np.array([[[[1.0, 3.0], [2.0, 0.0]]]]), "k": (2, 2), "s": (2, 2)})
@example(case={"x": np.zeros((1, 1, 3, 3)), "k": (2, 2), "s": (1, 1)})
def test_forward_equals_max_pool2d(
    pool: Pool, device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Every dtype, exactly (a maximum rounds nothing); the module too."""
    x = S.to_torch(case["x"], device, dtype)
    y = pool(x, case["k"], case["s"])
    ref = F.max_pool2d(x, case["k"], case["s"])
    assert y.shape == ref.shape and torch.equal(y, ref), failure(
        CLAIM_EX,
        device,
        dtype,
        f"max_pool2d vs F.max_pool2d, {case}",
        float((y - ref).abs().max()) if y.shape == ref.shape else float("inf"),
        "exact",
    )
    assert torch.equal(C.MaxPool2d(case["k"], case["s"])(x), ref)
    # The default stride is the window (non-overlapping), for the function and the module.
    ref_default = F.max_pool2d(x, case["k"])
    assert torch.equal(pool(x, case["k"]), ref_default), f"{CLAIM_EX}: default stride, {case}"
    assert torch.equal(C.MaxPool2d(case["k"])(x), ref_default), f"{CLAIM_EX}: module default"


@pytest.mark.claim(CLAIM_EX)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_backward_equals_max_pool2d(
    pool: Pool, device: str, dtype: torch.dtype, case: dict[str, Any], seed: int
) -> None:
    """With distinct values (a unique maximum per window), the gradient equals F.max_pool2d's
    under a random upstream gradient, overlapping windows included."""
    gen = torch.Generator().manual_seed(seed)
    x = distinct(case["x"].shape, gen).to(device=device, dtype=dtype).requires_grad_()
    xr = x.detach().clone().requires_grad_()
    y, ref = pool(x, case["k"], case["s"]), F.max_pool2d(xr, case["k"], case["s"])
    g = torch.randn(y.shape, generator=gen, dtype=dtype).to(device)
    (gx,) = torch.autograd.grad(y, x, g)
    (gr,) = torch.autograd.grad(ref, xr, g)
    check_close(gx, gr, EXACT, CLAIM_EX, device, f"gradient vs F.max_pool2d's, {case}")


@pytest.mark.claim(CLAIM_EX)
@pytest.mark.dtypes("float64")
def test_tied_maxima_share_the_gradient(pool: Pool, device: str, dtype: torch.dtype) -> None:
    """Ties: the implementation splits a window's gradient equally among its maxima, PyTorch
    gives it to one; per window the total is the same (non-overlapping windows)."""
    x = torch.tensor([[[[1.0, 1.0, 0.0, 2.0], [0.0, 1.0, 2.0, 2.0]]]], device=device, dtype=dtype)
    xr = x.clone().requires_grad_()
    x.requires_grad_()
    pool(x, 2).sum().backward()
    F.max_pool2d(xr, 2).sum().backward()
    assert x.grad is not None and xr.grad is not None
    expected = torch.tensor([[[[1 / 3, 1 / 3, 0, 1 / 3], [0, 1 / 3, 1 / 3, 1 / 3]]]], dtype=dtype)
    check_close(x.grad, expected.to(device), EXACT, CLAIM_EX, device, "tied maxima")
    per_window = x.grad.reshape(1, 1, 2, 2, 2).sum(dim=(2, 4))
    ref_window = xr.grad.reshape(1, 1, 2, 2, 2).sum(dim=(2, 4))
    check_close(per_window, ref_window, EXACT, CLAIM_EX, device, "gradient per window")


@pytest.mark.claim(CLAIM_EX)
def test_bad_inputs() -> None:
    x = torch.randn(1, 2, 4, 5)
    with pytest.raises(ValueError, match="kernel_size must fit in the input"):
        C.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="kernel_size must fit in the input"):
        C.MaxPool2d((2, 6))(x)
    for bad in (0, -2, (1, 0)):
        with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
            C.max_pool2d(x, 2, bad)
        with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
            C.MaxPool2d(2, bad)
        with pytest.raises(ValueError, match="kernel_size must be an integer ≥ 1"):
            C.max_pool2d(x, bad)
    with pytest.raises(TypeError, match="kernel_size must be an integer"):
        C.max_pool2d(x, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_size must be an integer ≥ 1 or a pair"):
        C.max_pool2d(x, (2, 2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x must be 4-D"):
        C.max_pool2d(torch.randn(4, 5), 2)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        C.max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2)


# =================================================================================================
# pool.local-invariance
# =================================================================================================


def permute_within_windows(
    x: torch.Tensor, k: tuple[int, int], generator: torch.Generator
) -> torch.Tensor:
    """``x`` with the values inside every non-overlapping ``k_h × k_w`` window put in a random
    order (an independent permutation per window); rows and columns past the last window stay."""
    n, c, h, w = x.shape
    kh, kw = k
    ho, wo = h // kh, w // kw
    out = x.clone()
    block = x[:, :, : ho * kh, : wo * kw].reshape(n, c, ho, kh, wo, kw).permute(0, 1, 2, 4, 3, 5)
    flat = block.reshape(n, c, ho, wo, kh * kw)
    order = torch.rand(flat.shape, generator=generator).argsort(dim=-1).to(x.device)
    shuffled = flat.gather(-1, order).reshape(n, c, ho, wo, kh, kw).permute(0, 1, 2, 4, 3, 5)
    out[:, :, : ho * kh, : wo * kw] = shuffled.reshape(n, c, ho * kh, wo * kw)
    return out


@pytest.mark.claim(CLAIM_INV)
@settings(deadline=None)
@given(case=pool_cases(overlap=False), seed=st.integers(0, 2**16))
def test_non_overlapping_windows_ignore_order(
    pool: Pool, device: str, dtype: torch.dtype, case: dict[str, Any], seed: int
) -> None:
    """Stride = window: any permutation inside each window leaves the output unchanged (exactly)."""
    x = S.to_torch(case["x"], device, dtype)
    xp = permute_within_windows(x, case["k"], torch.Generator().manual_seed(seed))
    assert torch.equal(torch.sort(xp.flatten()).values, torch.sort(x.flatten()).values)
    y, yp = pool(x, case["k"], case["s"]), pool(xp, case["k"], case["s"])
    assert torch.equal(y, yp), failure(
        CLAIM_INV,
        device,
        dtype,
        f"a permutation inside windows changed the output, {case}",
        float((y - yp).abs().max()),
        "exact",
    )


@pytest.mark.claim(CLAIM_INV)
def test_notes_overlapping_counterexample(
    pool: Pool, device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """k = 2, s = 1: [1, 2, 0] → [2, 2], but swapping the first window's values gives
    [2, 1, 0] → [2, 1]."""
    a = torch.tensor([[[[1.0, 2.0, 0.0]]]], device=device, dtype=dtype)
    b = torch.tensor([[[[2.0, 1.0, 0.0]]]], device=device, dtype=dtype)
    ya, yb = pool(a, (1, 2), (1, 1)), pool(b, (1, 2), (1, 1))
    assert ya.flatten().tolist() == [2.0, 2.0] and yb.flatten().tolist() == [2.0, 1.0], failure(
        CLAIM_INV,
        device,
        dtype,
        f"got {ya.flatten().tolist()} and {yb.flatten().tolist()}",
        1.0,
        "[2, 2] and [2, 1]",
    )
    evidence.value("pool_1_2_0", ya.flatten().tolist())
    evidence.value("pool_2_1_0", yb.flatten().tolist())


@pytest.mark.claim(CLAIM_INV)
@settings(deadline=None)
@given(
    k=st.integers(2, 4),
    data=st.data(),
    top=S.reals(),
    gap=st.floats(0.05, 1.0),
)
def test_overlapping_windows_see_order(
    pool: Pool,
    device: str,
    dtype: torch.dtype,
    k: int,
    data: st.DataObject,
    top: float,
    gap: float,
) -> None:
    """Any window k ≥ 2 and stride 1 ≤ s < k: on a row of length s + k whose maximum b sits at
    position s (inside both windows) and whose second largest a sits at 0, swapping positions 0
    and s (a permutation inside the first window) changes the second output from b to a."""
    s = data.draw(st.integers(1, k - 1))
    b, a = top, top - gap
    rest = data.draw(
        st.lists(
            st.floats(a - 5.0, a - 0.05, allow_nan=False), min_size=s + k - 2, max_size=s + k - 2
        )
    )
    row = [a, *rest[: s - 1], b, *rest[s - 1 :]]
    swapped = row.copy()
    swapped[0], swapped[s] = swapped[s], swapped[0]
    x = S.to_torch(np.array(row).reshape(1, 1, 1, -1), device, dtype)
    xs = S.to_torch(np.array(swapped).reshape(1, 1, 1, -1), device, dtype)
    y, ys = pool(x, (1, k), (1, s)).flatten(), pool(xs, (1, k), (1, s)).flatten()
    bt, at = float(x.flatten()[s]), float(x.flatten()[0])  # b and a rounded to the dtype
    assert y.tolist() == [bt, bt] and ys.tolist() == [bt, at], failure(
        CLAIM_INV,
        device,
        dtype,
        f"row {row}, k={k}, s={s}: got {y.tolist()} and {ys.tolist()}",
        float((y - ys).abs().max()),
        f"[b, b] = [{bt}, {bt}] and [b, a] = [{bt}, {at}]",
    )


def split_gradient(
    x: torch.Tensor, k: tuple[int, int], s: tuple[int, int], g: torch.Tensor
) -> torch.Tensor:
    """The gradient the page states, written as a loop: each window's upstream gradient split
    equally among the positions that attain its maximum, summed over the windows."""
    out = torch.zeros_like(x)
    (kh, kw), (sh, sw) = k, s
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            win = x[:, :, sh * i : sh * i + kh, sw * j : sw * j + kw]
            mask = (win == win.amax(dim=(2, 3), keepdim=True)).to(x.dtype)
            share = g[:, :, i, j, None, None] / mask.sum(dim=(2, 3), keepdim=True)
            out[:, :, sh * i : sh * i + kh, sw * j : sw * j + kw] += mask * share
    return out


def window_blocks(t: torch.Tensor, k: tuple[int, int]) -> torch.Tensor:
    """``(N, C, H′, W′, k_h k_w)``: the values of every non-overlapping window."""
    (n, c, h, w), (kh, kw) = t.shape, k
    ho, wo = h // kh, w // kw
    t = t[:, :, : ho * kh, : wo * kw].reshape(n, c, ho, kh, wo, kw)
    return t.transpose(3, 4).reshape(n, c, ho, wo, kh * kw)


@pytest.mark.claim(CLAIM_EX)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(case=pool_cases(), seed=st.integers(0, 2**16))
def test_tied_maxima_split_and_pytorch_picks_one(
    pool: Pool, device: str, dtype: torch.dtype, case: dict[str, Any], seed: int
) -> None:
    """Inputs with many ties (values in {0, 1, 2}), overlapping windows included: the
    implementation's gradient is the equal split per window, summed over windows. With
    non-overlapping windows PyTorch's gradient puts each window's upstream gradient on exactly
    one of its maxima, and the totals per window agree."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, case["x"].shape, generator=gen).to(device=device, dtype=dtype)
    x.requires_grad_()
    k, s = case["k"], case["s"]
    y = pool(x, k, s)
    g = (torch.rand(y.shape, generator=gen, dtype=dtype) + 0.5).to(device)  # no zero entries
    (gx,) = torch.autograd.grad(y, x, g)
    ref = split_gradient(x.detach(), k, s, g)
    check_close(gx, ref, EXACT, CLAIM_EX, device, f"equal split among tied maxima, {case}")
    if tuple(s) != tuple(k):
        return
    xr = x.detach().clone().requires_grad_()
    (gr,) = torch.autograd.grad(F.max_pool2d(xr, k, s), xr, g)
    xb, rb, ob = window_blocks(x.detach(), k), window_blocks(gr, k), window_blocks(gx, k)
    picked = rb != 0
    at_max = xb == xb.amax(dim=-1, keepdim=True)
    one = bool((picked.sum(dim=-1) == 1).all() and (picked <= at_max).all())
    assert one, failure(
        CLAIM_EX,
        device,
        dtype,
        f"PyTorch's gradient is not on exactly one maximum per window, {case}",
        float(picked.sum(dim=-1).max()),
        "one tied position per window",
    )
    check_close(ob.sum(dim=-1), rb.sum(dim=-1), EXACT, CLAIM_EX, device, "per-window totals")
