"""Tests of spec/convolution/cnn.md: the notes' CNN on the digits, against two MLPs.

All networks of one kind are trained side by side as one batch: the CNN's ten seeds as one
``CNN(models=10)`` (grouped convolutions), the MLPs' seeds as a stack of ``FeedForward`` nets.
The loss is summed over networks, so each network's gradient is that of its own loss; they share
the minibatch order (one ``fit`` call), and their initial weights differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from dlspec.data.digits import digits
from dlspec.nn.cnn import CNN
from dlspec.nn.linear import FeedForward
from dlspec.nn.losses import cross_entropy
from dlspec.train import accuracy, fit
from tests.stats import binomial_cdf, binomial_threshold
from tests.threads import one_thread
from tests.tolerances import EXACT, check_close, failure

CLAIM = "cnn.digits"
SEEDS = 10
EPOCHS = 30
LR = 1e-2
BATCH = 64
CHANNELS = (8, 16)
HIDDEN = 32
THRESHOLD = 0.97  # a CNN succeeds if its held-out accuracy is at least this...
SIMILAR = 0.02  # ...and within 2 points of the MLP paired with it ("similar accuracy")
RATE = 0.9  # the claim: one initialization succeeds with probability at least RATE
NEED = binomial_threshold(SEEDS, RATE)  # successes demanded of the SEEDS pairs (3)
#: The chance that the test fails although the claim holds: exact binomial tail (page).
FALSE_FAILURES = {"test_cnn_matches_a_larger_mlp": binomial_cdf(NEED - 1, SEEDS, RATE)}
MLP_WIDE = [64, 64, 10]
MLP_NARROW = [64, 16, 10]


class Stack(nn.Module):
    """Several networks side by side on the same input: output ``(M, N, classes)``."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([net(x) for net in self.nets])


def summed_loss(models: int) -> Any:
    """Cross-entropy summed over the ``models`` networks (``cross_entropy`` averages them)."""

    def loss(out: Tensor, y: Tensor) -> Tensor:
        return cross_entropy(out, y) * models

    return loss


def n_params(net: nn.Module, models: int = 1) -> int:
    return sum(p.numel() for p in net.parameters()) // models


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    """Train the CNN and both MLPs once (float32, CPU, one thread) for the tests below."""
    with one_thread():
        data = digits()
        g = torch.Generator().manual_seed(0)
        cnn = CNN(channels=CHANNELS, hidden=HIDDEN, models=SEEDS, generator=g)
        fit(
            cnn,
            data.images(data.x_train),
            data.y_train,
            epochs=EPOCHS,
            generator=g,
            loss=summed_loss(SEEDS),
            lr=LR,
            batch_size=BATCH,
        )
        acc_cnn = accuracy(cnn, data.images(data.x_test), data.y_test)
        out: dict[str, Any] = {"data": data, "cnn": cnn, "acc_cnn": acc_cnn.numpy()}
        for name, sizes in (("wide", MLP_WIDE), ("narrow", MLP_NARROW)):
            gm = torch.Generator().manual_seed(1)
            mlp = Stack([FeedForward(sizes, "relu", generator=gm) for _ in range(SEEDS)])
            fit(
                mlp,
                data.x_train,
                data.y_train,
                epochs=EPOCHS,
                generator=gm,
                loss=summed_loss(SEEDS),
                lr=LR,
                batch_size=BATCH,
            )
            out[f"acc_{name}"] = accuracy(mlp, data.x_test, data.y_test).numpy()
            out[f"params_{name}"] = n_params(mlp, SEEDS)
        return out


@pytest.mark.slow  # trains 10 CNNs and 20 MLPs: about 15 s of one core
@pytest.mark.claim(CLAIM)
def test_cnn_matches_a_larger_mlp(trained: dict[str, Any], evidence: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cnn: CNN = trained["cnn"]
    acc, wide, narrow = trained["acc_cnn"], trained["acc_wide"], trained["acc_narrow"]
    p_cnn = n_params(cnn, SEEDS)
    m_cnn, m_wide = float(acc.mean()), float(wide.mean())
    s_cnn, s_wide = float(acc.std(ddof=1)), float(wide.std(ddof=1))

    success = (acc >= THRESHOLD) & (np.abs(acc - wide) <= SIMILAR)
    k = int(success.sum())

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for i, (_name, a, p) in enumerate(
        (
            (f"CNN {CHANNELS}, {HIDDEN}", acc, p_cnn),
            ("MLP 64-64-10", wide, trained["params_wide"]),
            ("MLP 64-16-10", narrow, trained["params_narrow"]),
        )
    ):
        ax.scatter(np.full(SEEDS, i) + np.linspace(-0.15, 0.15, SEEDS), 100 * a, s=14)
        ax.plot([i - 0.25, i + 0.25], [100 * a.mean()] * 2, color="k", lw=1)
        ax.text(i, 100 * a.min() - 0.35, f"{p:,} parameters", ha="center", fontsize=8)
    ax.axhline(100 * THRESHOLD, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(3), ["CNN", "MLP 64-64-10", "MLP 64-16-10"])
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(f"Digits, {SEEDS} seeds each, Adam {LR}, {EPOCHS} epochs", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    evidence.figure(fig, "cnn-digits-accuracy")
    plt.close(fig)

    evidence.value("seeds", SEEDS)
    evidence.value("params_cnn", p_cnn)
    evidence.value("params_mlp_64_64_10", trained["params_wide"])
    evidence.value("params_mlp_64_16_10", trained["params_narrow"])
    evidence.value("accuracy_cnn", [round(float(v), 4) for v in acc])
    evidence.value("accuracy_mlp_64_64_10", [round(float(v), 4) for v in wide])
    evidence.value("accuracy_mlp_64_16_10", [round(float(v), 4) for v in narrow])
    evidence.value("mean_cnn", round(m_cnn, 4))
    evidence.value("mean_mlp_64_64_10", round(m_wide, 4))
    evidence.value("mean_mlp_64_16_10", round(float(narrow.mean()), 4))
    evidence.value("sd_cnn", round(s_cnn, 4))
    evidence.value("sd_mlp_64_64_10", round(s_wide, 4))
    evidence.value("fewer_parameters_pct", round(100 * (1 - p_cnn / trained["params_wide"])))
    evidence.value("successes", k)
    evidence.value("successes_needed", NEED)
    evidence.value("false_failure", FALSE_FAILURES["test_cnn_matches_a_larger_mlp"])
    evidence.value("pass_chance_if_rate_0.3", 1 - binomial_cdf(NEED - 1, SEEDS, 0.3))

    per_layer = [n_params(layer, SEEDS) for layer in (cnn.conv1, cnn.conv2, cnn.fc[0], cnn.out[0])]
    per_layer[2:] = [n_params(cnn.fc[0]), n_params(cnn.out[0])]  # one network's FC layers
    assert per_layer == [80, 1168, 2080, 330], f"{CLAIM}: parameters per layer {per_layer}"
    assert p_cnn == 3658 and trained["params_wide"] == 4810 and trained["params_narrow"] == 1210
    assert p_cnn < trained["params_wide"]
    assert k >= NEED, failure(
        CLAIM,
        "cpu",
        torch.float32,
        f"{k} of {SEEDS} CNNs reach {THRESHOLD} within {SIMILAR} of their MLP (CNN {acc.round(4)},"
        f" MLP {wide.round(4)})",
        NEED - k,
        f"≥ {NEED} successes",
    )
    assert FALSE_FAILURES["test_cnn_matches_a_larger_mlp"] <= 1e-6


@pytest.mark.slow  # shares the training above
@pytest.mark.claim(CLAIM)
def test_feature_maps(trained: dict[str, Any], evidence: Any) -> None:
    """The feature maps of seed 0 on one test digit (figure), and their shapes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cnn: CNN = trained["cnn"]
    data = trained["data"]
    x = data.images(data.x_test[:1])
    with torch.no_grad():
        stages = cnn.forward_all(x)
    c1, c2 = CHANNELS
    assert stages["conv1"].shape == (1, SEEDS * c1, 8, 8)
    assert stages["pool1"].shape == (1, SEEDS * c1, 4, 4)
    assert stages["conv2"].shape == (1, SEEDS * c2, 4, 4)
    assert stages["pool2"].shape == (1, SEEDS * c2, 2, 2)
    assert stages["logits"].shape == (SEEDS, 1, 10)
    fig, axes = plt.subplots(3, 16, figsize=(12, 2.8))
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(x[0, 0].numpy(), cmap="gray_r")
    axes[0, 0].set_title(f"input ({int(data.y_test[0])})", fontsize=7)
    for k in range(c1):
        axes[1, k].imshow(stages["conv1"][0, k].numpy(), cmap="viridis")
        axes[1, k + c1].imshow(stages["pool1"][0, k].numpy(), cmap="viridis")
    axes[1, 0].set_title("conv1 + relu (8×8)", fontsize=7, loc="left")
    axes[1, c1].set_title("after 2×2 max pooling (4×4)", fontsize=7, loc="left")
    for k in range(c2):
        axes[2, k].imshow(stages["conv2"][0, k].numpy(), cmap="viridis")
    axes[2, 0].set_title("conv2 + relu (4×4), 16 channels", fontsize=7, loc="left")
    evidence.figure(fig, "cnn-digits-feature-maps")
    plt.close(fig)


@pytest.mark.claim(CLAIM)
@pytest.mark.dtypes("float64")
def test_forward_equals_oracle_composition(device: str, dtype: torch.dtype) -> None:
    """Each network of a CNN(models=M) equals conv → relu → pool → conv → relu → pool → FC →
    relu → FC built from F.conv2d, F.max_pool2d and F.linear with that network's weights, for
    3 × 3 and 5 × 5 kernels (same-size zero padding (k − 1)/2: 1 and 2)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    m, (c1, c2) = 3, (2, 3)
    for k in (3, 5):
        net = CNN(
            channels=(c1, c2),
            kernel_size=k,
            hidden=5,
            models=m,
            generator=g,
            device=device,
            dtype=dtype,
        )
        x = torch.rand(4, 1, 8, 8, generator=g, dtype=dtype).to(device)
        out = net(x)
        assert out.shape == (m, 4, 10)
        pad = (k - 1) // 2  # (8 + 2·pad − k + 1 = 8: the size is kept)
        for i in range(m):
            w1 = net.conv1.weight[i * c1 : (i + 1) * c1]
            b1 = net.conv1.bias[i * c1 : (i + 1) * c1] if net.conv1.bias is not None else None
            w2 = net.conv2.weight[i * c2 : (i + 1) * c2]
            b2 = net.conv2.bias[i * c2 : (i + 1) * c2] if net.conv2.bias is not None else None
            h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=pad)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=pad)), 2).flatten(1)
            fc, o = net.fc[i], net.out[i]
            ref = F.linear(F.relu(F.linear(h, fc.weight, fc.bias)), o.weight, o.bias)
            check_close(out[i], ref, EXACT, CLAIM, device, f"k={k}: network {i} vs the oracle")
    single = CNN(channels=(c1, c2), hidden=5, device=device, dtype=dtype)
    assert single(x).shape == (4, 10)


@pytest.mark.claim(CLAIM)
def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="size must be a multiple of 4"):
        CNN(size=6)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        CNN(kernel_size=2)
    with pytest.raises(ValueError, match="channels must be a pair"):
        CNN(channels=(4,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="models must be an integer ≥ 1"):
        CNN(models=0)
    with pytest.raises(ValueError, match="classes must be an integer ≥ 2"):
        CNN(classes=1)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\)"):
        CNN()(torch.randn(2, 1, 7, 7))
    with pytest.raises(ValueError, match="x must be 4-D"):
        CNN()(torch.randn(2, 64))


@pytest.mark.claim(CLAIM)
def test_initialization_is_reproducible() -> None:
    """The page's runs are reproducible: every weight is drawn from the given generator, so two
    CNNs built from the same seed are equal and another seed gives other weights."""

    def params(seed: int) -> list[Tensor]:
        net = CNN(
            channels=(2, 3), hidden=5, models=2, generator=torch.Generator().manual_seed(seed)
        )
        return [p.detach() for p in net.parameters()]

    a, b, c = params(0), params(0), params(1)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True)), f"{CLAIM}: same seed differs"
    assert all(not torch.equal(p, q) for p, q in zip(a, c, strict=True)), f"{CLAIM}: seed ignored"


@pytest.mark.claim(CLAIM)
def test_smallest_image_size() -> None:
    """`size = 4`, the smallest the two 2×2 poolings allow, is accepted: the second pooling
    leaves 1 × 1 maps, so the first FC layer reads c₂ (4/4)² = c₂ features; 0 and 3 are refused
    naming `size` and its least value."""
    net = CNN(size=4, channels=(2, 3), hidden=5, generator=torch.Generator().manual_seed(1))
    assert net.size == 4 and net.features == 3 and net.channels == (2, 3)
    stages = net.forward_all(torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(2)))
    assert stages["pool2"].shape == (2, 3, 1, 1) and stages["logits"].shape == (1, 2, 10)
    for bad in (0, 3):
        with pytest.raises(ValueError, match=f"^size must be an integer ≥ 4, got {bad}"):
            CNN(size=bad)
