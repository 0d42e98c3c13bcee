"""compute.bad-input, the checks themselves: `dlspec.checks` is the one home of argument checks.

The generic bad-input test (test_bad_input.py) sees a check only through an entry point and asks
only that its message names the argument. Here each check is called directly: the value it
returns (canonical type, the object itself), where each interval ends (open or closed), and the
whole message, written from the rule every message follows: the argument's name, what was
expected, what was given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from dlspec import checks as C

CLAIM = "compute.bad-input"
pytestmark = pytest.mark.claim(CLAIM)


def _refused(err: type[Exception], want: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(err) as info:
        fn(*args, **kwargs)
    assert type(info.value) is err, f"{CLAIM}: {type(info.value).__name__}, expected {err}"
    assert str(info.value) == want, f"{CLAIM}: message {str(info.value)!r}, expected {want!r}"


def _same(got: Any, want: Any) -> None:
    """`got` equals `want` and has its exact type (a float is a float, not a 0-d tensor)."""
    assert type(got) is type(want) and got == want, f"{CLAIM}: got {got!r}, expected {want!r}"


# -- check_real (and the scalar reading under it) ----------------------------------------------


def test_check_real_returns_a_float() -> None:
    _same(C.check_real(3, "lr"), 3.0)
    _same(C.check_real(np.float32(0.5), "lr"), 0.5)
    _same(C.check_real(torch.tensor(2.5, dtype=torch.float64), "lr"), 2.5)
    _same(C.check_real(torch.tensor(4), "lr"), 4.0)  # an integer 0-d tensor is a real number
    _same(C.check_real(-1e300, "lr"), -1e300)  # no bounds by default


def test_check_real_interval_ends() -> None:
    # closed ends accept the end itself, open ends refuse it
    _same(C.check_real(0.0, "p", low=0.0), 0.0)
    _same(C.check_real(1.0, "p", high=1.0), 1.0)
    _refused(
        ValueError,
        "p must be a real number in (0, inf], got 0.0",
        C.check_real,
        0.0,
        "p",
        low=0.0,
        low_open=True,
    )
    _refused(
        ValueError,
        "p must be a real number in [-inf, 1), got 1.0",
        C.check_real,
        1.0,
        "p",
        high=1.0,
        high_open=True,
    )
    _same(C.check_real(math.nextafter(0.0, 1.0), "p", low=0.0, low_open=True), 5e-324)
    _same(C.check_real(math.nextafter(1.0, 0.0), "p", high=1.0, high_open=True), 1 - 2**-53)
    _refused(
        ValueError,
        "p must be a real number in [0, 1], got -0.5",
        C.check_real,
        -0.5,
        "p",
        low=0.0,
        high=1.0,
    )
    _refused(
        ValueError,
        "p must be a real number in [0, 1], got 1.5",
        C.check_real,
        1.5,
        "p",
        low=0.0,
        high=1.0,
    )
    _refused(
        ValueError,
        "p must be a real number in [0.25, 2.5), got 3.0",
        C.check_real,
        3,
        "p",
        low=0.25,
        high=2.5,
        high_open=True,
    )


def test_check_real_refuses_nan_and_infinities() -> None:
    for v, shown in [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")]:
        want = f"lr must be a real number in [-inf, inf], got {shown}"
        _refused(ValueError, want, C.check_real, v, "lr")
    want = "lr must be a real number in [0, inf] (the step size), got nan"
    _refused(
        ValueError,
        want,
        C.check_real,
        torch.tensor(math.nan),
        "lr",
        low=0.0,
        meaning="the step size",
    )


def test_check_real_refuses_what_is_not_a_real_number() -> None:
    what = "lr must be a real number in [0, inf] (the step size)"
    for v, given in [
        (True, "bool"),
        ("1", "str"),
        (1j, "complex"),
        (None, "NoneType"),
        ([1.0], "list"),
        (torch.ones(1), "Tensor"),  # not 0-d
        (torch.tensor(1j), "Tensor"),  # 0-d, complex
    ]:
        _refused(
            TypeError,
            f"{what}, got {given}",
            C.check_real,
            v,
            "lr",
            low=0.0,
            meaning="the step size",
        )
    _refused(
        TypeError,
        f"{what}, got a bool tensor",
        C.check_real,
        torch.tensor(True),
        "lr",
        low=0.0,
        meaning="the step size",
    )
    _refused(
        TypeError,
        f"{what}, got a tensor on the meta device (no value)",
        C.check_real,
        torch.tensor(0.1, device="meta"),
        "lr",
        low=0.0,
        meaning="the step size",
    )


def test_check_probability() -> None:
    _same(C.check_probability(1, "p", closed_right=True, meaning="a chance"), 1.0)
    _same(C.check_probability(0, "p", closed_right=False, meaning="a chance"), 0.0)
    _refused(
        ValueError,
        "p must be a real number in [0, 1) (a chance), got 1.0",
        C.check_probability,
        1.0,
        "p",
        closed_right=False,
        meaning="a chance",
    )
    _refused(
        ValueError,
        "p must be a real number in [0, 1] (a chance), got -0.1",
        C.check_probability,
        -0.1,
        "p",
        closed_right=True,
        meaning="a chance",
    )
    _refused(
        ValueError,
        "p must be a real number in [0, 1] (a chance), got 1.1",
        C.check_probability,
        1.1,
        "p",
        closed_right=True,
        meaning="a chance",
    )


# -- integers, sizes, copies, flags -------------------------------------------------------------


def test_check_int() -> None:
    _same(C.check_int(3, "n"), 3)
    _same(C.check_int(np.int64(7), "n"), 7)
    _same(C.check_int(1, "n"), 1)  # the default low end is 1, closed
    _same(C.check_int(0, "n", low=0, high=0), 0)
    _same(C.check_int(5, "n", low=0, high=5), 5)
    _refused(ValueError, "n must be an integer ≥ 1, got 0", C.check_int, 0, "n")
    _refused(
        ValueError, "n must be an integer in [2, 5], got 1", C.check_int, 1, "n", low=2, high=5
    )
    _refused(
        ValueError, "n must be an integer in [2, 5], got 6", C.check_int, 6, "n", low=2, high=5
    )
    _refused(TypeError, "n must be an integer ≥ 0, got bool", C.check_int, True, "n", low=0)
    _refused(TypeError, "n must be an integer ≥ 1, got float", C.check_int, 2.0, "n")
    _refused(
        TypeError, "n must be an integer in [0, 3], got str", C.check_int, "2", "n", low=0, high=3
    )


def test_check_sizes() -> None:
    _same(C.check_sizes((4, 3, np.int64(2))), [4, 3, 2])
    assert all(type(s) is int for s in C.check_sizes([4, np.int64(2)]))
    _refused(
        ValueError,
        "sizes must be a sequence of at least 2 layer widths, got [4]",
        C.check_sizes,
        [4],
    )
    _refused(
        ValueError,
        "widths must be a sequence of at least 2 layer widths, got '43'",
        C.check_sizes,
        "43",
        "widths",
    )
    _refused(
        ValueError, "sizes must be a sequence of at least 2 layer widths, got 4", C.check_sizes, 4
    )
    _refused(ValueError, "sizes[2] must be an integer ≥ 1, got 0", C.check_sizes, [4, 3, 0])
    _refused(
        TypeError, "widths[0] must be an integer ≥ 1, got float", C.check_sizes, [4.0, 3], "widths"
    )


def test_check_copies() -> None:
    _same(C.check_copies(None), ())
    _same(C.check_copies(3), (3,))
    _refused(ValueError, "copies must be an integer ≥ 1, got 0", C.check_copies, 0)
    _refused(
        TypeError, "ensemble must be an integer ≥ 1, got bool", C.check_copies, True, "ensemble"
    )


def test_check_flag() -> None:
    assert C.check_flag(True, "bias") is True and C.check_flag(False, "bias") is False
    for v, given in [(0, "int"), (None, "NoneType"), ("no", "str")]:
        _refused(
            TypeError, f"bias must be a bool (True or False), got {given}", C.check_flag, v, "bias"
        )


# -- generators, dtypes, tensors ----------------------------------------------------------------


def test_check_generator() -> None:
    g = torch.Generator()
    assert C.check_generator(g) is g and C.check_generator(None) is None
    _refused(
        TypeError, "generator must be a torch.Generator or None, got int", C.check_generator, 0
    )
    _refused(
        TypeError,
        "rng must be a torch.Generator or None, got str",
        C.check_generator,
        "seed",
        "rng",
    )


def test_check_float_dtype() -> None:
    assert C.check_float_dtype(torch.float16) is torch.float16
    _refused(
        TypeError,
        "dtype must be a floating-point torch.dtype such as torch.float64, got str 'float64'",
        C.check_float_dtype,
        "float64",
    )
    _refused(
        TypeError,
        "dt must be a floating-point dtype, got torch.int64",
        C.check_float_dtype,
        torch.int64,
        "dt",
    )


def test_check_float_tensor() -> None:
    x = torch.zeros(2, 3, dtype=torch.float64)
    assert C.check_float_tensor(x, "x") is x and C.check_float_tensor(x, "x", dim=2) is x
    _refused(TypeError, "x must be a torch.Tensor, got list", C.check_float_tensor, [1.0], "x")
    _refused(
        TypeError,
        "x must be a floating-point tensor, got dtype torch.int64",
        C.check_float_tensor,
        x.long(),
        "x",
        dim=2,
    )
    _refused(ValueError, "x must be 3-D, got shape (2, 3)", C.check_float_tensor, x, "x", dim=3)
    _refused(ValueError, "x must be 0-D, got shape (2, 3)", C.check_float_tensor, x, "x", dim=0)


def test_check_index_tensor() -> None:
    y = torch.tensor([0, 2, 1])
    assert C.check_index_tensor(y, "y") is y and C.check_index_tensor(y, "y", classes=3) is y
    assert C.check_index_tensor(-y, "y") is not None  # without classes, values are not read
    empty = torch.zeros(0, dtype=torch.long)
    assert C.check_index_tensor(empty, "y", classes=3) is empty
    meta = torch.full((2,), 7, dtype=torch.long, device="meta")
    assert C.check_index_tensor(meta, "y", classes=3) is meta  # no data to read on meta
    _refused(
        ValueError,
        "y must hold class labels in [0, 2), got values in [0, 2]",
        C.check_index_tensor,
        y,
        "y",
        classes=2,
    )
    _refused(
        ValueError,
        "y must hold class labels in [0, 5), got values in [-2, 0]",
        C.check_index_tensor,
        -y,
        "y",
        classes=5,
    )
    for bad in (y.double(), y.bool(), y.to(torch.complex64)):
        _refused(
            TypeError,
            f"y must be an integer tensor of class labels, got dtype {bad.dtype}",
            C.check_index_tensor,
            bad,
            "y",
        )
    _refused(TypeError, "y must be a torch.Tensor, got list", C.check_index_tensor, [0], "y")


def test_check_like() -> None:
    ref = torch.zeros(2, dtype=torch.float64)
    t = torch.ones(3, dtype=torch.float64)
    assert C.check_like(t, ref, "h0", "x") is t
    _refused(
        ValueError,
        "h0 must be on x's device cpu, got meta",
        C.check_like,
        t.to("meta"),
        ref,
        "h0",
        "x",
    )
    _refused(
        TypeError,
        "h0 must have x's dtype torch.float64, got torch.float32",
        C.check_like,
        t.float(),
        ref,
        "h0",
        "x",
    )


def test_check_finite() -> None:
    x = torch.tensor([1.0, -2.0])
    assert C.check_finite(x, "x") is x
    meta = torch.full((2,), math.nan, device="meta")
    assert C.check_finite(meta, "x") is meta
    for bad in (math.nan, math.inf, -math.inf):
        _refused(
            ValueError,
            "w must be finite, got NaN or ±inf entries",
            C.check_finite,
            torch.tensor([0.0, bad]),
            "w",
        )


def test_check_callable_and_module() -> None:
    lin = torch.nn.Linear(1, 1)
    assert C.check_callable(len, "f") is len and C.check_callable(lin, "f") is lin
    _refused(TypeError, "f must be callable, got int", C.check_callable, 3, "f")
    assert C.check_module(lin, "model") is lin
    assert C.check_module(lin, "model", torch.nn.Linear) is lin
    _refused(TypeError, "model must be a Module, got str", C.check_module, "m", "model")
    _refused(
        TypeError,
        "model must be a Conv2d, got Linear",
        C.check_module,
        lin,
        "model",
        torch.nn.Conv2d,
    )
