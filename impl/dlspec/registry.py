"""A registry of the implementation's modules and functions, each with sample inputs.

Every model or algorithm in `dlspec` registers a *sample maker*: a function that, given a
device and a dtype, builds the callable (a module moved to that device, or a function) and
arguments created on that device. One generic test (claim `compute.device-agnostic`) runs every
entry on the `meta` device, and on CUDA where present, to show that nothing in the forward (or
backward) pass assumes the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    return sorted(info.name for info in found if not info.name.rsplit(".", 1)[-1].startswith("_"))
