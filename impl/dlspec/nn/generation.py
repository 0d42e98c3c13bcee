"""Autoregressive and non-autoregressive generation over a tiny vocabulary, and three models of
a two-token distribution fitted by maximum likelihood.

Notation, as on the spec page `generative/generation.md`: tokens are integers `0, …, V−1` (for
`V = 2`: `A = 0`, `B = 1`); a sequence `y = (y_1, …, y_T)`.

Samplers (both count the calls they make to the model):

- `sample_autoregressive(step, T)`: `y_t ~ p(· | y_<t)`, one call of `step(prefix)` per token,
  where call `t` sees the tokens drawn by calls `1, …, t−1`;
- `sample_non_autoregressive(model, T)`: one call returns every position's distribution
  `p(y_t)`, `t = 1, …, T`, and all positions are drawn at once, independently.

Models of a pair `(y_1, y_2)` (each with `joint()`, the `V × V` table `Q(y_1, y_2)`, and
`log_prob(tokens)`):

- `Factorized`: `Q = q_1 ⊗ q_2` (independent positions, the fully factorized decoder);
- `Mixture`: `Q = Σ_k π_k q_{1k} ⊗ q_{2k}` (a mixture of products);
- `Autoregressive`: `Q(y_1, y_2) = q_1(y_1) q_2(y_2 | y_1)`.

`fit_mle(model, tokens)` maximizes the mean log-likelihood of a data set. `kl_divergence`,
`total_variation` and `product_of_marginals` are the closed forms the claims compare with.

Claims served: `generate.ar-sequential`, `generate.nar-multimodality`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_callable,
    check_copies,
    check_finite,
    check_flag,
    check_float_dtype,
    check_float_tensor,
    check_generator,
    check_index_tensor,
    check_int,
    check_like,
    check_real,
)
from dlspec.nn import gan
from dlspec.nn.activations import log_softmax, softmax
from dlspec.nn.gan import check_pmf
from dlspec.registry import Call, Sample, register, register_calls

__all__ = [
    "Autoregressive",
    "Factorized",
    "Generation",
    "Mixture",
    "PairModel",
    "categorical",
    "fit_mle",
    "kl_divergence",
    "product_of_marginals",
    "sample_autoregressive",
    "sample_non_autoregressive",
    "total_variation",
]


# -- sampling -------------------------------------------------------------------------------------


def categorical(probs: Tensor, u: Tensor, *, fast: bool = False) -> Tensor:
    """Inverse-CDF draw: the token `k` with `F(k−1) ≤ u < F(k)`, `F` the cumulative sum of
    `probs` over the last dimension, for uniforms `u` of shape `probs.shape[:-1]`.

    `u ≥ F(V−1)` happens only by rounding (`F(V−1)` can be `1 − 2⁻⁵²`): then the draw is the
    first token where `F` reaches `F(V−1)`, a token of positive probability, never one of
    probability 0. Both cases are one count, `k = #{k : F(k) ≤ min(u, F(V−1)⁻)}`, with
    `F(V−1)⁻` the float just below `F(V−1)`.

    `fast=True`: the same count in two levels, over the last entries of blocks of `⌈√V⌉`
    tokens and then within the one block that holds `u`, instead of over all `V` entries: the
    same token for the same `u` (`generate.categorical-fast-form`), for probabilities that are
    non-negative (then `F` is non-decreasing, which the count relies on).
    """
    check_float_tensor(probs, "probs")
    check_like(check_float_tensor(u, "u"), probs, "u", "probs")
    check_finite(u, "u")
    fast = check_flag(fast, "fast")
    if probs.dim() == 0 or u.shape != probs.shape[:-1]:
        raise ValueError(
            f"u must have shape probs.shape[:-1] = {tuple(probs.shape[:-1])}, got {tuple(u.shape)}"
        )
    cdf = probs.cumsum(dim=-1)  # F(k) = Σ_{j ≤ k} p_j
    total = cdf[..., -1:]  # F(V−1)
    # Every entry of probs is finite iff every row's F(V−1) is (NaN and ±∞ reach the sum),
    # unless finite entries overflow it: one read of the totals instead of all of probs
    if total.device.type != "meta" and not bool(torch.isfinite(total).all()):
        check_finite(probs, "probs")  # names the NaN or ±inf entries
        raise ValueError("probs must have finite row sums, got a row whose sum overflows")
    below = torch.nextafter(total, torch.full_like(total, -torch.inf))  # F(V−1)⁻
    v = torch.minimum(u.unsqueeze(-1), below)  # < F(V−1): at most the first k with F(k) = F(V−1)
    if not fast:
        return (cdf <= v).sum(dim=-1)  # number of k with F(k) ≤ v
    return _two_level_count(cdf, v)


def _two_level_count(cdf: Tensor, v: Tensor) -> Tensor:
    """`#{k : F(k) ≤ v}` for a non-decreasing `F` whose last entry is above `v`: the blocks of
    `b = ⌈√V⌉` tokens whose last entry is `≤ v` count `b` each (every entry of theirs is `≤ v`);
    the first block whose last entry is `> v` is counted entry by entry."""
    n = cdf.shape[-1]
    b = math.isqrt(n - 1) + 1  # ⌈√V⌉ (V ≥ 1)
    full = (cdf[..., b - 1 :: b] <= v).sum(dim=-1, keepdim=True)  # blocks wholly ≤ v
    pos = torch.add(torch.arange(b, device=cdf.device), full, alpha=b)  # the next block
    if n % b:
        pos = pos.clamp_max(n - 1)  # past the end: F(V−1) > v, not counted
    within = (cdf.gather(-1, pos) <= v).sum(dim=-1, keepdim=True)
    return within.add_(full, alpha=b).squeeze(-1)


@dataclass(frozen=True)
class Generation:
    """Sampled tokens `(batch, T)` and the number of model calls it took."""

    tokens: Tensor
    calls: int


StepModel = Callable[[Tensor], Tensor]


def sample_autoregressive(
    step: StepModel,
    length: int,
    *,
    batch: int = 1,
    vocab: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Generation:
    """Draw `batch` sequences of `length` tokens, one token per call (`generate.ar-sequential`).

    `step(prefix)` receives the tokens drawn so far, shape `(batch, t)` (`t = 0` at the first
    call: an empty prefix on `device`), and returns next-token logits `(batch, vocab)`:
    `y_t ~ softmax(step(y_<t))`. The tokens follow the logits' device; the uniforms that pick
    each token are drawn in the logits' dtype.
    """
    check_callable(step, "step")
    length = check_int(length, "length")
    batch = check_int(batch, "batch")
    vocab = check_int(vocab, "vocab")
    generator = check_generator(generator)
    tokens = torch.zeros((batch, 0), dtype=torch.long, device=device)
    calls = 0
    for _ in range(length):
        logits = step(tokens)  # p(y_t | y_<t): needs every earlier token
        calls += 1
        _check_logits(logits, (batch, vocab), "step(prefix)")
        u = torch.rand(batch, generator=generator, device=logits.device, dtype=logits.dtype)
        y_t = categorical(softmax(logits), u)
        tokens = torch.cat([tokens.to(logits.device), y_t.unsqueeze(-1)], dim=-1)
    return Generation(tokens, calls)


def sample_non_autoregressive(
    model: Callable[[int], Tensor],
    length: int,
    *,
    batch: int = 1,
    vocab: int,
    generator: torch.Generator | None = None,
) -> Generation:
    """Draw `batch` sequences of `length` tokens with one call (`generate.ar-sequential`).

    `model(batch)` returns logits `(batch, length, vocab)`, one distribution per position; every
    `y_t ~ softmax(logits[:, t])` is drawn at once and independently of the others.
    """
    check_callable(model, "model")
    length = check_int(length, "length")
    batch = check_int(batch, "batch")
    vocab = check_int(vocab, "vocab")
    generator = check_generator(generator)
    logits = model(batch)
    _check_logits(logits, (batch, length, vocab), "model(batch)")
    u = torch.rand((batch, length), generator=generator, device=logits.device, dtype=logits.dtype)
    return Generation(categorical(softmax(logits), u), 1)


def _check_logits(logits: object, shape: tuple[int, ...], what: str) -> None:
    check_float_tensor(logits, what)
    assert isinstance(logits, Tensor)
    if tuple(logits.shape) != shape:
        raise ValueError(f"{what} must return logits of shape {shape}, got {tuple(logits.shape)}")


# -- models of a pair of tokens -------------------------------------------------------------------


class PairModel(nn.Module):
    """A distribution `Q(y_1, y_2)` over pairs of tokens from a vocabulary of size `vocab`.

    With `copies=C` the model holds `C` independent models in one set of parameters (a leading
    dimension `C` on every table and log-probability), so that several seeds fit as one batch.
    """

    def __init__(
        self,
        vocab: int = 2,
        *,
        copies: int | None = None,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.vocab = check_int(vocab, "vocab", low=2)
        self.lead = check_copies(copies)
        self._scale = check_real(init_scale, "init_scale", low=0.0)
        self._init = (check_generator(generator), device, dtype)
        self._build()

    def _build(self) -> None:
        """Create the model's parameters with `_logits()` (each subclass)."""
        raise NotImplementedError

    def _logits(self, *shape: int) -> nn.Parameter:
        """`init_scale · N(0, 1)` logits of shape `(*lead, *shape)`."""
        return _logits((*self.lead, *shape), self._scale, *self._init)

    def log_joint(self) -> Tensor:
        """`log Q(y_1, y_2)` as a `(vocab, vocab)` table."""
        raise NotImplementedError

    def joint(self) -> Tensor:
        """`Q(y_1, y_2)` as a `(vocab, vocab)` table (sums to 1)."""
        return torch.exp(self.log_joint())

    def log_prob(self, tokens: Tensor) -> Tensor:
        """`log Q(y_1, y_2)` for each row of `tokens` `(N, 2)`: shape `(N,)`, or `(C, N)`."""
        check_index_tensor(tokens, "tokens", classes=self.vocab)
        ref = next(self.parameters())
        if tokens.device != ref.device:
            raise ValueError(
                f"tokens must be on the model's device {ref.device}, got {tokens.device}"
            )
        if tokens.dim() != 2 or tokens.shape[1] != 2:
            raise ValueError(f"tokens must have shape (N, 2), got {tuple(tokens.shape)}")
        return self.log_joint()[..., tokens[:, 0], tokens[:, 1]]

    def forward(self, tokens: Tensor) -> Tensor:
        return self.log_prob(tokens)


def _logits(
    shape: tuple[int, ...],
    scale: float,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> nn.Parameter:
    dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
    w = torch.randn(shape, generator=check_generator(generator), device=device, dtype=dtype)
    return nn.Parameter(scale * w)


class Factorized(PairModel):
    """`Q = q_1 ⊗ q_2`, `q_t = softmax(θ_t)`: independent per-position outputs."""

    def _build(self) -> None:
        self.theta = self._logits(2, self.vocab)

    def log_joint(self) -> Tensor:
        lq = log_softmax(self.theta)  # log q_1, log q_2
        return lq[..., 0, :, None] + lq[..., 1, None, :]  # log q_1(y_1) + log q_2(y_2)


class Mixture(PairModel):
    """`Q = Σ_k π_k q_{1k} ⊗ q_{2k}` with `π = softmax(α)`, `q_{tk} = softmax(θ_{tk})`."""

    def __init__(
        self,
        vocab: int = 2,
        components: int = 2,
        *,
        copies: int | None = None,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.components = check_int(components, "components")  # _build() reads it
        super().__init__(
            vocab,
            copies=copies,
            init_scale=init_scale,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def _build(self) -> None:
        self.alpha = self._logits(self.components)
        self.theta = self._logits(self.components, 2, self.vocab)

    def log_joint(self) -> Tensor:
        log_pi = log_softmax(self.alpha)  # log π_k
        lq = log_softmax(self.theta)  # (…, K, 2, V): log q_{1k}, log q_{2k}
        per = (
            log_pi[..., None, None] + lq[..., 0, :, None] + lq[..., 1, None, :]
        )  # log π_k + log q_1k(y_1) + log q_2k(y_2)
        return torch.logsumexp(per, dim=-3)  # log Σ_k


class Autoregressive(PairModel):
    """`Q(y_1, y_2) = q_1(y_1) q_2(y_2 | y_1)`, `q_1 = softmax(θ_1)`,
    `q_2(· | y_1) = softmax(Θ_2[y_1])`."""

    def _build(self) -> None:
        self.theta1 = self._logits(self.vocab)
        self.theta2 = self._logits(self.vocab, self.vocab)

    def log_joint(self) -> Tensor:
        lq1 = log_softmax(self.theta1)  # log q_1(y_1)
        lq2 = log_softmax(self.theta2)  # row y_1: log q_2(y_2 | y_1)
        return lq1.unsqueeze(-1) + lq2

    def step(self, prefix: Tensor) -> Tensor:
        """Next-token logits for `sample_autoregressive`: `θ_1` at `t = 0`, `Θ_2[y_1]` at
        `t = 1`."""
        if self.lead:
            raise ValueError("step() samples a single model: build it with copies=None")
        check_index_tensor(prefix, "prefix", classes=self.vocab)
        if prefix.dim() != 2 or prefix.shape[1] > 1:
            raise ValueError(
                f"prefix must have shape (batch, 0) or (batch, 1), got {tuple(prefix.shape)}"
            )
        if prefix.shape[1] == 0:
            return self.theta1.expand(prefix.shape[0], self.vocab)
        return self.theta2[prefix[:, 0]]


def fit_mle(
    model: PairModel,
    tokens: Tensor,
    *,
    steps: int = 500,
    lr: float = 0.05,
) -> list[float]:
    """Maximum likelihood: minimize `−(1/N) Σ_n log Q(y^{(n)})` with Adam(`lr`) for `steps` steps,
    full batch; returns the loss per step (the last entry after the final step; summed over
    copies). Copies fit independently: their losses add and Adam acts elementwise."""
    if not isinstance(model, PairModel):
        raise TypeError(f"model must be a PairModel, got {type(model).__name__}")
    steps = check_int(steps, "steps")
    lr = check_real(lr, "lr", low=0.0, low_open=True, meaning="the learning rate")
    check_index_tensor(tokens, "tokens")  # labels < vocab: the first log_prob checks them
    if tokens.dim() != 2 or tokens.shape[1] != 2 or tokens.shape[0] == 0:
        raise ValueError(f"tokens must have shape (N ≥ 1, 2), got {tuple(tokens.shape)}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = -model.log_prob(tokens).mean(dim=-1).sum()  # −mean_n log Q(y_n), per copy
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        losses.append(float(-model.log_prob(tokens).mean(dim=-1).sum()))
    return losses


# -- closed forms ---------------------------------------------------------------------------------


def _check_tables(p_in: object, q_in: object) -> tuple[Tensor, Tensor]:
    p, q = check_float_tensor(p_in, "p", dim=2), check_float_tensor(q_in, "q", dim=2)
    check_like(q, p, "q", "p")
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape, got {tuple(p.shape)}, {tuple(q.shape)}"
        )
    return check_pmf(p.reshape(-1), "p"), check_pmf(q.reshape(-1), "q")


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """`KL(P‖Q) = Σ P log(P/Q)` over two-token tables (natural log, `0 log 0 = 0`)."""
    pf, qf = _check_tables(p, q)
    return gan.kl_divergence(pf, qf)


def total_variation(p: Tensor, q: Tensor) -> Tensor:
    """`TV(P, Q) = ½ Σ |P − Q|` over two-token tables."""
    pf, qf = _check_tables(p, q)
    tv: Tensor = 0.5 * (pf - qf).abs().sum()
    return tv


def product_of_marginals(p: Tensor) -> Tensor:
    """`P_1 ⊗ P_2` with `P_1(a) = Σ_b P(a, b)`, `P_2(b) = Σ_a P(a, b)`: the maximum-likelihood
    factorized model of data distributed as `P`."""
    check_float_tensor(p, "p", dim=2)
    check_pmf(p.reshape(-1), "p")
    return p.sum(dim=1, keepdim=True) * p.sum(dim=0, keepdim=True)


# -- registry samples -----------------------------------------------------------------------------


@register("generation.pair-models")
def _sample_pair_models(device: torch.device, dtype: torch.dtype) -> Sample:
    models = nn.ModuleList(
        [
            Factorized(device=device, dtype=dtype),
            Mixture(device=device, dtype=dtype),
            Autoregressive(device=device, dtype=dtype),
        ]
    )

    class All(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.models = models

        def forward(self, tokens: Tensor) -> Tensor:
            outs = [m.log_prob(tokens) for m in self.models]  # type: ignore[operator]
            return (
                torch.stack(outs).sum(0)
                + product_of_marginals(
                    torch.full((2, 2), 0.25, device=tokens.device, dtype=dtype)
                ).sum()
            )

    return All(), (torch.tensor([[0, 0], [1, 1], [0, 1]], device=device),)


@register("generation.samplers", backward=False)
def _sample_samplers(device: torch.device, dtype: torch.dtype) -> Sample:
    ar = Autoregressive(device=device, dtype=dtype)

    def f(logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a = sample_autoregressive(ar.step, 2, batch=3, vocab=2, device=device)
        n = sample_non_autoregressive(lambda b: logits.expand(b, 4, 2), 4, batch=3, vocab=2)
        u = torch.full((3,), 0.5, device=logits.device, dtype=logits.dtype)
        p = softmax(logits[0, :3])
        c = categorical(p, u) + categorical(p, u, fast=True)
        return a.tokens, n.tokens, c + logits.sum()

    return f, (torch.randn(1, 4, 2, device=device, dtype=dtype),)


@register_calls
def _calls_generation(device: torch.device, dtype: torch.dtype) -> list[Call]:
    where: dict[str, Any] = {"device": device, "dtype": dtype}
    probs = torch.tensor([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]], **where)
    u = torch.tensor([0.1, 0.6, 0.9], **where)
    tokens = torch.tensor([[0, 0], [1, 1], [0, 1]], device=device)
    table = torch.full((2, 2), 0.25, **where)
    other = torch.tensor([[0.1, 0.2], [0.3, 0.4]], **where)
    ar = Autoregressive(**where)
    logits = torch.zeros(1, 4, 2, **where)
    scale = {"init_scale": "[0, inf)"}
    return [
        Call(categorical, {"probs": probs, "u": u}, ndim=("u",), finite=("probs", "u")),
        Call(
            sample_autoregressive,
            {"step": ar.step, "length": 2, "batch": 3, "vocab": 2, "device": device},
        ),
        Call(
            sample_non_autoregressive,
            {"model": lambda b: logits.expand(b, 4, 2), "length": 4, "batch": 3, "vocab": 2},
        ),
        *(
            Call(cls, {"vocab": 2, "copies": 2, **where}, forward={"tokens": tokens}, ranges=scale)
            for cls in (Factorized, Autoregressive)
        ),
        Call(
            Mixture,
            {"vocab": 2, "components": 2, **where},
            forward={"tokens": tokens},
            ranges=scale,
        ),
        Call(
            fit_mle,
            {"model": Factorized(**where), "tokens": tokens, "steps": 1},
            ranges={"lr": "(0, inf)"},
        ),
        Call(kl_divergence, {"p": table, "q": other}, finite=("p", "q")),
        Call(total_variation, {"p": table, "q": other}, finite=("p", "q")),
        Call(product_of_marginals, {"p": table}, ndim=("p",), finite=("p",)),
    ]
