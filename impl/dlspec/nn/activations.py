"""Activation functions from primitives, in numerically stable form.

- `sigmoid(z) = 1 / (1 + e^{−z})`, evaluated as `e^{z}/(1 + e^{z})` for `z < 0` so that no
  `exp` overflows;
- `tanh(z) = sign(z)·(1 − e^{−2|z|})/(1 + e^{−2|z|})`, with `1 − e^{−2|z|}` as `−expm1(−2|z|)` so
  that small `|z|` keeps its relative accuracy;
- `relu(z) = max(z, 0)` (autograd's convention `relu′(0) = 0`);
- `softmax(z)_i = e^{z_i − m} / Σ_j e^{z_j − m}` and `log_softmax(z) = z − m − log Σ_j e^{z_j − m}`
  with `m = max_j z_j` (the max-shift that keeps every logit ≤ 0 before `exp`);
- `maxout(z, k)`: the maximum over groups of `k` consecutive pre-activations;
- `softplus(z) = ln(1 + e^{z})` (the binary cross-entropy's building block);
- `square(z) = z²`, the polynomial activation of `net.universality-needs-nonpolynomial`.

Fast forms (`fast=True` on `sigmoid`, `softmax`, `log_softmax`; claims `net.sigmoid-fast-form`,
`net.softmax-fast-form`): the same functions in fewer passes over memory. On the CPU (and the
meta device) a custom `torch.autograd.Function` computes the forward pass with in-place ops on
one fresh buffer and a hand-written backward pass (`softmax`: `p ⊙ (ḡ − ⟨ḡ, p⟩)`; `log_softmax`:
`ḡ − e^{out} Σ ḡ`; `sigmoid`: `ḡ σ (1 − σ)`); on CUDA, where each op is one trip through
memory, the plain form compiled by `torch.compile` (fused into one kernel per pass). `compiled()`
is that lazily compiled, cached form, shared with `losses`, `gan` and `generation`.

`ACTIVATIONS` maps the names accepted by the networks (`"sigmoid"`, `"tanh"`, `"relu"`,
`"identity"`, `"square"`) to these functions; `activation()` looks one up with a clear error.
Claims: `net.softmax`, `net.maxout-generalizes-relu`, `net.relu-piecewise-linear`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

from dlspec.checks import check_flag, check_float_tensor, check_int
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "ACTIVATIONS",
    "activation",
    "identity",
    "log_sigmoid",
    "log_softmax",
    "maxout",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "square",
    "tanh",
]
# `apply`, `compiled` and `fused` are the fast forms' plumbing (here, and in losses and gan).


_F = TypeVar("_F", bound=Callable[..., Any])
_COMPILED: dict[Callable[..., Any], Callable[..., Any]] = {}


def compiled(fn: _F) -> _F:
    """`torch.compile(fn, dynamic=True)`, compiled on first use and cached (one compile per
    function, whatever the shapes): the fused form of a fast kernel on CUDA."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn, dynamic=True)
    return _COMPILED[fn]  # type: ignore[return-value]


def apply(function: type[torch.autograd.Function], *args: Any) -> Tensor:
    """`function.apply(*args)`, typed: the eager fast forms' custom autograd functions."""
    out: Tensor = function.apply(*args)  # type: ignore[no-untyped-call]
    return out


def fused(t: Tensor) -> bool:
    """Whether a fast form on `t` takes the compiled path (CUDA) rather than the eager one."""
    return t.device.type == "cuda"


def _halves(z: Tensor) -> tuple[Tensor, Tensor]:
    """`(max(z, 0), min(z, 0))` through `where`, so that autograd's derivative is 1 on the side
    each covers, including at 0 (`|z|` would give a zero derivative there)."""
    pos = z.clamp_min(0.0)  # clamp's derivative is 1 at the bound: ∂pos/∂z = [z ≥ 0]
    return pos, z - pos  # z − max(z, 0) = min(z, 0) exactly; ∂/∂z = [z < 0]


def sigmoid(z: Tensor, *, fast: bool = False) -> Tensor:
    """`σ(z) = 1 / (1 + e^{−z})`, finite for every finite `z` (no `exp` of a positive number).

    `fast=True`: `1 / (1 + e^{−z})` directly, in place on one buffer (4 passes instead of 10);
    `e^{−z} = ∞` gives `σ = 0`, still finite (`net.sigmoid-fast-form`)."""
    check_float_tensor(z, "z")
    if check_flag(fast, "fast"):
        return compiled(_sigmoid)(z) if fused(z) else apply(_FastSigmoid, z)
    return _sigmoid(z)


def _sigmoid(z: Tensor) -> Tensor:
    pos, neg = _halves(z)
    # e^{min(z,0)} / (1 + e^{−|z|}) (neg − pos = −|z| exactly): z ≥ 0 gives 1/(1+e^{−z}),
    # z < 0 gives e^z/(1+e^z), never the exp of a positive number; no `where` over two computed
    # branches (slow on the CPU)
    return torch.exp(neg) / (1.0 + torch.exp(neg - pos))


class _FastSigmoid(torch.autograd.Function):
    """`σ(z) = 1/(1 + e^{−z})` in place on one fresh buffer; backward `ḡ σ (1 − σ)`."""

    @staticmethod
    def forward(ctx: Any, z: Tensor) -> Tensor:
        out = torch.neg(z)  # the one fresh buffer
        out.exp_().add_(1.0).reciprocal_()  # e^{−z} = ∞ for z ≪ 0 gives 1/∞ = 0
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        dz: Tensor = (1.0 - out).mul_(out).mul_(grad)  # σ′ = σ (1 − σ)
        return dz


def tanh(z: Tensor) -> Tensor:
    """`tanh(z) = sign(z)·(1 − e^{−2|z|}) / (1 + e^{−2|z|})`: no overflow, and accurate to a
    few ulps relative to `tanh(z)` for small `|z|` too (no `2σ(2z) − 1` cancellation)."""
    check_float_tensor(z, "z")
    pos, neg = _halves(z)
    t_pos = -torch.expm1(-2.0 * pos) / (1.0 + torch.exp(-2.0 * pos))  # z ≥ 0
    t_neg = torch.expm1(2.0 * neg) / (1.0 + torch.exp(2.0 * neg))  # z < 0: tanh is odd
    return torch.where(z >= 0, t_pos, t_neg)


def log_sigmoid(z: Tensor) -> Tensor:
    """`log σ(z) = −softplus(−z) = −ln(1 + e^{−z})`, finite for every finite `z`; its derivative
    is `σ(−z) = 1 − σ(z)`, also at `z = 0` (a form through `|z|` would give 1 there, not ½)."""
    return -softplus(-check_float_tensor(z, "z"))


def softplus(z: Tensor) -> Tensor:
    """`ln(1 + e^{z}) = max(z, 0) + ln(1 + e^{−|z|})`, finite for every finite `z`; its
    derivative is `σ(z)`, also at `z = 0` (`loss.logistic-gradient`)."""
    check_float_tensor(z, "z")
    pos, neg = _halves(z)
    # neg − pos = −|z| exactly: z ≥ 0 gives z + ln(1 + e^{−z}), z < 0 gives ln(1 + e^{z});
    # one exp and one log1p per entry (no `where` over two computed branches, which is slow on
    # the CPU); the derivative 1 − σ(−z)·1 at z ≥ 0 and σ(z) at z < 0: ½ at 0
    return pos + torch.log1p(torch.exp(neg - pos))


def square(z: Tensor) -> Tensor:
    """`z²`: a polynomial activation (with it universality fails,
    `net.universality-needs-nonpolynomial`)."""
    check_float_tensor(z, "z")
    return z * z


def relu(z: Tensor) -> Tensor:
    """`max(z, 0)`; its autograd derivative at 0 is 0 (a convention, see `opt.backprop-kink`)."""
    check_float_tensor(z, "z")
    # a Python 0.0 takes z's dtype and device; clamp_min would pass a gradient of 1 at z = 0
    return torch.where(z > 0, z, 0.0)


def identity(z: Tensor) -> Tensor:
    """`z` itself (the linear network's "activation")."""
    return check_float_tensor(z, "z")


def _check_dim(z: Tensor, dim: int) -> int:
    check_float_tensor(z, "z")
    check_int(dim, "dim", low=-(2**63))  # an integer; its range is checked below
    if z.dim() == 0:
        raise ValueError("z must have at least one dimension (the logits), got a 0-d tensor")
    if not -z.dim() <= dim < z.dim():
        raise ValueError(
            f"dim must be in [{-z.dim()}, {z.dim() - 1}] for z of shape {tuple(z.shape)}, got {dim}"
        )
    if z.shape[dim] == 0:
        raise ValueError(
            f"z must have at least one logit along dim {dim}, got shape {tuple(z.shape)}"
        )
    return dim


def log_softmax(z: Tensor, dim: int = -1, *, fast: bool = False) -> Tensor:
    """`z − m − log Σ_j e^{z_j − m}`, `m = max_j z_j` (stable for logits of any size), with the
    sum's leading 1 (one maximal logit's `e^0`) taken out: `log Σ_j e^{z_j − m} = log1p(r)`,
    `r = Σ_{j ≠ j*} e^{z_j − m}`, so that a confident prediction (`r ≪ ε`) keeps its relative
    accuracy, e.g. `−log softmax(z)_{j*} = log1p(r) ≈ r` rather than `log(1 + r) = 0`
    (`numerics.softmax-extremes`).

    `fast=True`: the same shift and the same `log1p(r)`, in place, with the backward
    `ḡ − e^{out} Σ ḡ` written by hand (`net.softmax-fast-form`)."""
    dim = _check_dim(z, dim)
    if check_flag(fast, "fast"):
        return compiled(_log_softmax)(z, dim) if fused(z) else apply(_FastLogSoftmax, z, dim)
    return _log_softmax(z, dim)


def _log_softmax(z: Tensor, dim: int) -> Tensor:
    m, top = z.detach().max(dim=dim, keepdim=True)  # m = z_{j*}; m's gradient cancels
    shifted = z - m  # z − m ≤ 0: no exp overflows
    e = torch.exp(shifted)
    # r = Σ_j e^{z_j − m} − 1 with the 1 taken off e_{j*} = e^0 = 1 exactly: nothing cancels
    rest = e.scatter(dim, top, e.gather(dim, top) - 1.0).sum(dim=dim, keepdim=True)
    return shifted - torch.log1p(rest)


def softmax(z: Tensor, dim: int = -1, *, fast: bool = False) -> Tensor:
    """`e^{z_i − m} / Σ_j e^{z_j − m}`: positive, sums to 1, unchanged by `z + c`.

    `fast=True`: the same shift, `exp` and normalization in place on one buffer, with the
    backward `p ⊙ (ḡ − ⟨ḡ, p⟩)` written by hand (`net.softmax-fast-form`)."""
    dim = _check_dim(z, dim)
    if check_flag(fast, "fast"):
        return compiled(_softmax)(z, dim) if fused(z) else apply(_FastSoftmax, z, dim)
    return _softmax(z, dim)


def _softmax(z: Tensor, dim: int) -> Tensor:
    e = torch.exp(z - z.amax(dim=dim, keepdim=True).detach())  # every exponent ≤ 0
    return e / e.sum(dim=dim, keepdim=True)


class _FastSoftmax(torch.autograd.Function):
    """Forward: `e = z − m` (the one fresh buffer), `exp` and `· 1/Σe` in place. Backward:
    `∂z = p ⊙ ḡ − p ⟨p, ḡ⟩` (the Jacobian `diag(p) − p pᵀ` applied to `ḡ`)."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, dim: int) -> Tensor:
        e = z - z.amax(dim=dim, keepdim=True)  # every exponent ≤ 0
        e.exp_()
        p = e.mul_(e.sum(dim=dim, keepdim=True).reciprocal_())
        ctx.dim = dim
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (p,) = ctx.saved_tensors
        gp = grad * p
        return gp.addcmul_(p, gp.sum(dim=ctx.dim, keepdim=True), value=-1.0), None


class _FastLogSoftmax(torch.autograd.Function):
    """Forward: `s = z − m` (the output buffer), `s −= log1p(r)` in place with
    `r = Σ_{j ≠ j*} e^{s_j}` (the maximal logit's `e^0 = 1` taken out, as in the plain form).
    Backward: `∂z = ḡ − softmax(z) Σ ḡ`, with `softmax(z) = e^{out}`."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, dim: int) -> Tensor:
        m, top = z.max(dim=dim, keepdim=True)
        s = z - m
        e = torch.exp(s).scatter_(dim, top, 0.0)  # e^{s_j}, with e^{s_{j*}} = 1 taken out
        out = s.sub_(torch.log1p(e.sum(dim=dim, keepdim=True)))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        total = grad.sum(dim=ctx.dim, keepdim=True)
        return torch.exp(out).mul_(total).neg_().add_(grad), None


def maxout(z: Tensor, k: int) -> Tensor:
    """Maxout over the last dimension, `(..., n·k) → (..., n)`: unit `i` is
    `max_j z[..., i·k + j]` (`net.maxout-generalizes-relu`; `relu(z) = maxout([z, 0], 2)`)."""
    check_float_tensor(z, "z")
    k = check_int(k, "k")
    if z.dim() == 0 or z.shape[-1] % k:
        raise ValueError(
            f"z's last dimension must be a multiple of k={k} (units × pieces), "
            f"got shape {tuple(z.shape)}"
        )
    return z.reshape(*z.shape[:-1], z.shape[-1] // k, k).amax(dim=-1)


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "identity": identity,
    "square": square,
}


def activation(name: Any) -> Callable[[Tensor], Tensor]:
    """The activation called `name` (one of `ACTIVATIONS`), else an error naming the choices."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation name must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


@register("activations.all")
def _sample_activations(device: torch.device, dtype: torch.dtype) -> Sample:
    def f(z: Tensor) -> Tensor:
        return (
            sigmoid(z)
            + sigmoid(z, fast=True)
            + tanh(z)
            + relu(z)
            + softmax(z)
            + softmax(z, fast=True)
            + log_softmax(z, dim=0)
            + log_softmax(z, dim=0, fast=True)
            + maxout(z, 2).repeat_interleave(2, dim=-1)
            + square(z)
            + softplus(z)
        )

    return f, (torch.randn(3, 4, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_activations(device: torch.device, dtype: torch.dtype) -> list[Call]:
    z = torch.randn(3, 4, device=device, dtype=dtype)
    dim = {"dim": "[-2, 1]"}
    return [
        *(
            Call(f, {"z": z})
            for f in (identity, log_sigmoid, relu, sigmoid, softplus, square, tanh)
        ),
        Call(softmax, {"z": z, "dim": 0}, ranges=dim),
        Call(log_softmax, {"z": z, "dim": -1}, ranges=dim),
        Call(maxout, {"z": z, "k": 2}, ranges={"k": "[1, 4]"}),
        Call(activation, {"name": "tanh"}),
    ]
