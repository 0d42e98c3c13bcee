"""Argument checks shared by every public function and module of `dlspec`.

Each check returns the value in canonical form (a `float`, an `int`, a `bool`, the tensor
itself) or raises a `TypeError` (wrong kind of value) or `ValueError` (right kind, out of
range) whose message names the argument, what was expected and what was given. Nothing in
`dlspec` returns a silently wrong result for an argument that one of these could have refused.

The checks never read a tensor's data unless their name says so (`check_finite`): reading data
synchronizes a GPU and fails on the `meta` device.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_callable",
    "check_copies",
    "check_finite",
    "check_flag",
    "check_float_dtype",
    "check_float_tensor",
    "check_generator",
    "check_index_tensor",
    "check_int",
    "check_like",
    "check_module",
    "check_probability",
    "check_real",
    "check_sizes",
]


def _scalar(value: Any, name: str, what: str) -> float:
    """A Python real or a 0-d real tensor as a float; anything else is a `TypeError`."""
    if isinstance(value, Tensor) and value.dim() == 0 and not value.is_complex():
        if value.dtype == torch.bool:
            raise TypeError(f"{name} must be {what}, got a bool tensor")
        if value.device.type == "meta":
            raise TypeError(f"{name} must be {what}, got a tensor on the meta device (no value)")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return float(value)


def check_real(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    meaning: str = "",
) -> float:
    """`value` (a real number or a 0-d real tensor) as a finite float in the interval given.

    `low`/`high` bound it, open on a side when `low_open`/`high_open`. NaN and ±∞ are always
    refused: a hyperparameter is a finite number.
    """
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    what = f"a real number in {interval}" + (f" ({meaning})" if meaning else "")
    v = _scalar(value, name, what)
    above = v > low if low_open else v >= low
    below = v < high if high_open else v <= high
    if not (math.isfinite(v) and above and below):  # False for NaN
        raise ValueError(f"{name} must be {what}, got {v!r}")
    return v


def check_probability(value: Any, name: str, *, closed_right: bool, meaning: str) -> float:
    """`value` as a float in [0, 1] (or [0, 1)), else an error naming `name` and its `meaning`.

    A 0-d real tensor is accepted (as `torch.nn.Dropout` accepts one).
    """
    return check_real(value, name, low=0.0, high=1.0, high_open=not closed_right, meaning=meaning)


def check_int(value: Any, name: str, *, low: int = 1, high: int | None = None) -> int:
    """`value` as an `int` in `[low, high]` (no upper bound when `high` is None).

    `bool` is refused (it is an `int` to Python, never a size to a user).
    """
    rng = f"≥ {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {rng}, got {type(value).__name__}")
    v = int(value)
    if v < low or (high is not None and v > high):
        raise ValueError(f"{name} must be an integer {rng}, got {v}")
    return v


def check_sizes(sizes: Any, name: str = "sizes") -> list[int]:
    """Layer widths: a sequence of at least 2 integers ≥ 1, as a list of `int`."""
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"{name} must be a sequence of at least 2 layer widths, got {sizes!r}")
    return [check_int(s, f"{name}[{i}]") for i, s in enumerate(sizes)]


def check_copies(value: Any, name: str = "copies") -> tuple[int, ...]:
    """The leading shape of a batch of independent models: `()` for one model (`None`), `(M,)`
    for `M ≥ 1` copies (the `copies=`/`ensemble=` arguments)."""
    return () if value is None else (check_int(value, name),)


def check_flag(value: Any, name: str) -> bool:
    """`value` itself if it is a `bool`; anything else (`"no"`, `0`, `None`) is a `TypeError`."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__}")
    return value


def check_generator(value: Any, name: str = "generator") -> torch.Generator | None:
    """`None` or a `torch.Generator`, else a `TypeError` naming `name`."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")
    return value


def check_float_dtype(value: Any, name: str = "dtype") -> torch.dtype:
    """`value` if it is a floating-point `torch.dtype`, else a `TypeError` naming `name`."""
    if not isinstance(value, torch.dtype):
        raise TypeError(
            f"{name} must be a floating-point torch.dtype such as torch.float64, "
            f"got {type(value).__name__} {value!r}"
        )
    if not value.is_floating_point:
        raise TypeError(f"{name} must be a floating-point dtype, got {value}")
    return value


def check_float_tensor(x: Any, name: str, *, dim: int | None = None) -> Tensor:
    """`x` itself if it is a floating-point tensor (with `dim` dimensions when given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if dim is not None and x.dim() != dim:
        raise ValueError(f"{name} must be {dim}-D, got shape {tuple(x.shape)}")
    return x


def check_index_tensor(y: Any, name: str, *, classes: int | None = None) -> Tensor:
    """`y` itself if it is an integer tensor (class labels); with `classes`, labels must lie in
    `[0, classes)` (this reads the data)."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class labels, got dtype {y.dtype}")
    if classes is not None and y.numel() and y.device.type != "meta":
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= classes:
            raise ValueError(
                f"{name} must hold class labels in [0, {classes}), got values in [{lo}, {hi}]"
            )
    return y


def check_like(t: Tensor, ref: Tensor, name: str, ref_name: str) -> Tensor:
    """`t` itself if it has `ref`'s dtype and device, else an error naming both arguments."""
    if t.device != ref.device:
        raise ValueError(f"{name} must be on {ref_name}'s device {ref.device}, got {t.device}")
    if t.dtype != ref.dtype:
        raise TypeError(f"{name} must have {ref_name}'s dtype {ref.dtype}, got {t.dtype}")
    return t


def check_finite(x: Tensor, name: str) -> Tensor:
    """`x` itself if every entry is finite, else a `ValueError` naming `name` (reads the data;
    on the meta device there is no data and `x` passes)."""
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or ±inf entries")
    return x


# -- issue 12 item 1 (bad input): checks for callables and modules passed as arguments ----------


def check_callable(value: Any, name: str) -> Any:
    """`value` itself if it is callable (a function, a module), else a `TypeError` naming `name`."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def check_module(value: Any, name: str, cls: type[torch.nn.Module] = torch.nn.Module) -> Any:
    """`value` itself if it is a `cls` (a `torch.nn.Module` by default), else a `TypeError`."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    return value
