"""The fast forms' CUDA path, run on any machine.

On CUDA a fast form calls `compiled(f)(...)`: the plain function `f` handed to
`torch.compile(f, dynamic=True)` (cached, one compile per function). A CPU run never takes that
path, so its code (which `f`, which arguments, the cache) would go untested there. Inside
`compiled_path(*modules)` each module's `fused` says "take the compiled path" and
`torch.compile` is replaced by a recorder that returns `f` itself: the path runs eagerly, with
the values and gradients of exactly the function CUDA compiles (`torch.compile` keeps a
function's semantics; that is PyTorch's claim, not ours). The recorder's list holds each
`torch.compile` call as `(function, keyword arguments)`. (Issue 12, mutation testing.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import torch

from dlspec.nn import activations

Calls = list[tuple[Callable[..., Any], dict[str, Any]]]


@contextlib.contextmanager
def compiled_path(*modules: ModuleType) -> Iterator[Calls]:
    """`fused` true in `activations` and `modules`, `torch.compile` recorded (see above)."""
    calls: Calls = []

    def record(fn: Any = None, **kwargs: Any) -> Any:
        if not callable(fn):
            raise TypeError(f"torch.compile was given no function, got {fn!r}")
        calls.append((fn, kwargs))
        return fn

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch, "compile", record))
        stack.enter_context(mock.patch.dict(activations._COMPILED, clear=True))
        for module in {activations, *modules}:
            stack.enter_context(mock.patch.object(module, "fused", lambda t: True))
        yield calls
