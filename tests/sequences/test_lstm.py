"""Tests of spec/sequences/lstm.md: the LSTM layer, its cell Jacobian and long-range memory.

Notation as on the page: gates ``i, f, g, o`` (PyTorch's order),
``c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t``,
``h_t = o_t ⊙ tanh(c_t)``; ``dc_T/dc_0`` is the total derivative (``h_0`` held fixed) and
``Π_t f_t`` the direct path. The layer under test is reached through the ``LSTM_IMPL`` seam; the
oracle is ``torch.nn.LSTM``.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from dlspec.analysis.jacobians import cell_jacobian, forget_product, state_jacobian
from dlspec.data.memory import memory_task
from dlspec.nn import lstm as L
from dlspec.nn.rnn import RNN, SequenceClassifier
from tests.sequences.export import check_export_placement
from tests.stats import binomial_cdf, binomial_sf
from tests.tolerances import EXACT, Tol, check_close, failure

#: The seam: the LSTM under test (any class with LSTM's constructor, forward and trace).
LSTM_IMPL: Any = L.LSTM
F64 = torch.float64
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: Each statistical test's chance of failing by bad luck per run (spec/computation/reliability.md).
#: The initialization test: the extreme of n uniforms misses 5 % of its end with chance 0.975^n,
#: for the weight matrices with n ≥ 1024 (LSTM: 4096 and 1024 entries; RNN: 1024), both ends.
FALSE_FAILURES = {"test_default_initialization_is_torchs": 2 * 0.975**1024 + 2 * 0.975**4096}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _set(layer: Any, **weights: torch.Tensor) -> Any:
    with torch.no_grad():
        for name, value in weights.items():
            getattr(layer, name).copy_(value)
    return layer


# =================================================================================================
# lstm.matches-torch
# =================================================================================================

CLAIM_TORCH = "lstm.matches-torch"


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=40)
@given(
    b=st.integers(1, 3),
    t=st.integers(1, 8),
    d=st.integers(1, 4),
    h=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    with_state=st.booleans(),
)
@example(b=2, t=1, d=1, h=1, seed=0, with_state=True)
def test_lstm_equals_torch_forward_and_backward(
    device: str, dtype: torch.dtype, b: int, t: int, d: int, h: int, seed: int, with_state: bool
) -> None:
    g = _gen(seed)
    oracle = nn.LSTM(d, h, batch_first=True, device=device, dtype=dtype)
    _set(
        oracle,
        **{
            n: torch.randn(p.shape, generator=g, dtype=dtype).to(device)
            for n, p in oracle.named_parameters()
        },
    )
    layer = LSTM_IMPL(d, h, device=device, dtype=dtype).load_torch(oracle)
    x = torch.randn(b, t, d, generator=g, dtype=dtype).to(device).requires_grad_(True)
    h0 = torch.randn(b, h, generator=g, dtype=dtype).to(device).requires_grad_(True)
    c0 = torch.randn(b, h, generator=g, dtype=dtype).to(device).requires_grad_(True)
    if with_state:
        out, (hn, cn) = layer(x, (h0, c0))
        ref, (rh, rc) = oracle(x, (h0[None], c0[None]))
    else:
        out, (hn, cn) = layer(x)
        ref, (rh, rc) = oracle(x)
    check_close(out, ref, EXACT, CLAIM_TORCH, device, "outputs h_1..h_T")
    check_close(hn, rh[0], EXACT, CLAIM_TORCH, device, "h_T")
    check_close(cn, rc[0], EXACT, CLAIM_TORCH, device, "c_T")
    p1, p2 = (torch.randn(*v.shape, generator=g, dtype=dtype).to(device) for v in (out, cn))
    leaves = [x, *((h0, c0) if with_state else ())]
    mine = torch.autograd.grad(
        (out * p1).sum() + (cn * p2).sum(), leaves + [getattr(layer, n) for n in NAMES]
    )
    theirs = torch.autograd.grad(
        (ref * p1).sum() + (rc[0] * p2).sum(), leaves + [getattr(oracle, f"{n}_l0") for n in NAMES]
    )
    labels = ["x", *(("h0", "c0") if with_state else ()), *NAMES]
    for name, a, e in zip(labels, mine, theirs, strict=True):
        check_close(a, e, EXACT, CLAIM_TORCH, device, f"gradient with respect to {name}")
    exported = LSTM_IMPL(d, h, forget_bias=1.0, generator=g, device=device, dtype=dtype)
    check_close(
        exported(x)[0], exported.to_torch()(x)[0], EXACT, CLAIM_TORCH, device, "to_torch() export"
    )
    tr = exported.trace(x)
    check_close(tr.h, exported(x)[0], EXACT, CLAIM_TORCH, device, "trace().h = forward outputs")


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_forget_bias_and_ensemble(device: str, dtype: torch.dtype) -> None:
    """forget_bias=b sets b_f = bias_ih[H:2H] + bias_hh[H:2H] = b; ensemble members are layers."""
    g = _gen(4)
    ens = LSTM_IMPL(2, 3, forget_bias=2.5, ensemble=3, generator=g, device=device, dtype=dtype)
    bf = ens.bias_ih[:, 3:6] + ens.bias_hh[:, 3:6]
    check_close(bf, torch.full_like(bf, 2.5), EXACT, CLAIM_TORCH, device, "b_f")
    other = torch.cat([ens.bias_ih[:, :3], ens.bias_ih[:, 6:]], dim=1)
    assert (
        float(other.detach().abs().max()) <= 1 / math.sqrt(3) and float(other.detach().std()) > 0
    ), failure(
        CLAIM_TORCH,
        device,
        dtype,
        "other gates' biases not U(−1/√H, 1/√H)",
        float(other.abs().max()),
        "1/√H",
    )
    x = torch.randn(3, 2, 5, 2, generator=g, dtype=dtype).to(device)
    out, _ = ens(x)
    for k in range(3):
        one = _set(
            LSTM_IMPL(2, 3, device=device, dtype=dtype), **{n: getattr(ens, n)[k] for n in NAMES}
        )
        check_close(out[k], one(x[k])[0], EXACT, CLAIM_TORCH, device, f"ensemble member {k}")


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_generator_draws_every_parameter_and_forget_bias_sets_only_b_f(
    device: str, dtype: torch.dtype
) -> None:
    """Layers built from the same seed hold the same four parameters, another seed other ones
    (each is drawn from the generator given); `forget_bias` changes only the `b_f` blocks
    `[H:2H]`: every other bias entry is the same-seed layer's."""
    a, b, c = (LSTM_IMPL(2, 3, generator=_gen(s), device=device, dtype=dtype) for s in (5, 5, 6))
    fb = LSTM_IMPL(2, 3, forget_bias=1.5, generator=_gen(5), device=device, dtype=dtype)
    for n in NAMES:
        same, other = getattr(a, n), getattr(c, n)
        assert torch.equal(same, getattr(b, n)) and not torch.equal(same, other), (
            f"{CLAIM_TORCH}: {n} is not drawn from the generator given"
        )
    for n in ("bias_ih", "bias_hh"):
        rest = [
            torch.cat([t[..., :3], t[..., 6:]], dim=-1) for t in (getattr(fb, n), getattr(a, n))
        ]
        assert torch.equal(*rest), f"{CLAIM_TORCH}: forget_bias changed {n} outside b_f"


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_export_keeps_device_and_dtype_and_checks_each_weight(
    device: str, dtype: torch.dtype
) -> None:
    """`to_torch()` builds the `torch.nn.LSTM` on the layer's device, in its dtype (on `meta`
    too, which nothing can be copied out of); a weight whose shape is not the layer's is refused,
    naming it, by `load_torch` and by `to_torch`, where `copy_` would broadcast it silently."""
    check_export_placement(LSTM_IMPL, CLAIM_TORCH, device, dtype)
    oracle = nn.LSTM(2, 3, batch_first=True, device=device, dtype=dtype)
    oracle.weight_hh_l0 = nn.Parameter(torch.zeros(1, 3, device=device, dtype=dtype))
    with pytest.raises(ValueError, match=r"weight_hh must have shape \(12, 3\) .*got \(1, 3\)"):
        LSTM_IMPL(2, 3, device=device, dtype=dtype).load_torch(oracle)
    layer = LSTM_IMPL(2, 3, device=device, dtype=dtype)
    layer.bias_ih = nn.Parameter(torch.zeros(1, device=device, dtype=dtype))
    with pytest.raises(ValueError, match=r"bias_ih must have shape \(12,\) .*got \(1,\)"):
        layer.to_torch()


@pytest.mark.claim(CLAIM_TORCH)
def test_state_dict_holds_the_parameters_only(device: str, dtype: torch.dtype) -> None:
    """A checkpoint of the layer holds its four parameters, as `torch.nn.LSTM`'s does (less the
    `_l0` suffix), not the constant gate scale derived from the size: a state saved by one layer
    loads into another of the same sizes, strictly."""
    layer = LSTM_IMPL(2, 3, device=device, dtype=dtype)
    state = layer.state_dict()
    assert sorted(state) == sorted(NAMES), f"{CLAIM_TORCH}: state_dict keys {sorted(state)}"
    other = LSTM_IMPL(2, 3, device=device, dtype=dtype)
    other.load_state_dict(state)  # strict
    for n in NAMES:
        assert torch.equal(getattr(other, n), getattr(layer, n)), f"{CLAIM_TORCH}: {n} not loaded"


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.dtypes("float64")
def test_bad_input_is_refused(device: str, dtype: torch.dtype) -> None:
    layer = LSTM_IMPL(2, 3, device=device, dtype=dtype)
    x = torch.zeros(4, 5, 2, dtype=dtype, device=device)
    z = torch.zeros(4, 3, dtype=dtype, device=device)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: layer(torch.zeros(4, 0, 2, dtype=dtype, device=device)), ValueError, "length 0"),
        (
            lambda: layer(torch.zeros(4, 5, 1, dtype=dtype, device=device)),
            ValueError,
            "x must have shape",
        ),
        (
            lambda: layer(x, (z, torch.zeros(4, 2, dtype=dtype, device=device))),
            ValueError,
            "c0 must have shape",
        ),
        (
            lambda: layer(x, (torch.zeros(3, 3, dtype=dtype, device=device), z)),
            ValueError,
            "h0 must have shape",
        ),
        (lambda: layer(x, (z.to("meta"), z)), ValueError, "h0 must be on"),
        (
            lambda: layer(x, z),
            TypeError,
            r"^state must be a pair \(h0, c0\) of tensors, got Tensor$",
        ),
        (lambda: layer(x, (z, z, z)), TypeError, "state must be a pair"),
        (lambda: layer(x, [z]), TypeError, "state must be a pair"),
        (lambda: layer(x, (z.float(), z)), TypeError, "h0 must have x's dtype"),
        (
            lambda: LSTM_IMPL(2, 3, forget_bias=math.nan),
            ValueError,
            r"^forget_bias must be a real number in \[-inf, inf\] "
            r"\(the forget-gate bias b_f\), got nan$",
        ),
        (lambda: LSTM_IMPL(2, 3, ensemble=0), ValueError, "ensemble"),
        (lambda: layer.load_torch(nn.LSTM(3, 3)), ValueError, "mismatched sizes"),
        (lambda: layer.load_torch(nn.LSTM(2, 3, proj_size=1)), ValueError, "proj_size"),
        (lambda: layer.load_torch(nn.RNN(2, 3)), TypeError, "torch.nn.LSTM"),
        (
            lambda: cell_jacobian(layer, x, z, torch.zeros(4, 4, dtype=dtype, device=device)),
            ValueError,
            "c0 must have shape",
        ),
        (lambda: forget_product(RNN(2, 3), x, z, z), TypeError, "lstm must be"),
        (lambda: memory_task(0, 5, generator=_gen(0)), ValueError, "n must be"),
        (lambda: memory_task(4, 5, generator=None), TypeError, "generator"),  # type: ignore[arg-type]
    ]
    for call, exc, words in cases:
        with pytest.raises(exc, match=words):
            call()


@pytest.mark.claim(CLAIM_TORCH)
@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_default_initialization_is_torchs(device: str, dtype: torch.dtype, kind: str) -> None:
    """Every parameter starts U(−1/√H, 1/√H), as in torch.nn.LSTM/RNN (the page's conditions):
    all entries inside, and for the weight matrices (n ≥ 1024 draws) the extremes within 5 % of
    both ends (the largest of n uniforms falls short by more than that with chance
    0.975^n < 1e-11)."""
    h = 16
    cls = LSTM_IMPL if kind == "lstm" else RNN
    layer = cls(64, h, generator=_gen(3), device=device, dtype=dtype)
    bound = 1.0 / math.sqrt(h)
    for name in NAMES:
        p = getattr(layer, name).detach().double()
        lo, hi = float(p.min()) / bound, float(p.max()) / bound
        ok = lo >= -1 - 1e-3 and hi <= 1 + 1e-3
        if p.numel() >= 1024:
            ok = ok and lo <= -0.95 and hi >= 0.95
        assert ok, failure(
            CLAIM_TORCH, device, dtype, f"{kind}.{name} range / (1/√H)", max(-lo, hi), "[0.95, 1]"
        )


# =================================================================================================
# lstm.constant-error-carousel
# =================================================================================================

CLAIM_CEC = "lstm.constant-error-carousel"


def _no_recurrence(layer: Any) -> Any:
    return _set(layer, weight_hh=torch.zeros_like(layer.weight_hh))


@pytest.mark.claim(CLAIM_CEC)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(steps=st.integers(1, 30), h=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_no_recurrence_jacobian_is_forget_product(
    device: str, dtype: torch.dtype, steps: int, h: int, seed: int
) -> None:
    """W_hh = 0: dc_T/dc_0 = diag(Π_t f_t), f_t = σ(W_if x_t + b_f) recomputed from x alone."""
    g = _gen(seed)
    layer = _no_recurrence(LSTM_IMPL(2, h, generator=g, device=device, dtype=dtype))
    _set(
        layer,
        **{
            n: torch.randn(getattr(layer, n).shape, generator=g, dtype=dtype).to(device)
            for n in ("weight_ih", "bias_ih", "bias_hh")
        },
    )
    x = torch.randn(3, steps, 2, generator=g, dtype=dtype).to(device)
    h0 = torch.randn(3, h, generator=g, dtype=dtype).to(device)
    c0 = torch.randn(3, h, generator=g, dtype=dtype).to(device)
    jac = cell_jacobian(layer, x, h0, c0)
    zf = x @ layer.weight_ih[h : 2 * h].T + layer.bias_ih[h : 2 * h] + layer.bias_hh[h : 2 * h]
    expected = torch.sigmoid(zf).prod(dim=1)  # Π_t σ(z_f,t), independent of the implementation
    check_close(
        jac, torch.diag_embed(expected), EXACT, CLAIM_CEC, device, "dc_T/dc_0 = diag(Π f_t)"
    )
    check_close(
        forget_product(layer, x, h0, c0), expected, EXACT, CLAIM_CEC, device, "forget_product"
    )


@pytest.mark.claim(CLAIM_CEC)
@pytest.mark.dtypes("float64")
def test_forget_bias_five_keeps_gradient_over_100_steps(
    device: str, dtype: torch.dtype, evidence: Any
) -> None:
    """b_f = 5 (the sum of both biases), no recurrence, f's input weights 0: dc_100/dc_0 =
    σ(5)^100 I ≈ 0.511 I, while a tanh RNN with ‖W‖ = 0.9 has ‖∂s_100/∂s_0‖ ≤ 0.9^100 = 2.7e-5."""
    g = _gen(8)
    h, steps = 4, 100
    layer = _no_recurrence(
        LSTM_IMPL(1, h, forget_bias=5.0, generator=g, device=device, dtype=dtype)
    )
    with torch.no_grad():
        layer.weight_ih[h : 2 * h] = 0.0
    x = torch.randn(2, steps, 1, generator=g, dtype=dtype).to(device)
    h0 = torch.randn(2, h, generator=g, dtype=dtype).to(device)
    c0 = torch.randn(2, h, generator=g, dtype=dtype).to(device)
    jac = cell_jacobian(layer, x, h0, c0)
    s5 = (1.0 / (1.0 + math.exp(-5.0))) ** steps
    eye = torch.eye(h, dtype=dtype, device=device).expand_as(jac)
    check_close(jac, s5 * eye, Tol(1e-10, 0.0), CLAIM_CEC, device, "dc_100/dc_0 = σ(5)^100 I")
    assert 0.51 <= s5 <= 0.512, failure(
        CLAIM_CEC, device, dtype, "printed σ(5)^100 ≈ 0.511", s5, "[0.51, 0.512]"
    )
    both = (1.0 / (1.0 + math.exp(-10.0))) ** steps  # bias 5 on each of the two vectors
    assert 0.995 <= both <= 0.996, failure(
        CLAIM_CEC, device, dtype, "σ(10)^100", both, "[0.995, 0.996]"
    )
    rnn = RNN(1, h, generator=g, device=device, dtype=dtype)
    w = torch.randn(h, h, generator=g, dtype=dtype)
    _set(rnn, weight_hh=(0.9 * w / torch.linalg.matrix_norm(w, 2)).to(device))
    rnn_norm = float(torch.linalg.matrix_norm(state_jacobian(rnn, x, h0), 2).max())
    assert rnn_norm <= 0.9**steps * (1 + 1e-9) and 0.9**steps <= 2.7e-5, failure(
        CLAIM_CEC, device, dtype, "tanh RNN above 0.9^100", rnn_norm, f"{0.9**steps:.3g}"
    )
    evidence.value("lstm_dc100_dc0", s5)
    evidence.value("rnn_ds100_ds0", rnn_norm)


# =================================================================================================
# lstm.direct-path-only
# =================================================================================================

CLAIM_DIRECT = "lstm.direct-path-only"
#: Relative Frobenius gap demanded between dc_T/dc_0 and diag(Π f_t): far above rounding (1e-15)
#: and below every gap seen; hypothesis found draws as close as 0.037 at T = 2, so no fixed
#: fraction such as the audit's 0.05 holds for all draws.
DIRECT_GAP = 1e-6


@pytest.mark.claim(CLAIM_DIRECT)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=30)
@given(steps=st.integers(2, 30), h=st.integers(2, 5), seed=st.integers(0, 2**31 - 1))
def test_full_jacobian_differs_from_direct_path(
    device: str, dtype: torch.dtype, steps: int, h: int, seed: int
) -> None:
    """W_hh drawn N(0, 1): ‖dc_T/dc_0 − diag(Π f_t)‖_F > 1e-6 ‖diag(Π f_t)‖_F for T ≥ 2."""
    g = _gen(seed)
    layer = LSTM_IMPL(2, h, generator=g, device=device, dtype=dtype)
    _set(
        layer,
        **{
            n: torch.randn(getattr(layer, n).shape, generator=g, dtype=dtype).to(device)
            for n in NAMES
        },
    )
    x = torch.randn(1, steps, 2, generator=g, dtype=dtype).to(device)
    h0 = torch.randn(1, h, generator=g, dtype=dtype).to(device)
    c0 = torch.randn(1, h, generator=g, dtype=dtype).to(device)
    jac = cell_jacobian(layer, x, h0, c0)[0].detach()
    direct = torch.diag(forget_product(layer, x, h0, c0)[0]).detach()
    gap = float(torch.linalg.matrix_norm(jac - direct) / torch.linalg.matrix_norm(direct))
    assert gap > DIRECT_GAP, failure(
        CLAIM_DIRECT,
        device,
        dtype,
        f"full Jacobian ≈ direct path (T={steps})",
        gap,
        f"> {DIRECT_GAP}",
    )
    # T = 1: c_1's gates depend on h_0 and x_1, not on c_0, so dc_1/dc_0 = diag(f_1) exactly.
    one = cell_jacobian(layer, x[:, :1], h0, c0)[0]
    check_close(
        one,
        torch.diag(forget_product(layer, x[:, :1], h0, c0)[0]),
        EXACT,
        CLAIM_DIRECT,
        device,
        "T = 1",
    )


# =================================================================================================
# lstm.can-explode
# =================================================================================================

CLAIM_EXPLODE = "lstm.can-explode"


def _exploding_lstm(device: str, dtype: torch.dtype) -> Any:
    layer = LSTM_IMPL(1, 1, device=device, dtype=dtype)
    zero = torch.zeros(4, dtype=dtype, device=device)
    w_hh = torch.tensor([[0.0], [0.0], [10.0], [0.0]], dtype=dtype, device=device)  # (i, f, g, o)
    return _set(
        layer,
        weight_ih=torch.zeros(4, 1, dtype=dtype, device=device),
        weight_hh=w_hh,
        bias_ih=zero,
        bias_hh=zero,
    )


@pytest.mark.claim(CLAIM_EXPLODE)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("steps", [1, 2, 5, 20, 30])
def test_lstm_gradient_explodes_while_forget_product_vanishes(
    device: str, dtype: torch.dtype, steps: int, evidence: Any
) -> None:
    """H = 1, zero input, W_hh = (0, 0, 10, 0), all else 0, h_0 = c_0 = 0:
    dc_T/dc_0 = 0.5·3^{T−1} while Π f_t = 0.5^T."""
    layer = _exploding_lstm(device, dtype)
    x = torch.zeros(1, steps, 1, dtype=dtype, device=device)
    zero = torch.zeros(1, 1, dtype=dtype, device=device)
    jac = float(cell_jacobian(layer, x, zero, zero))
    want = 0.5 * 3.0 ** (steps - 1)
    err = abs(jac / want - 1)
    assert err <= 1e-10, failure(
        CLAIM_EXPLODE, device, dtype, f"dc_T/dc_0 ≠ 0.5·3^(T−1) at T={steps}", err, "rtol 1e-10"
    )
    direct = float(forget_product(layer, x, zero, zero).detach())
    assert direct == 0.5**steps, failure(
        CLAIM_EXPLODE, device, dtype, "Π f_t ≠ 0.5^T", abs(direct - 0.5**steps), "exact"
    )
    # The per-step map (c, h) ↦ (c′, h′) at the fixed point has matrix A = [[0.5, 5], [0.25, 2.5]]
    # (rank 1, eigenvalues 0 and 3); with h_0 held fixed, dc_T/dc_0 = (A^T)_{cc}.
    a = torch.tensor([[0.5, 5.0], [0.25, 2.5]], dtype=torch.float64)
    closed = float(torch.linalg.matrix_power(a, steps)[0, 0])
    assert abs(closed / want - 1) <= 1e-12 and abs(jac / closed - 1) <= 1e-10, failure(
        CLAIM_EXPLODE, device, dtype, "dc_T/dc_0 ≠ (A^T)_cc", abs(jac / closed - 1), "rtol 1e-10"
    )
    if steps == 20:
        assert want == 581_130_733.5, failure(
            CLAIM_EXPLODE, device, dtype, "printed value", want, "581130733.5"
        )
        evidence.value("dc20_dc0", jac)
        evidence.value("forget_product_20", direct)


# =================================================================================================
# lstm.long-range-memory
# =================================================================================================

CLAIM_MEMORY = "lstm.long-range-memory"
MEM_SEEDS = 64  # independent models per architecture, trained as one ensemble each
MEM_T, MEM_HIDDEN, MEM_FORGET_BIAS = 100, 16, 5.0
MEM_STEPS, MEM_LR = 100, 0.03  # full-batch Adam steps, the same budget for both architectures
#: The test asserts at least MEM_RNN_MIN tanh-RNN successes and at least MEM_LSTM_MIN_FAIL LSTM
#: failures among MEM_SEEDS seeds each (see the page's "How the test decides").
MEM_RNN_MIN, MEM_LSTM_MIN_FAIL = 14, 15
#: Pilot runs (other generator seeds; same task and budget): RNN 107/160 successes, LSTM
#: (b_f = 5) 48/160. Conservative rates: the one-sided 1e-4 Clopper–Pearson limits of the pilot,
#: p_RNN ≥ 0.5203 and p_LSTM ≤ 0.4469, rounded outwards.
MEM_PILOT = {"rnn": (107, 160), "lstm": (48, 160)}
MEM_CONSERVATIVE = {"rnn": 0.52, "lstm": 0.45}
#: Exact binomial tails at the conservative rates (page): the chance of a false failure per run.
FALSE_FAILURES["test_lstm_unreliable_and_rnn_not_stuck_at_t100"] = binomial_cdf(
    MEM_RNN_MIN - 1, MEM_SEEDS, MEM_CONSERVATIVE["rnn"]
) + binomial_sf(MEM_SEEDS - MEM_LSTM_MIN_FAIL, MEM_SEEDS, MEM_CONSERVATIVE["lstm"])


def _memory_sequences(device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The two inputs of the task, per ensemble member: x_1 = ±1, x_2 = … = x_T = 0, y = [x_1 > 0].

    The training set is the whole input space, so training accuracy is test accuracy."""
    y = torch.tensor([0, 1], device=device).repeat(MEM_SEEDS, 1)  # (M, 2)
    x = torch.zeros(MEM_SEEDS, 2, MEM_T, 1, device=device, dtype=dtype)
    x[:, :, 0, 0] = 2.0 * y.to(dtype) - 1.0  # the cue x_1 = 2y − 1
    return x, y


def _memory_successes(kind: str, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Train MEM_SEEDS models of one kind, full batch, MEM_STEPS Adam steps; return (steps + 1,
    M) booleans: member m classifies both sequences correctly before step s (last row: after)."""
    g = torch.Generator().manual_seed(2026 if kind == "lstm" else 2027)
    kw: dict[str, Any] = {"ensemble": MEM_SEEDS, "generator": g, "dtype": dtype}
    rec = (
        LSTM_IMPL(1, MEM_HIDDEN, forget_bias=MEM_FORGET_BIAS, **kw)
        if kind == "lstm"
        else RNN(1, MEM_HIDDEN, **kw)
    )
    model = SequenceClassifier(rec, 2, generator=g).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=MEM_LR)
    x, y = _memory_sequences(device, dtype)
    solved = []
    for step in range(MEM_STEPS + 1):
        out = model(x)  # (M, 2, 2) logits
        solved.append((out.argmax(dim=-1) == y).all(dim=-1).cpu())
        if step == MEM_STEPS:
            break
        logp = out - torch.logsumexp(out, dim=-1, keepdim=True)
        loss = -logp.gather(-1, y.unsqueeze(-1)).mean(dim=(1, 2)).sum()  # Σ_m (member m's CE)
        assert torch.isfinite(loss), failure(
            CLAIM_MEMORY, device, dtype, f"{kind} training diverged", math.inf, "finite"
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.stack(solved)


@pytest.mark.claim(CLAIM_MEMORY)
@pytest.mark.slow
@pytest.mark.dtypes("float32")
def test_lstm_unreliable_and_rnn_not_stuck_at_t100(
    device: str, dtype: torch.dtype, evidence: Any, one_thread: Any
) -> None:
    lstm = _memory_successes("lstm", device, dtype)
    rnn = _memory_successes("rnn", device, dtype)
    k_lstm, k_rnn = int(lstm[-1].sum()), int(rnn[-1].sum())
    evidence.value("lstm_successes", k_lstm)
    evidence.value("rnn_successes", k_rnn)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps = list(range(MEM_STEPS + 1))
    ax.plot(steps, lstm.sum(dim=1).numpy(), label=f"LSTM, $b_f$ = {MEM_FORGET_BIAS:g}")
    ax.plot(steps, rnn.sum(dim=1).numpy(), label="tanh RNN")
    ax.axhline(MEM_RNN_MIN, color="C1", ls=":", lw=1, label="RNN successes demanded (≥)")
    ax.axhline(
        MEM_SEEDS - MEM_LSTM_MIN_FAIL, color="C0", ls=":", lw=1, label="LSTM successes allowed (≤)"
    )
    ax.set_xlabel("Adam step (full batch)")
    ax.set_ylabel(f"seeds solving T = {MEM_T} (of {MEM_SEEDS})")
    ax.set_ylim(0, MEM_SEEDS)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    evidence.figure(fig, "lstm-memory-successes")
    plt.close(fig)
    # Chance of a false failure if the true rates are the conservative ones (an estimate built on
    # the pilot: exact binomial tails at rates the pilot makes unlikely to be too favourable).
    p_rnn_short = binomial_cdf(MEM_RNN_MIN - 1, MEM_SEEDS, MEM_CONSERVATIVE["rnn"])
    p_lstm_over = binomial_sf(MEM_SEEDS - MEM_LSTM_MIN_FAIL, MEM_SEEDS, MEM_CONSERVATIVE["lstm"])
    # The conservative rates lie beyond the pilot's one-sided 1e-4 Clopper–Pearson limits: a rate
    # that low (high) would have produced the pilot's count or more (fewer) with chance ≤ 1e-4.
    k_r, n_r = MEM_PILOT["rnn"]
    k_l, n_l = MEM_PILOT["lstm"]
    tail_r = binomial_sf(k_r - 1, n_r, MEM_CONSERVATIVE["rnn"])
    tail_l = binomial_cdf(k_l, n_l, MEM_CONSERVATIVE["lstm"])
    assert max(tail_r, tail_l) <= 1e-4, failure(
        CLAIM_MEMORY, device, dtype, "conservative rates inside pilot limits", tail_r, "≤ 1e-4"
    )
    # The page's direct-path survival of the cue at initialization: σ(b_f)^99.
    sig = [(1.0 / (1.0 + math.exp(-b))) ** (MEM_T - 1) for b in (1.0, 5.0)]
    assert 3e-14 <= sig[0] <= 4e-14 and 0.51 <= sig[1] <= 0.52, failure(
        CLAIM_MEMORY, device, dtype, "printed σ(1)^99 ≈ 3e-14, σ(5)^99 ≈ 0.51", sig[0], "see page"
    )
    evidence.value("false_failure_rnn", p_rnn_short)
    evidence.value("false_failure_lstm", p_lstm_over)
    evidence.value("false_failure", p_rnn_short + p_lstm_over)
    assert p_rnn_short + p_lstm_over <= 1e-6, failure(
        CLAIM_MEMORY, device, dtype, "false-failure chance", p_rnn_short + p_lstm_over, "≤ 1e-6"
    )
    assert k_rnn >= MEM_RNN_MIN, failure(
        CLAIM_MEMORY,
        device,
        dtype,
        f"tanh RNN stuck: {k_rnn} of {MEM_SEEDS} seeds solve T = {MEM_T}",
        float(k_rnn),
        f"≥ {MEM_RNN_MIN}",
    )
    assert MEM_SEEDS - k_lstm >= MEM_LSTM_MIN_FAIL, failure(
        CLAIM_MEMORY,
        device,
        dtype,
        f"LSTM reliable: only {MEM_SEEDS - k_lstm} of {MEM_SEEDS} seeds fail at T = {MEM_T}",
        float(MEM_SEEDS - k_lstm),
        f"≥ {MEM_LSTM_MIN_FAIL}",
    )


@pytest.mark.claim(CLAIM_MEMORY)
@pytest.mark.dtypes("float64")
@pytest.mark.parametrize("kind", ["lstm", "rnn"])
@pytest.mark.parametrize("ensemble", [None, 3])
def test_sequence_classifier_reads_the_last_hidden_state(
    device: str, dtype: torch.dtype, kind: str, ensemble: int | None
) -> None:
    """The read-out of the page's conditions: logits = V s_T + c, with s_T = h_T for an LSTM
    (not its cell c_T), member by member for an ensemble."""
    g = _gen(11)
    kw: dict[str, Any] = {"ensemble": ensemble, "generator": g, "device": device, "dtype": dtype}
    rec = LSTM_IMPL(2, 4, forget_bias=2.0, **kw) if kind == "lstm" else RNN(2, 4, **kw)
    model = SequenceClassifier(rec, 3, generator=g)
    with torch.no_grad():
        model.bias.copy_(torch.randn(model.bias.shape, generator=g, dtype=dtype).to(device))
    lead = (ensemble,) if ensemble else ()
    x = torch.randn(*lead, 5, 7, 2, generator=g, dtype=dtype).to(device)
    out, _ = rec(x)
    h_last = out[..., -1, :]  # h_T (LSTM) or s_T (RNN): the last output
    want = torch.einsum("...bh,...ch->...bc", h_last, model.weight) + model.bias.unsqueeze(-2)
    check_close(model(x), want, EXACT, CLAIM_MEMORY, device, f"{kind} read-out V s_T + c")
