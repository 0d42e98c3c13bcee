"""Adagrad in the lecture's form, written from primitives.

The notes' update for each coordinate, at step `t = 0, 1, 2, …` with gradient `g_t`, is

    w_{t+1} = w_t − (η_t / σ_t) g_t,   η_t = η / √(t+1),   σ_t = √( (1/(t+1)) Σ_{i≤t} g_i² ),

which simplifies to `w_{t+1} = w_t − η g_t / √(Σ_{i≤t} g_i²)` (claim `opt.adagrad-simplified`).
`Adagrad` computes it in the notes' two-factor form. It equals
`torch.optim.Adagrad(lr=η, lr_decay=0, eps=0, initial_accumulator_value=0)` (claim
`opt.adagrad-torch`). Relation to torch's other knobs:

- `eps` (torch's default `1e-10`) is added *outside* the root, `g/(√Σg² + ε)`; `Adagrad(eps=ε)`
  does the same, and `eps=0` (the default here) is the notes' form;
- torch's `lr_decay = k` multiplies the step by `1/(1 + k·t)` (`t` counted from 0): here that is
  a `LambdaLR(opt, lambda t: 1/(1 + k t))` on top; it is not the notes' `1/√(t+1)`, which cancels;
- torch's `initial_accumulator_value = τ` starts `Σ` at `τ` instead of 0.

A coordinate whose gradients so far are all zero has `Σ = 0` and the notes' formula reads 0/0;
here its step is 0 (its gradient is 0 too), where torch with `eps=0` writes NaN. Floating point:
the form needs `g²` to be a normal number (`|g| ≥ √tiny`, e.g. `1.1e-19` in float32); a nonzero
gradient whose square underflows to 0 gets an enormous step here and `±∞` from torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_real
from dlspec.optim.sgd import check_lr, check_params, finite_grads
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["Adagrad"]


class Adagrad(torch.optim.Optimizer):
    """Adagrad: `w ← w − (η_t/σ_t) g_t`, the notes' form (claims `opt.adagrad-simplified`,
    `opt.adagrad-torch`). State per parameter: `step` (t) and `sum_sq` (`Σ_{i≤t} g_i²`)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, *, eps: float = 0.0) -> None:
        eps = check_real(eps, "eps", low=0.0, meaning="added to √Σg², as torch's eps")
        super().__init__(check_params(params), {"lr": check_lr(lr), "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Check every rate and gradient first, so that a refused step moves no parameter.
        checked = [(check_lr(gr["lr"]), gr["eps"], finite_grads(gr)) for gr in self.param_groups]
        for eta, eps, pairs in checked:
            for p, g in pairs:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["sum_sq"] = torch.zeros_like(p)
                t = state["step"]
                sum_sq: Tensor = state["sum_sq"]
                sum_sq.addcmul_(g, g)  # Σ_{i≤t} g_i²
                eta_t = eta / (t + 1) ** 0.5  # η_t = η/√(t+1)
                # σ_t = √(Σ g_i² / (t+1)); with eps, η_t/(σ_t + ε/√(t+1)) = η/(√Σ + ε) (torch's).
                denom = sum_sq.sqrt().mul_((t + 1) ** -0.5).add_(eps * (t + 1) ** -0.5)
                # Σ = 0 means every g_i = 0 so far: 0/0, read as 0 by raising the denominator to
                # the smallest normal number. No step with Σ > 0 changes (√Σ ≥ √(least subnormal)
                # is far above it); a nonzero g with g² underflowing to 0 gets a huge step.
                denom.clamp_min_(torch.finfo(denom.dtype).tiny)
                p.addcdiv_(g, denom, value=-eta_t)  # w ← w − (η_t/σ_t) g_t
                state["step"] = t + 1
        return loss


@register("adagrad.Adagrad")
def _sample_adagrad(device: torch.device, dtype: torch.dtype) -> Sample:
    w = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)

    def f(x: Tensor) -> Tensor:
        p = torch.nn.Parameter(x.detach().clone())
        opt = Adagrad([p], lr=0.1)
        for k in range(2):
            p.grad = torch.full_like(p, float(k + 1))
            opt.step()
        return x - x.detach() + p.detach()

    return f, (w,)


@register_calls
def _calls_adagrad(device: torch.device, dtype: torch.dtype) -> list[Call]:
    p = torch.nn.Parameter(torch.randn(4, 3, device=device, dtype=dtype))
    return [
        Call(
            Adagrad,
            {"params": [p], "lr": 0.1, "eps": 1e-10},
            ranges={"lr": "(0, inf)", "eps": "[0, inf)"},
            nonempty=("params",),
        )
    ]
