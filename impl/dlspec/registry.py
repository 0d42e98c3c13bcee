"""A registry of the implementation's modules and functions, each with sample inputs.

Every model or algorithm in `dlspec` registers a *sample maker*: a function that, given a
device and a dtype, builds the callable (a module moved to that device, or a function) and
arguments created on that device. One generic test (claim `compute.device-agnostic`) runs every
entry on the `meta` device, and on CUDA where present, to show that nothing in the forward (or
backward) pass assumes the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

Sample = tuple[Callable[..., Any], tuple[Any, ...]]
SampleMaker = Callable[[torch.device, torch.dtype], Sample]


@dataclass(frozen=True)
class Entry:
    """One registered callable: `make(device, dtype)` returns `(fn, args)`."""

    name: str
    make: SampleMaker
    backward: bool = True  # whether the sample's output can be back-propagated


REGISTRY: dict[str, Entry] = {}


def register(name: str, *, backward: bool = True) -> Callable[[SampleMaker], SampleMaker]:
    """Register a sample maker under `name` (a decorator)."""

    def deco(make: SampleMaker) -> SampleMaker:
        if name in REGISTRY:
            raise ValueError(f"registry entry {name!r} is registered twice")
        REGISTRY[name] = Entry(name, make, backward)
        return make

    return deco


def entries() -> dict[str, Entry]:
    """Every registered entry, after importing every module of `dlspec` and its subpackages."""
    import importlib

    for name in modules():
        importlib.import_module(name)
    return dict(REGISTRY)


def modules() -> list[str]:
    """The dotted names of every module of `dlspec`, subpackages included, sorted."""
    import pkgutil

    import dlspec

    found = pkgutil.walk_packages(dlspec.__path__, prefix="dlspec.")
    return sorted(info.name for info in found if "._" not in info.name)  # no private module


# -- valid calls of each public entry point, for the bad-input test (claim `compute.bad-input`) --


@dataclass(frozen=True)
class Call:
    """One valid call of a public entry point: `fn(**kwargs)` succeeds.

    For a class, `forward` (when given) is a valid call of the instance `fn(**kwargs)`. The
    bad-input test derives invalid arguments from each value's type and from `fn`'s signature
    (a non-bool for a bool, an integer tensor for a float one, NaN for a float, ...); the other
    fields declare what the type alone cannot tell:

    - `ranges`: the valid interval of a number (or of each entry of a sequence of numbers), in
      interval notation (`"(0, 1]"`, `"[0, inf)"`); integers default to `"[1, inf)"`;
    - `ndim`: tensors whose number of dimensions is fixed;
    - `finite`: tensors that must hold no NaN or ±inf;
    - `nonempty`: tensors that must hold at least one entry;
    - `free`: arguments for which the type gives no invalid value (e.g. `x` of a
      shape-agnostic function is still checked for its dtype unless named here);
    - `parts`: the names the error messages give the parts of a tuple argument (`"state"` of
      an LSTM is `("h0", "c0")`); a message naming a part names the argument.
    """

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    forward: dict[str, Any] | None = None
    ranges: dict[str, str] = field(default_factory=dict)
    ndim: tuple[str, ...] = ()
    finite: tuple[str, ...] = ()
    nonempty: tuple[str, ...] = ()
    free: tuple[str, ...] = ()
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)


CallMaker = Callable[[torch.device, torch.dtype], list[Call]]
CALLS: list[CallMaker] = []


def register_calls(make: CallMaker) -> CallMaker:
    """Register a maker of valid calls (a decorator); `calls()` gathers them all."""
    CALLS.append(make)
    return make


def calls(device: torch.device, dtype: torch.dtype) -> list[Call]:
    """Every registered valid call, built on `device` with `dtype`, after importing `dlspec`."""
    entries()
    return [c for make in CALLS for c in make(device, dtype)]


def sample_generator(device: torch.device) -> torch.Generator:
    """A generator for building samples on `device`. `meta` has none of its own; PyTorch draws
    meta tensors from a CPU generator (their values are never computed)."""
    return torch.Generator() if device.type == "meta" else torch.Generator(device=device)
