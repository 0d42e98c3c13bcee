"""The LSTM layer (with forget gate), written from primitives.

Notation, as on the spec page `sequences/lstm.md`: input `x_t`, hidden state `h_t`, cell
`c_t`, all batch-first (`x` is `(B, T, D)`, states `(B, H)`). With the four gates stacked in
PyTorch's order (i, f, g, o),

    z_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh          (4H pre-activations)
    i_t = σ(z_i),  f_t = σ(z_f),  g_t = tanh(z_g),  o_t = σ(z_o)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

`weight_ih` is `(4H, D)`, `weight_hh` `(4H, H)`, and the two biases `(4H,)` each; the
forget-gate rows are `[H:2H]` and the forget-gate bias is `b_f = bias_ih[H:2H] + bias_hh[H:2H]`.

Efficient form: the input projections of all steps are one matmul, then each step is one
fused `(B, H) × (H, 4H)` gate matmul.

Fast form (`LSTM(..., fast=True)`, claim `lstm.fast-form`): the same function as one custom
autograd Function with a hand-written backward through time (`dlspec.nn._recurrent_fast`).

Claims served: `lstm.matches-torch`, `lstm.fast-form`, `lstm.constant-error-carousel`,
`lstm.direct-path-only`, `lstm.can-explode`, `lstm.long-range-memory`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_flag,
    check_float_dtype,
    check_generator,
    check_int,
    check_real,
)
from dlspec.nn._recurrent_fast import lstm_sequence
from dlspec.nn.activations import sigmoid, tanh
from dlspec.nn.rnn import (
    _check_single,
    _check_sizes,
    _copy,
    _init,
    check_ensemble,
    check_sequence,
    check_state,
    check_torch_module,
    input_drive,
)
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["LSTM", "LSTMTrace"]


class LSTMTrace(NamedTuple):
    """Every step of a run, each `(B, T, H)`: `h_t`, `c_t` and the gates `i, f, g, o`."""

    h: Tensor
    c: Tensor
    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor


class LSTM(nn.Module):
    """An LSTM layer (`lstm.matches-torch`); gates in PyTorch's order (i, f, g, o).

    Parameters are initialized `U(−1/√H, 1/√H)` like `torch.nn.LSTM`, from an optional
    `generator`. With `forget_bias=b`, the forget-gate bias is then set to `b_f = b`
    (`bias_ih[H:2H] = b`, `bias_hh[H:2H] = 0`): Gers et al. (2000) and Jozefowicz et al.
    (2015) recommend a positive `b_f` so that `f_t` starts near 1.

    `forward(x, state=None)` takes `x` `(B, T, D)` and an optional `(h_0, c_0)` (zeros when
    omitted) and returns `(h, (h_T, c_T))` with `h` the outputs `(B, T, H)`, as
    `torch.nn.LSTM(batch_first=True)` does (less its layer dimension). `trace()` returns every
    step's states and gates.

    `ensemble=M` builds `M` independent layers in one module (a leading dimension `M` on every
    parameter, on `x`, the states and the outputs), as for `dlspec.nn.rnn.RNN`.

    `fast=True` selects the fast form of `forward` (`lstm.fast-form`): the same function as one
    custom autograd Function with a hand-written backward through time, the weight gradients one
    matmul each over all steps (`dlspec.nn._recurrent_fast`). First-order gradients only: a
    second backward through it raises. `trace()` always runs the plain form.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        forget_bias: float | None = None,
        ensemble: int | None = None,
        fast: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.lead = check_ensemble(ensemble)
        self.fast = check_flag(fast, "fast")
        generator = check_generator(generator)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        h, d, m = self.hidden_size, self.input_size, self.lead
        self.weight_ih = _init((*m, 4 * h, d), h, generator, kw)  # rows: W_ii, W_if, W_ig, W_io
        self.weight_hh = _init((*m, 4 * h, h), h, generator, kw)  # rows: W_hi, W_hf, W_hg, W_ho
        self.bias_ih = _init((*m, 4 * h), h, generator, kw)
        self.bias_hh = _init((*m, 4 * h), h, generator, kw)
        if forget_bias is not None:
            b = check_real(forget_bias, "forget_bias", meaning="the forget-gate bias b_f")
            with torch.no_grad():
                self.bias_ih[..., h : 2 * h] = b  # b_f = bias_ih[H:2H] + bias_hh[H:2H] = b
                self.bias_hh[..., h : 2 * h] = 0.0
        # tanh(z) = 2σ(2z) − 1: doubling the g block lets one σ serve all four gates.
        scale = torch.ones(4 * h, **kw)
        scale[2 * h : 3 * h] = 2.0
        self.register_buffer("gate_scale", scale, persistent=False)

    def load_torch(self, module: nn.LSTM) -> LSTM:
        """Copy the weights of a one-layer `torch.nn.LSTM` of the same sizes."""
        check_torch_module(module, nn.LSTM, "LSTM")
        _check_single(self)
        _check_sizes(self, module)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            _copy(getattr(self, name), getattr(module, f"{name}_l0"), name)
        return self

    def to_torch(self) -> nn.LSTM:
        """A `torch.nn.LSTM(batch_first=True)` holding copies of these weights."""
        _check_single(self)
        w = self.weight_hh
        module = nn.LSTM(
            self.input_size, self.hidden_size, batch_first=True, device=w.device, dtype=w.dtype
        )
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            _copy(getattr(module, f"{name}_l0"), getattr(self, name), name)
        return module

    def _inputs(self, x: Any, state: Any) -> tuple[Tensor, Tensor, Tensor]:
        """The checked `x`, `h_0` and `c_0` (zeros when `state` is None)."""
        x = check_sequence(x, self.input_size, self.weight_hh, self.lead)
        hs = self.hidden_size
        if state is None:
            h = x.new_zeros(*x.shape[:-2], hs)  # h_0 = 0
            c = x.new_zeros(*x.shape[:-2], hs)  # c_0 = 0
        else:
            if not isinstance(state, tuple | list) or len(state) != 2:
                raise TypeError(
                    f"state must be a pair (h0, c0) of tensors, got {type(state).__name__}"
                )
            h = check_state(state[0], "h0", x, hs)
            c = check_state(state[1], "c0", x, hs)
        return x, h, c

    def _run(self, x: Tensor, state: Any, keep_gates: bool) -> tuple[list[list[Tensor]], Tensor]:
        x, h, c = self._inputs(x, state)
        hs = self.hidden_size
        # W_ih x_t + b_ih + b_hh for every t at once: one (B·T, D) × (D, 4H) matmul.
        drive = input_drive(x, self.weight_ih, self.bias_ih + self.bias_hh)
        w_t = self.weight_hh.mT.contiguous()  # see input_drive: a contiguous Wᵀ, once per run
        scale: Tensor = self.gate_scale  # type: ignore[assignment]
        out: list[list[Tensor]] = [[] for _ in range(6)]  # h, then c, i, f, g, o if kept
        for d_t in drive.unbind(dim=-2):  # unbind: a backward linear in T (see rnn.py)
            z = d_t + h @ w_t  # z_t: one fused gate matmul (B, 4H)
            a = sigmoid(z * scale)  # σ(z_i), σ(z_f), σ(2 z_g), σ(z_o)
            i, f, g2, o = torch.split(a, hs, dim=-1)  # order i, f, g, o
            g = 2.0 * g2 - 1.0  # g_t = tanh(z_g) = 2σ(2 z_g) − 1
            c = f * c + i * g  # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
            h = o * tanh(c)  # h_t = o_t ⊙ tanh(c_t)
            out[0].append(h)
            if keep_gates:
                for k, v in enumerate((c, i, f, g, o), start=1):
                    out[k].append(v)
        return out, c

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if self.fast:  # lstm.fast-form: the same function, with a hand-written backward
            x, h0, c0 = self._inputs(x, state)
            b = self.bias_ih + self.bias_hh
            h_all, h_t, c_t = lstm_sequence(x, h0, c0, self.weight_ih, self.weight_hh, b)
            return h_all, (h_t, c_t)
        out, c = self._run(x, state, keep_gates=False)
        hs = out[0]
        return torch.stack(hs, dim=-2), (hs[-1], c)

    def trace(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> LSTMTrace:
        """Every step's `h_t`, `c_t`, `i_t`, `f_t`, `g_t`, `o_t`, each `(B, T, H)`
        (`lstm.constant-error-carousel`, `lstm.direct-path-only`)."""
        out, _ = self._run(x, state, keep_gates=True)
        return LSTMTrace(*(torch.stack(v, dim=-2) for v in out))

    def extra_repr(self) -> str:
        ens = f", ensemble={self.lead[0]}" if self.lead else ""
        fast = ", fast=True" if self.fast else ""
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}{ens}{fast}"


@register("lstm.LSTM")
def _sample_lstm(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = LSTM(3, 4, forget_bias=1.0, device=device, dtype=dtype)
    x = torch.randn(2, 5, 3, device=device, dtype=dtype)
    h0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    c0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    return layer, (x, (h0, c0))


@register("lstm.LSTM-ensemble")
def _sample_lstm_ensemble(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = LSTM(3, 4, ensemble=2, device=device, dtype=dtype)
    return layer, (torch.randn(2, 3, 5, 3, device=device, dtype=dtype),)


@register("lstm.LSTM-fast")
def _sample_lstm_fast(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = LSTM(3, 4, forget_bias=1.0, fast=True, device=device, dtype=dtype)
    x = torch.randn(2, 5, 3, device=device, dtype=dtype, requires_grad=True)
    h0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    c0 = torch.randn(2, 4, device=device, dtype=dtype, requires_grad=True)
    return layer, (x, (h0, c0))


@register("lstm.LSTM-fast-ensemble")
def _sample_lstm_fast_ensemble(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = LSTM(3, 4, ensemble=2, fast=True, device=device, dtype=dtype)
    return layer, (torch.randn(2, 3, 5, 3, device=device, dtype=dtype),)


@register("lstm.trace")
def _sample_trace(device: torch.device, dtype: torch.dtype) -> Sample:
    layer = LSTM(2, 3, device=device, dtype=dtype)
    return layer.trace, (torch.randn(2, 4, 2, device=device, dtype=dtype, requires_grad=True),)


@register_calls
def _calls_lstm(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    x = torch.randn(2, 5, 3, **where)
    state = (torch.randn(2, 4, **where), torch.randn(2, 4, **where))
    return [
        Call(
            LSTM,
            {"input_size": 3, "hidden_size": 4, "forget_bias": 1.0, **where},
            forward={"x": x, "state": state},
            ndim=("x",),
            nonempty=("x",),
            parts={"state": ("h0", "c0")},
        ),
        Call(
            LSTM,
            {"input_size": 3, "hidden_size": 4, "ensemble": 2, **where},
            forward={"x": x.expand(2, 2, 5, 3)},
            ndim=("x",),
            nonempty=("x",),
        ),
    ]
