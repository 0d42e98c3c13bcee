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

`Adagrad(..., fast=True)` is the fast form (claim `opt.adagrad-fast-form`): the same operations
in the same order, each one `torch._foreach_*` call over a bucket of parameters (one group, one
device and dtype; the per-parameter `t` enters as a list of scalars), minus the operations that
cannot change a bit (adding `ε/√(t+1) = 0`; clamping a denominator already `≥ ε/√(t+1) ≥ tiny`),
and the finiteness check of `GD`'s fast form. Parameters and state equal the plain form's bit for
bit on the CPU, which runs the same per-tensor kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_flag, check_real
from dlspec.optim.sgd import buckets, check_lr, check_params, finite_grads, finite_groups
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["Adagrad"]


def _check_eps(eps: Any) -> float:
    """`ε ≥ 0`: checked when the optimizer is built and, for every parameter group (a group may
    set its own, a user change it), at each step, as the rate is."""
    return check_real(eps, "eps", low=0.0, meaning="added to √Σg², as torch's eps")


class Adagrad(torch.optim.Optimizer):
    """Adagrad: `w ← w − (η_t/σ_t) g_t`, the notes' form (claims `opt.adagrad-simplified`,
    `opt.adagrad-torch`). State per parameter: `step` (t) and `sum_sq` (`Σ_{i≤t} g_i²`).
    `fast=True` takes the same step with `torch._foreach_*` ops (`opt.adagrad-fast-form`)."""

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-2, *, eps: float = 0.0, fast: bool = False
    ) -> None:
        self.fast = check_flag(fast, "fast")
        super().__init__(check_params(params), {"lr": check_lr(lr), "eps": _check_eps(eps)})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gr in self.param_groups:  # every group's ε first, in both forms (a group sets its own)
            _check_eps(gr["eps"])
        if self.fast:
            self._fast_step()
            return loss
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

    def _fast_step(self) -> None:
        """The loop above, one `torch._foreach_*` op per line over each bucket of tensors."""
        checked = finite_groups(self.param_groups)
        for (eta, pairs), group in zip(checked, self.param_groups, strict=True):
            eps = group["eps"]
            for p in (p for p, _ in pairs if not self.state[p]):
                self.state[p].update(step=0, sum_sq=torch.zeros_like(p))
            sums = [self.state[p]["sum_sq"] for p, _ in pairs]
            for ps, gs, ss in buckets([p for p, _ in pairs], [g for _, g in pairs], sums):
                steps = [self.state[p]["step"] + 1 for p in ps]  # t + 1 per tensor
                root = [n**-0.5 for n in steps]  # 1/√(t+1), the plain form's float
                tiny = torch.finfo(ps[0].dtype).tiny
                torch._foreach_addcmul_(ss, gs, gs)  # Σ_{i≤t} g_i²
                denom = torch._foreach_sqrt(ss)
                torch._foreach_mul_(denom, root)  # σ_t = √Σ/√(t+1)
                if eps > 0.0:
                    torch._foreach_add_(denom, [eps * r for r in root])  # + ε/√(t+1)
                if min(eps * r for r in root) < tiny:  # else denom ≥ ε/√(t+1) ≥ tiny already
                    torch._foreach_clamp_min_(denom, tiny)  # Σ = 0: 0/0 read as 0
                eta_t = [-(eta / n**0.5) for n in steps]  # −η_t = −η/√(t+1), rounded as above
                torch._foreach_addcdiv_(ps, gs, denom, eta_t)  # w ← w − (η_t/σ_t) g_t
                for p in ps:
                    self.state[p]["step"] += 1


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


@register("adagrad.Adagrad-fast")
def _sample_adagrad_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    w = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)

    def f(x: Tensor) -> Tensor:
        p, q = torch.nn.Parameter(x.detach().clone()), torch.nn.Parameter(x.detach()[0].clone())
        opt = Adagrad([{"params": [p]}, {"params": [q], "eps": 1e-3}], lr=0.1, fast=True)
        for k in range(2):
            p.grad, q.grad = torch.full_like(p, float(k + 1)), torch.full_like(q, -1.0)
            opt.step()
        return x - x.detach() + p.detach() + q.detach()

    return f, (w,)
