"""The fast forms of `RNN` and `LSTM` over a whole sequence: custom autograd Functions with a
hand-written backward through time (BPTT).

The plain forms (`rnn.py`, `lstm.py`) let autograd record every step of a Python loop and replay
it backwards: every step's weight gradient is a separate small matmul, and every elementwise op
of the cell is a node of the graph. Here

- forward: the input projections `W_ih x_t + b` of all `T` steps are ONE matmul, written straight
  into the preallocated `(*lead, B, T, G)` buffer of pre-activations; each step then adds its
  recurrent term in place (`addmm_`: one fused gate matmul) and applies the activations in
  place. Nothing is stacked or concatenated per step: each step works on its slice `[..., t, :]`
  of batch-first buffers (views made once per call), so that the outputs, and every all-steps
  matmul below, read contiguous `(*lead, B·T, ·)` rows.
- backward: the loop only carries the gradients that flow through time (`∂L/∂h_t`, `∂L/∂c_t`)
  and writes each step's pre-activation gradient `δz_t` into a `(*lead, B, T, G)` buffer; the
  gradients of `W_hh`, `W_ih`, the bias and the input are then ONE matmul (or one sum) each over
  all `B·T` rows after the loop:

      ∂L/∂W_hh = Σ_t δz_tᵀ h_{t−1},   ∂L/∂W_ih = Σ_t δz_tᵀ x_t,   ∂L/∂b = Σ_t Σ_b δz_t,
      ∂L/∂x_t = δz_t W_ih,             ∂L/∂h_0 = δz_1 W_hh.

  Every factor that does not depend on the incoming gradient (the activations' derivatives,
  the partners of each gate in the cell update) is computed for all steps at once before it.

Inside the LSTM the four gate blocks are kept in the order (o, i, f, g) rather than PyTorch's
(i, f, g, o) (the rows rolled by one block, once per call, and rolled back on the weight
gradients): the three sigmoid gates are then one contiguous block (one `sigmoid_` per step) and,
in the backward, the three gates whose gradient is `∂L/∂c_t ⊙ (…)` are one block too.

The activations are `torch.tanh` / `torch.sigmoid` (one kernel each) instead of the plain form's
overflow-safe compositions of `exp`; in float64 the two forms agree to rounding (`rnn.fast-form`,
`lstm.fast-form`). The backward is first-order only: differentiating its result (a
Hessian-vector product, a gradient penalty through the layer) raises instead of returning a
wrong value; forward-mode AD is not implemented (torch raises).

Every tensor is created from the inputs' device and dtype: the same code runs on CPU and CUDA.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["lstm_sequence", "rnn_sequence"]


SECOND_ORDER = (
    "the fast form (fast=True) of RNN and LSTM has a first-order backward only: a second "
    "derivative through it (create_graph=True, then differentiating the gradient) is not "
    "implemented; build the layer with fast=False"
)


class _Refuse(torch.autograd.Function):
    """Identity on the first `n` arguments (the gradients a first-order backward returned), tied
    in the graph to the rest (the inputs of the forward); differentiating the result raises."""

    @staticmethod
    def forward(ctx: Any, n: int, message: str, *tensors: Tensor) -> tuple[Tensor, ...]:
        ctx.message = message
        return tuple(g.clone() for g in tensors[:n])

    @staticmethod
    def backward(ctx: Any, *_: Any) -> Any:
        raise RuntimeError(ctx.message)


def _first_order(backward: Callable[..., tuple[Tensor | None, ...]]) -> Callable[..., Any]:
    """A hand-written backward run without recording, whose results, when the caller asked for
    a graph of the gradient (`create_graph=True`), raise on differentiation instead of acting as
    constants. (`torch.autograd.function.once_differentiable` returns plain constants when the
    incoming gradients do not require grad, so a gradient penalty through it would silently
    miss its second-order term.) The forward saves its own inputs last, `ctx.inputs` of them,
    so that the guarded gradients depend on them in the graph. The error names the layer by
    `ctx.second_order` (the RNN/LSTM message when unset); `conv2d` and `cross_entropy`'s fast
    forms use it too."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> tuple[Tensor | None, ...]:
        with torch.no_grad():
            out = backward(ctx, *grads)
        if not torch.is_grad_enabled():  # the usual first-order backward
            return out
        present = [k for k, g in enumerate(out) if g is not None]
        anchors = [t for t in ctx.saved_tensors[-ctx.inputs :] if t.requires_grad]
        if not anchors:  # nothing to differentiate with respect to: no second derivative asked
            return out
        values = [out[k].detach() for k in present]  # type: ignore[union-attr]
        message = getattr(ctx, "second_order", SECOND_ORDER)
        guarded = _Refuse.apply(len(values), message, *values, *anchors)  # type: ignore[no-untyped-call]
        result = list(out)
        for k, g in zip(present, guarded, strict=True):
            result[k] = g
        return tuple(result)

    return wrapper


def _t(w: Tensor) -> Tensor:
    """`wᵀ` of the last two dimensions; contiguous in a batch (float32 `bmm` with a transposed
    operand takes a slow path on CPU, see `rnn.input_drive`; `mm` handles it in BLAS)."""
    return w.t() if w.dim() == 2 else w.mT.contiguous()


def _x_rows(x: Tensor) -> Tensor:
    """`x` `(*lead, B, T, D)` as time-major rows `(*lead, T·B, D)` (row `t·B + b` is `x_{b,t}`)."""
    return x.transpose(-3, -2).flatten(-3, -2)


def _rows(t: Tensor) -> Tensor:
    """A time-major `(T, *lead, B, K)` tensor as rows `(*lead, T·B, K)` in `_x_rows`' order (a
    view without a lead, a copy with one)."""
    return t.movedim(0, -3).flatten(-3, -2)


def _from_rows(r: Tensor, steps: int) -> Tensor:
    """Rows `(*lead, T·B, K)` back to a time-major `(T, *lead, B, K)` tensor."""
    rows: Tensor = r.unflatten(-2, (steps, -1))  # type: ignore[no-untyped-call]
    return rows.movedim(-3, 0)


def _batch_first(t: Tensor) -> Tensor:
    """A time-major `(T, *lead, B, K)` tensor as a contiguous batch-first `(*lead, B, T, K)`."""
    return t.movedim(0, -2).contiguous()


def _drive(x_rows: Tensor, w_ih: Tensor, bias: Tensor, out: Tensor) -> None:
    """`W_ih x_t + b` for every step, written into the time-major `(T, *lead, B, G)` buffer
    `out`: ONE matmul over all `T·B` rows. Each step then adds its recurrent term in place."""
    if x_rows.dim() == 2:  # out is (T, B, G): its rows are the matmul's, no copy
        torch.addmm(bias, x_rows, _t(w_ih), out=out.view(-1, out.shape[-1]))
    else:
        out.copy_(_from_rows(torch.baddbmm(bias.unsqueeze(-2), x_rows, _t(w_ih)), out.shape[0]))


def _add_mm_(out: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """`out += a @ b` in place (2-D or batched)."""
    return out.addmm_(a, b) if a.dim() == 2 else out.baddbmm_(a, b)


def _after_loop(
    need: tuple[bool, ...], dz: Tensor, prev: Tensor, x_rows: Tensor, w_ih: Tensor, w_hh: Tensor
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """`(∂x, ∂s_0, ∂W_ih, ∂W_hh, ∂b)` from every step's `δz_t`, those that `need` asks for (in
    that order), each ONE matmul (or one sum) over all `T·B` rows.

    `dz` `(T, *lead, B, G)` holds `δz_t`; `prev` holds `h_{t−1}` in the same layout; `x_rows`
    is `_x_rows(x)`."""
    need_x, need_s0, need_w_ih, need_w_hh, need_b = need
    dz_rows = _rows(dz)  # (*lead, T·B, G)
    gx = gs0 = gw_ih = gw_hh = gb = None
    if need_x:  # ∂L/∂x_t = δz_t W_ih, back to batch-first
        gx = _batch_first(_from_rows(dz_rows @ w_ih, dz.shape[0]))
    if need_s0:  # ∂L/∂s_0 = δz_1 W_hh
        gs0 = dz[0] @ w_hh
    if need_w_ih:  # ∂L/∂W_ih = Σ_t δz_tᵀ x_t
        gw_ih = _t(dz_rows) @ x_rows
    if need_w_hh:  # ∂L/∂W_hh = Σ_t δz_tᵀ h_{t−1}
        gw_hh = _t(dz_rows) @ _rows(prev)
    if need_b:  # ∂L/∂b = Σ_t Σ_b δz_t
        gb = dz_rows.sum(dim=-2)
    return gx, gs0, gw_ih, gw_hh, gb


def _incoming(g_out: Tensor | None, g_last: Tensor | None, like: Tensor) -> Tensor:
    """`∂L/∂(outputs)` as a new time-major buffer like `like` `(T, *lead, B, H)`, the gradient of
    the returned last state added at the last step (zeros for a gradient that did not arrive)."""
    if g_out is None:
        d = torch.zeros_like(like)
    else:  # a new contiguous buffer, never the caller's tensor: the loop updates it in place
        d = like.new_empty(like.shape).copy_(g_out.movedim(-2, 0))
    if g_last is not None:
        d[-1] += g_last
    return d


# -- RNN ------------------------------------------------------------------------------------------


class _RNNSequence(torch.autograd.Function):
    """`s_t = act(W_hh s_{t−1} + W_ih x_t + b)` over a whole sequence, with its BPTT."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, s0: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor, act: str
    ) -> tuple[Tensor, Tensor]:
        steps = x.shape[-2]
        x_rows = _x_rows(x)
        states = x.new_empty((steps + 1, *s0.shape))  # s_0, s_1, …, s_T, time-major
        states[0] = s0
        _drive(x_rows, w_ih, bias, out=states[1:])  # U x_t + b; s_t is then built in place
        w_t = _t(w_hh).contiguous()  # Wᵀ once per call
        s = states.unbind(0)  # the per-step views, made in one call
        for t in range(1, steps + 1):
            _add_mm_(s[t], s[t - 1], w_t)  # W s_{t−1} + U x_t + b
            if act == "tanh":
                s[t].tanh_()
            elif act == "sigmoid":
                s[t].sigmoid_()
        ctx.set_materialize_grads(False)
        ctx.act = act
        ctx.inputs = 5  # saved last, for _first_order
        ctx.save_for_backward(x_rows, states, x, s0, w_ih, w_hh, bias)
        return _batch_first(states[1:]), states[steps].clone()

    @staticmethod
    @_first_order
    def backward(
        ctx: Any, g_out: Tensor | None, g_last: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x_rows, states, _, _, w_ih, w_hh, _ = ctx.saved_tensors
        after = states[1:]  # s_1..s_T
        if ctx.act == "tanh":
            slope: Tensor | None = 1.0 - after * after  # tanh′ = 1 − s², all steps at once
        elif ctx.act == "sigmoid":
            slope = after * (1.0 - after)  # σ′ = s(1 − s)
        else:
            slope = None  # identity: act′ = 1
        dz = _incoming(g_out, g_last, after)  # ∂L/∂s_t from the outputs, then δz_t in place
        dz_t = dz.unbind(0)
        slope_t = slope.unbind(0) if slope is not None else None
        for t in range(len(dz_t) - 1, -1, -1):
            if t + 1 < len(dz_t):  # ∂L/∂s_t += δz_{t+1} W
                _add_mm_(dz_t[t], dz_t[t + 1], w_hh)
            if slope_t is not None:
                dz_t[t].mul_(slope_t[t])  # δz_t = ∂L/∂s_t ⊙ act′
        need = ctx.needs_input_grad  # (x, s0, W_ih, W_hh, b, act)
        grads = _after_loop(need[:5], dz, states[:-1], x_rows, w_ih, w_hh)
        return (*grads, None)


def rnn_sequence(
    x: Tensor, s0: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor, act: str
) -> tuple[Tensor, Tensor]:
    """The fast RNN over a checked sequence `x` `(*lead, B, T, D)` from `s0` `(*lead, B, H)`:
    `(states (*lead, B, T, H), s_T)`; `bias` is `b_ih + b_hh`."""
    out: tuple[Tensor, Tensor] = _RNNSequence.apply(  # type: ignore[no-untyped-call]
        x, s0, w_ih, w_hh, bias, act
    )
    return out


# -- LSTM -----------------------------------------------------------------------------------------


def _roll_gates(w: Tensor, hidden: int, dim: int) -> Tensor:
    """PyTorch's gate order (i, f, g, o) → (o, i, f, g) with `hidden`, and back with `−hidden`:
    a roll of the `4H` gate rows (or bias entries) by one block."""
    return torch.roll(w, shifts=hidden, dims=dim)


def _blocks(t: Tensor, hidden: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four `hidden`-wide gate blocks of the last dimension (views), in storage order."""
    o, i, f, g = t.split(hidden, dim=-1)  # type: ignore[no-untyped-call]
    return o, i, f, g


class _LSTMSequence(torch.autograd.Function):
    """The LSTM over a whole sequence with its BPTT; internal gate order (o, i, f, g)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        steps, hs = x.shape[-2], h0.shape[-1]
        x_rows = _x_rows(x)
        w_ih_r = _roll_gates(w_ih, hs, -2)  # rows (o, i, f, g)
        w_hh_r = _roll_gates(w_hh, hs, -2)
        gates = x.new_empty((steps, *h0.shape[:-1], 4 * hs))  # z_t, then (o, i, f, g)_t
        _drive(x_rows, w_ih_r, _roll_gates(bias, hs, -1), out=gates)  # W_ih x_t + b, all t
        w_t = _t(w_hh_r).contiguous()  # (*lead, H, 4H)
        hids = x.new_empty((steps + 1, *h0.shape))  # h_0..h_T, time-major
        cells = x.new_empty((steps + 1, *c0.shape))  # c_0..c_T
        tanh_c = x.new_empty((steps, *c0.shape))  # tanh(c_1)..tanh(c_T)
        hids[0] = h0
        cells[0] = c0
        o, i, f, g = (b.unbind(0) for b in _blocks(gates, hs))  # per-step views, one call each
        z, sig, tnh = (v.unbind(0) for v in (gates, gates[..., : 3 * hs], gates[..., 3 * hs :]))
        h, c, tc = hids.unbind(0), cells.unbind(0), tanh_c.unbind(0)
        for t in range(steps):
            _add_mm_(z[t], h[t], w_t)  # z_t = W_ih x_t + b + W_hh h_{t−1}: one fused matmul
            sig[t].sigmoid_()  # o_t, i_t, f_t
            tnh[t].tanh_()  # g_t
            torch.mul(f[t], c[t], out=c[t + 1])
            c[t + 1].addcmul_(i[t], g[t])  # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
            torch.tanh(c[t + 1], out=tc[t])
            torch.mul(o[t], tc[t], out=h[t + 1])  # h_t = o_t ⊙ tanh(c_t)
        ctx.set_materialize_grads(False)
        ctx.inputs = 6  # saved last, for _first_order
        ctx.save_for_backward(
            x_rows, w_ih_r, w_hh_r, gates, hids, cells, tanh_c, x, h0, c0, w_ih, w_hh, bias
        )
        return _batch_first(hids[1:]), hids[steps].clone(), cells[steps].clone()

    @staticmethod
    @_first_order
    def backward(
        ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_c: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x_rows, w_ih_r, w_hh_r, gates, hids, cells, tanh_c = ctx.saved_tensors[:7]
        hs = hids.shape[-1]
        steps, three = gates.shape[0], 3 * hs
        o, i, f, g = _blocks(gates, hs)
        # Everything that does not depend on the incoming gradient, for all steps at once, in a
        # (T, …, 5H) buffer q = (q_o, q_i, q_f, q_g, f): δz_o = ∂L/∂h_t ⊙ q_o and
        # (δz_i, δz_f, δz_g, carry) = ∂L/∂c_t ⊙ (q_i, q_f, q_g, f), one op per step.
        q = gates.new_empty((*gates.shape[:-1], 5 * hs))
        sig = gates[..., :three]
        torch.addcmul(sig, sig, sig, value=-1.0, out=q[..., :three])  # σ′ = a − a² (o, i, f)
        q_o, q_i, q_f, q_g, q_carry = q.split(hs, dim=-1)
        q_o.mul_(tanh_c)  # ∂h_t/∂z_o = tanh(c_t) σ′(z_o)
        q_i.mul_(g)  # ∂c_t/∂z_i = g_t σ′(z_i)
        q_f.mul_(cells[:-1])  # ∂c_t/∂z_f = c_{t−1} σ′(z_f)
        torch.addcmul(i, i * g, g, value=-1.0, out=q_g)  # ∂c_t/∂z_g = i_t (1 − g_t²)
        q_carry.copy_(f)  # ∂c_t/∂c_{t−1} = f_t along the cell
        k = torch.addcmul(o, hids[1:], tanh_c, value=-1.0)  # ∂h_t/∂c_t = o_t (1 − tanh²c_t)
        dh = _incoming(g_out, g_h, tanh_c)  # ∂L/∂h_t from the outputs; the recurrence added below
        # δz_t and the carry f_t ⊙ ∂L/∂c_t, steps 0..T−1, and a step T holding ∂L/∂c_T's carry.
        dz = gates.new_empty((steps + 1, *gates.shape[1:-1], 5 * hs))
        dz[steps, ..., 4 * hs :] = 0.0 if g_c is None else g_c
        dc = torch.empty_like(cells[0])  # ∂L/∂c_t
        dc_1 = dc.unsqueeze(-2)  # (…, 1, H): one ∂L/∂c_t for the blocks i, f, g and the carry
        dh_t, k_t, qo_t = dh.unbind(0), k.unbind(0), q_o.unbind(0)
        q4_t = q[..., hs:].unflatten(-1, (4, hs)).unbind(0)  # per step (…, B, 4, H)
        dz_t, carry_t = dz[..., : 4 * hs].unbind(0), dz[..., 4 * hs :].unbind(0)
        dzo_t, dz4_t = dz[..., :hs].unbind(0), dz[..., hs:].unflatten(-1, (4, hs)).unbind(0)
        for t in range(steps - 1, -1, -1):
            if t + 1 < steps:  # ∂L/∂h_t += δz_{t+1} W_hh
                _add_mm_(dh_t[t], dz_t[t + 1], w_hh_r)
            torch.addcmul(carry_t[t + 1], dh_t[t], k_t[t], out=dc)  # ∂L/∂c_t
            torch.mul(dh_t[t], qo_t[t], out=dzo_t[t])  # δz_o
            torch.mul(q4_t[t], dc_1, out=dz4_t[t])  # δz_i, δz_f, δz_g, f_t ⊙ ∂L/∂c_t
        need = ctx.needs_input_grad  # (x, h0, c0, W_ih, W_hh, b)
        gx, gh0, gw_ih, gw_hh, gb = _after_loop(
            (need[0], need[1], need[3], need[4], need[5]),
            dz[:steps, ..., : 4 * hs],
            hids[:-1],
            x_rows,
            w_ih_r,
            w_hh_r,
        )
        gc0 = carry_t[0].clone() if need[2] else None  # ∂L/∂c_0 = f_1 ⊙ ∂L/∂c_1
        if gw_ih is not None:
            gw_ih = _roll_gates(gw_ih, -hs, -2)  # back to (i, f, g, o)
        if gw_hh is not None:
            gw_hh = _roll_gates(gw_hh, -hs, -2)
        if gb is not None:
            gb = _roll_gates(gb, -hs, -1)
        return gx, gh0, gc0, gw_ih, gw_hh, gb


def lstm_sequence(
    x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The fast LSTM over a checked sequence `x` `(*lead, B, T, D)` from `(h0, c0)`: `(h
    (*lead, B, T, H), h_T, c_T)`; `bias` is `b_ih + b_hh`, gates in PyTorch's order."""
    out: tuple[Tensor, Tensor, Tensor] = _LSTMSequence.apply(  # type: ignore[no-untyped-call]
        x, h0, c0, w_ih, w_hh, bias
    )
    return out
