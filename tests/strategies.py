"""Shared hypothesis strategies with bounded, in-scope values.

Every strategy draws NumPy float64 data (or plain Python numbers); tests turn arrays into tensors
on the device and dtype under test with `to_torch()`. Bounds are part of each claim's scope:
entries lie in `[−BOUND, BOUND]` (no NaN, no infinity, no subnormals), so that exact identities
checked in float64 stay far from overflow and the tolerances in `tests/tolerances.py` apply.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Default bound on the magnitude of drawn entries.
BOUND = 3.0


def reals(bound: float = BOUND, *, min_abs: float = 0.0) -> st.SearchStrategy[float]:
    """Floats in `[−bound, bound]`; with `min_abs > 0`, also `|v| ≥ min_abs`."""
    base = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if min_abs <= 0.0:
        return base
    return base.filter(lambda v: abs(v) >= min_abs)


def arrays(
    shape: int | tuple[int, ...], *, bound: float = BOUND, min_abs: float = 0.0
) -> st.SearchStrategy[np.ndarray[Any, np.dtype[np.float64]]]:
    """Float64 arrays of a fixed `shape` with entries from `reals()`."""
    if min_abs > 0.0:
        # Draw the magnitude and the sign apart, so no filtering is needed.
        mags = st.floats(min_abs, bound, allow_nan=False, allow_infinity=False)
        elements = st.tuples(mags, st.booleans()).map(lambda t: t[0] if t[1] else -t[0])
        return hnp.arrays(np.float64, shape, elements=elements)
    return hnp.arrays(np.float64, shape, elements=reals(bound))


def drop_probabilities(low: float = 0.05, high: float = 0.95) -> st.SearchStrategy[float]:
    """Drop probabilities `p ∈ [low, high]` (PyTorch's convention; keep `q = 1 − p`).

    The default range keeps `q` and `p` away from 0 and 1, where Monte-Carlo checks would need
    very many draws; `p = 0` and the refusal of `p = 1` are tested separately.
    """
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def dims(low: int = 1, high: int = 8) -> st.SearchStrategy[int]:
    """A dimension (number of units, rows or classes) in `[low, high]`."""
    return st.integers(low, high)


def shapes(max_dims: int = 2, max_side: int = 16) -> st.SearchStrategy[tuple[int, ...]]:
    """Tensor shapes with 1 to `max_dims` dimensions of size 1 to `max_side`."""
    return hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side)


def to_torch(a: Any, device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A NumPy array (or nested list) as a tensor on `device` with `dtype`."""
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(device=device, dtype=dtype)


# -- issue 11 (fast forms of the optimizers): parameter groups and gradient sequences -------------


@st.composite
def optimizer_runs(draw: st.DrawFn, max_steps: int = 4) -> dict[str, Any]:
    """Parameter groups for an optimizer run: 1–3 groups of 1–2 tensors of drawn shapes, a
    learning rate per group (or the default), and `steps` gradients per tensor, each `None`
    (the tensor sits the step out) with probability about 1/5."""
    steps = draw(st.integers(1, max_steps))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        tensors = []
        for _ in range(draw(st.integers(1, 2))):
            shape = draw(shapes(max_dims=2, max_side=4))
            grads = [
                None if draw(st.integers(0, 4)) == 0 else draw(arrays(shape)) for _ in range(steps)
            ]
            tensors.append({"init": draw(arrays(shape)), "grads": grads})
        lr = draw(st.one_of(st.none(), st.floats(1e-3, 10.0)))
        groups.append({"tensors": tensors, "lr": lr})
    return {"steps": steps, "groups": groups, "lr": draw(st.floats(1e-3, 10.0))}


def optimizer_groups(
    run: dict[str, Any], device: str | torch.device, dtype: torch.dtype
) -> tuple[list[dict[str, Any]], list[torch.nn.Parameter]]:
    """Fresh parameters for an `optimizer_runs()` draw: the parameter groups (with their own
    `lr` where drawn) and the flat list of parameters, in group order."""
    groups, flat = [], []
    for gr in run["groups"]:
        ps = [torch.nn.Parameter(to_torch(t["init"], device, dtype)) for t in gr["tensors"]]
        flat += ps
        groups.append({"params": ps} if gr["lr"] is None else {"params": ps, "lr": gr["lr"]})
    return groups, flat


def set_grads(run: dict[str, Any], params: list[torch.nn.Parameter], step: int) -> None:
    """Give every parameter its drawn gradient of step `step` (or `None`)."""
    tensors = [t for gr in run["groups"] for t in gr["tensors"]]
    for p, t in zip(params, tensors, strict=True):
        g = t["grads"][step]
        p.grad = None if g is None else to_torch(g, p.device, p.dtype)
