"""Tests of the fast forms on spec/sequences/rnn.md and lstm.md (`rnn.fast-form`,
`lstm.fast-form`): `RNN(..., fast=True)` and `LSTM(..., fast=True)` equal the plain forms.

The oracle is the plain form itself (autograd through the step loop, the form the other claims
test), given the same weights: outputs, final states and the gradients with respect to the
input, the initial states and every parameter, in float64. `torch.autograd.gradcheck` checks the
hand-written backward against finite differences independently of the plain form.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.nn._recurrent_fast import lstm_sequence, rnn_sequence
from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN, SequenceClassifier
from tests.tolerances import EXACT, check_close, failure

F64 = torch.float64
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
CLAIM_RNN = "rnn.fast-form"
CLAIM_LSTM = "lstm.fast-form"
#: Which returned tensors the loss reads: all states, only the last state(s), or both (the
#: fast backward receives no gradient for a returned tensor the loss does not read).
USES = ("all", "last", "both")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(shape: tuple[int, ...], g: torch.Generator, device: str, grad: bool = False) -> Any:
    return torch.randn(shape, generator=g, dtype=F64).to(device).requires_grad_(grad)


def _pair(cls: type, d: int, h: int, g: torch.Generator, device: str, **kw: Any) -> Any:
    """A plain layer with standard-normal weights (larger than the default initialization, so
    that gates saturate and gradients grow) and a fast layer holding the same weights."""
    plain = cls(d, h, device=device, dtype=F64, **kw)
    with torch.no_grad():
        for name in NAMES:
            p = getattr(plain, name)
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    fast = cls(d, h, fast=True, device=device, dtype=F64, **kw)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def _loss(outs: list[torch.Tensor], probes: list[torch.Tensor], use: str) -> torch.Tensor:
    """A random projection of the outputs the loss reads (`USES`)."""
    chosen = {"all": outs[:1], "last": outs[1:], "both": outs}[use]
    chosen_probes = {"all": probes[:1], "last": probes[1:], "both": probes}[use]
    return sum(((o * p).sum() for o, p in zip(chosen, chosen_probes, strict=True)), torch.zeros(()))


def _compare(
    claim: str,
    device: str,
    layers: tuple[Any, Any],
    run: Any,
    leaves: list[torch.Tensor],
    leaf_names: list[str],
    out_names: list[str],
    use: str,
    g: torch.Generator,
) -> None:
    """Outputs and gradients (w.r.t. `leaves` and every parameter) of the plain and fast layer."""
    results = []
    probes: list[torch.Tensor] = []
    for layer in layers:
        outs = run(layer)
        if not probes:
            probes = [_randn(tuple(o.shape), g, device) for o in outs]
        params = [getattr(layer, n) for n in NAMES]
        grads = torch.autograd.grad(_loss(outs, probes, use).to(device), leaves + params)
        results.append((outs, grads))
    (plain_out, plain_grad), (fast_out, fast_grad) = results
    for name, a, e in zip(out_names, fast_out, plain_out, strict=True):
        check_close(a, e, EXACT, claim, device, f"fast form's {name}")
    for name, a, e in zip(leaf_names + list(NAMES), fast_grad, plain_grad, strict=True):
        check_close(a, e, EXACT, claim, device, f"fast form's gradient w.r.t. {name} (use={use})")


# =================================================================================================
# rnn.fast-form
# =================================================================================================


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 5)),
    ensemble=st.sampled_from([None, 1, 2, 3]),
    act=st.sampled_from(["tanh", "sigmoid", "identity"]),
    with_s0=st.booleans(),
    use=st.sampled_from(USES),
    seed=st.integers(0, 2**31 - 1),
)
@example(sizes=(1, 1, 1, 1), ensemble=None, act="tanh", with_s0=True, use="last", seed=0)
@example(sizes=(3, 8, 4, 5), ensemble=3, act="sigmoid", with_s0=True, use="both", seed=1)
def test_rnn_fast_equals_plain(
    device: str,
    dtype: torch.dtype,
    sizes: tuple[int, int, int, int],
    ensemble: int | None,
    act: str,
    with_s0: bool,
    use: str,
    seed: int,
) -> None:
    b, t, d, h = sizes
    g = _gen(seed)
    layers = _pair(RNN, d, h, g, device, nonlinearity=act, ensemble=ensemble)
    lead = (ensemble,) if ensemble else ()
    x = _randn((*lead, b, t, d), g, device, grad=True)
    s0 = _randn((*lead, b, h), g, device, grad=True)

    def run(layer: Any) -> list[torch.Tensor]:
        return list(layer(x, s0) if with_s0 else layer(x))

    leaves, names = ([x, s0], ["x", "s0"]) if with_s0 else ([x], ["x"])
    _compare(CLAIM_RNN, device, layers, run, leaves, names, ["states", "s_T"], use, g)


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("ensemble", [None, 2])
def test_rnn_fast_backward_passes_gradcheck(
    device: str, dtype: torch.dtype, act: str, ensemble: int | None
) -> None:
    """The hand-written BPTT equals finite differences, for every input of the Function."""
    g = _gen(11)
    lead = (ensemble,) if ensemble else ()
    b, t, d, h = 2, 4, 3, 3
    args = [
        _randn((*lead, b, t, d), g, device, grad=True),  # x
        _randn((*lead, b, h), g, device, grad=True),  # s0
        0.5 * _randn((*lead, h, d), g, device).detach().requires_grad_(True),  # W_ih
        0.5 * _randn((*lead, h, h), g, device).detach().requires_grad_(True),  # W_hh
        _randn((*lead, h), g, device, grad=True),  # b
    ]
    ok = torch.autograd.gradcheck(lambda *a: rnn_sequence(*a, act), args, eps=1e-6, atol=1e-8)
    assert ok, failure(CLAIM_RNN, device, dtype, f"gradcheck failed ({act})", float("nan"), "")


# =================================================================================================
# lstm.fast-form
# =================================================================================================


@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 5)),
    ensemble=st.sampled_from([None, 1, 2, 3]),
    with_state=st.booleans(),
    use=st.sampled_from(USES),
    seed=st.integers(0, 2**31 - 1),
)
@example(sizes=(1, 1, 1, 1), ensemble=None, with_state=True, use="last", seed=0)
@example(sizes=(3, 8, 4, 5), ensemble=3, with_state=True, use="both", seed=1)
def test_lstm_fast_equals_plain(
    device: str,
    dtype: torch.dtype,
    sizes: tuple[int, int, int, int],
    ensemble: int | None,
    with_state: bool,
    use: str,
    seed: int,
) -> None:
    b, t, d, h = sizes
    g = _gen(seed)
    layers = _pair(LSTM, d, h, g, device, ensemble=ensemble)
    lead = (ensemble,) if ensemble else ()
    x = _randn((*lead, b, t, d), g, device, grad=True)
    h0 = _randn((*lead, b, h), g, device, grad=True)
    c0 = _randn((*lead, b, h), g, device, grad=True)

    def run(layer: Any) -> list[torch.Tensor]:
        out, (h_t, c_t) = layer(x, (h0, c0)) if with_state else layer(x)
        return [out, h_t, c_t]

    leaves, names = ([x, h0, c0], ["x", "h0", "c0"]) if with_state else ([x], ["x"])
    _compare(CLAIM_LSTM, device, layers, run, leaves, names, ["outputs", "h_T", "c_T"], use, g)


@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("ensemble", [None, 2])
def test_lstm_fast_backward_passes_gradcheck(
    device: str, dtype: torch.dtype, ensemble: int | None
) -> None:
    """The hand-written BPTT equals finite differences, for every input of the Function."""
    g = _gen(12)
    lead = (ensemble,) if ensemble else ()
    b, t, d, h = 2, 4, 3, 2
    args = [
        _randn((*lead, b, t, d), g, device, grad=True),  # x
        _randn((*lead, b, h), g, device, grad=True),  # h0
        _randn((*lead, b, h), g, device, grad=True),  # c0
        _randn((*lead, 4 * h, d), g, device, grad=True),  # W_ih
        _randn((*lead, 4 * h, h), g, device, grad=True),  # W_hh
        _randn((*lead, 4 * h), g, device, grad=True),  # b
    ]
    ok = torch.autograd.gradcheck(lstm_sequence, args, eps=1e-6, atol=1e-8)
    assert ok, failure(CLAIM_LSTM, device, dtype, "gradcheck failed", float("nan"), "")


@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
def test_lstm_fast_trains_a_classifier_like_plain(device: str, dtype: torch.dtype) -> None:
    """Inside `SequenceClassifier` (only `h_T` reaches the loss), with a forget bias: the same
    logits and gradients, and `trace()` of the fast layer is the plain trace."""
    g = _gen(5)
    plain = LSTM(2, 3, forget_bias=1.0, generator=g, device=device, dtype=F64)
    fast = LSTM(2, 3, forget_bias=1.0, fast=True, device=device, dtype=F64)
    fast.load_state_dict(plain.state_dict())
    x = _randn((4, 7, 2), g, device)
    models = [SequenceClassifier(layer, 2, generator=_gen(6)) for layer in (plain, fast)]
    logits = [m(x) for m in models]
    check_close(logits[1], logits[0], EXACT, CLAIM_LSTM, device, "classifier logits")
    grads = [
        torch.autograd.grad(lg.square().sum(), list(m.parameters()))
        for lg, m in zip(logits, models, strict=True)
    ]
    for a, e in zip(grads[1], grads[0], strict=True):
        check_close(a, e, EXACT, CLAIM_LSTM, device, "classifier parameter gradient")
    for a, e in zip(fast.trace(x), plain.trace(x), strict=True):
        check_close(a, e, EXACT, CLAIM_LSTM, device, "trace() of the fast layer")


# =================================================================================================
# What the fast forms refuse
# =================================================================================================


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_second_backward_and_forward_ad_raise(device: str, dtype: torch.dtype, kind: str) -> None:
    """Double backward is not implemented: differentiating the gradient raises, rather than
    returning a silently wrong second derivative, also when the gradient enters a loss beside
    terms that do have one (a gradient penalty); first-order use of create_graph still works."""
    g = _gen(7)
    layer = (RNN if kind == "rnn" else LSTM)(2, 3, fast=True, generator=g, device=device, dtype=F64)
    x = _randn((2, 4, 2), g, device, grad=True)
    out = layer(x)[0]
    (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    plain = (RNN if kind == "rnn" else LSTM)(2, 3, device=device, dtype=F64)
    plain.load_state_dict(layer.state_dict())
    (ref,) = torch.autograd.grad(plain(x)[0].sum(), x)
    check_close(gx, ref, EXACT, CLAIM_RNN if kind == "rnn" else CLAIM_LSTM, device, "create_graph")
    with pytest.raises(RuntimeError, match="fast=False"):
        torch.autograd.grad(gx.sum(), x)
    penalty = (gx.square().sum() + out.sum()).sum()
    with pytest.raises(RuntimeError, match="fast=False"):
        penalty.backward()
    with fwAD.dual_level(), pytest.raises(NotImplementedError, match="jvp"):
        layer(fwAD.make_dual(x.detach(), torch.ones_like(x)))  # no forward-mode AD either


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_second_backward_raises_whichever_input_asks(
    device: str, dtype: torch.dtype, kind: str
) -> None:
    """The refusal of a second derivative holds when only one input requires grad, for each
    input in turn (x, the state(s), W_ih, W_hh, the bias): every input is an anchor of the guard."""
    g = _gen(11)
    h = 3
    rows = h if kind == "rnn" else 4 * h
    shapes = (
        [(2, 4, 2), (2, h)] + ([] if kind == "rnn" else [(2, h)]) + [(rows, 2), (rows, h), (rows,)]
    )
    for k in range(len(shapes)):
        ins = [_randn(shape, g, device, grad=i == k) for i, shape in enumerate(shapes)]
        out = rnn_sequence(*ins, "tanh") if kind == "rnn" else lstm_sequence(*ins)
        (gk,) = torch.autograd.grad(out[0].square().sum(), ins[k], create_graph=True)
        with pytest.raises(RuntimeError, match="fast=False"):
            torch.autograd.grad(gk.sum(), ins[k])


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_fast_flag_and_inputs_are_checked(device: str, dtype: torch.dtype, kind: str) -> None:
    """`fast` takes a bool only; the fast forms check their inputs as the plain forms do."""
    cls = RNN if kind == "rnn" else LSTM
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match="fast"):
            cls(2, 3, fast=bad)
    layer = cls(2, 3, fast=True, device=device, dtype=F64)
    assert "fast=True" in repr(layer)
    with pytest.raises(ValueError, match="x must have shape"):
        layer(torch.zeros(2, 4, 5, device=device, dtype=F64))
    with pytest.raises(ValueError, match="at least one time step"):
        layer(torch.zeros(2, 0, 2, device=device, dtype=F64))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.zeros(2, 4, 2, device=device, dtype=torch.float32))
    bad_state: Any = torch.zeros(2, 4, device=device, dtype=F64)
    if kind == "lstm":
        bad_state = (bad_state, bad_state)
    with pytest.raises(ValueError, match="mismatched sizes"):
        layer(torch.zeros(2, 4, 2, device=device, dtype=F64), bad_state)


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("ensemble", [None, 2])
def test_fast_forward_and_backward_warn_nothing(
    device: str, dtype: torch.dtype, kind: str, ensemble: int | None
) -> None:
    """The fast forms write into buffers of the right shape: a forward and backward with every
    warning turned into an error (a matmul writing `out=` into a buffer of another shape is
    resized with a deprecation warning) give the plain form's outputs. Batch 3, 4 steps, input
    2, hidden 5 (no two sizes equal)."""
    g = _gen(17)
    plain, fast = _pair(RNN if kind == "rnn" else LSTM, 2, 5, g, device, ensemble=ensemble)
    claim = CLAIM_RNN if kind == "rnn" else CLAIM_LSTM
    lead = (ensemble,) if ensemble else ()
    x = _randn((*lead, 3, 4, 2), g, device, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fast(x)[0]
        (gx,) = torch.autograd.grad(out.sum(), x)
    ref = plain(x)[0]
    check_close(out, ref, EXACT, claim, device, "fast form's output, warnings as errors")
    (want,) = torch.autograd.grad(ref.sum(), x)
    check_close(gx, want, EXACT, claim, device, "fast form's input gradient, warnings as errors")


@pytest.mark.claim(CLAIM_RNN)
@pytest.mark.claim(CLAIM_LSTM)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("batch, steps", [(1, 4), (3, 1)])
def test_fast_backward_leaves_the_incoming_gradient_alone(
    device: str, dtype: torch.dtype, kind: str, batch: int, steps: int
) -> None:
    """A batch of one or a single step: the incoming gradient `(B, T, H)`, moved time-major, is
    already contiguous, and a backward that updated it in place (as its BPTT loop updates its
    own buffer) would overwrite the caller's tensor, so that reusing it (a second
    `autograd.grad` with the same `grad_outputs`) gives another, wrong gradient."""
    g = _gen(13)
    plain, fast = _pair(RNN if kind == "rnn" else LSTM, 2, 3, g, device)
    claim = CLAIM_RNN if kind == "rnn" else CLAIM_LSTM
    x = _randn((batch, steps, 2), g, device, grad=True)
    out_fast, out_plain = fast(x)[0], plain(x)[0]
    probe = _randn(tuple(out_fast.shape), g, device)
    kept = probe.clone()
    want = torch.autograd.grad(out_plain, [x, *plain.parameters()], probe)
    for call in ("first", "second"):
        got = torch.autograd.grad(out_fast, [x, *fast.parameters()], probe, retain_graph=True)
        assert torch.equal(probe, kept), failure(
            claim, device, dtype, f"grad_outputs changed by the {call} backward", 1.0, "unchanged"
        )
        for a, b in zip(got, want, strict=True):
            check_close(a, b, EXACT, claim, device, f"{call} backward, B={batch}, T={steps}")
