"""Four ways to explain a network: perturbation and gradient saliency, occlusion, a local
interpretable surrogate, and reading features off a hidden layer (plus activation maximization).

Notation, as on the spec page `explaining/explain.md`: a model `f` maps a batch of inputs
`(N, …)` to scores `(N, C)`; `S_c(x)` is the score of class `c` at one input `x`.

- `saliency(f, x, target)`: `∂S_c/∂x` by autograd, one gradient per example;
- `perturbation_sensitivity(f, x, target, eps)`: `(S_c(x + ε e_i) − S_c(x))/ε` for every
  input feature `i`, all perturbed copies evaluated in one batch (the notes' first method);
- `occlusion(f, x, target, masks, fill)`: `Δ_P = S_c(x) − S_c(x_P)` where `x_P` replaces the
  entries in patch `P` by the fill value `v`; `occlusion_map()` slides a square patch;
- `weighted_least_squares(z, y, weights, alpha)` and `local_surrogate(f, x, …)`: the LIME-style
  fit `argmin_{β, β_0} Σ_n π_n (y_n − β_0 − βᵀ z_n)² + α‖β‖²`;
- `activation_maximization(score, x0, radius, …)`: projected gradient ascent on `‖x‖ ≤ r`;
- `FeatureExtractor(net, layer)`: a `FeedForward` net cut after hidden layer `layer`.

Claims served: `explain.saliency-linear`, `explain.perturbation-first-order`,
`explain.occlusion`, `explain.surrogate-recovers-linear`, `explain.activation-max`,
`explain.hidden-features`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_callable,
    check_finite,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
    check_real,
)
from dlspec.nn.linear import FeedForward, Linear
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = [
    "FeatureExtractor",
    "activation_maximization",
    "local_surrogate",
    "occlusion",
    "occlusion_map",
    "patch_masks",
    "perturbation_sensitivity",
    "saliency",
    "weighted_least_squares",
]

Model = Callable[[Tensor], Tensor]


def _check_target(scores: Tensor, target: object) -> int:
    if scores.dim() != 2:
        raise ValueError(f"f must return scores of shape (N, C), got {tuple(scores.shape)}")
    return check_int(target, "target", low=0, high=scores.shape[1] - 1)


def saliency(f: Model, x: Tensor, target: int) -> Tensor:
    """`∂S_c/∂x` for every example of the batch `x` (`explain.saliency-linear`).

    The examples are independent, so the gradient of `Σ_n S_c(x_n)` with respect to the batch
    holds each example's own gradient. The result has `x`'s shape and no graph.
    """
    check_callable(f, "f")
    check_float_tensor(x, "x")
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = f(xg)
        c = _check_target(scores, target)
        (grad,) = torch.autograd.grad(scores[:, c].sum(), xg)  # ∂S_c/∂x_n, per example
    return grad


def perturbation_sensitivity(f: Model, x: Tensor, target: int, eps: float) -> Tensor:
    """`(S_c(x + ε e_i) − S_c(x)) / ε` for every feature `i` of one input `x` (any shape); the
    result has `x`'s shape. All perturbed copies go through `f` as one batch of `1 + x.numel()`."""
    check_callable(f, "f")
    check_float_tensor(x, "x")
    eps = check_real(eps, "eps", low=0.0, low_open=True, meaning="the perturbation size")
    n = x.numel()
    eye = torch.eye(n, device=x.device, dtype=x.dtype).reshape(n, *x.shape)
    batch = torch.cat([x.unsqueeze(0), x.unsqueeze(0) + eps * eye])  # x, x + ε e_1, …, x + ε e_n
    scores = f(batch)
    c = _check_target(scores, target)
    s = scores[:, c]
    return ((s[1:] - s[0]) / eps).reshape(x.shape)


def occlusion(
    f: Model, x: Tensor, target: int, masks: Tensor, fill: float | Tensor = 0.0
) -> Tensor:
    """`Δ_P = S_c(x) − S_c(x_P)` for each mask `P` (`explain.occlusion`).

    `masks` has shape `(P, *x.shape)` with entries in {0, 1} (1: occluded); `x_P = (1 − m) ⊙ x +
    m ⊙ v` with `v = fill` (a number, or a tensor of `x`'s shape such as a mean image). One
    batch of `1 + P` inputs goes through `f`.
    """
    check_callable(f, "f")
    check_finite(check_float_tensor(x, "x"), "x")
    check_float_tensor(masks, "masks")
    check_like(masks, x, "masks", "x")
    if masks.shape[1:] != x.shape or masks.shape[0] == 0:
        raise ValueError(
            f"masks must have shape (P ≥ 1, {', '.join(map(str, x.shape))}), "
            f"got {tuple(masks.shape)}"
        )
    if masks.device.type != "meta" and not bool(((masks == 0) | (masks == 1)).all()):
        raise ValueError("masks must hold only 0 (kept) and 1 (occluded)")
    if isinstance(fill, Tensor):
        check_float_tensor(fill, "fill")
        check_like(fill, x, "fill", "x")
        if fill.shape != x.shape and fill.dim() != 0:
            raise ValueError(f"fill must be a number or have x's shape {tuple(x.shape)}")
        v = fill
    else:
        v = torch.full_like(x, check_real(fill, "fill"))
    occluded = (1 - masks) * x + masks * v  # x_P = (1 − m) ⊙ x + m ⊙ v
    scores = f(torch.cat([x.unsqueeze(0), occluded]))
    c = _check_target(scores, target)
    s = scores[:, c]
    return s[0] - s[1:]  # Δ_P = S_c(x) − S_c(x_P)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """An int `k` as `(k, k)`, or a pair of ints, each ≥ 1 (errors name `name height/width`)."""
    if isinstance(value, tuple) and len(value) == 2:
        h, w = value
    else:
        h = w = value
    return check_int(h, f"{name} height"), check_int(w, f"{name} width")


def _tile_masks(
    height: int,
    width: int,
    patch: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> Tensor:
    """Masks `(H′, W′, H, W)` of a patch that fits an `H × W` image, slid by `stride` (default:
    the patch); `patch` and `stride` are checked here."""
    ph, pw = _pair(patch, "patch")
    if ph > height or pw > width:
        raise ValueError(
            f"patch must fit the image: patch {ph}×{pw} is larger than the image {height}×{width}"
        )
    sh, sw = (ph, pw) if stride is None else _pair(stride, "stride")
    rows = torch.arange(0, height - ph + 1, sh, device=device)
    cols = torch.arange(0, width - pw + 1, sw, device=device)
    i = torch.arange(height, device=device)
    j = torch.arange(width, device=device)
    in_r = (i[None, :] >= rows[:, None]) & (i[None, :] < rows[:, None] + ph)  # (H′, H)
    in_c = (j[None, :] >= cols[:, None]) & (j[None, :] < cols[:, None] + pw)  # (W′, W)
    return (in_r[:, None, :, None] & in_c[None, :, None, :]).to(dtype)  # (H′, W′, H, W)


def patch_masks(
    height: int,
    width: int,
    patch: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Masks `(H′·W′, H, W)` of a `ph × pw` patch slid with `stride` (default: the patch, i.e.
    non-overlapping tiles) over an `H × W` image; `H′ = ⌊(H − ph)/sh⌋ + 1`."""
    height, width = check_int(height, "height"), check_int(width, "width")
    dtype = check_float_dtype(dtype)
    return _tile_masks(height, width, patch, stride, device, dtype).reshape(-1, height, width)


def occlusion_map(
    f: Model,
    image: Tensor,
    target: int,
    patch: int | tuple[int, int],
    *,
    fill: float | Tensor = 0.0,
    stride: int | tuple[int, int] | None = None,
) -> Tensor:
    """`Δ_P` for a patch slid over a 2-D `image` `(H, W)`, as an `(H′, W′)` map; `f` receives
    batches of images `(N, H, W)`."""
    check_float_tensor(image, "image", dim=2)
    h, w = image.shape
    masks = _tile_masks(h, w, patch, stride, image.device, image.dtype)  # (H′, W′, H, W)
    return occlusion(f, image, target, masks.reshape(-1, h, w), fill).reshape(masks.shape[:2])


def weighted_least_squares(
    z: Tensor, y: Tensor, weights: Tensor, *, alpha: float = 0.0
) -> tuple[Tensor, Tensor]:
    """`argmin_{β, β_0} Σ_n π_n (y_n − β_0 − βᵀ z_n)² + α‖β‖²` (the intercept is not penalized).

    Solved as ordinary least squares (by QR) on the rows `√π_n [z_n, 1]`, `√π_n y_n`, stacked
    with `√α [I, 0]`, `0` for the penalty; the stacked design must have full column rank.
    `z` is `(N, d)`, `y` and `weights` `(N,)`, weights > 0.
    Returns `(β, β_0)`.
    """
    check_float_tensor(z, "z", dim=2)
    check_float_tensor(y, "y", dim=1)
    check_float_tensor(weights, "weights", dim=1)
    check_like(y, z, "y", "z")
    check_like(weights, z, "weights", "z")
    for t, name in ((z, "z"), (y, "y"), (weights, "weights")):
        check_finite(t, name)
    n, d = z.shape
    if y.shape[0] != n or weights.shape[0] != n:
        raise ValueError(f"y and weights must hold one entry per row of z ({n})")
    if weights.device.type != "meta" and not bool((weights > 0).all()):
        raise ValueError("weights must be positive (kernel weights π_n > 0)")
    alpha = check_real(alpha, "alpha", low=0.0, meaning="the ridge penalty")
    r = weights.sqrt().unsqueeze(1)  # √π_n
    design = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)  # [z_n, 1]
    a = r * design
    b = r.squeeze(1) * y
    if alpha > 0:
        eye = torch.eye(d, device=z.device, dtype=z.dtype)
        pen = torch.cat([eye, torch.zeros((d, 1), device=z.device, dtype=z.dtype)], dim=1)
        a = torch.cat([a, alpha**0.5 * pen])  # ‖√α β‖² = α‖β‖²
        b = torch.cat([b, torch.zeros(d, device=z.device, dtype=z.dtype)])
    if a.shape[0] < d + 1:
        raise ValueError(
            f"z must have at least {d + 1 - (d if alpha > 0 else 0)} rows for {d} features"
        )
    q, rr = torch.linalg.qr(a)  # A = QR, R upper triangular (d+1)×(d+1)
    coef = torch.linalg.solve_triangular(rr, q.T @ b.unsqueeze(1), upper=True).squeeze(1)
    return coef[:d], coef[d]


def local_surrogate(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    samples: int = 200,
    scale: float = 1.0,
    kernel_width: float = 1.0,
    alpha: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A LIME-style linear surrogate of a black box `f: (N, d) → (N,)` around `x` `(d,)`
    (`explain.surrogate-recovers-linear`).

    Perturbations `z_n = x + scale·ε_n`, `ε_n ~ N(0, I)`; kernel weights
    `π_n = exp(−‖z_n − x‖² / kernel_width²)`; then `weighted_least_squares(z, f(z), π, alpha)`.
    Returns `(β, β_0)`: the surrogate `g(z) = β_0 + βᵀ z`.
    """
    check_callable(f, "f")
    check_finite(check_float_tensor(x, "x", dim=1), "x")
    samples = check_int(samples, "samples", low=2)
    scale = check_real(scale, "scale", low=0.0, low_open=True)
    width = check_real(kernel_width, "kernel_width", low=0.0, low_open=True)
    generator = check_generator(generator)
    eps = torch.randn((samples, x.shape[0]), generator=generator, device=x.device, dtype=x.dtype)
    z = x + scale * eps
    pi = torch.exp(-((z - x) ** 2).sum(dim=1) / width**2)  # π_n = exp(−‖z_n − x‖²/w²)
    y = f(z)
    check_float_tensor(y, "f(z)", dim=1)
    return weighted_least_squares(z, y, pi, alpha=alpha)


def activation_maximization(
    score: Callable[[Tensor], Tensor],
    x0: Tensor,
    radius: float,
    *,
    steps: int = 200,
    lr: float = 0.1,
) -> Tensor:
    """Projected gradient ascent on `score` over the ball `‖x‖ ≤ radius`
    (`explain.activation-max`): `x ← Π(x + η ∇score(x))`, `Π(u) = u · min(1, r/‖u‖)`.

    `score` maps one input (of `x0`'s shape) to a 0-d tensor. Returns the last iterate.
    """
    check_callable(score, "score")
    check_finite(check_float_tensor(x0, "x0"), "x0")
    r = check_real(radius, "radius", low=0.0, meaning="the norm bound r ≥ 0")
    steps = check_int(steps, "steps", low=0)
    lr = check_real(lr, "lr", low=0.0, low_open=True, meaning="the step size")

    def project(u: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(u)
        return u * torch.clamp_max(r / norm.clamp_min(torch.finfo(u.dtype).tiny), 1.0)

    x = project(x0.detach())
    for _ in range(steps):
        xg = x.requires_grad_(True)
        with torch.enable_grad():
            s = score(xg)
            if s.dim() != 0:
                raise ValueError(f"score must return a 0-d tensor, got shape {tuple(s.shape)}")
            (g,) = torch.autograd.grad(s, xg)
        x = project(x.detach() + lr * g)  # x ← Π(x + η ∇S(x))
    return x.detach()


class FeatureExtractor(nn.Module):
    """A `FeedForward` net cut after hidden layer `layer` (1-based): the first `layer` affine
    maps and activations, sharing the net's parameters (`explain.hidden-features`). Its output
    is `a_layer`, the activation `forward_all(x)[layer − 1][1]` of the whole net."""

    def __init__(self, net: FeedForward, layer: int) -> None:
        super().__init__()
        if not isinstance(net, FeedForward):
            raise TypeError(f"net must be a dlspec FeedForward, got {type(net).__name__}")
        hidden = len(net.layers) - 1
        if hidden < 1:
            raise ValueError("net has no hidden layer to cut after")
        self.layer = check_int(layer, "layer", low=1, high=hidden)
        self.layers = nn.ModuleList(list(net.layers)[: self.layer])
        self.act = net.act

    def forward(self, x: Tensor) -> Tensor:
        a = x
        for lin in self.layers:
            assert isinstance(lin, Linear)
            a = self.act(lin(a))  # a_l = σ(W_l a_{l−1} + b_l)
        return a


# -- registry samples -----------------------------------------------------------------------------


@register("explain.features-and-occlusion")
def _sample_features(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([4, 5, 3, 2], "tanh", device=device, dtype=dtype)

    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.cut = FeatureExtractor(net, 2)

        def forward(self, x: Tensor) -> Tensor:
            masks = torch.zeros((2, 4), device=x.device, dtype=x.dtype)
            masks[0, :2] = 1
            masks[1, 2:] = 1
            delta = occlusion(self.net, x[0], 1, masks, fill=0.5)
            # occlusion_map builds its own patch masks: they must land on x's device
            omap = occlusion_map(
                lambda t: self.net(t.reshape(t.shape[0], -1)), x[0].reshape(2, 2), 1, 1
            )
            out: Tensor = self.cut(x).sum() + delta.sum() + omap.sum()
            return out

    return Both(), (torch.randn(3, 4, device=device, dtype=dtype),)


@register("explain.surrogate", backward=False)
def _sample_surrogate(device: torch.device, dtype: torch.dtype) -> Sample:
    w = torch.randn(3, device=device, dtype=dtype)

    def f(x: Tensor) -> tuple[Tensor, Tensor]:
        return local_surrogate(lambda z: z @ w + 1.0, x, samples=20, alpha=0.5)

    return f, (torch.randn(3, device=device, dtype=dtype),)


@register("explain.gradients", backward=False)
def _sample_gradients(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([4, 3, 2], "tanh", device=device, dtype=dtype)

    def f(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = saliency(net, x, 1)
        p = perturbation_sensitivity(net, x[0], 0, 1e-3)
        a = activation_maximization(lambda v: net(v.unsqueeze(0))[0, 1], x[0], 1.0, steps=3)
        return s, p, a

    return f, (torch.randn(2, 4, device=device, dtype=dtype),)


@register_calls
def _calls_explain(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    net = FeedForward([4, 5, 3, 2], "tanh", **where)
    x = torch.randn(4, **where)
    masks = torch.eye(4, **where)
    g = sample_generator(device).manual_seed(0)
    image = torch.randn(2, 2, **where)
    flat = lambda t: net(t.reshape(t.shape[0], -1))  # noqa: E731
    w = torch.rand(6, **where)
    cls = {"target": "[0, 1]"}
    return [
        Call(
            FeatureExtractor,
            {"net": net, "layer": 2},
            forward={"x": x[None]},
            ranges={"layer": "[1, 2]"},
        ),
        Call(
            activation_maximization,
            {"score": lambda t: net(t)[..., 0], "x0": x, "radius": 1.0, "steps": 2},
            ranges={"radius": "[0, inf)", "steps": "[0, inf)", "lr": "(0, inf)"},
            finite=("x0",),
        ),
        Call(
            local_surrogate,
            {"f": lambda t: net(t)[..., 0], "x": x, "samples": 8, "generator": g},
            ranges={
                "samples": "[2, inf)",
                "scale": "(0, inf)",
                "kernel_width": "(0, inf)",
                "alpha": "[0, inf)",
            },
            ndim=("x",),
            finite=("x",),
        ),
        Call(
            occlusion,
            {"f": net, "x": x, "target": 1, "masks": masks, "fill": 0.5},
            ranges=cls,
            finite=("x",),
        ),
        Call(
            occlusion_map,
            {"f": flat, "image": image, "target": 1, "patch": 1},
            ranges=cls,
            ndim=("image",),
        ),
        Call(patch_masks, {"height": 4, "width": 3, "patch": 2, "stride": 1, **where}),
        Call(
            perturbation_sensitivity,
            {"f": net, "x": x, "target": 0, "eps": 0.1},
            ranges={**cls, "eps": "(0, inf)"},
        ),
        Call(saliency, {"f": net, "x": x[None], "target": 0}, ranges=cls),
        Call(
            weighted_least_squares,
            {"z": torch.randn(6, 3, **where), "y": torch.randn(6, **where), "weights": w},
            ndim=("z", "y", "weights"),
            finite=("z", "y", "weights"),
            ranges={"alpha": "[0, inf)"},
        ),
    ]
