"""Gradient clipping by value and by global norm, written from primitives.

Notation, as on the spec page `sequences/clipping.md`: `g` is the gradient of all parameters
together (every `.grad` flattened and concatenated), `‖g‖` its Euclidean norm, `c > 0` the
threshold.

- by value (Mikolov 2012): `g_i ← max(−c, min(c, g_i))`, each entry on its own;
- by norm (Pascanu et al. 2013, Alg. 1): `g ← min(1, c / (‖g‖ + ε)) · g` over all parameters
  together. `ε = 0` (the default) is the exact clip; `ε = 1e-6` reproduces
  `torch.nn.utils.clip_grad_norm_`, which adds `1e-6` to the norm in the denominator.

Both clip the `.grad` of the parameters in place (parameters whose `.grad` is `None` are
skipped) and return the **pre-clip** global norm `‖g‖` (a 0-d tensor; 0 when no parameter has
a gradient).

A non-finite gradient (NaN or ±∞ in some entry) has no meaningful clip. The caller chooses with
`nonfinite`: `"raise"` (the default) raises `NonFiniteGradientError` and leaves the gradients
unchanged; `"propagate"` does what PyTorch does by default (`error_if_nonfinite=False`): the
clip is applied anyway, so NaN stays NaN, value clipping maps ±∞ to ±c, and norm clipping
multiplies by `c/∞ = 0` (finite entries become 0, infinite ones NaN) or by NaN. Checking reads
the norm (one device synchronization), as PyTorch's `error_if_nonfinite=True` does.

`clip_by_norm(..., fast=True)` (claim `clip.fast-form`) computes the same with
`torch._foreach_*` ops: the per-tensor norms in one `torch._foreach_norm`, the scaling in one
`torch._foreach_mul_` per dtype; on CUDA each is one fused launch for all tensors instead of one
per tensor. On the CPU the foreach ops run the same per-tensor kernels, so the results are the
plain form's bit for bit. (Clipping by value is one clamp per tensor: foreach has no two-sided
clamp, and two one-sided passes would cost more than they save off the GPU.)

Claims served: `clip.by-value`, `clip.by-norm`, `clip.stabilizes`, `clip.fast-form`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_flag, check_real
from dlspec.optim.sgd import buckets
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "TORCH_EPS",
    "NonFiniteGradientError",
    "clip_by_norm",
    "clip_by_value",
    "global_norm",
]

#: The constant `torch.nn.utils.clip_grad_norm_` adds to the norm: `c / (‖g‖ + 1e-6)`.
TORCH_EPS = 1e-6

_NONFINITE = ("raise", "propagate")


class NonFiniteGradientError(ValueError):
    """A gradient to clip holds NaN or ±∞ (raised when `nonfinite="raise"`)."""


def _grads(parameters: Any) -> list[Tensor]:
    """The `.grad` tensors of `parameters` (a tensor or an iterable of tensors)."""
    if isinstance(parameters, Tensor):
        params: list[Any] = [parameters]
    elif isinstance(parameters, Iterable) and not isinstance(parameters, str | bytes):
        params = list(parameters)
    else:
        raise TypeError(
            "parameters must be a tensor or an iterable of tensors, "
            f"got {type(parameters).__name__}"
        )
    grads = []
    for k, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters[{k}] must be a torch.Tensor, got {type(p).__name__}")
        if p.grad is not None:
            if not p.grad.is_floating_point():
                raise TypeError(f"parameters[{k}].grad must be floating-point, got {p.grad.dtype}")
            grads.append(p.grad)
    if grads:
        ref = grads[0]
        for k, g in enumerate(grads):
            if g.device != ref.device:
                raise ValueError(
                    f"every gradient must be on one device; found {ref.device} and {g.device} "
                    f"(gradient {k})"
                )
    return grads


def _check_nonfinite(nonfinite: Any) -> str:
    if nonfinite not in _NONFINITE:
        raise ValueError(f"nonfinite must be one of {list(_NONFINITE)}, got {nonfinite!r}")
    return str(nonfinite)


def global_norm(grads: list[Tensor], *, fast: bool = False) -> Tensor:
    """`‖g‖ = (Σ_k ‖g_k‖²)^{1/2}` over the tensors `g_k` (computed as the norm of the per-tensor
    norms, as PyTorch does); 0 for an empty list. `fast=True`: the per-tensor norms by one
    `torch._foreach_norm`."""
    for i, g in enumerate(grads):
        if not isinstance(g, Tensor):
            raise TypeError(f"grads[{i}] must be a tensor, got {type(g).__name__}")
    if not grads:
        return torch.zeros(())
    if check_flag(fast, "fast"):  # ‖g_k‖ for every k in one call (one launch on CUDA)
        fused: Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        return fused
    per_tensor = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # ‖g_k‖
    norm: Tensor = torch.linalg.vector_norm(per_tensor)  # ‖(‖g_1‖, …, ‖g_K‖)‖ = ‖g‖
    return norm


def _raise_if_nonfinite(norm: Tensor, nonfinite: str) -> None:
    if nonfinite == "raise" and norm.device.type != "meta" and not bool(torch.isfinite(norm)):
        raise NonFiniteGradientError(
            f"the gradient holds NaN or ±inf entries (global norm {float(norm)}); pass "
            "nonfinite='propagate' to clip anyway (PyTorch's default), or skip this step"
        )


def clip_by_value(parameters: Any, clip_value: Any, *, nonfinite: str = "raise") -> Tensor:
    """Clamp each gradient entry to `[−c, c]` in place; return the pre-clip `‖g‖`
    (`clip.by-value`; the same clip as `torch.nn.utils.clip_grad_value_`)."""
    c = check_real(clip_value, "clip_value", low=0.0, low_open=True, meaning="the threshold c")
    nonfinite = _check_nonfinite(nonfinite)
    grads = _grads(parameters)
    norm = global_norm(grads)
    _raise_if_nonfinite(norm, nonfinite)
    with torch.no_grad():
        for g in grads:
            g.clamp_(-c, c)  # g_i ← max(−c, min(c, g_i))
    return norm


def clip_by_norm(
    parameters: Any,
    max_norm: Any,
    *,
    eps: Any = 0.0,
    nonfinite: str = "raise",
    fast: bool = False,
) -> Tensor:
    """Scale all gradients together by `min(1, c/(‖g‖ + ε))` in place; return the pre-clip
    `‖g‖` (`clip.by-norm`).

    `eps = 0` is the exact clip: `‖clip(g)‖ = min(‖g‖, c)`. `eps = TORCH_EPS` is
    `torch.nn.utils.clip_grad_norm_`'s formula (which, like this function with `eps > 0`,
    multiplies even when the coefficient is 1). `fast=True`: with `torch._foreach_*` ops
    (`clip.fast-form`).
    """
    c = check_real(max_norm, "max_norm", low=0.0, low_open=True, meaning="the threshold c")
    eps = check_real(eps, "eps", low=0.0, meaning="added to ‖g‖ in the denominator")
    nonfinite = _check_nonfinite(nonfinite)
    fast = check_flag(fast, "fast")
    grads = _grads(parameters)
    norm = global_norm(grads, fast=fast)
    _raise_if_nonfinite(norm, nonfinite)
    if not grads:
        return norm
    coef = torch.clamp(c / (norm + eps), max=1.0)  # min(1, c / (‖g‖ + ε))
    with torch.no_grad():
        if fast:
            for (gs,) in buckets(grads):  # one dtype per call: coef in the gradients' dtype
                torch._foreach_mul_(gs, coef.to(gs[0].dtype))
            return norm
        for g in grads:
            g.mul_(coef.to(g.dtype))  # g ← coef · g: the same positive factor for every tensor
    return norm


@register("clip.clip_by_norm", backward=False)
def _sample_clip_norm(device: torch.device, dtype: torch.dtype) -> Sample:
    p = torch.randn(3, 4, device=device, dtype=dtype, requires_grad=True)
    q = torch.randn(5, device=device, dtype=dtype, requires_grad=True)
    p.grad = torch.randn(3, 4, device=device, dtype=dtype) * 10
    q.grad = torch.randn(5, device=device, dtype=dtype)

    def f(params: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        norm = clip_by_norm(params, 1.0)
        return norm, params[0].grad, params[1].grad  # type: ignore[return-value]

    return f, ([p, q],)


@register("clip.clip_by_value", backward=False)
def _sample_clip_value(device: torch.device, dtype: torch.dtype) -> Sample:
    p = torch.randn(3, 4, device=device, dtype=dtype, requires_grad=True)
    p.grad = torch.randn(3, 4, device=device, dtype=dtype) * 10

    def f(params: list[Tensor]) -> tuple[Tensor, Tensor]:
        norm = clip_by_value(params, 0.5)
        return norm, params[0].grad  # type: ignore[return-value]

    return f, ([p],)


@register_calls
def _calls_clip(device: torch.device, dtype: torch.dtype) -> list[Call]:
    p = torch.nn.Parameter(torch.randn(3, 4, device=device, dtype=dtype))
    p.grad = torch.randn(3, 4, device=device, dtype=dtype)
    g = torch.randn(5, device=device, dtype=dtype)
    return [
        Call(
            clip_by_norm,
            {"parameters": [p], "max_norm": 1.0, "eps": 1e-6},
            ranges={"max_norm": "[0, inf)", "eps": "[0, inf)"},
        ),
        Call(
            clip_by_value, {"parameters": [p], "clip_value": 0.5}, ranges={"clip_value": "[0, inf)"}
        ),
        Call(global_norm, {"grads": [g, g[:2]]}),
    ]


@register("clip.clip-fast", backward=False)
def _sample_clip_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    p = torch.randn(3, 4, device=device, dtype=dtype, requires_grad=True)
    q = torch.randn(5, device=device, dtype=dtype, requires_grad=True)
    p.grad = torch.randn(3, 4, device=device, dtype=dtype) * 10
    q.grad = torch.randn(5, device=device, dtype=dtype)

    def f(params: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        norm = clip_by_norm(params, 1.0, fast=True)
        return norm, params[0].grad, params[1].grad  # type: ignore[return-value]

    return f, ([p, q],)
