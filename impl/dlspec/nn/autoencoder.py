"""Autoencoders: linear (tied or untied, with or without biases), nonlinear, denoising; greedy
layer-wise pre-training; reconstruction-error outlier scores; cutting a net into a feature
extractor.

Notation of `spec/autoencoders/`: input $x \\in \\mathbb{R}^d$, code $h \\in \\mathbb{R}^k$,
$k < d$; the linear autoencoder encodes $h = Ax + a$ ($A$: `(k, d)`) and decodes
$r = Bh + b$ ($B$: `(d, k)`), so $r = BAx + (Ba + b)$; tied weights mean $B = A^\\top$. The
reconstruction error of a data set is $E = \\sum_t \\|x_t - r(x_t)\\|^2$; `reconstruction_loss`
is its mean over the batch, the loss `dlspec.train.fit` minimizes. A denoising autoencoder sees
a corrupted $\\tilde x$ (Gaussian $x + \\sigma\\varepsilon$, or masking $m \\odot x$ with
$m_i \\sim \\mathrm{Bernoulli}(1 - p)$, no rescaling) and is trained to output the clean $x$.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_finite,
    check_flag,
    check_float_tensor,
    check_generator,
    check_int,
    check_like,
    check_module,
    check_real,
)
from dlspec.nn.dropout import dropout
from dlspec.nn.linear import FeedForward, Linear
from dlspec.registry import Call, Sample, register, register_calls, sample_generator

__all__ = [
    "Autoencoder",
    "Denoising",
    "LinearAutoencoder",
    "Truncated",
    "gaussian_noise",
    "masking_noise",
    "outlier_scores",
    "pretrain_greedy",
    "reconstruction_loss",
    "roc_auc",
]


def _check_dims(d: int, k: int) -> tuple[int, int]:
    d = check_int(d, "d", low=2)
    k = check_int(k, "k", low=1)
    if k >= d:
        raise ValueError(
            f"k must be an integer in [1, d − 1] = [1, {d - 1}] (a bottleneck), got {k}"
        )
    return d, k


class LinearAutoencoder(nn.Module):
    """$r(x) = B(Ax + a) + b$, $d \\to k \\to d$ with $k < d$ (`ae.linear-optimal-error`,
    `ae.linear-spans-pca`, `ae.subspace-not-components`, `ae.optimal-is-projection`).

    `tied=True` shares the weights ($B = A^\\top$); `bias=False` drops $a$ and $b$. Weights start
    as `U(−1/√fan_in, 1/√fan_in)` from `generator`; `load()` sets them exactly.
    """

    def __init__(
        self,
        d: int,
        k: int,
        *,
        tied: bool = False,
        bias: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.d, self.k = _check_dims(d, k)
        self.tied = check_flag(tied, "tied")
        bias = check_flag(bias, "bias")
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
        self.encoder = Linear(self.d, self.k, bias=bias, **kw)  # A, a
        self.decoder = None if self.tied else Linear(self.k, self.d, bias=bias, **kw)  # B, b
        self.decoder_bias = (
            nn.Parameter(torch.zeros(self.d, device=device, dtype=self.encoder.weight.dtype))
            if self.tied and bias
            else None
        )

    @property
    def A(self) -> Tensor:
        return self.encoder.weight

    @property
    def B(self) -> Tensor:
        return self.encoder.weight.T if self.decoder is None else self.decoder.weight

    def _b(self) -> Tensor | None:
        return self.decoder_bias if self.decoder is None else self.decoder.bias

    def encode(self, x: Tensor) -> Tensor:
        """$h = Ax + a$."""
        h: Tensor = self.encoder(x)
        return h

    def decode(self, h: Tensor) -> Tensor:
        """$r = Bh + b$."""
        if self.decoder is not None:
            out: Tensor = self.decoder(h)
            return out
        check_float_tensor(h, "h")
        r = h @ self.encoder.weight  # h Bᵀ with B = Aᵀ
        return r + self.decoder_bias if self.decoder_bias is not None else r

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def affine_map(self) -> tuple[Tensor, Tensor]:
        """$(W, c)$ with $r(x) = Wx + c$: $W = BA$, $c = Ba + b$."""
        w = self.B @ self.A  # BA
        a = self.encoder.bias
        c = self.B @ a if a is not None else torch.zeros_like(w[0])
        b = self._b()
        return w, c + b if b is not None else c

    def load(self, A: Any, B: Any = None, a: Any = None, b: Any = None) -> LinearAutoencoder:
        """Set $A$ (and $B$ unless tied, $a$, $b$ when biased) exactly."""
        self.encoder.load(A, a)
        if self.decoder is not None:
            if B is None:
                raise ValueError("B is required for untied weights")
            self.decoder.load(B, b)
        elif B is not None:
            raise ValueError("B must be None for tied weights (B = Aᵀ)")
        elif b is not None:
            if self.decoder_bias is None:
                raise ValueError("b given for an autoencoder built with bias=False")
            with torch.no_grad():
                self.decoder_bias.copy_(
                    torch.as_tensor(b, dtype=self.A.dtype, device=self.A.device)
                )
        return self


class Autoencoder(nn.Module):
    """A nonlinear autoencoder: encoder `sizes[0] → … → sizes[-1]` with `activation`
    (`"sigmoid"` or `"tanh"`) on every layer, decoder the mirror image with `activation` on its
    hidden layers and `output` (`"identity"`, `"sigmoid"`, `"tanh"`) on the reconstruction."""

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "sigmoid",
        *,
        output: str = "identity",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("sigmoid", "tanh"):
            raise ValueError(f"activation must be 'sigmoid' or 'tanh', got {activation!r}")
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
        self.encoder = FeedForward(sizes, activation, output=activation, **kw)
        self.decoder = FeedForward(list(sizes)[::-1], activation, output=output, **kw)

    def encode(self, x: Tensor) -> Tensor:
        """The code $h$ (the encoder's last activation)."""
        h: Tensor = self.encoder(x)
        return h

    def decode(self, h: Tensor) -> Tensor:
        """The reconstruction $r$."""
        r: Tensor = self.decoder(h)
        return r

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def reconstruction_loss(output: Tensor, target: Tensor) -> Tensor:
    """$\\frac1N \\sum_t \\|x_t - r_t\\|^2$: squared error summed over features, averaged over the
    batch (`output`, `target` of the same shape `(N, d)`)."""
    check_float_tensor(output, "output")
    check_like(check_float_tensor(target, "target"), output, "target", "output")
    if output.shape != target.shape or output.dim() < 1:
        raise ValueError(
            f"output and target must have the same shape, got {tuple(output.shape)} and "
            f"{tuple(target.shape)}"
        )
    return ((output - target) ** 2).sum(dim=-1).mean()


def gaussian_noise(x: Tensor, sigma: float, *, generator: torch.Generator | None = None) -> Tensor:
    """$\\tilde x = x + \\sigma\\varepsilon$, $\\varepsilon \\sim \\mathcal N(0, I)$,
    `sigma ≥ 0`."""
    check_float_tensor(x, "x")
    s = check_real(sigma, "sigma", low=0.0, meaning="the noise level")
    generator = check_generator(generator)
    return x + s * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def masking_noise(x: Tensor, p: float, *, generator: torch.Generator | None = None) -> Tensor:
    """$\\tilde x = m \\odot x$, $m_i \\sim \\mathrm{Bernoulli}(1 - p)$ i.i.d., no rescaling:
    the standard form of `dlspec.nn.dropout.dropout` (one piece of code serves both)."""
    return dropout(x, p, training=True, inverted=False, generator=generator)


class Denoising(nn.Module):
    """Wraps an autoencoder: in training mode its input is corrupted first (`noise`:
    `"gaussian"` with level $\\sigma$ or `"masking"` with drop probability $p$), in evaluation
    mode not. Train it with `fit(dae, x, x, loss=reconstruction_loss, ...)`: the target is the
    clean $x$ (`dae.linear-tikhonov`, `dae.robust`)."""

    def __init__(self, model: nn.Module, noise: str = "gaussian", level: float = 0.1) -> None:
        super().__init__()
        check_module(model, "model")
        if noise not in ("gaussian", "masking"):
            raise ValueError(f"noise must be 'gaussian' or 'masking', got {noise!r}")
        if noise == "gaussian":
            self.level = check_real(level, "level", low=0.0, meaning="the noise level σ")
        else:
            self.level = check_real(
                level,
                "level",
                low=0.0,
                high=1.0,
                high_open=True,
                meaning="the masking probability p",
            )
        self.model, self.noise = model, noise

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """$\\tilde x$."""
        if self.noise == "gaussian":
            return gaussian_noise(x, self.level, generator=generator)
        return masking_noise(x, self.level, generator=generator)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out: Tensor = self.model(self.corrupt(x, generator) if self.training else x)
        return out


def outlier_scores(model: nn.Module, x: Tensor) -> Tensor:
    """Reconstruction error $\\|x_t - r(x_t)\\|^2$ per row (evaluation mode, no gradients):
    large for points off the manifold the autoencoder learned (`ae.outlier-score`). A model whose
    output does not have `x`'s shape `(N, D)` is refused."""
    check_module(model, "model")
    check_float_tensor(x, "x", dim=2)
    check_finite(x, "x")
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            r = model(x)
    finally:
        model.train(was)
    if r.shape != x.shape:  # a reconstruction of another shape would broadcast silently
        raise ValueError(
            f"model must return a reconstruction of x's shape {tuple(x.shape)}, "
            f"got {tuple(r.shape)}"
        )
    scores: Tensor = ((x - r) ** 2).sum(dim=1)  # x and r are (N, D): one sum per row
    return scores


def roc_auc(inliers: Tensor, outliers: Tensor) -> Tensor:
    """$P(s_{\\text{out}} > s_{\\text{in}}) + \\tfrac12 P(s_{\\text{out}} = s_{\\text{in}})$ for
    two score vectors (the Mann–Whitney form of the ROC AUC), from ranks."""
    check_float_tensor(inliers, "inliers", dim=1)
    check_like(check_float_tensor(outliers, "outliers", dim=1), inliers, "outliers", "inliers")
    check_finite(inliers, "inliers")
    check_finite(outliers, "outliers")
    n0, n1 = inliers.numel(), outliers.numel()
    if n0 == 0 or n1 == 0:
        raise ValueError("inliers and outliers must both be non-empty")
    srt = torch.sort(inliers).values
    below = torch.searchsorted(srt, outliers, right=False)  # #{s_in < s_out} per outlier
    at_most = torch.searchsorted(srt, outliers, right=True)  # #{s_in ≤ s_out}
    count = (below + at_most).sum()  # 2·(#less) + #ties, an exact integer
    # divided in float64, rounded once: a float16 count overflows past 65504 (200 × 200 scores)
    return (count.to(torch.float64) / (2.0 * n0 * n1)).to(inliers.dtype)


class Truncated(nn.Module):
    """The first `depth` layers of a `FeedForward` net, sharing its parameters: its output is
    the activation $a_{\\text{depth}}$ of that layer (a feature extractor, `ae.features-transfer`).
    """

    def __init__(self, net: FeedForward, depth: int) -> None:
        super().__init__()
        if not isinstance(net, FeedForward):
            raise TypeError(f"net must be a dlspec.nn.linear.FeedForward, got {type(net).__name__}")
        self.depth = check_int(depth, "depth", low=1, high=len(net.layers))
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        a = x
        last = len(self.net.layers) - 1
        for i in range(self.depth):
            z = self.net.layers[i](a)  # z_l = W_l a_{l−1} + b_l
            a = self.net.out_act(z) if i == last else self.net.act(z)  # a_l
        return a


def pretrain_greedy(
    sizes: Sequence[int],
    x: Tensor,
    *,
    epochs: int,
    generator: torch.Generator,
    lr: float = 1e-2,
    batch_size: int | None = 64,
) -> FeedForward:
    """Greedy layer-wise pre-training of a sigmoid net `sizes[0] → … → sizes[-1]`.

    Hidden layer $l$ is the encoder of a one-hidden-layer sigmoid autoencoder
    $n_{l-1} \\to n_l \\to n_{l-1}$ (sigmoid reconstruction: inputs lie in $[0, 1]$) trained by
    `fit` on the codes of the layers below, `epochs` passes each. The output layer keeps its
    random start. Returns the `FeedForward(sizes, "sigmoid")` with these weights loaded.
    """
    from dlspec.train import fit

    check_float_tensor(x, "x", dim=2)
    check_finite(x, "x")
    net = FeedForward(sizes, "sigmoid", generator=generator, device=x.device, dtype=x.dtype)
    if x.shape[1] != net.sizes[0]:  # x: (n, sizes[0])
        raise ValueError(f"x must have {net.sizes[0]} features, got shape {tuple(x.shape)}")
    h = x
    for layer in list(net.layers)[:-1]:
        assert isinstance(layer, Linear)
        ae = Autoencoder(
            [layer.in_features, layer.out_features],
            "sigmoid",
            output="sigmoid",
            generator=generator,
            device=x.device,
            dtype=x.dtype,
        )
        fit(
            ae,
            h,
            h,
            epochs=epochs,
            generator=generator,
            loss=reconstruction_loss,
            lr=lr,
            batch_size=batch_size,
        )
        enc = ae.encoder.layers[0]
        assert isinstance(enc, Linear) and enc.bias is not None  # an Autoencoder's have biases
        layer.load(enc.weight.detach(), enc.bias.detach())
        with torch.no_grad():
            h = net.act(layer(h))  # the codes feed the next layer
    return net


@register("autoencoder.LinearAutoencoder")
def _sample_linear_ae(device: torch.device, dtype: torch.dtype) -> Sample:
    untied = LinearAutoencoder(5, 2, bias=True, device=device, dtype=dtype)
    tied = LinearAutoencoder(5, 2, tied=True, bias=True, device=device, dtype=dtype)

    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.u, self.t = untied, tied

        def forward(self, x: Tensor) -> tuple[Tensor, ...]:
            return self.u(x), self.t(x), *self.u.affine_map(), *self.t.affine_map()

    return Both(), (torch.randn(4, 5, device=device, dtype=dtype),)


@register("autoencoder.Denoising")
def _sample_dae(device: torch.device, dtype: torch.dtype) -> Sample:
    ae = Autoencoder([6, 3], "tanh", output="sigmoid", device=device, dtype=dtype)
    g = Denoising(ae, "gaussian", 0.2).train()
    m = Denoising(Autoencoder([6, 3], "sigmoid", device=device, dtype=dtype), "masking", 0.3)

    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.g, self.m = g, m.train()

        def forward(self, x: Tensor) -> tuple[Tensor, ...]:
            return self.g(x), self.m(x), reconstruction_loss(self.g(x), x)

    return Both(), (torch.rand(4, 6, device=device, dtype=dtype),)


@register("autoencoder.Truncated")
def _sample_truncated(device: torch.device, dtype: torch.dtype) -> Sample:
    net = FeedForward([6, 4, 3, 2], "sigmoid", device=device, dtype=dtype)
    cut = Truncated(net, 2)

    class Both(nn.Module):  # the whole net too, so every parameter gets a gradient
        def __init__(self) -> None:
            super().__init__()
            self.cut = cut

        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return self.cut(x), self.cut.net(x)

    return Both(), (torch.randn(5, 6, device=device, dtype=dtype),)


@register("autoencoder.scores", backward=False)
def _sample_scores(device: torch.device, dtype: torch.dtype) -> Sample:
    ae = LinearAutoencoder(4, 2, device=device, dtype=dtype)

    def f(x: Tensor, y: Tensor) -> Tensor:
        return roc_auc(outlier_scores(ae, x), outlier_scores(ae, y))

    return f, (
        torch.randn(6, 4, device=device, dtype=dtype),
        torch.randn(3, 4, device=device, dtype=dtype),
    )


@register_calls
def _calls_autoencoder(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.rand(4, 6, device=device, dtype=dtype)
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    ae = Autoencoder([6, 3], "tanh", output="sigmoid", **where)
    net = FeedForward([6, 4, 3, 2], "sigmoid", **where)
    g = sample_generator(device).manual_seed(0)
    return [
        Call(
            LinearAutoencoder,
            {"d": 6, "k": 2, "tied": True, "bias": True, **where},
            forward={"x": x},
        ),
        Call(
            Autoencoder,
            {"sizes": [6, 3], "activation": "tanh", "output": "sigmoid", **where},
            forward={"x": x},
        ),
        Call(
            Denoising,
            {"model": ae, "noise": "masking", "level": 0.3},
            forward={"x": x},
            ranges={"level": "[0, 1)"},
        ),
        Call(
            Denoising,
            {"model": ae, "noise": "gaussian", "level": 0.3},
            forward={"x": x},
            ranges={"level": "[0, inf)"},
        ),
        Call(Truncated, {"net": net, "depth": 2}, forward={"x": x}, ranges={"depth": "[1, 3]"}),
        Call(reconstruction_loss, {"output": ae(x), "target": x}),
        Call(gaussian_noise, {"x": x, "sigma": 0.2, "generator": g}, ranges={"sigma": "[0, inf)"}),
        Call(masking_noise, {"x": x, "p": 0.3, "generator": g}, ranges={"p": "[0, 1)"}),
        Call(outlier_scores, {"model": ae, "x": x}, ndim=("x",)),
        Call(
            roc_auc,
            {"inliers": x[:, 0].contiguous(), "outliers": x[:3, 1].contiguous()},
            ndim=("inliers", "outliers"),
            nonempty=("inliers", "outliers"),
            finite=("inliers", "outliers"),
        ),
        Call(
            pretrain_greedy,
            {"sizes": [6, 3, 2], "x": x, "epochs": 1, "generator": g, "batch_size": 2},
            ranges={"lr": "(0, inf)", "epochs": "[0, inf)"},
            ndim=("x",),
            nonempty=("x",),
        ),
    ]
