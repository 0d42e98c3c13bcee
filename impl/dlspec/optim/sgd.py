"""Plain gradient descent, the notes' `η/√(t+1)` schedule, and stochastic gradient sampling.

- `GD(params, lr)`: `θ ← θ − η ∇L(θ)` (claims `opt.gd-update`, `opt.gd-descent`,
  `opt.gd-step-quadratic`), a `torch.optim.Optimizer`, so `fit(optimizer=lambda p: GD(p, lr=η))`
  trains with it. Equal to `torch.optim.SGD(lr=η)` without momentum or weight decay.
- `inverse_sqrt_decay(optimizer)`: the schedule `η_t = η/√(t+1)` (claim `opt.lr-decay`) as a
  `torch.optim.lr_scheduler.LambdaLR`; `inverse_sqrt_lr(η, t)` is the same number.
- `minibatch(n, size, generator=)`: indices of a uniformly drawn minibatch (without
  replacement), the sampling step of stochastic gradient descent (claim `opt.sgd-unbiased`).

Bad input: a learning rate ≤ 0, an empty parameter list, or a NaN/±∞ gradient at `step()` raise
errors that name the argument.

`GD(params, lr, fast=True)` is the fast form (claim `opt.gd-fast-form`): the same step as one
`torch._foreach_add_` per parameter group and (device, dtype), and the finiteness check as one
sum per gradient with a single read of the result for all groups (`finite_groups`); the plain
per-tensor loop stays the form the other claims test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_flag, check_generator, check_int, check_real
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "GD",
    "check_params",
    "inverse_sqrt_decay",
    "inverse_sqrt_lr",
    "minibatch",
]
# `finite_groups` and `buckets` serve the fast forms of the optimizers and clipping (internal:
# they take an optimizer's parameter groups and parallel tensor lists, not user input).


def check_params(params: Any) -> list[Any]:
    """The parameters (or parameter groups) as a non-empty list, else a `ValueError`."""
    if isinstance(params, Tensor):
        raise TypeError(
            "params must be an iterable of tensors or parameter groups, got a single Tensor"
        )
    out = list(params)
    if not out:
        raise ValueError("params must hold at least one parameter, got an empty list")
    for i, p in enumerate(out):
        if not isinstance(p, Tensor | dict):
            raise TypeError(
                f"params[{i}] must be a tensor or a parameter group (dict), got {type(p).__name__}"
            )
    return out


def check_lr(lr: Any) -> float:
    """A learning rate: a finite real number `η > 0`."""
    return check_real(lr, "lr", low=0.0, low_open=True, meaning="the learning rate η")


def finite_grads(group: dict[str, Any]) -> list[tuple[Tensor, Tensor]]:
    """`(p, p.grad)` for the group's parameters that have a gradient, refused when any gradient
    holds NaN or ±∞; checked before any step so a refused step moves nothing.

    One read of the data for the whole group (a single device synchronization on a GPU, not one
    per tensor); nothing to read on the meta device.
    """
    found = [(i, p, p.grad) for i, p in enumerate(group["params"]) if p.grad is not None]
    if found and found[0][2].device.type != "meta":
        first = found[0][2].device
        ok = torch.stack([torch.isfinite(g).all().to(first) for _, _, g in found])
        if not bool(ok.all()):
            i = found[int(torch.argmin(ok.to(torch.int8)))][0]  # the first non-finite gradient
            raise ValueError(
                f"the gradient of parameter {i} must be finite, got NaN or ±inf entries"
            )
    return [(p, g) for _, p, g in found]


def _finite_sums(grads: list[Tensor]) -> list[Tensor]:
    """One number per gradient that is finite only when every entry of it is (a sum with a NaN
    or ±∞ term is NaN or ±∞): `Σ g` per tensor on the CPU (the cheapest read there),
    `Σ |g|` by one fused `torch._foreach_norm(·, 1)` per bucket elsewhere (one launch)."""
    if grads[0].device.type == "cpu":
        return [g.sum() for g in grads]
    return [s for (gs,) in buckets(grads) for s in torch._foreach_norm(gs, 1)]


def finite_groups(groups: list[dict[str, Any]]) -> list[tuple[float, list[tuple[Tensor, Tensor]]]]:
    """`(η, [(p, p.grad), …])` per group, refused exactly where the plain form's
    `check_lr`/`finite_grads` loop refuses, with the same error, before any parameter moves.

    The fast form's check: one sum per gradient and one read of their finiteness for all groups
    together (a single device synchronization). A finite sum proves every entry finite; a
    non-finite one (a NaN or ±∞ entry, or finite entries whose sum overflows) hands the decision
    to the plain, exact check, which then names the parameter or passes.
    """
    pairs = [[(p, p.grad) for p in gr["params"] if p.grad is not None] for gr in groups]
    grads = [g for ps in pairs for _, g in ps]
    if grads and grads[0].device.type != "meta":
        first = grads[0].device
        sums = torch.stack([s.to(first) for s in _finite_sums(grads)])
        if not bool(torch.isfinite(sums).all()):
            return [(check_lr(gr["lr"]), finite_grads(gr)) for gr in groups]  # exact; may raise
    return [(check_lr(gr["lr"]), ps) for gr, ps in zip(groups, pairs, strict=True)]


def buckets(first: list[Tensor], *rest: list[Tensor]) -> list[tuple[list[Tensor], ...]]:
    """The parallel lists `(first, *rest)` split by `(device, dtype)` of `first`'s tensors: a
    `torch._foreach_*` op takes its fused multi-tensor path (on CUDA) only within one bucket."""
    out: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], ...]] = {}
    for k, t in enumerate(first):
        lists = out.setdefault((t.device, t.dtype), tuple([] for _ in range(1 + len(rest))))
        lists[0].append(t)
        for lst, other in zip(lists[1:], rest, strict=True):
            lst.append(other[k])
    return list(out.values())


class GD(torch.optim.Optimizer):
    """Gradient descent `θ_{t+1} = θ_t − η ∇L(θ_t)` on every parameter with a gradient.

    Serves `opt.gd-update`, `opt.gd-descent` and `opt.gd-step-quadratic`. Parameters whose
    `grad` is `None` are left unchanged (as `torch.optim.SGD` does). `fast=True` takes the same
    step with `torch._foreach_*` ops (`opt.gd-fast-form`).
    """

    def __init__(self, params: Iterable[Any], lr: float, *, fast: bool = False) -> None:
        self.fast = check_flag(fast, "fast")
        super().__init__(check_params(params), {"lr": check_lr(lr)})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.fast:
            for eta, pairs in finite_groups(self.param_groups):
                for ps, gs in buckets([p for p, _ in pairs], [g for _, g in pairs]):
                    torch._foreach_add_(ps, gs, alpha=-eta)  # θ ← θ − η g, every tensor at once
            return loss
        # Check every rate and gradient first, so that a refused step moves no parameter.
        checked = [(check_lr(group["lr"]), finite_grads(group)) for group in self.param_groups]
        for eta, pairs in checked:
            for p, g in pairs:
                p.add_(g, alpha=-eta)  # θ ← θ − η g
        return loss


def inverse_sqrt_lr(lr: float, t: int) -> float:
    """`η_t = η / √(t + 1)` for step `t = 0, 1, 2, …` (claim `opt.lr-decay`)."""
    lr = check_lr(lr)
    t = check_int(t, "t", low=0)
    return lr / math.sqrt(t + 1)


def inverse_sqrt_decay(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule `η_t = η/√(t+1)`: call `scheduler.step()` after each `optimizer.step()`.

    Before the first step the learning rate is `η_0 = η`; after `t` scheduler steps it is
    `η/√(t+1)` (claim `opt.lr-decay`).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 / math.sqrt(t + 1))


def minibatch(
    n: int,
    size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """`size` distinct indices of `0, …, n − 1`, every subset of that size equally likely.

    `size = 1` is the notes' stochastic gradient descent ("选取一个样本 xⁿ"): the index is
    uniform on `{0, …, n − 1}`. A seeded `generator` reproduces the draw.
    """
    n = check_int(n, "n")
    size = check_int(size, "size", high=n)
    generator = check_generator(generator)
    # A uniform random permutation's first `size` entries are a uniform `size`-subset.
    return torch.randperm(n, generator=generator, device=device)[:size]


@register("sgd.GD")
def _sample_gd(device: torch.device, dtype: torch.dtype) -> Sample:
    w = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)

    def f(x: Tensor) -> Tensor:
        p = torch.nn.Parameter(x.detach().clone())
        p.grad = torch.ones_like(p)
        opt = GD([p], lr=0.1)
        sched = inverse_sqrt_decay(opt)
        opt.step()
        sched.step()
        opt.step()
        idx = minibatch(4, 2, device=x.device)
        return (x - x.detach() + p.detach())[idx]  # differentiable in x for the device test

    return f, (w,)


@register_calls
def _calls_sgd(device: torch.device, dtype: torch.dtype) -> list[Call]:
    p = torch.nn.Parameter(torch.randn(4, 3, device=device, dtype=dtype))
    lr = {"lr": "(0, inf)"}
    return [
        Call(GD, {"params": [p], "lr": 0.1}, ranges=lr, nonempty=("params",)),
        Call(check_params, {"params": [p]}, nonempty=("params",)),
        Call(inverse_sqrt_decay, {"optimizer": GD([p], lr=0.1)}),
        Call(inverse_sqrt_lr, {"lr": 0.1, "t": 3}, ranges={**lr, "t": "[0, inf)"}),
        Call(minibatch, {"n": 6, "size": 2, "device": device}),
    ]


@register("sgd.GD-fast")
def _sample_gd_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    w = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)

    def f(x: Tensor) -> Tensor:
        p, q = torch.nn.Parameter(x.detach().clone()), torch.nn.Parameter(x.detach()[0].clone())
        p.grad, q.grad = torch.ones_like(p), torch.ones_like(q)
        opt = GD([{"params": [p]}, {"params": [q], "lr": 0.2}], lr=0.1, fast=True)
        opt.step()
        opt.step()
        return x - x.detach() + p.detach() + q.detach()  # differentiable in x for the device test

    return f, (w,)
