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
from dlspec.train import fit
from tests.tolerances import EXACT, Tol, check_close, failure

#: The seam: the LSTM under test (any class with LSTM's constructor, forward and trace).
LSTM_IMPL: Any = L.LSTM
F64 = torch.float64
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


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
        (lambda: layer(x, z), TypeError, "state must be a pair"),
        (lambda: layer(x, (z.float(), z)), TypeError, "h0 must have x's dtype"),
        (lambda: LSTM_IMPL(2, 3, forget_bias=math.nan), ValueError, "forget_bias"),
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
MEM_SEEDS = 32  # independent models per architecture, trained as one ensemble each
MEM_T, MEM_HIDDEN, MEM_NOISE, MEM_MARKER = 50, 16, 0.5, False
MEM_FORGET_BIAS = 3.0
MEM_STEPS, MEM_BATCH, MEM_TRAIN, MEM_TEST, MEM_LR = 300, 64, 1280, 2000, 0.01
MEM_SUCCESS = 0.9  # a seed succeeds when its test accuracy reaches 90 %
MEM_CHANCE = 0.6  # a seed has failed when its test accuracy stays below 60 %
#: Success rates measured in exploratory runs (16 other seeds each): LSTM 8/16, RNN 6/16.
MEM_PILOT = {"lstm": 8 / 16, "rnn": 6 / 16}


class _BatchMajor(torch.nn.Module):
    """Ensemble models take (M, B, T, D); fit() batches along dimension 0: swap the two."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x.transpose(0, 1)).transpose(0, 1)
        return out


def _ensemble_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over members of each member's mean cross-entropy: out (B, M, C), y (B, M)."""
    logp = out - torch.logsumexp(out, dim=-1, keepdim=True)
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=0).sum()


def _memory_accuracies(kind: str, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Train MEM_SEEDS models of one kind on the memory task; return each one's test accuracy."""
    g = torch.Generator().manual_seed(2026)
    width = 2 if MEM_MARKER else 1
    kw: dict[str, Any] = {"ensemble": MEM_SEEDS, "generator": g, "dtype": dtype}
    rec = (
        LSTM_IMPL(width, MEM_HIDDEN, forget_bias=MEM_FORGET_BIAS, **kw)
        if kind == "lstm"
        else RNN(width, MEM_HIDDEN, **kw)
    )
    model = _BatchMajor(SequenceClassifier(rec, 2, generator=g)).to(device)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [
            memory_task(n, MEM_T, generator=g, noise=MEM_NOISE, marker=MEM_MARKER, dtype=dtype)
            for _ in range(MEM_SEEDS)
        ]
        return torch.stack([p[0] for p in pairs], 1).to(device), torch.stack(
            [p[1] for p in pairs], 1
        ).to(device)

    x, y = data(MEM_TRAIN)
    epochs = MEM_STEPS * MEM_BATCH // MEM_TRAIN
    hist = fit(
        model, x, y, epochs=epochs, generator=g, loss=_ensemble_ce, lr=MEM_LR, batch_size=MEM_BATCH
    )
    assert not hist.diverged, failure(
        CLAIM_MEMORY, device, dtype, f"{kind} training diverged", math.inf, "finite"
    )
    xt, yt = data(MEM_TEST)
    with torch.no_grad():
        pred = model(xt).argmax(dim=-1)
    return (pred == yt).to(torch.float64).mean(dim=0).cpu()


@pytest.fixture
def one_thread() -> Any:
    """Train on one CPU thread: these tensors are small, and on a loaded machine OpenMP's
    two-thread barriers made each small batched matmul about 1000× slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.claim(CLAIM_MEMORY)
@pytest.mark.slow
@pytest.mark.dtypes("float32")
def test_neither_lstm_nor_rnn_is_reliable_at_t50(
    device: str, dtype: torch.dtype, evidence: Any, one_thread: Any
) -> None:
    lstm_acc = _memory_accuracies("lstm", device, dtype)
    rnn_acc = _memory_accuracies("rnn", device, dtype)
    k_lstm = int((lstm_acc >= MEM_SUCCESS).sum())
    k_rnn = int((rnn_acc >= MEM_SUCCESS).sum())
    evidence.value("lstm_accuracy", lstm_acc.tolist())
    evidence.value("rnn_accuracy", rnn_acc.tolist())
    evidence.value("lstm_successes", k_lstm)
    evidence.value("rnn_successes", k_rnn)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for j, (name, acc) in enumerate((("LSTM, b_f = 3", lstm_acc), ("tanh RNN", rnn_acc))):
        ax.plot(
            j + 0.08 * torch.randn(len(acc), generator=_gen(j)).numpy(),
            acc.numpy(),
            "o",
            alpha=0.6,
            label=name,
        )
    ax.axhline(MEM_SUCCESS, color="k", ls=":", lw=1, label="success threshold")
    ax.set_xticks([0, 1], ["LSTM, b_f = 3", "tanh RNN"])
    ax.set_ylabel(f"test accuracy at T = {MEM_T}")
    ax.set_ylim(0.4, 1.02)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    evidence.figure(fig, "lstm-memory-accuracy")
    plt.close(fig)
    # The narrowed claim: neither architecture is reliable in this budget. Each has seeds that
    # succeed and seeds that stay at chance.
    fails = {"lstm": int((lstm_acc < MEM_CHANCE).sum()), "rnn": int((rnn_acc < MEM_CHANCE).sum())}
    wins = {"lstm": k_lstm, "rnn": k_rnn}
    evidence.value("lstm_failures", fails["lstm"])
    evidence.value("rnn_failures", fails["rnn"])
    # Chance of a false failure if the true rates were the pilot's: some architecture shows no
    # success or no failure among MEM_SEEDS seeds (a failure means < 60 %, not just ≤ 90 %, so
    # the pilot's success rate bounds the chance of no failure from above only approximately).
    chance = sum(
        (1 - MEM_PILOT[k]) ** MEM_SEEDS + MEM_PILOT[k] ** MEM_SEEDS for k in ("lstm", "rnn")
    )
    evidence.value("false_failure_estimate", chance)
    for kind in ("lstm", "rnn"):
        assert wins[kind] >= 1 and fails[kind] >= 1, failure(
            CLAIM_MEMORY,
            device,
            dtype,
            f"{kind}: {wins[kind]} successes and {fails[kind]} failures of {MEM_SEEDS}",
            float(min(wins[kind], fails[kind])),
            "≥ 1 of each",
        )
