"""Jacobian probes for recurrent layers: how a late state depends on an early one.

Notation, as on the spec pages `sequences/rnn.md` and `sequences/lstm.md`:

- `state_jacobian(rnn, x, s0)`: `∂s_T/∂s_0` of a recurrent layer, one `(H, H)` matrix per
  sequence, by reverse-mode autograd through the whole run (the *full* derivative);
- `cell_jacobian(lstm, x, h0, c0)`: the total derivative `dc_T/dc_0` of an LSTM, holding `h_0`
  (and the input) fixed; it includes every path, through the gates and `h` as well;
- `forget_product(lstm, x, h0, c0)`: the direct-path product `Π_t f_t`, the derivative along
  `c_t = f_t ⊙ c_{t−1} + …` alone with the gates held fixed.

`batched_jacobian(fn, s)` is the common tool: for `fn` mapping `(B, n)` to `(B, m)` row by row
(sequence `b` of the output depends on sequence `b` of the input only), it returns the `B`
Jacobians `(B, m, n)`.

Claims served: `rnn.vanishing-bound`, `rnn.exploding`, `rnn.bounds-one-sided`,
`lstm.constant-error-carousel`, `lstm.direct-path-only`, `lstm.can-explode`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from dlspec.checks import check_callable, check_float_tensor
from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN, check_state
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["batched_jacobian", "cell_jacobian", "forget_product", "state_jacobian"]


def batched_jacobian(fn: Callable[[Tensor], Tensor], s: Tensor) -> Tensor:
    """`J[b] = ∂fn(s)[b]/∂s[b]`, shape `(B, m, n)`, for `fn: (B, n) → (B, m)` acting row by row.

    Row `k` of every `J[b]` is the gradient of `Σ_b fn(s)[b, k]` (rows are independent, so the
    sum separates them); the `m` rows come from one batched backward pass.
    """
    check_callable(fn, "fn")
    s = check_float_tensor(s, "s", dim=2)
    s = s.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(s)
        check_float_tensor(out, "fn(s)", dim=2)
        if out.shape[0] != s.shape[0]:
            raise ValueError(
                f"fn must keep the batch dimension {s.shape[0]}, got output {tuple(out.shape)}"
            )
        m = out.shape[1]
        # One batched backward pass: grad_outputs e_k for every row k at once.
        basis = torch.eye(m, device=out.device, dtype=out.dtype)[:, None, :].expand(m, *out.shape)
        (rows,) = torch.autograd.grad(out, s, grad_outputs=basis, is_grads_batched=True)
    return rows.transpose(0, 1)  # rows[k, b] = ∂ out[b, k] / ∂ s[b, :]  →  J[b, k, :]


def state_jacobian(rnn: RNN, x: Tensor, s0: Tensor) -> Tensor:
    """`∂s_T/∂s_0` of `rnn` on the sequences `x` `(B, T, D)` from `s0` `(B, H)`: `(B, H, H)`.

    For the RNN `s_t = act(W s_{t−1} + U x_t + b)` this is
    `Π_{t=T}^{1} diag(act′(a_t)) W` (`rnn.vanishing-bound`, `rnn.exploding`).
    """
    if not isinstance(rnn, RNN):
        raise TypeError(f"rnn must be a dlspec.nn.rnn.RNN, got {type(rnn).__name__}")
    check_state(s0, "s0", check_float_tensor(x, "x"), rnn.hidden_size)
    return batched_jacobian(lambda s: rnn(x, s)[1], s0)


def _check_lstm(lstm: LSTM, x: Tensor, h0: Tensor, c0: Tensor) -> None:
    if not isinstance(lstm, LSTM):
        raise TypeError(f"lstm must be a dlspec.nn.lstm.LSTM, got {type(lstm).__name__}")
    check_float_tensor(x, "x")
    check_state(h0, "h0", x, lstm.hidden_size)
    check_state(c0, "c0", x, lstm.hidden_size)


def cell_jacobian(lstm: LSTM, x: Tensor, h0: Tensor, c0: Tensor) -> Tensor:
    """The total derivative `dc_T/dc_0` `(B, H, H)` of `lstm` on `x` from `(h0, c0)`, `h_0`
    held fixed: every path from `c_0` to `c_T` (`lstm.direct-path-only`, `lstm.can-explode`)."""
    _check_lstm(lstm, x, h0, c0)
    return batched_jacobian(lambda c: lstm(x, (h0, c))[1][1], c0)


def forget_product(lstm: LSTM, x: Tensor, h0: Tensor, c0: Tensor) -> Tensor:
    """`Π_{t=1}^{T} f_t` `(B, H)`: the direct path `∂c_T/∂c_0` with gates held fixed
    (`lstm.constant-error-carousel`); equal to `dc_T/dc_0` only without recurrent weights."""
    _check_lstm(lstm, x, h0, c0)
    f = lstm.trace(x, (h0, c0)).f  # (B, T, H)
    return f.prod(dim=1)  # Π_t f_t


@register("jacobians.state_jacobian", backward=False)
def _sample_state_jacobian(device: torch.device, dtype: torch.dtype) -> Sample:
    rnn = RNN(2, 3, device=device, dtype=dtype)
    x = torch.randn(2, 4, 2, device=device, dtype=dtype)
    s0 = torch.randn(2, 3, device=device, dtype=dtype)
    return (lambda x, s0: state_jacobian(rnn, x, s0)), (x, s0)


@register("jacobians.lstm", backward=False)
def _sample_lstm_jacobians(device: torch.device, dtype: torch.dtype) -> Sample:
    lstm = LSTM(2, 3, device=device, dtype=dtype)
    x = torch.randn(2, 4, 2, device=device, dtype=dtype)
    h0 = torch.randn(2, 3, device=device, dtype=dtype)
    c0 = torch.randn(2, 3, device=device, dtype=dtype)

    def f(x: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor]:
        return cell_jacobian(lstm, x, h0, c0), forget_product(lstm, x, h0, c0)

    return f, (x, h0, c0)


@register_calls
def _calls_jacobians(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    rnn, lstm = RNN(2, 3, **where), LSTM(2, 3, **where)
    x = torch.randn(2, 4, 2, **where)
    s0 = torch.randn(2, 3, **where)
    state = {"x": x, "h0": s0, "c0": s0}
    seq = ("x", "h0", "c0", "s0")
    return [
        Call(state_jacobian, {"rnn": rnn, "x": x, "s0": s0}, ndim=seq[1:]),
        Call(cell_jacobian, {"lstm": lstm, **state}, ndim=seq[1:]),
        Call(forget_product, {"lstm": lstm, **state}, ndim=seq[1:]),
        Call(batched_jacobian, {"fn": torch.tanh, "s": s0}, ndim=("s",)),
    ]
