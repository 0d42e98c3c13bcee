"""The simple recurrent layer, written from primitives.

Notation, as on the spec page `sequences/rnn.md`: an input sequence `x_1, …, x_T` (each of
`input_size` features), states `s_t` of `hidden_size` units and

    s_t = act(W s_{t−1} + U x_t + b),   t = 1, …, T,

with `W = weight_hh` (`H × H`), `U = weight_ih` (`H × D`) and `b = bias_ih + bias_hh` (two bias
vectors, as `torch.nn.RNN` keeps them, so that weights load exactly). `act` is `tanh`,
`sigmoid` or `identity` (the linear RNN); `torch.nn.RNN` offers only `tanh` and `relu`, so only
the `tanh` layer exports to it.

Tensors are batch-first: `x` is `(B, T, D)`, states `(B, H)`, the outputs `(B, T, H)`.

Efficient form: the input projections `U x_t + b` of all `T` steps are one matmul, then each
step is one `(B, H) × (H, H)` matmul and the activation.

Fast form (`RNN(..., fast=True)`, claim `rnn.fast-form`): the same function as one custom
autograd Function with a hand-written backward through time (`dlspec.nn._recurrent_fast`).

Claims served: `rnn.matches-torch`, `rnn.fast-form`, `rnn.vanishing-bound`, `rnn.exploding`,
`rnn.bounds-one-sided`, `lstm.long-range-memory` (the baseline), `clip.stabilizes`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_copies,
    check_flag,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
)
from dlspec.nn._recurrent_fast import rnn_sequence
from dlspec.nn.activations import activation
from dlspec.nn.linear import uniform_init
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "GAMMA",
    "RNN",
    "SequenceClassifier",
    "check_ensemble",
    "check_sequence",
    "check_state",
    "check_torch_module",
    "input_drive",
]

#: The activations a recurrent layer accepts, with `γ = sup |act′|` (`rnn.vanishing-bound`).
GAMMA: dict[str, float] = {"tanh": 1.0, "sigmoid": 0.25, "identity": 1.0}


def check_sequence(x: Any, input_size: int, ref: Tensor, lead: tuple[int, ...] = ()) -> Tensor:
    """`x` itself if it is a floating-point `(*lead, B, T, input_size)` tensor with `B, T ≥ 1`
    on `ref`'s device and with `ref`'s dtype (`ref` is a weight of the layer; `lead` is
    `(M,)` for an ensemble of `M` layers, else `()`)."""
    x = check_float_tensor(x, "x")
    assert isinstance(x, Tensor)
    input_size = check_int(input_size, "input_size")
    k = len(lead)
    want = f"({'models, ' if k else ''}batch, steps, {input_size})"
    if x.dim() != 3 + k or x.shape[-1] != input_size or tuple(x.shape[:k]) != lead:
        raise ValueError(f"x must have shape {want} (batch-first), got {tuple(x.shape)}")
    if x.shape[-2] == 0:
        raise ValueError("x must hold at least one time step (T ≥ 1), got a sequence of length 0")
    if x.shape[-3] == 0:
        raise ValueError("x must hold at least one sequence (batch ≥ 1), got batch 0")
    if x.device != ref.device:
        raise ValueError(f"x must be on the layer's device {ref.device}, got {x.device}")
    if x.dtype != ref.dtype:
        raise TypeError(f"x must have the layer's dtype {ref.dtype}, got {x.dtype}")
    return x


def check_state(s: Any, name: str, x: Tensor, hidden_size: int) -> Tensor:
    """An initial state: a `(*lead, B, hidden_size)` floating tensor (`x`'s leading and batch
    dimensions) on `x`'s device, with its dtype."""
    s = check_float_tensor(s, name)
    assert isinstance(s, Tensor)
    want = (*x.shape[:-2], hidden_size)
    if tuple(s.shape) != want:
        raise ValueError(
            f"{name} must have shape (batch, hidden_size) = {want} (mismatched sizes), "
            f"got {tuple(s.shape)}"
        )
    if s.device != x.device:
        raise ValueError(f"{name} must be on x's device {x.device}, got {s.device}")
    if s.dtype != x.dtype:
        raise TypeError(f"{name} must have x's dtype {x.dtype}, got {s.dtype}")
    return s


def _init(
    shape: tuple[int, ...], hidden: int, generator: torch.Generator | None, kw: dict[str, Any]
) -> nn.Parameter:
    """`U(−1/√H, 1/√H)`, the default of `torch.nn.RNN` and `torch.nn.LSTM`."""
    return nn.Parameter(uniform_init(shape, hidden, generator=generator, **kw))


def _copy(param: Tensor, value: Tensor, name: str) -> None:
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(
            f"{name} must have shape {tuple(param.shape)} (mismatched sizes), "
            f"got {tuple(value.shape)}"
        )
    with torch.no_grad():
        param.copy_(value)  # copy_ converts to param's device and dtype itself


def check_torch_module(module: Any, cls: type[nn.Module], name: str) -> nn.Module:
    """A one-layer, unidirectional `torch.nn.RNN`/`LSTM` with both biases, else an error."""
    if not isinstance(module, cls):
        raise TypeError(f"module must be a torch.nn.{name}, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError(
            f"module must be a one-layer, unidirectional torch.nn.{name} with bias=True, got "
            f"num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
            f"bias={module.bias}"
        )
    if module.proj_size:  # every torch.nn.RNN and LSTM has one (0 but for a projected LSTM)
        raise ValueError(f"module must have proj_size=0, got {module.proj_size}")
    return module


def check_ensemble(ensemble: Any) -> tuple[int, ...]:
    """`()` for one layer, `(M,)` for an ensemble of `M ≥ 1` independent layers."""
    return check_copies(ensemble, "ensemble")


def input_drive(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """`W x_t + b` for every step at once, `(*lead, B, T, K)`: one matmul over `B·T` rows."""
    check_float_tensor(x, "x")
    check_like(check_float_tensor(weight, "weight"), x, "weight", "x")
    check_like(check_float_tensor(bias, "bias"), x, "bias", "x")
    k = x.dim() - 3  # leading (ensemble) dimensions
    if k < 0 or weight.dim() != 2 + k or bias.dim() != 1 + k or weight.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"x, weight and bias must have shapes (*lead, B, T, D), (*lead, K, D) and "
            f"(*lead, K), got {tuple(x.shape)}, {tuple(weight.shape)} and {tuple(bias.shape)}"
        )
    flat = x.flatten(-3, -2)  # (*lead, B·T, D)
    # A contiguous Wᵀ: float32 batched matmul with a transposed operand takes a slow path on CPU
    # (about 1000× slower for (16, 256, 8) × (16, 8, 8) in torch 2.13).
    drive: Tensor = flat @ weight.mT.contiguous() + bias.unsqueeze(-2)  # (*lead, B·T, K)
    return drive.reshape(*x.shape[:-1], drive.shape[-1])  # (*lead, B, T, K)


class RNN(nn.Module):
    """`s_t = act(W s_{t−1} + U x_t + b)` over a batch of sequences (`rnn.matches-torch`).

    Parameters: `weight_ih` = `U` `(H, D)`, `weight_hh` = `W` `(H, H)`, `bias_ih`, `bias_hh`
    (`b` is their sum), initialized `U(−1/√H, 1/√H)` from an optional `generator` like
    `torch.nn.RNN`. `forward(x, s0=None)` takes `x` of shape `(B, T, D)` and an optional
    initial state `s0` `(B, H)` (zeros when omitted) and returns `(states, s_T)`: all states
    `(B, T, H)` and the last one `(B, H)`.

    `ensemble=M` builds `M` independent layers in one module (every parameter gains a leading
    dimension `M`, and so do `x`, `s0` and the outputs): several seeds train as one batched
    model, each member's arithmetic unchanged.

    `fast=True` selects the fast form (`rnn.fast-form`): the same function, run as one custom
    autograd Function with a hand-written backward through time whose weight gradients are one
    matmul each over all steps (`dlspec.nn._recurrent_fast`). First-order gradients only: a
    second backward through it raises.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        ensemble: int | None = None,
        fast: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        if nonlinearity not in GAMMA:
            raise ValueError(f"nonlinearity must be one of {sorted(GAMMA)}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.act = activation(nonlinearity)
        self.lead = check_ensemble(ensemble)
        self.fast = check_flag(fast, "fast")
        generator = check_generator(generator)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        h, d, m = self.hidden_size, self.input_size, self.lead
        self.weight_ih = _init((*m, h, d), h, generator, kw)  # U
        self.weight_hh = _init((*m, h, h), h, generator, kw)  # W
        self.bias_ih = _init((*m, h), h, generator, kw)
        self.bias_hh = _init((*m, h), h, generator, kw)

    @property
    def gamma(self) -> float:
        """`γ = sup |act′|`: 1 for tanh and identity, ¼ for sigmoid (`rnn.vanishing-bound`)."""
        return GAMMA[self.nonlinearity]

    def load_torch(self, module: nn.RNN) -> RNN:
        """Copy the weights of a one-layer `torch.nn.RNN` (tanh) of the same sizes."""
        check_torch_module(module, nn.RNN, "RNN")
        _check_single(self)
        if module.nonlinearity != self.nonlinearity:
            raise ValueError(
                f"module has nonlinearity {module.nonlinearity!r}, this layer {self.nonlinearity!r}"
            )
        _check_sizes(self, module)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            _copy(getattr(self, name), getattr(module, f"{name}_l0"), name)
        return self

    def to_torch(self) -> nn.RNN:
        """A `torch.nn.RNN(batch_first=True)` holding copies of these weights (tanh only)."""
        _check_single(self)
        if self.nonlinearity != "tanh":
            raise ValueError(
                f"torch.nn.RNN has no {self.nonlinearity!r} nonlinearity; only a tanh RNN exports"
            )
        w = self.weight_hh
        module = nn.RNN(
            self.input_size, self.hidden_size, batch_first=True, device=w.device, dtype=w.dtype
        )
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            _copy(getattr(module, f"{name}_l0"), getattr(self, name), name)
        return module

    def forward(self, x: Tensor, s0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = check_sequence(x, self.input_size, self.weight_hh, self.lead)
        if s0 is None:
            s = x.new_zeros(*x.shape[:-2], self.hidden_size)  # s_0 = 0
        else:
            s = check_state(s0, "s0", x, self.hidden_size)
        if self.fast:  # rnn.fast-form: the same function, with a hand-written backward
            b = self.bias_ih + self.bias_hh
            return rnn_sequence(x, s, self.weight_ih, self.weight_hh, b, self.nonlinearity)
        drive = input_drive(x, self.weight_ih, self.bias_ih + self.bias_hh)  # U x_t + b, all t
        w_t = self.weight_hh.mT.contiguous()  # see input_drive: a contiguous Wᵀ, once per run
        states = []
        # unbind, not drive[..., t, :]: its backward stacks the T gradients once, where T slices
        # would each add a full-size zero tensor (quadratic in T).
        for d_t in drive.unbind(dim=-2):
            s = self.act(s @ w_t + d_t)  # s_t = act(W s_{t−1} + U x_t + b)
            states.append(s)
        return torch.stack(states, dim=-2), s

    def extra_repr(self) -> str:
        ens = f", ensemble={self.lead[0]}" if self.lead else ""
        fast = ", fast=True" if self.fast else ""
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"nonlinearity={self.nonlinearity!r}{ens}{fast}"
        )


def _check_single(layer: Any) -> None:
    if layer.lead:
        raise ValueError(
            f"an ensemble of {layer.lead[0]} layers has no torch.nn counterpart; "
            "build the layer with ensemble=None"
        )


def _check_sizes(layer: Any, module: Any) -> None:
    if (module.input_size, module.hidden_size) != (layer.input_size, layer.hidden_size):
        raise ValueError(
            "module must have this layer's (input_size, hidden_size) = "
            f"{(layer.input_size, layer.hidden_size)} (mismatched sizes), "
            f"got {(module.input_size, module.hidden_size)}"
        )


class SequenceClassifier(nn.Module):
    """A recurrent layer and a linear read-out of its last state: `logits = V s_T + c`.

    `recurrent` is an `RNN` or an `LSTM` (its `forward(x)` returns `(outputs, last)` with
    `last` the state `(B, H)` or an LSTM's `(h_T, c_T)`); an ensemble layer gets an ensemble
    read-out. Used by `lstm.long-range-memory` and `clip.stabilizes`.
    """

    def __init__(
        self,
        recurrent: nn.Module,
        classes: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        hidden = getattr(recurrent, "hidden_size", None)
        if not isinstance(recurrent, nn.Module) or not isinstance(hidden, int):
            raise TypeError(
                "recurrent must be a recurrent layer (an nn.Module with hidden_size), "
                f"got {type(recurrent).__name__}"
            )
        self.recurrent = recurrent
        self.classes = check_int(classes, "classes", low=1)
        lead = tuple(getattr(recurrent, "lead", ()))
        w = next(recurrent.parameters())
        kw: dict[str, Any] = {"device": w.device, "dtype": w.dtype}
        self.weight = _init((*lead, self.classes, hidden), hidden, check_generator(generator), kw)
        self.bias = nn.Parameter(torch.zeros(*lead, self.classes, **kw))

    def forward(self, x: Tensor) -> Tensor:
        _, last = self.recurrent(x)
        h = last[0] if isinstance(last, tuple) else last  # an LSTM returns (h_T, c_T)
        logits: Tensor = h @ self.weight.mT.contiguous() + self.bias.unsqueeze(-2)  # V s_T + c
        return logits


@register("rnn.RNN")
def _sample_rnn(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = RNN(3, 4, device=device, dtype=dtype)
    x = torch.randn(2, 5, 3, device=device, dtype=dtype)
    s0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    return layer, (x, s0)


@register("rnn.RNN-sigmoid")
def _sample_rnn_sigmoid(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = RNN(3, 4, nonlinearity="sigmoid", device=device, dtype=dtype)
    return layer, (torch.randn(2, 5, 3, device=device, dtype=dtype),)


@register("rnn.RNN-ensemble")
def _sample_rnn_ensemble(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = RNN(3, 4, ensemble=2, nonlinearity="identity", device=device, dtype=dtype)
    return layer, (torch.randn(2, 3, 5, 3, device=device, dtype=dtype),)


@register("rnn.RNN-fast")
def _sample_rnn_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = RNN(3, 4, fast=True, device=device, dtype=dtype)
    x = torch.randn(2, 5, 3, device=device, dtype=dtype, requires_grad=True)
    s0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    return layer, (x, s0)


@register("rnn.RNN-fast-ensemble")
def _sample_rnn_fast_ensemble(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = RNN(3, 4, ensemble=2, nonlinearity="sigmoid", fast=True, device=device, dtype=dtype)
    return layer, (torch.randn(2, 3, 5, 3, device=device, dtype=dtype),)


@register("rnn.SequenceClassifier")
def _sample_classifier(device: torch.device, dtype: torch.dtype) -> Sample:
    model = SequenceClassifier(RNN(1, 4, device=device, dtype=dtype), 2)
    return model, (torch.randn(3, 6, 1, device=device, dtype=dtype),)


@register_calls
def _calls_rnn(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    x = torch.randn(2, 5, 3, **where)
    s0 = torch.randn(2, 4, **where)
    layer = RNN(3, 4, **where)
    seq = ("x",)
    return [
        Call(
            RNN,
            {"input_size": 3, "hidden_size": 4, "nonlinearity": "sigmoid", **where},
            forward={"x": x, "s0": s0},
            ndim=("x", "s0"),
            nonempty=seq,
        ),
        Call(
            RNN,
            {"input_size": 3, "hidden_size": 4, "ensemble": 2, **where},
            forward={"x": x.expand(2, 2, 5, 3)},
            ndim=seq,
            nonempty=seq,
        ),
        Call(
            SequenceClassifier,
            {"recurrent": layer, "classes": 2},
            forward={"x": x},
            ndim=seq,
            nonempty=seq,
        ),
        # `ref` and `x` are what check_sequence and check_state compare their argument with.
        Call(
            check_sequence,
            {"x": x, "input_size": 3, "ref": layer.weight_ih},
            ndim=seq,
            nonempty=seq,
            free=("ref",),
        ),
        Call(
            check_state,
            {"s": s0, "name": "s", "x": x, "hidden_size": 4},
            free=("name", "x"),
            ndim=("s",),
        ),
        Call(
            check_torch_module,
            {
                "module": nn.RNN(3, 4, batch_first=True, device=device, dtype=dtype),
                "cls": nn.RNN,
                "name": "RNN",
            },
            free=("cls", "name"),
        ),
        Call(check_ensemble, {"ensemble": 2}),
        Call(
            input_drive,
            {"x": x, "weight": layer.weight_ih, "bias": layer.bias_ih},
            ndim=("weight", "bias"),
        ),
    ]
