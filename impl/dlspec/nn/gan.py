"""Generative adversarial networks: the value function, the optimal discriminator, JSD, and a
small 1-D training loop.

Notation, as on the spec page `generative/gan.md`: a discriminator `D(x) ∈ (0, 1)` (here
`D = σ(ℓ)` with a logit `ℓ`), a generator `G(z)` fed with noise `z ~ N(0, 1)`, and

    V(D, G) = E_{x ~ p_data} log D(x) + E_{z} log(1 − D(G(z))).

For densities (or probability mass functions) known in closed form:

- `optimal_discriminator(p_data, p_g)`: `D*(x) = p_data(x) / (p_data(x) + p_g(x))`;
- `value_discrete(d, p_data, p_g)`: `V = Σ_x p_data(x) log D(x) + p_g(x) log(1 − D(x))`;
- `jsd(p, q)`: `½ KL(p‖m) + ½ KL(q‖m)`, `m = (p + q)/2`, natural logarithms;
- `generator_criterion(p_data, p_g)`: `C(G) = V(D*, G) = 2·JSD(p_data‖p_g) − log 4`.

For training: `Generator` (an affine map or a small net of noise), `Discriminator` (a small
tanh net giving logits), both holding `copies` independent models in one set of tensors so that
several seeds train as one batch; `value_function()` estimates `V` from logits, and
`train_gan()` alternates one discriminator step and one non-saturating generator step.

Claims served: `gan.optimal-discriminator`, `gan.jsd`, `gan.learns-1d`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_callable,
    check_flag,
    check_float_tensor,
    check_int,
    check_like,
    check_module,
    check_real,
)
from dlspec.nn.activations import apply, compiled, fused, log_sigmoid
from dlspec.nn.linear import FeedForward, Linear
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = [
    "Discriminator",
    "GANHistory",
    "Generator",
    "check_pmf",
    "generator_criterion",
    "jsd",
    "kl_divergence",
    "log_sigmoid",
    "optimal_discriminator",
    "train_gan",
    "value_discrete",
    "value_function",
]

#: How far a probability mass function may sum from 1 (relative to its dtype's resolution).
PMF_SUM_SLACK = 64


# -- closed forms for known densities -------------------------------------------------------------


def check_pmf(p: object, name: str) -> Tensor:
    """`p` itself if it is a floating tensor of non-negative, finite entries summing to 1 along
    its last dimension (up to `PMF_SUM_SLACK` units of the dtype's resolution times the length),
    else a `ValueError` naming `name`. On the meta device only the type is checked."""
    t = check_float_tensor(p, name)
    if t.dim() == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one outcome along its last dimension")
    if t.device.type == "meta":
        return t
    # two passes over the data: `t ≥ 0` is False for a negative entry, −∞ and NaN; a +∞ entry
    # makes its row's sum +∞ (as does a sum of finite entries past the largest float)
    total = t.sum(dim=-1)
    if not bool((t >= 0).all()) or not bool(torch.isfinite(total).all()):
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    slack = PMF_SUM_SLACK * torch.finfo(t.dtype).eps * t.shape[-1]
    if not bool(((total - 1).abs() <= slack).all()):
        worst = float((total - 1).abs().max())
        raise ValueError(
            f"{name} must sum to 1 along its last dimension (within {slack:.2g}), "
            f"off by {worst:.3g}"
        )
    return t


def _check_density_pair(
    p: object, q: object, pmf: bool, names: tuple[str, str] = ("p_data", "p_g")
) -> tuple[Tensor, Tensor]:
    pn, qn = names
    if pmf:
        p_t, q_t = check_pmf(p, pn), check_pmf(q, qn)
    else:
        p_t, q_t = check_float_tensor(p, pn), check_float_tensor(q, qn)
        for t, name in ((p_t, pn), (q_t, qn)):
            if t.device.type != "meta" and (
                not bool(torch.isfinite(t).all()) or bool((t < 0).any())
            ):
                raise ValueError(f"{name} must hold finite, non-negative density values")
    check_like(q_t, p_t, qn, pn)
    if p_t.shape != q_t.shape:
        raise ValueError(
            f"{pn} and {qn} must have the same shape, got {tuple(p_t.shape)} and {tuple(q_t.shape)}"
        )
    return p_t, q_t


def optimal_discriminator(p_data: Tensor, p_g: Tensor) -> Tensor:
    """`D*(x) = p_data(x) / (p_data(x) + p_g(x))`, pointwise (`gan.optimal-discriminator`).

    The arguments are density (or mass) values at the same points, non-negative. Where both are
    0 every `D` gives the same `V` (the point carries no mass); `D*` is set to `½` there.
    """
    p, q = _check_density_pair(p_data, p_g, pmf=False)
    s = p + q
    safe = torch.where(s > 0, s, torch.ones_like(s))
    return torch.where(
        s > 0, p / safe, torch.full_like(s, 0.5)
    )  # a/(a+b), argmax of a log y + b log(1−y)


def value_discrete(d: Tensor, p_data: Tensor, p_g: Tensor) -> Tensor:
    """`V(D, G) = Σ_x p_data(x) log D(x) + p_g(x) log(1 − D(x))` for mass functions over the last
    dimension (`0 · log 0 = 0`: a point without mass adds nothing, whatever `D` is there)."""
    p, q = _check_density_pair(p_data, p_g, pmf=True)
    check_float_tensor(d, "d")
    check_like(d, p, "d", "p_data")
    if d.shape != p.shape:
        raise ValueError(f"d must have p_data's shape {tuple(p.shape)}, got {tuple(d.shape)}")
    if d.device.type != "meta" and not bool(((d >= 0) & (d <= 1)).all()):  # NaN fails too
        raise ValueError("d must hold discriminator outputs in [0, 1]")
    # log(1 − D) as log1p(−D): accurate for small D (numerics.bce-extremes)
    v: Tensor = (torch.xlogy(p, d) + torch.special.xlog1py(q, -d)).sum(dim=-1)
    return v


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """`KL(p‖q) = Σ p log(p/q)` over the last dimension, natural log, `0 log 0 = 0`
    (`+∞` where `q = 0 < p`)."""
    p, q = _check_density_pair(p, q, pmf=True, names=("p", "q"))
    kl: Tensor = (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=-1)
    return kl


def jsd(p: Tensor, q: Tensor, *, fast: bool = False) -> Tensor:
    """`JSD(p‖q) = ½ KL(p‖m) + ½ KL(q‖m)`, `m = (p + q)/2`, natural log (`gan.jsd`).

    `0 ≤ JSD ≤ log 2`; 0 iff `p = q`, `log 2` iff the supports are disjoint.

    `fast=True`: the same sum regrouped, `½ Σ [p ln p + q ln q − s ln s + s ln 2]` with
    `s = p + q` (since `p ln m + q ln m = s ln(s/2)`): one logarithm per entry of `p`, `q` and
    `s` instead of four (`gan.jsd-fast-form`).
    """
    p, q = _check_density_pair(p, q, pmf=True, names=("p", "q"))
    if check_flag(fast, "fast"):  # on CUDA compiled into one kernel per reduction
        return compiled(_jsd_regrouped)(p, q) if fused(p) else apply(_FastJSD, p, q)
    # ln m = ln s − ln 2 with s = p + q = 2m: m itself is never formed, since halving a
    # subnormal s rounds it (s = 4.9e-324 gives m = 0 and KL = +∞ where the true JSD is finite)
    s = p + q
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, s) + math.log(2.0) * p).sum(dim=-1)  # KL(p‖m)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, s) + math.log(2.0) * q).sum(dim=-1)  # KL(q‖m)
    out: Tensor = 0.5 * (kl_pm + kl_qm)
    return out


def _jsd_regrouped(p: Tensor, q: Tensor) -> Tensor:
    """`½ Σ [p ln p + q ln q − s ln s + s ln 2]`, `s = p + q`: `jsd`'s fast form."""
    s = p + q
    terms = torch.xlogy(p, p).add_(torch.xlogy(q, q)).sub_(torch.xlogy(s, s))
    out: Tensor = terms.sum(dim=-1).add_(s.sum(dim=-1), alpha=math.log(2.0)).mul_(0.5)
    return out


class _FastJSD(torch.autograd.Function):
    """The regrouped JSD with `ln` (vectorized) instead of `xlogy` (elementwise, several times
    slower on the CPU): `ln 0 = −∞` is clamped to the lowest float so that `0 · ln 0 = 0`.
    Backward: `∂/∂p = ½ ḡ ln(2p/s)`, `∂/∂q = ½ ḡ ln(2q/s)` (`−∞` where `p = 0 < q`: the true
    one-sided derivative, where the plain form's `xlogy` gives NaN)."""

    @staticmethod
    def forward(ctx: Any, p: Tensor, q: Tensor) -> Tensor:
        lowest = torch.finfo(p.dtype).min
        s = p + q
        log_p, log_q, log_s = (torch.log(t).clamp_min_(lowest) for t in (p, q, s))
        terms = torch.mul(p, log_p).addcmul_(q, log_q).addcmul_(s, log_s, value=-1.0)
        ctx.save_for_backward(p, q)
        out: Tensor = terms.sum(dim=-1).add_(s.sum(dim=-1), alpha=math.log(2.0)).mul_(0.5)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        p, q = ctx.saved_tensors
        half_g = 0.5 * grad.unsqueeze(-1)
        log_half_s = torch.log(p + q).sub_(math.log(2.0))  # ln m
        return (
            torch.log(p).sub_(log_half_s).mul_(half_g),
            torch.log(q).sub_(log_half_s).mul_(half_g),
        )


def generator_criterion(p_data: Tensor, p_g: Tensor) -> Tensor:
    """`C(G) = max_D V(D, G) = V(D*, G)` (`gan.jsd`): equals `2·JSD(p_data‖p_g) − log 4`.

    With `D* = p/(p + q)` plugged in, `p log D* + q log(1 − D*) = p log p + q log q −
    (p + q) log(p + q)`; this form has finite gradients where one of `p`, `q` is 0 (plugging
    `D* = 0` into `log D*` would give `0 · ∞` in the backward pass).
    """
    p, q = _check_density_pair(p_data, p_g, pmf=True)
    s = p + q
    c: Tensor = (torch.xlogy(p, p) + torch.xlogy(q, q) - torch.xlogy(s, s)).sum(dim=-1)
    return c


# -- models and the training loop -----------------------------------------------------------------


def value_function(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Monte-Carlo `V(D, G)` from logits `ℓ` with `D = σ(ℓ)`:
    `mean log σ(ℓ(x)) + mean log σ(−ℓ(G(z)))` (`1 − σ(ℓ) = σ(−ℓ)`), averaged over the last two
    dimensions `(N, 1)`, so `copies` leading models give one value each."""
    check_float_tensor(real_logits, "real_logits")
    check_float_tensor(fake_logits, "fake_logits")
    check_like(fake_logits, real_logits, "fake_logits", "real_logits")
    if real_logits.dim() < 2 or fake_logits.dim() < 2:
        raise ValueError("real_logits and fake_logits must have shape (..., N, 1)")
    v: Tensor = log_sigmoid(real_logits).mean(dim=(-2, -1)) + log_sigmoid(-fake_logits).mean(
        dim=(-2, -1)
    )
    return v


def _stack(
    sizes: Sequence[int],
    copies: int,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> FeedForward:
    """`copies` independent nets `sizes[0] → … → sizes[-1]`, tanh hidden layers, linear output:
    input `(copies, N, in)`, output `(copies, N, out)`."""
    copies = check_int(copies, "copies")
    return FeedForward(
        sizes, "tanh", copies=copies, generator=generator, device=device, dtype=dtype
    )


def _copies(net: FeedForward) -> int:
    first = net.layers[0]
    assert isinstance(first, Linear) and first.copies is not None
    return first.copies


class Generator(nn.Module):
    """`G(z)`: noise `(copies, N, noise_dim)` → samples `(copies, N, out_dim)`.

    `hidden=()` (the default) is the affine generator `G(z) = a z + b`, started at `a = 1`,
    `b = 0` (so `G(z) ~ N(0, 1)` at first); with hidden widths it is a tanh net.
    """

    def __init__(
        self,
        copies: int = 1,
        *,
        noise_dim: int = 1,
        out_dim: int = 1,
        hidden: Sequence[int] = (),
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.noise_dim = check_int(noise_dim, "noise_dim")
        check_int(out_dim, "out_dim")
        hidden = [check_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)]
        self.net = _stack([noise_dim, *hidden, out_dim], copies, generator, device, dtype)
        if not hidden and noise_dim == out_dim:
            first = self.net.layers[0]
            assert isinstance(first, Linear) and first.bias is not None
            with torch.no_grad():  # start at the identity: G(z) = z (in place: no new tensor)
                first.weight.zero_().diagonal(dim1=-2, dim2=-1).fill_(1.0)
                first.bias.zero_()

    @property
    def copies(self) -> int:
        return _copies(self.net)

    def forward(self, z: Tensor) -> Tensor:
        check_like(check_float_tensor(z, "z"), next(self.parameters()), "z", "the weights")
        return self.net(z)  # type: ignore[no-any-return]


class Discriminator(nn.Module):
    """The logit `ℓ(x)` of `D(x) = σ(ℓ(x))`: `(copies, N, in_dim)` → `(copies, N, 1)`, a tanh
    net with the given hidden widths."""

    def __init__(
        self,
        copies: int = 1,
        *,
        in_dim: int = 1,
        hidden: Sequence[int] = (16,),
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int(in_dim, "in_dim")
        hidden = [check_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)]
        self.net = _stack([in_dim, *hidden, 1], copies, generator, device, dtype)

    @property
    def copies(self) -> int:
        return _copies(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


@dataclass
class GANHistory:
    """Per step: the batch estimate of `V(D, G)` for each copy (before the generator step)."""

    value: list[Tensor] = field(default_factory=list)


DataSampler = Callable[[int, torch.Generator], Tensor]


def train_gan(
    gen: Generator,
    disc: Discriminator,
    sample_data: DataSampler,
    *,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    lr: float = 1e-2,
    betas: tuple[float, float] = (0.5, 0.999),
    decay: bool = True,
) -> GANHistory:
    """Alternate a discriminator step (ascend `V`) and a generator step (the non-saturating
    loss `−E log D(G(z))`), with Adam, for `steps` rounds.

    `sample_data(n, generator)` returns `(copies, n, dim)` real samples. With `decay` the
    learning rate falls linearly to 0 over the run. All copies train at once; Adam acts
    elementwise and the copies' losses are summed, so each copy trains as it would alone.
    """
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_real(lr, "lr", low=0.0, low_open=True, meaning="the learning rate")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if not isinstance(decay, bool):
        raise TypeError(f"decay must be a bool (True or False), got {type(decay).__name__}")
    check_module(gen, "gen", Generator)
    check_module(disc, "disc", Discriminator)
    check_callable(sample_data, "sample_data")
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (β1, β2), got {betas!r}")
    betas = (
        check_real(betas[0], "betas[0]", low=0.0, high=1.0, high_open=True),
        check_real(betas[1], "betas[1]", low=0.0, high=1.0, high_open=True),
    )
    copies = gen.copies
    if disc.copies != copies:
        raise ValueError(f"disc must hold gen's {copies} copies, got {disc.copies}")
    p0 = next(gen.parameters())
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=betas)
    history = GANHistory()

    def noise() -> Tensor:
        shape = (copies, batch_size, gen.noise_dim)
        return torch.randn(shape, generator=generator, device=p0.device, dtype=p0.dtype)

    for t in range(steps):
        if decay:
            for opt in (opt_d, opt_g):
                for group in opt.param_groups:
                    group["lr"] = lr * (1.0 - t / steps)
        x = sample_data(batch_size, generator)
        fake = gen(noise()).detach()
        v = value_function(disc(x), disc(fake))  # V(D, G), one per copy
        opt_d.zero_grad()
        (-v.sum()).backward()  # type: ignore[no-untyped-call]  # D ascends V
        opt_d.step()
        history.value.append(v.detach())
        g_loss = -log_sigmoid(disc(gen(noise()))).mean(dim=(-2, -1))  # −E log D(G(z))
        opt_g.zero_grad()
        g_loss.sum().backward()  # type: ignore[no-untyped-call]
        opt_g.step()
    return history


# -- registry samples -----------------------------------------------------------------------------


@register("gan.closed-forms")
def _sample_closed_forms(device: torch.device, dtype: torch.dtype) -> Sample:
    def f(logits_p: Tensor, logits_q: Tensor) -> Tensor:
        p = torch.softmax(logits_p, dim=-1)
        q = torch.softmax(logits_q, dim=-1)
        d = optimal_discriminator(p, q)
        v = value_discrete(d, p, q) + jsd(p, q) + jsd(p, q, fast=True)
        return v + generator_criterion(p, q) + kl_divergence(p, q)

    lp = torch.randn(5, device=device, dtype=dtype, requires_grad=True)
    lq = torch.randn(5, device=device, dtype=dtype, requires_grad=True)
    return f, (lp, lq)


@register("gan.models")
def _sample_models(device: torch.device, dtype: torch.dtype) -> Sample:
    gen = Generator(3, hidden=(4,), device=device, dtype=dtype)
    disc = Discriminator(3, device=device, dtype=dtype)

    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gen, self.disc = gen, disc

        def forward(self, x: Tensor, z: Tensor) -> Tensor:
            return value_function(self.disc(x), self.disc(self.gen(z)))

    x = torch.randn(3, 8, 1, device=device, dtype=dtype)
    z = torch.randn(3, 8, 1, device=device, dtype=dtype)
    return Both(), (x, z)


@register_calls
def _calls_gan(device: torch.device, dtype: torch.dtype) -> list[Call]:
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], device=device, dtype=dtype)
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], device=device, dtype=dtype)
    d = torch.tensor([0.3, 0.5, 0.6, 0.9], device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    x = torch.randn(3, 8, 1, **where)
    g = sample_generator(device).manual_seed(0)
    pmf = ("p", "q", "p_data", "p_g")
    return [
        Call(check_pmf, {"p": p, "name": "p"}, free=("name",), finite=("p",)),
        *(
            Call(fn, {"p_data": p, "p_g": q}, ndim=pmf, finite=pmf)
            for fn in (optimal_discriminator, generator_criterion)
        ),
        Call(value_discrete, {"d": d, "p_data": p, "p_g": q}, ndim=("d", *pmf), finite=("d", *pmf)),
        *(Call(fn, {"p": p, "q": q}, ndim=pmf, finite=pmf) for fn in (kl_divergence, jsd)),
        Call(value_function, {"real_logits": x, "fake_logits": x}),
        Call(Generator, {"copies": 3, "hidden": (4,), **where}, forward={"z": x}),
        Call(Discriminator, {"copies": 3, **where}, forward={"x": x}),
        Call(
            train_gan,
            {
                "gen": Generator(**where),
                "disc": Discriminator(**where),
                "sample_data": lambda n, g: torch.randn(n, 1, generator=g, **where),
                "steps": 1,
                "batch_size": 2,
                "generator": g,
            },
            ranges={"lr": "(0, inf)", "betas": "[0, 1)"},
        ),
    ]
