"""Backpropagation by hand for `dlspec.nn.linear.FeedForward`, independent of autograd.

Notation (the page's): layer `l = 1, …, L` computes `z^l = W^l a^{l−1} + b^l` and
`a^l = σ_l(z^l)`, `a^0 = x`. For a cost `C` with output gradient `∇_{a^L} C`:

- backward pass: `δ^L = σ_L′(z^L) ⊙ ∇_{a^L} C`, `δ^l = σ_l′(z^l) ⊙ (W^{l+1})ᵀ δ^{l+1}`;
- forward-pass term: `∂z^l_i/∂W^l_{ij} = a^{l−1}_j`, so `∂C/∂W^l = δ^l (a^{l−1})ᵀ` and
  `∂C/∂b^l = δ^l` (claims `opt.backprop-equals-autograd`, `opt.forward-pass-term`).

For a batch (rows of `x`), the gradients are summed over the rows: `∂C/∂W^l = Σ_n δ^l_n
(a^{l−1}_n)ᵀ`. `derivative(name, z, a)` gives `σ′` with autograd's conventions at kinks
(`relu′(0) = 0`, claim `opt.backprop-kink`). `layer_gradient_norms` is the per-layer probe
`‖∂C/∂W^l‖_F` (claim `opt.sigmoid-vanishing`); `he_init` draws `W^l ~ N(0, 2/fan_in)`, `b^l = 0`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlspec.checks import check_float_tensor, check_generator, check_like
from dlspec.nn.linear import FeedForward, Linear
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = ["backward", "derivative", "he_init", "input_gradient", "layer_gradient_norms"]


def derivative(name: str, z: Tensor, a: Tensor) -> Tensor:
    """`σ′(z)` for the activation called `name`, from `z` and `a = σ(z)`.

    `sigmoid′ = a(1 − a)`, `tanh′ = 1 − a²`, `relu′ = 1[z > 0]` (0 at the kink, autograd's
    convention), `identity′ = 1`.
    """
    check_float_tensor(z, "z")
    check_like(check_float_tensor(a, "a"), z, "a", "z")
    if a.shape != z.shape:
        raise ValueError(f"a must have z's shape {tuple(z.shape)}, got {tuple(a.shape)}")
    if name == "sigmoid":
        return a * (1.0 - a)  # σ′ = σ(1 − σ) ≤ 1/4
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "identity":
        return torch.ones_like(z)
    raise ValueError(f"name must be one of ['identity', 'relu', 'sigmoid', 'tanh'], got {name!r}")


def _linear(net: FeedForward, k: int) -> Linear:
    layer = net.layers[k]
    assert isinstance(layer, Linear)
    return layer


def _check(net: FeedForward, x: Tensor, grad_output: Tensor) -> None:
    if not isinstance(net, FeedForward):
        raise TypeError(f"net must be a dlspec FeedForward, got {type(net).__name__}")
    check_float_tensor(x, "x")
    check_float_tensor(grad_output, "grad_output")
    check_like(grad_output, x, "grad_output", "x")
    expected = (*x.shape[:-1], net.sizes[-1])
    if tuple(grad_output.shape) != expected:
        raise ValueError(
            f"grad_output must have the output's shape {expected}, got {tuple(grad_output.shape)}"
        )


def _deltas(net: FeedForward, x: Tensor, grad_output: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """The activations `a^0, …, a^L` and the errors `δ^1, …, δ^L` (no autograd)."""
    with torch.no_grad():
        zs_as = net.forward_all(x)  # forward pass: keep every (z^l, a^l)
        acts = [x] + [a for _, a in zs_as]
        z, a = zs_as[-1]
        delta = derivative(net.output_name, z, a) * grad_output  # δ^L = σ_L′(z^L) ⊙ ∇_a C
        backwards = [delta]  # δ^L, δ^{L−1}, …, δ^1
        for k in range(len(zs_as) - 2, -1, -1):  # k = l − 1 (0-based layer index)
            w_next = _linear(net, k + 1).weight
            z, a = zs_as[k]
            # δ^l = σ′(z^l) ⊙ W^{l+1}ᵀ δ^{l+1}; every layer below the last is a hidden one
            delta = derivative(net.activation_name, z, a) * (delta @ w_next)
            backwards.append(delta)
    return acts, backwards[::-1]


def backward(net: FeedForward, x: Tensor, grad_output: Tensor) -> list[tuple[Tensor, Tensor]]:
    """`[(∂C/∂W^l, ∂C/∂b^l) for l = 1…L]` for the cost whose gradient with respect to the
    output `a^L = net(x)` is `grad_output`; summed over the leading (batch) dimensions.

    Layers without bias get `None`'s place filled by a zero-size tensor.
    """
    _check(net, x, grad_output)
    acts, deltas = _deltas(net, x, grad_output)
    acts[0] = x.detach()  # no autograd anywhere: the results are plain tensors
    out = []
    for k, delta in enumerate(deltas):
        a_prev = acts[k].reshape(-1, acts[k].shape[-1])
        d = delta.reshape(-1, delta.shape[-1])
        grad_w = d.T @ a_prev  # ∂C/∂W^l = Σ_n δ^l_n (a^{l−1}_n)ᵀ
        layer = _linear(net, k)
        grad_b = d.sum(dim=0) if layer.bias is not None else d.new_zeros(0)  # ∂C/∂b^l = δ^l
        out.append((grad_w, grad_b))
    return out


def input_gradient(net: FeedForward, x: Tensor, grad_output: Tensor) -> Tensor:
    """`∂C/∂a^0 = (W^1)ᵀ δ^1` per row of `x` (the vector–Jacobian product `vᵀ ∂a^L/∂x`)."""
    _check(net, x, grad_output)
    _, deltas = _deltas(net, x, grad_output)
    out: Tensor = deltas[0] @ _linear(net, 0).weight.detach()  # (W^1)ᵀ δ^1 per row
    return out


def layer_gradient_norms(net: FeedForward, x: Tensor, grad_output: Tensor) -> Tensor:
    """`‖∂C/∂W^l‖_F` for `l = 1, …, L` (a 1-D tensor), from the hand-written backward pass."""
    grads = backward(net, x, grad_output)
    out: Tensor = torch.stack([torch.linalg.vector_norm(gw) for gw, _ in grads])
    return out


def he_init(net: FeedForward, *, generator: torch.Generator | None = None) -> FeedForward:
    """He (Kaiming) initialization in place: `W^l_{ij} ~ N(0, 2/fan_in)`, `b^l = 0`."""
    if not isinstance(net, FeedForward):
        raise TypeError(f"net must be a dlspec FeedForward, got {type(net).__name__}")
    generator = check_generator(generator)
    with torch.no_grad():
        for layer in net.layers:
            assert isinstance(layer, Linear)
            w = layer.weight
            std = (2.0 / layer.in_features) ** 0.5
            w.copy_(torch.randn(w.shape, generator=generator, device=w.device, dtype=w.dtype) * std)
            if layer.bias is not None:
                layer.bias.zero_()
    return net


@register("backprop.backward")
def _sample_backward(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([3, 4, 2], "sigmoid", output="tanh", device=device, dtype=dtype)
    he_init(net)

    def f(x: Tensor, v: Tensor) -> Tensor:
        grads = backward(net, x, v)
        gw = sum(g.sum() for g, _ in grads)
        assert isinstance(gw, Tensor)
        # Differentiable in x through a plain forward, so the device test can run backward too.
        out: Tensor = net(x).sum() + gw.detach() + layer_gradient_norms(net, x, v).sum().detach()
        return out

    x = torch.randn(5, 3, device=device, dtype=dtype, requires_grad=True)
    return f, (x, torch.randn(5, 2, device=device, dtype=dtype))


@register_calls
def _calls_backprop(device: torch.device, dtype: torch.dtype) -> list[Call]:
    net = FeedForward([3, 4, 2], "sigmoid", output="tanh", device=device, dtype=dtype)
    x = torch.randn(5, 3, device=device, dtype=dtype)
    v = torch.randn(5, 2, device=device, dtype=dtype)
    z = torch.randn(5, 4, device=device, dtype=dtype)
    g = sample_generator(device).manual_seed(0)
    args = {"net": net, "x": x, "grad_output": v}
    return [
        *(
            Call(fn, args, ndim=("grad_output",))
            for fn in (backward, input_gradient, layer_gradient_norms)
        ),
        Call(derivative, {"name": "tanh", "z": z, "a": torch.tanh(z)}),
        Call(he_init, {"net": FeedForward([3, 4, 2], device=device, dtype=dtype), "generator": g}),
    ]
