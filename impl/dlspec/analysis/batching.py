"""A batch as one matrix product against a loop over its examples, and a fair way to time both.

For a layer `f(x) = x Wᵀ + b` and a batch `X` of `B` rows, the batched form computes
`X Wᵀ + b` in one matrix-matrix product; `per_example(f, X)` computes `f(x_i)` for each row
`x_i` in turn (`B` matrix-vector products, each a separate call) and stacks the results. Both give
the same numbers; `interleaved_medians()` times them in alternation, so that a change in the
machine's load affects both alike, and returns each one's median.

Claim served: `compute.matrix-beats-loop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_float_tensor, check_int
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["interleaved_medians", "per_example"]


def per_example(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """`fn` applied to each example `x[i : i + 1]` separately, results concatenated along
    dimension 0: the loop that a batched call replaces."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    x = check_float_tensor(x, "x")
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(
            f"x must hold at least one example along dimension 0, got {tuple(x.shape)}"
        )
    return torch.cat([fn(x[i : i + 1]) for i in range(x.shape[0])], dim=0)  # [f(x_1); …; f(x_B)]


def interleaved_medians(
    fns: Mapping[str, Callable[[], Any]], *, repeats: int = 7, warmup: int = 1
) -> dict[str, float]:
    """The median wall time in seconds of each of `fns`, timed in alternation.

    Each round calls every function once in order; `warmup` rounds are discarded. On a GPU the
    device is synchronized after each call (when the result is a CUDA tensor), so the clock sees
    finished work.
    """
    if not isinstance(fns, Mapping) or not fns or not all(callable(f) for f in fns.values()):
        raise TypeError("fns must be a non-empty mapping of names to callables")
    repeats = check_int(repeats, "repeats")
    warmup = check_int(warmup, "warmup", low=0)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            out = fn()
            if isinstance(out, Tensor) and out.device.type == "cuda":
                torch.cuda.synchronize(out.device)
            if r >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


@register("batching.per_example")
def _sample_per_example(device: torch.device, dtype: torch.dtype) -> Sample:
    from dlspec.nn.linear import Linear

    layer = Linear(5, 3, device=device, dtype=dtype)

    def f(x: Tensor) -> Tensor:
        return per_example(layer, x)

    return f, (torch.randn(4, 5, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_batching(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(4, 5, device=device, dtype=dtype)
    return [
        Call(per_example, {"fn": torch.tanh, "x": x}),
        Call(
            interleaved_medians,
            {"fns": {"a": lambda: None}, "repeats": 3, "warmup": 0},
            ranges={"warmup": "[0, inf)"},
        ),
    ]
