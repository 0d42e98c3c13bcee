"""A long-range memory task: recall the first input of a sequence after `T` steps.

Each sequence has `T` steps of one feature. The first step holds the cue `x_1 = ±1` (a fair
coin); steps `2, …, T` hold distractors `x_t ~ N(0, noise²)`. The label is `y = 1` when
`x_1 = +1` and `y = 0` when `x_1 = −1`, read at the end of the sequence. Nothing after step 1
carries information about `y`, so a model beats chance (1/2) only by carrying the cue across
`T − 1` steps. Seeded by a `torch.Generator`.

Claims served: `lstm.long-range-memory`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlspec.checks import check_flag, check_float_dtype, check_int, check_real
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = ["memory_task"]


def memory_task(
    n: int,
    steps: int,
    *,
    generator: torch.Generator,
    noise: float = 0.5,
    marker: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """`n` sequences of `steps` steps: `x` `(n, steps, 1)` and labels `y` `(n,)` (int64).

    `x[:, 0] = ±1` with `y = 1` for `+1`; `x[:, 1:] ~ N(0, noise²)`. With `marker=True` a
    second feature flags the cue (1 at step 1, 0 after): `x` is `(n, steps, 2)`.
    """
    n = check_int(n, "n")
    steps = check_int(steps, "steps")
    noise = check_real(noise, "noise", low=0.0, meaning="the distractors' standard deviation")
    dtype = check_float_dtype(dtype)
    marker = check_flag(marker, "marker")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    y = torch.randint(0, 2, (n,), generator=generator, device=device)  # y ~ Bernoulli(½)
    x = noise * torch.randn(n, steps, 1, generator=generator, device=device, dtype=dtype)
    x[:, 0, 0] = 2.0 * y.to(dtype) - 1.0  # the cue x_1 = 2y − 1 = ±1
    if marker:
        flag = torch.zeros(n, steps, 1, device=device, dtype=dtype)
        flag[:, 0] = 1.0  # m_1 = 1, m_t = 0 for t ≥ 2
        x = torch.cat([x, flag], dim=-1)
    return x, y


@register("memory.memory_task", backward=False)
def _sample_memory(device: torch.device, dtype: torch.dtype) -> Sample:
    g = sample_generator(device)  # marker=True below: the flag feature's device is checked too

    def f() -> tuple[Tensor, Tensor]:
        return memory_task(4, 6, generator=g, marker=True, device=device, dtype=dtype)

    return f, ()


@register_calls
def _calls_memory(device: torch.device, dtype: torch.dtype) -> list[Call]:
    g = sample_generator(device).manual_seed(0)
    return [
        Call(
            memory_task,
            {"n": 4, "steps": 6, "generator": g, "marker": True, "device": device, "dtype": dtype},
            ranges={"noise": "[0, inf)"},
        )
    ]
