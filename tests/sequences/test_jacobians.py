"""Tests of the Jacobian probe behind spec/sequences/rnn.md and lstm.md: `batched_jacobian`.

`state_jacobian`, `cell_jacobian` and `forget_product` are decided by the claims' own tests
(tests/sequences/test_rnn.py, test_lstm.py); here the common tool is checked against Jacobians
written down by hand.
"""

from __future__ import annotations

import pytest
import torch

from dlspec.analysis.jacobians import batched_jacobian, cell_jacobian, state_jacobian
from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN
from tests.tolerances import EXACT, check_close

CLAIM = "rnn.vanishing-bound"
F64 = torch.float64


@pytest.mark.claim(CLAIM)
@pytest.mark.dtypes("float64")
def test_batched_jacobian_by_hand(device: str, dtype: torch.dtype) -> None:
    """fn(s) = (s ⊙ s) Aᵀ row by row, A of shape (3, 2): J[b] = A diag(2 s_b), (3, 2) per row,
    exact in binary; a linear map gives A for every row."""
    a = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]], device=device, dtype=dtype)
    s = torch.tensor([[1.0, -2.0], [0.5, 0.25]], device=device, dtype=dtype)
    jac = batched_jacobian(lambda t: (t * t) @ a.T, s)
    want = torch.stack([a * (2 * s[b])[None, :] for b in range(2)])
    check_close(jac, want, EXACT, CLAIM, device, "J[b] = A diag(2 s_b)")
    lin = batched_jacobian(lambda t: t @ a.T, s)
    check_close(lin, a.expand(2, 3, 2), EXACT, CLAIM, device, "J[b] = A for a linear map")
    assert not jac.requires_grad and not s.requires_grad, f"{CLAIM}: graph left attached"


@pytest.mark.claim(CLAIM)
def test_batched_jacobian_keeps_the_dtype() -> None:
    """The seed rows e_k are built in fn(s)'s dtype: float32 in, float32 out, also when the
    default dtype is float64; the entries are exact (J = diag(3 s_b²) for fn(s) = s³)."""
    s = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float32)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        jac = batched_jacobian(lambda t: t**3, s)
    finally:
        torch.set_default_dtype(old)
    want = torch.diag_embed(3 * s**2)
    assert jac.dtype == torch.float32 and torch.equal(jac, want), f"{CLAIM}: {jac}"


@pytest.mark.claim(CLAIM)
def test_batched_jacobian_refuses_what_it_cannot_read() -> None:
    s = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"fn\(s\) must be 2-D, got shape \(2,\)"):
        batched_jacobian(lambda t: t.sum(1), s)
    with pytest.raises(TypeError, match=r"fn\(s\) must be a floating-point tensor"):
        batched_jacobian(lambda t: (t > 0).long(), s)
    with pytest.raises(ValueError, match=r"batch dimension 2, got output \(1, 3\)"):
        batched_jacobian(lambda t: t[:1], s)
    with pytest.raises(ValueError, match=r"s must be 2-D, got shape \(3,\)"):
        batched_jacobian(torch.tanh, s[0])
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got str"):
        state_jacobian(RNN(2, 3, dtype=F64), "x", s)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^rnn must be a dlspec\.nn\.rnn\.RNN, got LSTM$"):
        state_jacobian(LSTM(2, 3, dtype=F64), torch.zeros(2, 1, 2, dtype=F64), s)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^lstm must be a dlspec\.nn\.lstm\.LSTM, got RNN$"):
        cell_jacobian(RNN(2, 3, dtype=F64), torch.zeros(2, 1, 2, dtype=F64), s, s)  # type: ignore[arg-type]
