"""Tolerances as data, one place for the whole suite.

`DEFAULT` holds `torch.testing.assert_close()`'s own defaults per dtype: comparisons that
should agree up to rounding use them unchanged. `EXACT` is for identities that hold exactly in
real arithmetic and are evaluated in float64 with a few thousand operations at most; a claim that
needs anything looser justifies it on its spec page. `tol()` gives a dtype's default;
`check_close()` compares and fails with `failure()`'s message, which names the claim, device,
dtype, the error found and the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Tol:
    """`|actual − expected| ≤ atol + rtol · |expected|`, elementwise."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


#: torch.testing.assert_close's defaults (torch 2.x): about 10 units in the last place for rtol.
DEFAULT: dict[torch.dtype, Tol] = {
    torch.float16: Tol(rtol=1e-3, atol=1e-5),
    torch.bfloat16: Tol(rtol=1.6e-2, atol=1e-5),
    torch.float32: Tol(rtol=1.3e-6, atol=1e-5),
    torch.float64: Tol(rtol=1e-7, atol=1e-7),
}

#: Exact identities in float64 (unit roundoff 1.1e-16). Sums of at most 2^10 terms of size at most
#: ~10^3 carry rounding errors near 10^-13, two to three orders of magnitude below this.
EXACT = Tol(rtol=1e-12, atol=1e-12)


def tol(dtype: torch.dtype) -> Tol:
    """The default tolerance for `dtype`."""
    try:
        return DEFAULT[dtype]
    except KeyError:
        raise ValueError(
            f"no tolerance for dtype {dtype}; add one to tests/tolerances.py"
        ) from None


def failure(claim: str, device: Any, dtype: Any, what: str, err: float, bound: Tol | str) -> str:
    """An assertion message: the claim, device and dtype, what failed, the error and tolerance."""
    return (
        f"{claim} [{device}, {str(dtype).removeprefix('torch.')}]: {what}; "
        f"error {err:.3g}, tolerance {bound}"
    )


def check_close(
    actual: torch.Tensor, expected: torch.Tensor, t: Tol, claim: str, device: Any, what: str
) -> None:
    """Assert `|actual − expected| ≤ atol + rtol·|expected|` everywhere (NaN fails)."""
    assert actual.shape == expected.shape, (
        f"{claim}: {what}: shapes {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    err = (actual - expected).abs()
    ok = bool((err <= t.atol + t.rtol * expected.abs()).all())  # False where NaN
    assert ok, failure(claim, device, actual.dtype, what, float(err.max()), t)


# -- issue 11 (fast forms): bit for bit on the CPU, a stated bound elsewhere ---------------------


def fast_form_tol(device: str, dtype: torch.dtype, steps: int, scale: float) -> Tol | None:
    """`None` (bit for bit) on the CPU, where the foreach ops run the plain form's per-tensor
    kernels; elsewhere one rounding of each operation per step may differ (a fused
    multiply-add): `4Tε` relative to `|θ|` plus `4Tε·scale`, `scale` the size of a step."""
    if torch.device(device).type == "cpu":
        return None
    eps = torch.finfo(dtype).eps
    return Tol(rtol=4 * steps * eps, atol=4 * steps * eps * scale)


def check_same(
    got: torch.Tensor, want: torch.Tensor, bound: Tol | None, claim: str, device: str, what: str
) -> None:
    """Bit for bit when `bound` is `None`, else within it."""
    if bound is None:
        err = float((got - want).abs().max()) if got.numel() else 0.0
        assert torch.equal(got, want), failure(claim, device, got.dtype, what, err, "bit for bit")
    else:
        check_close(got, want, bound, claim, device, what)
