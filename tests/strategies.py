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
