"""Tests of spec/autoencoders/uses.md: reconstruction error as an outlier score, greedy
layer-wise pre-training, and autoencoder features for transfer, all on the digits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from dlspec.data.digits import digits
from dlspec.nn import autoencoder as AE
from dlspec.nn.activations import sigmoid
from dlspec.nn.linear import FeedForward, Linear
from dlspec.train import accuracy, fit
from tests.stats import binomial_cdf, clopper_pearson_lower
from tests.tolerances import Tol, check_close, failure

CLAIM_O = "ae.outlier-score"
CLAIM_P = "ae.pretraining"
CLAIM_F = "ae.features-transfer"
F32 = torch.float32


# =================================================================================================
# ae.outlier-score
# =================================================================================================

O_SEEDS, O_EPOCHS, O_HIDDEN, O_OUTLIERS = 3, 30, 16, 20_000
O_THRESHOLD, O_CLAIMED = 0.95, 0.97
#: Hoeffding for 3 seeds × 2 kinds of outlier (page): the chance of a false failure per run.
FALSE_FAILURES = {
    "test_reconstruction_error_separates_planted_outliers": 2
    * O_SEEDS
    * math.exp(-2 * O_OUTLIERS * (O_CLAIMED - O_THRESHOLD) ** 2)
}


def _digit_autoencoder(
    x: torch.Tensor, hidden: int, epochs: int, g: torch.Generator
) -> AE.Autoencoder:
    """A sigmoid autoencoder `64 → hidden → 64` trained to reconstruct `x` (squared error, Adam
    at 1e-2), its start and minibatch order drawn from `g`."""
    ae = AE.Autoencoder([64, hidden], "sigmoid", output="sigmoid", generator=g, device=x.device)
    fit(ae, x, x, epochs=epochs, generator=g, loss=AE.reconstruction_loss, lr=1e-2)
    return ae


@pytest.mark.slow  # trains autoencoders on digits: left out of `nox -s quick`
@pytest.mark.claim(CLAIM_O)
def test_reconstruction_error_separates_planted_outliers(device: str, evidence: Any) -> None:
    import matplotlib.pyplot as plt

    data = digits(device=device)
    x, xt = data.x_train, data.x_test
    aucs: dict[str, list[float]] = {"shuffled": [], "uniform": [], "norm_shuffled": []}
    hist: dict[str, torch.Tensor] = {}
    for seed in range(O_SEEDS):
        g = torch.Generator(device=device).manual_seed(seed)
        ae = _digit_autoencoder(x, O_HIDDEN, O_EPOCHS, g)
        go = torch.Generator(device=device).manual_seed(1_000 + seed)
        idx = torch.randint(0, xt.shape[0], (O_OUTLIERS,), generator=go, device=device)
        perm = torch.argsort(torch.rand(O_OUTLIERS, 64, generator=go, device=device), dim=1)
        planted = {
            "shuffled": xt[idx].gather(1, perm),  # a test digit's pixels in random places
            "uniform": torch.rand(O_OUTLIERS, 64, generator=go, device=device),
        }
        s_in = AE.outlier_scores(ae, xt)
        for name, o in planted.items():
            s_out = AE.outlier_scores(ae, o)
            aucs[name].append(float(AE.roc_auc(s_in, s_out)))
            if seed == 0:
                hist[name] = s_out
        # brightness alone cannot tell a shuffled digit from a digit (same pixel values)
        aucs["norm_shuffled"].append(
            float(AE.roc_auc((xt**2).sum(1), (planted["shuffled"] ** 2).sum(1)))
        )
        if seed == 0:
            hist["test digits"] = s_in
    # an honest limit: digits of unseen classes (an AE trained on 0–4 scoring 5–9)
    low, high = data.subset((0, 1, 2, 3, 4)), data.subset((5, 6, 7, 8, 9))
    g = torch.Generator(device=device).manual_seed(0)
    ae04 = _digit_autoencoder(low.x_train, O_HIDDEN, O_EPOCHS, g)
    novel_auc = float(
        AE.roc_auc(AE.outlier_scores(ae04, low.x_test), AE.outlier_scores(ae04, high.x_test))
    )

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    bins = np.logspace(-1.5, 2, 60)
    for name, s in hist.items():
        ax.hist(s.cpu().numpy(), bins=bins, density=True, alpha=0.5, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("reconstruction error ‖x − r(x)‖² (outlier score)")
    ax.set_ylabel("density")
    ax.set_title(f"digits autoencoder 64→{O_HIDDEN}→64, seed 0")
    ax.legend(fontsize=8)
    fig.tight_layout()
    evidence.figure(fig, f"ae-outlier-score-{device}")
    plt.close(fig)
    bound = 2 * O_SEEDS * math.exp(-2 * O_OUTLIERS * (O_CLAIMED - O_THRESHOLD) ** 2)
    for k, v in aucs.items():
        evidence.value(f"auc_{k}", [round(a, 5) for a in v])
    evidence.value("auc_unseen_classes_5_to_9", round(novel_auc, 3))
    evidence.value("false_failure_bound", bound)
    evidence.value("false_failure", bound)
    for name in ("shuffled", "uniform"):
        assert min(aucs[name]) >= O_THRESHOLD, failure(
            CLAIM_O,
            device,
            F32,
            f"ROC AUC for {name} outliers {aucs[name]}",
            min(aucs[name]),
            f"≥ {O_THRESHOLD}",
        )
    assert max(abs(a - 0.5) for a in aucs["norm_shuffled"]) < 0.05, failure(
        CLAIM_O,
        device,
        F32,
        "the brightness score should not separate shuffled digits",
        max(aucs["norm_shuffled"]),
        "|AUC − ½| < 0.05",
    )
    assert bound <= 1e-6


@pytest.mark.claim(CLAIM_O)
def test_roc_auc_and_scores_against_definitions(device: str) -> None:
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, generator=g, dtype=torch.float64).round(decimals=1).to(device)  # ties
    b = (torch.randn(70, generator=g, dtype=torch.float64) + 0.8).round(decimals=1).to(device)
    want = roc_auc_score(np.r_[np.zeros(50), np.ones(70)], np.r_[a.cpu(), b.cpu()])
    check_close(
        AE.roc_auc(a, b),
        torch.tensor(want, dtype=torch.float64, device=device),
        Tol(0, 1e-12),
        CLAIM_O,
        device,
        "roc_auc vs sklearn (with ties)",
    )
    ae = AE.LinearAutoencoder(4, 2, generator=g, dtype=torch.float64).to(device)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64).to(device)
    with torch.no_grad():
        want_s = ((x - ae(x)) ** 2).sum(1)
    check_close(AE.outlier_scores(ae, x), want_s, Tol(0, 0), CLAIM_O, device, "scores")
    with pytest.raises(ValueError, match="x must be finite"):
        AE.outlier_scores(ae, torch.full((2, 4), math.nan, dtype=torch.float64, device=device))
    with pytest.raises(ValueError, match="must both be non-empty"):
        AE.roc_auc(a[:0], b)
    with pytest.raises(
        ValueError,
        match=r"^model must return a reconstruction of x's shape \(5, 4\), got \(5, 1\)$",
    ):
        AE.outlier_scores(_as_module(lambda t: t[:, :1]), x.cpu())


def _as_module(fn: Any) -> torch.nn.Module:
    """A module whose forward is `fn` (a model that is not an autoencoder)."""

    class Fn(torch.nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = fn(t)
            return out

    return Fn()


@pytest.mark.claim(CLAIM_O)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_roc_auc_is_the_fraction_rounded_once(dtype: torch.dtype) -> None:
    """The AUC `count / (2 n₀ n₁)` is the exact fraction rounded once to the scores' dtype:
    inliers (0, 1, 2) against the outlier 1.5 give 2/3; 200 × 200 scores all separated give 1
    (the count 80 000 is past float16's largest number, 65 504)."""
    three = torch.tensor([0.0, 1.0, 2.0], dtype=dtype)
    got = AE.roc_auc(three, torch.tensor([1.5], dtype=dtype))
    want = torch.tensor(2 / 3, dtype=torch.float64).to(dtype)
    assert got.dtype == dtype and torch.equal(got, want), f"{CLAIM_O}: AUC {got} ≠ 2/3 in {dtype}"
    ones = AE.roc_auc(torch.zeros(200, dtype=dtype), torch.ones(200, dtype=dtype))
    assert float(ones) == 1.0, f"{CLAIM_O}: separated scores give AUC {float(ones)} in {dtype}"


# =================================================================================================
# ae.pretraining
# =================================================================================================

P_SIZES = [64, 32, 32, 32, 10]
P_PRE_EPOCHS, P_FINE_EPOCHS, P_SMALL = 10, 10, 0.01
P_MARGIN = 0.5  # a seed succeeds when pre-training beats the small start by this much accuracy
P_SEEDS, P_NEED = 14, 8  # the deciding run: seeds 0–13, at least 8 must succeed
P_DEFAULT_SEEDS = 3  # the standard start is trained (and only recorded) for the first 3 seeds
#: An offline study of the same comparison on seeds 1000–1199 (`pretraining_study()` reruns it),
#: independent of the deciding seeds 0–13, succeeded in P_STUDY_SUCCESS of P_STUDY_RUNS. The
#: one-sided 99.9% Clopper–Pearson lower bound on the per-seed success rate:
P_STUDY_FIRST, P_STUDY_RUNS, P_STUDY_SUCCESS = 1000, 200, 200
P_LOW = clopper_pearson_lower(P_STUDY_SUCCESS, P_STUDY_RUNS)
#: P(fewer than P_NEED of P_SEEDS succeed) at the rate P_LOW (smaller at any higher rate).
FALSE_FAILURES["test_greedy_pretraining_gives_a_better_start"] = binomial_cdf(
    P_NEED - 1, P_SEEDS, P_LOW
)


def _small_start(net: FeedForward, g: torch.Generator, scale: float) -> FeedForward:
    """Weights N(0, scale²), biases 0 (the "small random weights" of the claim)."""
    for layer in net.layers:
        assert isinstance(layer, Linear)
        w = scale * torch.randn(layer.weight.shape, generator=g, device=layer.weight.device)
        layer.load(w, torch.zeros(layer.out_features))
    return net


def _pretraining_run(
    seed: int, inits: tuple[str, ...], device: str
) -> dict[str, tuple[float, float]]:
    """Fine-tune the net from each start in `inits` (small, default, pretrained) with generator
    seed `seed`: `{init: (test accuracy, first-epoch loss)}`."""
    data = digits(device=device)
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    out = {}
    for init in inits:
        g = torch.Generator(device=device).manual_seed(seed)
        if init == "pretrained":
            net = AE.pretrain_greedy(P_SIZES, x, epochs=P_PRE_EPOCHS, generator=g, lr=1e-2)
        else:
            net = FeedForward(P_SIZES, "sigmoid", generator=g, device=device)
            if init == "small":
                _small_start(net, g, P_SMALL)
        h = fit(net, x, y, epochs=P_FINE_EPOCHS, generator=g)
        out[init] = (float(accuracy(net, xt, yt)), h.loss[0])
    return out


def _pretraining_success(r: dict[str, tuple[float, float]]) -> bool:
    """Pre-training beats the small start by at least P_MARGIN accuracy in this seed."""
    return r["pretrained"][0] - r["small"][0] >= P_MARGIN


def pretraining_study(device: str = "cpu") -> tuple[int, int]:
    """The offline study behind P_LOW: (successes, runs) over seeds P_STUDY_FIRST + 0..199.
    About 3 minutes on one CPU core; not part of the suite."""
    seeds = range(P_STUDY_FIRST, P_STUDY_FIRST + P_STUDY_RUNS)
    runs = (_pretraining_run(seed, ("small", "pretrained"), device) for seed in seeds)
    return sum(_pretraining_success(r) for r in runs), len(seeds)


@pytest.mark.slow  # pretrains and fine-tunes on digits: left out of `nox -s quick`
@pytest.mark.claim(CLAIM_P)
def test_greedy_pretraining_gives_a_better_start(device: str, evidence: Any) -> None:
    runs = [
        _pretraining_run(
            seed,
            ("small", "default", "pretrained")
            if seed < P_DEFAULT_SEEDS
            else ("small", "pretrained"),
            device,
        )
        for seed in range(P_SEEDS)
    ]
    acc = {k: [r[k][0] for r in runs if k in r] for k in ("small", "default", "pretrained")}
    first_loss = {k: [r[k][1] for r in runs if k in r] for k in acc}
    adv = np.array(acc["pretrained"]) - np.array(acc["small"])
    adv_default = np.array(acc["pretrained"][:P_DEFAULT_SEEDS]) - np.array(acc["default"])
    for k, v in acc.items():
        evidence.value(f"test_accuracy_{k}", [round(a, 3) for a in v])
        evidence.value(f"first_epoch_loss_{k}", [round(a, 3) for a in first_loss[k]])
    evidence.value("advantage_over_small", [round(float(a), 3) for a in adv])
    evidence.value("advantage_over_default", [round(float(a), 3) for a in adv_default])
    evidence.value("study_rate_lower_bound", P_LOW)
    evidence.value("false_failure", FALSE_FAILURES["test_greedy_pretraining_gives_a_better_start"])
    wins = sum(_pretraining_success(r) for r in runs)
    assert wins >= P_NEED, failure(
        CLAIM_P,
        device,
        F32,
        f"seeds where pre-training beats the small start by ≥ {P_MARGIN}: {wins} of {P_SEEDS}"
        f" (advantages {adv.round(3)})",
        wins,
        f"≥ {P_NEED}",
    )
    # "positive over the default start in each seed" is not decided: the standard start's
    # accuracy varies too much from seed to seed (recorded above; the page says so)


@pytest.mark.claim(CLAIM_P)
def test_pretraining_loads_the_layer_autoencoders(device: str) -> None:
    """Each hidden layer of the pre-trained net is the encoder its autoencoder learned: the first
    layer reconstructs x through its own decoder better than a random layer does."""
    g = torch.Generator(device=device).manual_seed(0)
    x = digits(device=device).x_train[:200]
    net = AE.pretrain_greedy([64, 16, 8, 3], x, epochs=5, generator=g)
    assert len(net.layers) == 3 and net.activation_name == "sigmoid"
    h1 = AE.Truncated(net, 1)(x)
    assert h1.shape == (200, 16) and bool(((h1 > 0) & (h1 < 1)).all())
    # replay the algorithm with the public pieces: same generator stream, same results exactly
    g2 = torch.Generator(device=device).manual_seed(0)
    ref = FeedForward([64, 16, 8, 3], "sigmoid", generator=g2, device=device)
    h = x
    for layer, ref_layer in zip(list(net.layers)[:-1], list(ref.layers)[:-1], strict=True):
        ae = AE.Autoencoder(
            [ref_layer.in_features, ref_layer.out_features],
            "sigmoid",
            output="sigmoid",
            generator=g2,
            device=device,
        )
        fit(ae, h, h, epochs=5, generator=g2, loss=AE.reconstruction_loss, lr=1e-2)
        enc = ae.encoder.layers[0]
        for name in ("weight", "bias"):
            check_close(
                getattr(layer, name),
                getattr(enc, name),
                Tol(0, 0),
                CLAIM_P,
                device,
                f"a pre-trained layer's {name} is not its autoencoder's encoder's",
            )
        with torch.no_grad():
            h = sigmoid(h @ enc.weight.T + enc.bias)  # the codes σ(W h + b) feed the next
    # the output layer keeps its random start (drawn first, before any pre-training)
    for name in ("weight", "bias"):
        check_close(
            getattr(net.layers[-1], name),
            getattr(ref.layers[-1], name),
            Tol(0, 0),
            CLAIM_P,
            device,
            f"the output layer's {name} is not its random start",
        )
    with pytest.raises(ValueError, match="x must have 32 features"):
        AE.pretrain_greedy([32, 8, 2], x, epochs=1, generator=g)
    with pytest.raises(ValueError, match=r"^x must be finite"):
        AE.pretrain_greedy([64, 8, 2], torch.full_like(x, math.nan), epochs=1, generator=g)


# =================================================================================================
# ae.features-transfer
# =================================================================================================

T_PER_CLASS, T_HIDDEN, T_EPOCHS, T_DRAWS = 10, 32, 30, 10
T_ALLOWANCE = 0.03  # features "do not help": they may not beat raw pixels by this much
T_SEEDS, T_NEED = 14, 8  # the deciding run: seeds 0–13, at least 8 must succeed
#: An offline study of the same comparison on seeds 1000–1199 (`transfer_study()` reruns it),
#: independent of the deciding seeds, succeeded in T_STUDY_SUCCESS of T_STUDY_RUNS (a seed
#: succeeds when neither feature type beats raw pixels by T_ALLOWANCE). The one-sided 99.9%
#: Clopper–Pearson lower bound on the per-seed success rate:
T_STUDY_FIRST, T_STUDY_RUNS, T_STUDY_SUCCESS = 1000, 200, 200
T_LOW = clopper_pearson_lower(T_STUDY_SUCCESS, T_STUDY_RUNS)
FALSE_FAILURES["test_features_transfer_to_unseen_digits"] = binomial_cdf(T_NEED - 1, T_SEEDS, T_LOW)
T_LAMBDAS = torch.logspace(-3, 2, 11, dtype=torch.float64)  # ridge penalties the probe tries


def ridge_probe(
    f_tr: torch.Tensor, y: torch.Tensor, f_te: torch.Tensor, fixed: float | None = None
) -> torch.Tensor:
    """A linear probe for few labels: ridge regression onto one-hot targets (with a bias), its
    penalty λ chosen per label draw by exact leave-one-out accuracy on the labelled examples
    (ŷ_loo = y − (y − ŷ)/(1 − h_ii)). `f_tr` (D, m, k), `y` (D, m) in [0, 5), `f_te` (N, k);
    returns predicted classes (D, N). Fair to every feature type: each gets its own λ."""
    d, m, k = f_tr.shape
    phi = torch.cat([f_tr, torch.ones(d, m, 1, dtype=f_tr.dtype, device=f_tr.device)], -1).double()
    onehot = torch.nn.functional.one_hot(y, 5).double()
    eye = torch.eye(k + 1, dtype=torch.float64, device=f_tr.device)
    gram, rhs = phi.transpose(1, 2) @ phi, phi.transpose(1, 2) @ onehot
    loo_acc = []
    for lam in T_LAMBDAS:
        hat = phi @ torch.linalg.solve(gram + lam * eye, phi.transpose(1, 2))  # H
        fitted = hat @ onehot
        h = torch.diagonal(hat, dim1=1, dim2=2)[..., None]
        loo = onehot - (onehot - fitted) / (1 - h)  # leave-one-out predictions, exact for ridge
        loo_acc.append((loo.argmax(-1) == y).double().mean(1))
    best = T_LAMBDAS.to(f_tr.device)[torch.stack(loo_acc, 1).argmax(1)]  # (D,), smallest best λ
    if fixed is not None:  # one penalty for every draw (the page's comparison)
        best = torch.full_like(best, fixed)
    w = torch.linalg.solve(gram + best[:, None, None] * eye, rhs)  # (D, k + 1, 5)
    te = torch.cat(
        [f_te, torch.ones(f_te.shape[0], 1, dtype=f_te.dtype, device=f_te.device)], -1
    ).double()
    return (te @ w).argmax(-1)


@pytest.mark.claim(CLAIM_F)
def test_ridge_probe_against_brute_force_leave_one_out() -> None:
    """The probe that decides the claim, checked against its definition: for each λ, refit
    without each labelled example in turn (brute force), take the smallest λ with the best
    leave-one-out accuracy, refit on all and predict; both the choice and the predictions must
    agree with `ridge_probe`'s closed-form leave-one-out."""
    g = torch.Generator().manual_seed(0)
    draws, m, k = 3, 15, 4
    f_tr = torch.randn(draws, m, k, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (draws, m), generator=g)
    f_te = torch.randn(40, k, generator=g, dtype=torch.float64)

    def fit_predict(
        phi: torch.Tensor, t: torch.Tensor, lam: float, q: torch.Tensor
    ) -> torch.Tensor:
        a1 = torch.cat([phi, torch.ones(phi.shape[0], 1, dtype=phi.dtype)], 1)
        w = torch.linalg.solve(a1.T @ a1 + lam * torch.eye(k + 1, dtype=phi.dtype), a1.T @ t)
        return torch.cat([q, torch.ones(q.shape[0], 1, dtype=q.dtype)], 1) @ w

    want = []
    for dd in range(draws):
        onehot = torch.nn.functional.one_hot(y[dd], 5).double()
        accs = []
        for lam in T_LAMBDAS.tolist():
            hits = 0
            for i in range(m):
                keep = torch.arange(m) != i
                out = fit_predict(f_tr[dd, keep], onehot[keep], lam, f_tr[dd, i : i + 1])
                hits += int(out.argmax(-1).item() == y[dd, i].item())
            accs.append(hits / m)
        lam_best = T_LAMBDAS.tolist()[int(np.argmax(accs))]  # the first (smallest) best λ
        want.append(fit_predict(f_tr[dd], onehot, lam_best, f_te).argmax(-1))
    got = ridge_probe(f_tr, y, f_te)
    assert torch.equal(got, torch.stack(want)), f"{CLAIM_F}: ridge_probe ≠ brute-force LOO probe"


def _transfer_run(seed: int, device: str) -> dict[str, tuple[float, float]]:
    """Train the autoencoder and the classifier on digits 0–4 with generator seed `seed`, probe
    their features and the raw pixels on T_DRAWS label draws of digits 5–9: `{features: (mean
    accuracy with the penalty chosen by leave-one-out, with the fixed penalty 1e-2)}`."""
    data = digits(device=device)
    src, tgt = data.subset((0, 1, 2, 3, 4)), data.subset((5, 6, 7, 8, 9))
    g = torch.Generator(device=device).manual_seed(seed)
    ae = _digit_autoencoder(src.x_train, T_HIDDEN, T_EPOCHS, g)
    clf = FeedForward([64, T_HIDDEN, 5], "sigmoid", generator=g, device=device)
    fit(clf, src.x_train, src.y_train, epochs=T_EPOCHS, generator=g)
    cut = AE.Truncated(clf, 1)  # the classifier cut after its hidden layer
    gl = torch.Generator(device=device).manual_seed(500 + seed)
    idx = torch.stack(
        [
            torch.cat(
                [
                    torch.nonzero(tgt.y_train == c).flatten()[
                        torch.randperm(int((tgt.y_train == c).sum()), generator=gl, device=device)[
                            :T_PER_CLASS
                        ]
                    ]
                    for c in range(5, 10)
                ]
            )
            for _ in range(T_DRAWS)
        ]
    )  # (D, 50): T_DRAWS draws of 10 labelled images per class
    extract = {"raw": lambda v: v, "autoencoder": ae.encode, "classifier": cut}
    out = {}
    for name, fe in extract.items():
        with torch.no_grad():
            pred = ridge_probe(fe(tgt.x_train[idx]), tgt.y_train[idx] - 5, fe(tgt.x_test))
            fixed = ridge_probe(
                fe(tgt.x_train[idx]), tgt.y_train[idx] - 5, fe(tgt.x_test), fixed=1e-2
            )
        out[name] = (
            float((pred == tgt.y_test - 5).double().mean()),
            float((fixed == tgt.y_test - 5).double().mean()),
        )
    return out


def _transfer_success(r: dict[str, tuple[float, float]]) -> bool:
    """Neither learned feature type beats raw pixels by T_ALLOWANCE or more in this seed."""
    return all(r["raw"][0] - r[k][0] > -T_ALLOWANCE for k in ("autoencoder", "classifier"))


def transfer_study(device: str = "cpu") -> tuple[int, int]:
    """The offline study behind T_LOW: (successes, runs) over seeds T_STUDY_FIRST + 0..199.
    About 2 minutes on one CPU core; not part of the suite."""
    seeds = range(T_STUDY_FIRST, T_STUDY_FIRST + T_STUDY_RUNS)
    return sum(_transfer_success(_transfer_run(seed, device)) for seed in seeds), len(seeds)


@pytest.mark.slow  # trains autoencoders on digits: left out of `nox -s quick`
@pytest.mark.claim(CLAIM_F)
def test_features_transfer_to_unseen_digits(device: str, evidence: Any) -> None:
    runs = [_transfer_run(seed, device) for seed in range(T_SEEDS)]
    for k in ("raw", "autoencoder", "classifier"):
        evidence.value(f"probe_accuracy_{k}", [round(r[k][0], 3) for r in runs])
        evidence.value(f"mean_{k}", round(float(np.mean([r[k][0] for r in runs])), 3))
        evidence.value(
            f"fixed_penalty_accuracy_{k}", round(float(np.mean([r[k][1] for r in runs])), 3)
        )
    raw = np.array([r["raw"][0] for r in runs])
    d_ae = raw - np.array([r["autoencoder"][0] for r in runs])
    d_clf = raw - np.array([r["classifier"][0] for r in runs])
    evidence.value("raw_minus_autoencoder", [round(float(v), 3) for v in d_ae])
    evidence.value("raw_minus_classifier", [round(float(v), 3) for v in d_clf])
    evidence.value("study_rate_lower_bound", T_LOW)
    evidence.value("false_failure", FALSE_FAILURES["test_features_transfer_to_unseen_digits"])
    wins = sum(_transfer_success(r) for r in runs)
    assert wins >= T_NEED, failure(
        CLAIM_F,
        device,
        F32,
        f"seeds where no learned features beat raw pixels by {T_ALLOWANCE}: {wins} of {T_SEEDS}"
        f" (raw − autoencoder {d_ae.round(3)}, raw − classifier {d_clf.round(3)})",
        wins,
        f"≥ {T_NEED}",
    )


@pytest.mark.claim(CLAIM_F)
def test_truncated_is_the_hidden_layer(device: str, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    net = FeedForward([6, 5, 4, 3], "tanh", output="sigmoid", generator=g, dtype=dtype).to(device)
    x = torch.randn(7, 6, generator=g, dtype=dtype).to(device)
    layers = net.forward_all(x)
    for depth in (1, 2, 3):
        check_close(
            AE.Truncated(net, depth)(x),
            layers[depth - 1][1],
            Tol(0, 0),
            CLAIM_F,
            device,
            f"Truncated(net, {depth}) is not a_{depth}",
        )
    with pytest.raises(ValueError, match=r"depth must be an integer in \[1, 3\]"):
        AE.Truncated(net, 4)
    with pytest.raises(
        TypeError, match=r"net must be a dlspec\.nn\.linear\.FeedForward, got Linear$"
    ):
        AE.Truncated(torch.nn.Linear(2, 2), 1)  # type: ignore[arg-type]


@pytest.mark.claim(CLAIM_F)
def test_digits_split_is_the_stated_one(device: str) -> None:
    """The data of this page (and the chapter): scikit-learn's digits, pixels divided by 16,
    permuted by `numpy.random.default_rng(0)`, the first 1300 for training and the other 497 for
    testing; `images` gives the 8×8 row-major pictures, `subset` keeps the examples (in order)
    whose label is listed, labels unchanged. Built here from scikit-learn directly."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    order = np.random.default_rng(0).permutation(len(raw.target))
    x = torch.tensor(raw.data[order] / 16.0, dtype=torch.float32)
    y = torch.tensor(raw.target[order], dtype=torch.int64)
    data = digits(device=device)  # the defaults: float32, 1300 for training
    got = [data.x_train, data.y_train, data.x_test, data.y_test]
    want = [x[:1300], y[:1300], x[1300:], y[1300:]]
    for g, w in zip(got, want, strict=True):
        assert g.device.type == torch.device(device).type and g.dtype == w.dtype
        assert g.shape == w.shape and torch.equal(g.cpu(), w), f"{CLAIM_F}: digits split differs"
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # 0..16 divided by 16
    pics = torch.tensor(raw.images[order[1300:1305]] / 16.0, dtype=torch.float32)[:, None]
    assert torch.equal(data.images(data.x_test[:5]).cpu(), pics)
    sub = data.subset((3, 7))
    for part, xs, ys in ((sub.x_train, x[:1300], y[:1300]), (sub.x_test, x[1300:], y[1300:])):
        keep = (ys == 3) | (ys == 7)
        assert torch.equal(part.cpu(), xs[keep])
    assert torch.equal(sub.y_train.cpu(), y[:1300][(y[:1300] == 3) | (y[:1300] == 7)])
    assert torch.equal(sub.y_test.cpu(), y[1300:][(y[1300:] == 3) | (y[1300:] == 7)])
    wide = digits(device=device, dtype=torch.float64, train_size=1796)  # the largest split
    assert wide.x_train.dtype == torch.float64 and wide.x_test.shape == (1, 64)
    assert torch.equal(wide.y_test.cpu(), y[1796:]) and torch.equal(
        wide.x_train.cpu(), x[:1796].double()
    )
    assert digits(train_size=1).x_train.shape == (1, 64)
    for bad in (0, 1797):
        with pytest.raises(ValueError, match=r"train_size must be an integer in \[1, 1796\]"):
            digits(train_size=bad)
