"""Tests of spec/networks/feedforward.md: neurons, the matrix form, the lecture's example,
softmax, and an MLP on the digits.

Oracles: `torch.nn.Linear`, `torch.sigmoid`/`tanh`/`F.relu`, `F.softmax`, `F.log_softmax`,
`torch.distributions.MultivariateNormal`, scikit-learn's `LinearDiscriminantAnalysis`, autograd.
Each kernel is reached through one seam (`ACT`, `NET`), so the same claims can run against
another implementation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlspec.data.digits import digits
from dlspec.nn import activations as ACT
from dlspec.nn import gaussian_classifier as GC
from dlspec.nn import linear as NET
from dlspec.nn.losses import cross_entropy
from dlspec.train import accuracy, fit
from tests import strategies as S
from tests.compiled_path import compiled_path
from tests.stats import binomial_cdf, binomial_threshold
from tests.tolerances import EXACT, Tol, check_close, failure, tol

# =================================================================================================
# net.neuron-logistic
# =================================================================================================

CLAIM_NEURON = "net.neuron-logistic"


@functools.cache
def neuron_derivation() -> sp.Expr:
    """d = 2, symbolic means, shared symmetric Σ and prior: ln(π1 N1) − ln(π2 N2) − (w·x + b)."""
    x1, x2, m11, m12, m21, m22 = sp.symbols("x1 x2 m11 m12 m21 m22", real=True)
    s11, s22 = sp.symbols("s11 s22", positive=True)
    s12 = sp.Symbol("s12", real=True)
    pi1 = sp.Symbol("pi1", positive=True)
    x = sp.Matrix([x1, x2])
    mu1, mu2 = sp.Matrix([m11, m12]), sp.Matrix([m21, m22])
    cov = sp.Matrix([[s11, s12], [s12, s22]])
    inv = cov.inv()

    def log_joint(mu: sp.Matrix, prior: sp.Expr) -> sp.Expr:
        r = x - mu  # ln π + ln N(x; μ, Σ), the normalizer written out
        quad = (r.T * inv * r)[0, 0]
        return sp.log(prior) - quad / 2 - sp.log(2 * sp.pi) - sp.log(cov.det()) / 2

    w = inv * (mu1 - mu2)
    b = -(mu1.T * inv * mu1)[0, 0] / 2 + (mu2.T * inv * mu2)[0, 0] / 2 + sp.log(pi1 / (1 - pi1))
    diff = log_joint(mu1, pi1) - log_joint(mu2, 1 - pi1) - ((w.T * x)[0, 0] + b)
    return sp.simplify(sp.expand_log(sp.expand(diff), force=True))


@pytest.mark.claim(CLAIM_NEURON)
def test_posterior_log_odds_are_affine_sympy() -> None:
    """ln P(C1|x)/P(C2|x) = w·x + b exactly, so P(C1|x) = σ(w·x + b)."""
    residual = neuron_derivation()
    assert residual == 0, f"{CLAIM_NEURON}: log-odds − (w·x + b) simplifies to {residual}"


@st.composite
def _gaussian_models(draw: st.DrawFn) -> dict[str, Any]:
    d = draw(S.dims(1, 4))
    a = draw(S.arrays((d, d)))
    return {
        "mu1": draw(S.arrays(d)),
        "mu2": draw(S.arrays(d)),
        "cov": a @ a.T + 0.5 * np.eye(d),  # symmetric positive definite
        "prior": draw(st.floats(0.05, 0.95)),
        "x": draw(S.arrays((5, d))),
    }


@pytest.mark.claim(CLAIM_NEURON)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_gaussian_models())
@example(  # asymmetric: unequal priors, correlated Σ
    case={
        "mu1": np.array([1.0, -0.5]),
        "mu2": np.array([-2.0, 0.7]),
        "cov": np.array([[2.0, 0.6], [0.6, 0.5]]),
        "prior": 0.2,
        "x": np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0], [2.5, -2.5], [0.3, 0.1]]),
    }
)
def test_bayes_posterior_is_a_logistic_neuron(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    mu1, mu2, cov, x = (S.to_torch(case[k], device, dtype) for k in ("mu1", "mu2", "cov", "x"))
    p = case["prior"]
    # the oracle: Bayes' rule with torch.distributions' Gaussian densities
    n1 = torch.distributions.MultivariateNormal(mu1, covariance_matrix=cov)
    n2 = torch.distributions.MultivariateNormal(mu2, covariance_matrix=cov)
    for mu, n in ((mu1, n1), (mu2, n2)):
        check_close(
            GC.gaussian_log_density(x, mu, cov),
            n.log_prob(x),
            Tol(rtol=1e-12, atol=1e-11),
            CLAIM_NEURON,
            device,
            "ln N(x; μ, Σ) differs from MultivariateNormal.log_prob",
        )
    a, b_ = math.log(p) + n1.log_prob(x), math.log(1 - p) + n2.log_prob(x)
    oracle = torch.exp(a - torch.logaddexp(a, b_))  # π1N1 / (π1N1 + π2N2)
    w, b = GC.logistic_parameters(mu1, mu2, cov, p)
    neuron = ACT.sigmoid(x @ w + b)
    posterior = GC.gaussian_posterior(x, mu1, mu2, cov, p)
    t = Tol(rtol=1e-10, atol=1e-12)  # log-odds up to ~10^2: a few ulps of them in σ
    check_close(posterior, oracle, t, CLAIM_NEURON, device, "Bayes posterior vs oracle")
    check_close(neuron, oracle, t, CLAIM_NEURON, device, "σ(w·x + b) vs Bayes posterior")


@pytest.mark.claim(CLAIM_NEURON)
@pytest.mark.dtypes("float32", "float64")  # no Cholesky in half precision
def test_fitted_generative_model_matches_lda(device: str, dtype: torch.dtype) -> None:
    """Fitted from data (ML means, pooled Σ, priors), (w, b) equal scikit-learn's LDA's."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(3)
    y = (rng.random(200) < 0.35).astype(np.int64)
    x = rng.normal(size=(200, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.2, 0.0, 0.7]])
    x[y == 1] += np.array([1.0, -0.5, 0.8])
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(x, y)
    xt, yt = S.to_torch(x, device, dtype), torch.as_tensor(y, device=device)
    w, b = GC.logistic_parameters(*GC.fit_gaussian_classifier(xt, yt))
    t = Tol(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else Tol(rtol=1e-9, atol=1e-9)
    check_close(w, S.to_torch(lda.coef_[0], device, dtype), t, CLAIM_NEURON, device, "w vs LDA")
    check_close(
        b.reshape(1), S.to_torch(lda.intercept_, device, dtype), t, CLAIM_NEURON, device, "b"
    )


@pytest.mark.claim(CLAIM_NEURON)
def test_gaussian_classifier_bad_input() -> None:
    mu, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"prior1 must be a real number in \(0, 1\)"):
        GC.logistic_parameters(mu, mu, cov, 1.0)
    with pytest.raises(ValueError, match="mu1, mu2 must have shape"):
        GC.logistic_parameters(mu, torch.zeros(3, dtype=torch.float64), cov, 0.5)
    with pytest.raises(ValueError, match=r"^cov must be symmetric positive definite$"):
        GC.logistic_parameters(mu, mu, -cov, 0.5)
    with pytest.raises(TypeError, match="cov must have mu1's dtype"):
        GC.logistic_parameters(mu, mu, cov.float(), 0.5)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        GC.gaussian_posterior(torch.zeros(4, 3, dtype=torch.float64), mu, mu, cov, 0.5)
    both = r"^x must hold examples of both classes \(y = 1 and y = 0\)$"
    for label in (0, 1):  # every example in one class
        with pytest.raises(ValueError, match=both):
            GC.fit_gaussian_classifier(torch.zeros(3, 2), torch.full((3,), label))
    with pytest.raises(ValueError, match=r"labels in \{0, 1\}"):
        GC.fit_gaussian_classifier(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"tensor of 3 labels in \{0, 1\}, got shape \(2,\)"):
        GC.fit_gaussian_classifier(torch.zeros(3, 2), torch.tensor([0, 1]))
    # (issue 12, mutation testing) each argument named in its own check, with what was given
    prior = r"^prior1 must be a real number in \(0, 1\) \(the prior P\(C1\)\), got 0\.0$"
    with pytest.raises(ValueError, match=prior):
        GC.gaussian_posterior(torch.zeros(4, 2, dtype=torch.float64), mu, mu, cov, 0.0)
    with pytest.raises(ValueError, match=r"^mu2 must be 1-D, got shape \(1, 2\)$"):
        GC.logistic_parameters(mu, mu[None], cov, 0.5)
    flat = torch.ones(2, dtype=torch.float64)
    x = torch.zeros(4, 2, dtype=torch.float64)
    for call in (
        lambda: GC.logistic_parameters(mu, mu, flat, 0.5),
        lambda: GC.gaussian_log_density(x, mu, flat),
    ):
        with pytest.raises(ValueError, match=r"^cov must be 2-D, got shape \(2,\)$"):
            call()
    three = torch.eye(3, dtype=torch.float64)
    shapes = r"^mu1, mu2 must have shape \(d,\) and cov \(d, d\) with d ≥ 1, got "
    with pytest.raises(ValueError, match=shapes + r"\(2,\), \(2,\), \(3, 3\)$"):
        GC.logistic_parameters(mu, mu, three, 0.5)
    empty = torch.zeros(0, dtype=torch.float64)
    with pytest.raises(ValueError, match=shapes + r"\(0,\), \(0,\), \(0, 0\)$"):
        GC.logistic_parameters(empty, empty, torch.zeros(0, 0, dtype=torch.float64), 0.5)
    with pytest.raises(
        ValueError, match=r"^cov must have shape \(d, d\) = \(2, 2\), got \(3, 3\)$"
    ):
        GC.gaussian_log_density(x, mu, three)
    with pytest.raises(
        TypeError, match=r"^cov must have mu's dtype torch\.float64, got torch\.float32$"
    ):
        GC.gaussian_log_density(x, mu, cov.float())


@pytest.mark.claim(CLAIM_NEURON)
def test_fit_with_one_example_of_a_class() -> None:
    """One example of C1 is enough: μ1 is that example, its residual 0; μ2 and the pooled Σ
    come from the other three, (1/N) Σ rᵀr with N = 4 (worked by hand), π1 = 1/4."""
    x = torch.tensor([[5.0, -1.0], [0.0, 0.0], [2.0, 0.0], [1.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 0])
    mu1, mu2, cov, prior1 = GC.fit_gaussian_classifier(x, y)
    # class 2: mean (1, 1), residuals (−1, −1), (1, −1), (0, 2): Σ rᵀr = [[2, 0], [0, 6]]
    want_cov = torch.tensor([[2.0, 0.0], [0.0, 6.0]], dtype=torch.float64) / 4
    check_close(mu1, x[0], EXACT, CLAIM_NEURON, "cpu", "μ1 of one example")
    check_close(
        mu2, torch.tensor([1.0, 1.0], dtype=torch.float64), EXACT, CLAIM_NEURON, "cpu", "μ2"
    )
    check_close(cov, want_cov, EXACT, CLAIM_NEURON, "cpu", "pooled Σ")
    assert prior1 == 0.25, f"{CLAIM_NEURON}: π1 = {prior1}, expected 1/4"


# =================================================================================================
# net.forward-matrix-form
# =================================================================================================

CLAIM_FWD = "net.forward-matrix-form"
ORACLE_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "identity": lambda z: z,
    "square": lambda z: z * z,
}


def _oracle_net(net: NET.FeedForward) -> torch.nn.Module:
    """nn.Sequential of nn.Linear (the same weights) and the oracle activations."""
    mods: list[torch.nn.Module] = []
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        assert isinstance(layer, NET.Linear)
        lin = torch.nn.Linear(
            layer.in_features,
            layer.out_features,
            bias=layer.bias is not None,
            device=layer.weight.device,
            dtype=layer.weight.dtype,
        )
        with torch.no_grad():
            lin.weight.copy_(layer.weight)
            if layer.bias is not None:
                lin.bias.copy_(layer.bias)
        mods.append(lin)
        fn = ORACLE_ACT[net.output_name if i == last else net.activation_name]
        mods.append(_Lambda(fn))
    return torch.nn.Sequential(*mods)


class _Lambda(torch.nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fn(x)
        return out


@st.composite
def _nets(draw: st.DrawFn) -> dict[str, Any]:
    sizes = draw(st.lists(S.dims(1, 6), min_size=2, max_size=5))
    return {
        "sizes": sizes,
        "activation": draw(st.sampled_from(sorted(ORACLE_ACT))),
        "output": draw(st.sampled_from(sorted(ORACLE_ACT))),
        "bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "x": draw(S.arrays((draw(S.dims(1, 5)), sizes[0]))),
    }


@pytest.mark.claim(CLAIM_FWD)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(case=_nets())
@example(
    case={
        "sizes": [2, 3, 2],
        "activation": "sigmoid",
        "output": "tanh",
        "bias": True,
        "seed": 1,
        "x": np.array([[1.0, -1.0], [0.0, 0.5]]),
    }
)
@example(
    case={
        "sizes": [1, 5, 1, 1, 1],
        "activation": "square",
        "output": "square",
        "bias": True,
        "seed": 0,
        "x": np.array([[3.0]]),
    }
)
@example(
    case={
        "sizes": [1, 1, 2, 3, 1],
        "activation": "square",
        "output": "square",
        "bias": True,
        "seed": 16,
        "x": np.array([[3.0], [3.0]]),
    }
)  # a thorough run's failure under a tolerance scaled by the result (seed 2562468821)
def test_feedforward_equals_nested_form_and_oracle(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """Forward and backward (input and every weight) equal nn.Sequential(nn.Linear, σ, …), and
    equal the nested formula written out; each layer's (z_l, a_l) is W_l a_{l−1} + b_l, σ(z_l)."""
    g = torch.Generator(device=device).manual_seed(case["seed"])
    net = NET.FeedForward(
        case["sizes"],
        case["activation"],
        output=case["output"],
        bias=case["bias"],
        generator=g,
        device=device,
        dtype=dtype,
    )
    oracle = _oracle_net(net)
    x = S.to_torch(case["x"], device, dtype).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, ref = net(x), oracle(x_ref)
    t = tol(dtype)
    # σ(W_L … σ(W_1 x + b_1) … + b_L), written out
    nested = x.detach()
    for i, (w, b) in enumerate((layer.weight, layer.bias) for layer in net.layers):
        assert isinstance(w, torch.Tensor)
        z = nested @ w.T + (b if b is not None else 0.0)
        last = i == len(net.layers) - 1
        nested = ORACLE_ACT[case["output"] if last else case["activation"]](z)
    check_close(out, ref, t, CLAIM_FWD, device, "FeedForward vs nn.Sequential")
    check_close(out.detach(), nested.detach(), t, CLAIM_FWD, device, "FeedForward vs nested")
    steps = net.forward_all(x.detach())
    assert len(steps) == len(net.layers) and torch.equal(steps[-1][1], net(x.detach())), (
        f"{CLAIM_FWD}: forward_all must list every layer and end with the output"
    )
    grad_out = torch.linspace(-1.0, 1.0, out.numel(), device=device, dtype=dtype).reshape(out.shape)
    out.backward(grad_out)
    ref.backward(grad_out)
    assert x.grad is not None and x_ref.grad is not None

    # Gradients are compared within a rounding-error bound for backprop (Higham, Accuracy and
    # Stability of Numerical Algorithms, 2002, §3.5, applied layer by layer): each entry's error
    # is at most a modest multiple of u·M, where M is the same entry of the gradient of the
    # *magnitude network* (|W|, |b|, |x|, |grad_out| and majorants of |σ|, |σ'| and |σ''|). M is
    # the size of the terms the entry sums, which may be far larger than the entry: square
    # activations at x = 3 in float32 summed terms near 1e3 into a weight gradient below 1 (a
    # thorough run, seed 2562468821), beyond any tolerance scaled by the result alone.
    bounds = _gradient_magnitudes(net, x.detach(), grad_out)
    eps = torch.finfo(dtype).eps
    named = [("∂/∂x", x.grad, x_ref.grad, bounds["x"])]
    for i, (mine, theirs) in enumerate(zip(net.parameters(), oracle.parameters(), strict=True)):
        assert mine.grad is not None and theirs.grad is not None
        named.append((f"parameter {i} gradient", mine.grad, theirs.grad, bounds[id(mine)]))
    for what, got, want, m in named:
        err = (got - want).abs().to(torch.float64)
        bound = 2 * GRAD_ERROR_MULTIPLE * eps * m  # both sides' errors, each ≤ C·u·M
        assert bool((err <= bound).all()), failure(
            CLAIM_FWD, device, dtype, f"{what} vs oracle", float(err.max()),
            f"2·{GRAD_ERROR_MULTIPLE}·u·M elementwise, max {float(bound.max()):.3g}",
        )  # fmt: skip


#: C in the bound C·u·M on a gradient entry's rounding error: a path through the network rounds
#: at most 2·(width + 1) times per layer (a dot product of ≤ 6 terms, the bias, σ or σ′, the
#: product with δ), 4 layers at most: 56 < 100.
GRAD_ERROR_MULTIPLE = 100

#: Majorants on |z| ≤ t, for the magnitude network: (|σ| and the forward error it passes on,
#: t·max|σ'| ; |σ'| and its error from an error in z, t·max|σ''|).
_MAJORANT = {
    "sigmoid": (lambda t: 1 + t / 4, lambda t: 0.25 + 0.1 * t),
    "tanh": (lambda t: 1 + t, lambda t: 1 + 0.77 * t),
    "relu": (lambda t: 2 * t, lambda t: torch.ones_like(t)),
    "identity": (lambda t: 2 * t, lambda t: torch.ones_like(t)),
    "square": (lambda t: 3 * t * t, lambda t: 4 * t),
}


def _gradient_magnitudes(
    net: NET.FeedForward, x: torch.Tensor, grad_out: torch.Tensor
) -> dict[Any, torch.Tensor]:
    """M for ∂/∂x and each parameter (keyed "x" and id(parameter)), in float64: backprop run on
    the magnitude network, so every term an entry sums is replaced by an upper bound of its size."""
    f64 = torch.float64
    last = len(net.layers) - 1
    acts, slopes = [x.abs().to(f64)], []
    for i, layer in enumerate(net.layers):
        w = layer.weight.detach().abs().to(f64)
        z = acts[-1] @ w.T
        if layer.bias is not None:
            z = z + layer.bias.detach().abs().to(f64)
        a_of, s_of = _MAJORANT[net.output_name if i == last else net.activation_name]
        acts.append(a_of(z))
        slopes.append(s_of(z))
    out: dict[Any, torch.Tensor] = {}
    delta = grad_out.abs().to(f64) * slopes[-1]
    for i in range(last, -1, -1):
        layer = net.layers[i]
        out[id(layer.weight)] = delta.T @ acts[i]
        if layer.bias is not None:
            out[id(layer.bias)] = delta.sum(0)
        back = delta @ layer.weight.detach().abs().to(f64)
        delta = back * slopes[i - 1] if i > 0 else back
    out["x"] = delta
    return out


@pytest.mark.claim(CLAIM_FWD)
@pytest.mark.dtypes("float64")
@settings(deadline=None)
@given(case=_nets())
def test_batch_equals_loop_over_examples(
    device: str, dtype: torch.dtype, case: dict[str, Any]
) -> None:
    """One matrix product per layer for the batch = the examples one at a time."""
    g = torch.Generator(device=device).manual_seed(case["seed"])
    net = NET.FeedForward(
        case["sizes"],
        case["activation"],
        output=case["output"],
        generator=g,
        device=device,
        dtype=dtype,
    )
    x = S.to_torch(case["x"], device, dtype)
    loop = torch.stack([net(row) for row in x])  # each x^n as a vector
    check_close(net(x), loop, EXACT, CLAIM_FWD, device, "batch vs loop over examples")


@pytest.mark.claim(CLAIM_FWD)
@pytest.mark.dtypes("float32", "float64")
def test_copies_are_independent_networks(device: str, dtype: torch.dtype) -> None:
    """FeedForward(copies=S) computes S separate networks, on a shared or a stacked input."""
    g = torch.Generator(device=device).manual_seed(5)
    many = NET.FeedForward([3, 4, 2], "tanh", copies=3, generator=g, device=device, dtype=dtype)
    x = torch.randn(6, 3, generator=g, device=device, dtype=dtype)
    out = many(x)
    stacked = many(
        x.expand(3, 6, 3)
        * torch.tensor([1.0, 2.0, 3.0], device=device, dtype=dtype).reshape(3, 1, 1)
    )
    for s in range(3):
        one = NET.FeedForward([3, 4, 2], "tanh", device=device, dtype=dtype)
        one.load([(layer.weight[s], layer.bias[s]) for layer in many.layers])  # type: ignore[index]
        check_close(out[s], one(x), tol(dtype), CLAIM_FWD, device, f"copy {s}, shared input")
        check_close(stacked[s], one((s + 1) * x), tol(dtype), CLAIM_FWD, device, f"copy {s}")


@pytest.mark.claim(CLAIM_FWD)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(z=S.arrays((4, 6), bound=30.0))
@example(z=np.array([[0.0, -0.0, 1e-20, -1e-20, 30.0, -30.0]] * 4))
def test_activations_forward_and_backward_match_torch(
    device: str, dtype: torch.dtype, z: np.ndarray[Any, Any]
) -> None:
    """sigmoid, tanh, relu, square and maxout equal their oracles, values and gradients
    (including at z = 0, where σ′ = ¼ and tanh′ = 1)."""
    t = tol(dtype)
    for name, fn in ACT.ACTIVATIONS.items():
        a = S.to_torch(z, device, dtype).requires_grad_(True)
        b = a.detach().clone().requires_grad_(True)
        out, ref = fn(a), ORACLE_ACT[name](b)
        check_close(out, ref, t, CLAIM_FWD, device, f"{name} forward")
        out.backward(torch.ones_like(out))
        ref.backward(torch.ones_like(ref))
        assert a.grad is not None and b.grad is not None
        check_close(a.grad, b.grad, t, CLAIM_FWD, device, f"{name} backward")
    a = S.to_torch(z, device, dtype)
    oracle = a.reshape(4, 3, 2).amax(dim=-1)
    check_close(ACT.maxout(a, 2), oracle, EXACT, CLAIM_FWD, device, "maxout k=2")
    check_close(ACT.maxout(a, 3), a.reshape(4, 2, 3).amax(-1), EXACT, CLAIM_FWD, device, "k=3")


@pytest.mark.claim(CLAIM_FWD)
def test_linear_load_is_exact_and_refuses_by_name() -> None:
    """`Linear.load` sets W and b exactly: Python numbers go straight to the layer's dtype (0.1
    in a float64 layer is the float64 0.1, not float32's 0.100000001…); a bool or complex tensor,
    a string and a tensor without data (meta) are refused as TypeErrors naming the argument and
    what was given (mutation testing, issue 12)."""
    layer = NET.Linear(2, 1, dtype=torch.float64)
    layer.load([[0.1, -0.3]], [0.7])
    want_w = torch.tensor([[0.1, -0.3]], dtype=torch.float64)
    assert torch.equal(layer.weight.detach(), want_w), f"{CLAIM_FWD}: W = {layer.weight}"
    assert layer.bias is not None
    b = float(layer.bias.detach()[0])
    assert b == 0.7, f"{CLAIM_FWD}: b = {b!r}, not 0.7"
    for bad, dt in ((torch.ones(1, 2, dtype=torch.bool), "bool"), (torch.ones(1, 2) * 1j, "c")):
        with pytest.raises(
            TypeError, match=rf"^weight must hold real numbers, got dtype torch\.{dt}"
        ):
            layer.load(bad)
    with pytest.raises(TypeError, match=r"^bias must hold real numbers, got dtype torch\.bool$"):
        layer.load(torch.ones(1, 2), torch.ones(1, dtype=torch.bool))
    with pytest.raises(
        TypeError, match=r"^weight must be a tensor or nested list of real numbers, got str$"
    ):
        layer.load("ones")
    with pytest.raises(TypeError, match=r"^weight must be a tensor or nested list .*got Tensor$"):
        layer.load(torch.ones(1, 2, device="meta"))  # no data to copy


@pytest.mark.claim(CLAIM_FWD)
def test_linear_on_a_vector_and_its_refusals() -> None:
    """One input vector `x` of shape `(in,)` gives `W x + b` of shape `(out,)` (by hand); a 0-d
    x is refused with a ValueError; refusals report what was given; `uniform_init` takes sizes of
    0 (an empty tensor) and draws within ±1/√fan_in (mutation testing, issue 12)."""
    layer = NET.Linear(2, 3, dtype=torch.float64)
    layer.load([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], [0.5, 0.0, -1.0])
    x = torch.tensor([2.0, -4.0], dtype=torch.float64)
    want = torch.tensor([2.0 - 8.0 + 0.5, 4.0, 6.0 - 2.0 - 1.0], dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(layer(x), want), f"{CLAIM_FWD}: Linear on a vector gave {layer(x)}"
    with pytest.raises(ValueError, match=r"^x must end in 2 features, got shape \(\)$"):
        layer(torch.tensor(1.0, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^x must have weight's dtype torch\.float64, got"):
        layer(x.float())
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor, got dtype"):
        layer(torch.ones(2, dtype=torch.long))
    with pytest.raises(
        ValueError,
        match=r"^x must have shape \(N, 2\) or \(3, N, 2\) for a layer with copies=3, "
        r"got \(2, 5, 2\)$",
    ):
        NET.Linear(2, 4, copies=3)(torch.ones(2, 5, 2))
    no_bias = NET.Linear(2, 4, bias=False, copies=3, dtype=torch.float64)  # z_s = x W_sᵀ
    xs = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    with torch.no_grad():
        got = no_bias(xs)
        for s in range(3):
            assert torch.equal(got[s], xs @ no_bias.weight[s].T), f"{CLAIM_FWD}: copy {s}, no bias"
    with pytest.raises(TypeError, match=r"^bias must be a bool, got int$"):
        NET.Linear(2, 3, bias=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^copies must be an integer ≥ 1, got 0$"):
        NET.Linear(2, 3, copies=0)
    assert NET.uniform_init((0, 3), 3).shape == (0, 3), f"{CLAIM_FWD}: an empty uniform_init"
    with pytest.raises(ValueError, match=r"^shape\[1\] must be an integer ≥ 0, got -1$"):
        NET.uniform_init((2, -1), 3)
    with pytest.raises(ValueError, match=r"^fan_in must be an integer ≥ 1, got 0$"):
        NET.uniform_init((2, 2), 0)
    u = NET.uniform_init((4000,), 4, generator=torch.Generator().manual_seed(0))
    assert float(u.abs().max()) <= 0.5 and float(u.abs().max()) > 0.49, (
        f"{CLAIM_FWD}: U(−1/2, 1/2) for fan_in = 4 reached {float(u.abs().max())}"
    )
    assert float(u.min()) < -0.49, f"{CLAIM_FWD}: U(−1/2, 1/2) never went below −0.49"


@pytest.mark.claim(CLAIM_FWD)
def test_linear_and_feedforward_bad_input() -> None:
    with pytest.raises(TypeError, match="in_features must be an integer"):
        NET.Linear(2.5, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out_features must be an integer ≥ 1"):
        NET.Linear(2, 0)
    with pytest.raises(TypeError, match="bias must be a bool"):
        NET.Linear(2, 3, bias=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        NET.Linear(2, 3, dtype=torch.int64)
    layer = NET.Linear(2, 3)
    with pytest.raises(ValueError, match="x must end in 2 features"):
        layer(torch.ones(4, 3))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        layer(torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 2\)"):
        layer.load(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        layer.load(torch.ones(3, 2), [1.0, 2.0])
    with pytest.raises(TypeError, match="weight must be a tensor or nested list"):
        layer.load("ones")
    with pytest.raises(ValueError, match="bias given for a layer built with bias=False"):
        NET.Linear(2, 3, bias=False).load(torch.ones(3, 2), torch.ones(3))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\) or \(3, N, 2\)"):
        NET.Linear(2, 4, copies=3)(torch.ones(2, 5, 2))
    with pytest.raises(ValueError, match="sizes must be a sequence of at least 2"):
        NET.FeedForward([3])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be an integer ≥ 1"):
        NET.FeedForward([3, 0, 2])
    with pytest.raises(ValueError, match="activation must be one of"):
        NET.FeedForward([3, 2], "softplus")
    with pytest.raises(ValueError, match="output must be one of"):
        NET.FeedForward([3, 2], output="softmax")
    with pytest.raises(  # the name given is reported as given, even when it reads like the text
        ValueError, match=r"^activation must be one of \[.*\], got 'activation name must'$"
    ):
        NET.FeedForward([3, 2], "activation name must")
    with pytest.raises(ValueError, match="params must hold one"):
        NET.FeedForward([3, 2, 2]).load([(torch.ones(2, 3), torch.ones(2))])
    for fn in (*ACT.ACTIVATIONS.values(), ACT.softplus, ACT.log_sigmoid):  # each names z
        with pytest.raises(
            TypeError, match=r"^z must be a floating-point tensor, got dtype torch\.int64$"
        ):
            fn(torch.ones(3, dtype=torch.long))
        with pytest.raises(TypeError, match=r"^z must be a torch\.Tensor, got list$"):
            fn([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^fast must be a bool .*got str$"):
        ACT.sigmoid(torch.ones(3), fast="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiple of k=2"):
        ACT.maxout(torch.ones(3), 2)
    with pytest.raises(ValueError, match="units must be an integer"):
        NET.Maxout(2, 0, 2)


# =================================================================================================
# net.lecture-example
# =================================================================================================

CLAIM_LECT = "net.lecture-example"
LECTURE_WEIGHTS = [  # rows = neurons
    ([[1.0, -2.0], [-1.0, 1.0]], [1.0, 0.0]),
    ([[2.0, -1.0], [-2.0, -1.0]], [0.0, 0.0]),
    ([[3.0, -1.0], [-1.0, 4.0]], [-2.0, 2.0]),
]
LECTURE_INPUTS = [[1.0, -1.0], [0.0, 0.0]]
PRINTED = [  # a_1, a_2, a_3 to two decimals, as printed in the lecture
    [[0.98, 0.12], [0.86, 0.11], [0.62, 0.83]],
    [[0.73, 0.50], [0.72, 0.12], [0.51, 0.85]],
]
SIX_DECIMALS = [  # z and a of every layer, float64, to 6 decimals (CLAIM-NOTES §0, recomputed)
    [
        ([4.0, -2.0], [0.982014, 0.119203]),
        ([1.844825, -2.083231], [0.863518, 0.110737]),
        ([0.479817, 1.579431], [0.617705, 0.829124]),
    ],
    [
        ([1.0, 0.0], [0.731059, 0.5]),
        ([0.962117, -1.962117], [0.723545, 0.123238]),
        ([0.047398, 1.769407], [0.511847, 0.854384]),
    ],
]


def lecture_net(device: str, dtype: torch.dtype) -> NET.FeedForward:
    net = NET.FeedForward([2, 2, 2, 2], "sigmoid", output="sigmoid", device=device, dtype=dtype)
    return net.load(LECTURE_WEIGHTS)


@pytest.mark.claim(CLAIM_LECT)
@pytest.mark.dtypes("float32", "float64")  # six printed decimals need at least float32
def test_lecture_example_printed_values(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """Both inputs through all three layers: the printed two-decimal values, and z, a to six."""
    net = lecture_net(device, dtype)
    x = torch.tensor(LECTURE_INPUTS, device=device, dtype=dtype)
    oracle = _oracle_net(net)
    with torch.no_grad():
        steps = net.forward_all(x)
        check_close(steps[-1][1], oracle(x), tol(dtype), CLAIM_LECT, device, "vs nn.Sequential")
    six = Tol(rtol=0.0, atol=5e-7 + tol(dtype).atol)  # 6 printed decimals
    two = Tol(rtol=0.0, atol=5e-3)  # 2 printed decimals: |a − printed| ≤ half a unit
    for n in range(2):
        for layer in range(3):
            z, a = steps[layer][0][n], steps[layer][1][n]
            want_z, want_a = SIX_DECIMALS[n][layer]
            where = f"input {LECTURE_INPUTS[n]}, layer {layer + 1}"
            for got, want, t, what in (
                (a, PRINTED[n][layer], two, "a, 2 decimals"),
                (z, want_z, six, "z, 6 decimals"),
                (a, want_a, six, "a, 6 decimals"),
            ):
                ref = torch.tensor(want, device=device, dtype=dtype)
                check_close(got, ref, t, CLAIM_LECT, device, f"{where}: {what}")
            rounded = [round(float(v), 2) for v in a]
            assert rounded == PRINTED[n][layer], failure(
                CLAIM_LECT, device, dtype, f"{where}: rounds to {rounded}", 0.0, "two decimals"
            )
    if dtype == torch.float64:
        for n in range(2):
            evidence.value(
                f"activations_input_{n}", [[round(float(v), 6) for v in s[1][n]] for s in steps]
            )
        _lecture_figure(steps, evidence)


@pytest.mark.claim(CLAIM_LECT)
@pytest.mark.dtypes("float64")
def test_lecture_weights_are_the_only_integer_solution(device: str, dtype: torch.dtype) -> None:
    """Layers 2 and 3 appear only in the slide image: among integer weights in [−4, 4] and
    biases in [−3, 3], each of their neurons has exactly one choice that reproduces the printed
    two-decimal outputs for both inputs, given the previous layer's exact values."""
    net = lecture_net(device, dtype)
    x = torch.tensor(LECTURE_INPUTS, device=device, dtype=dtype)
    with torch.no_grad():
        steps = net.forward_all(x)
    w = torch.arange(-4.0, 5.0, device=device, dtype=dtype)
    b = torch.arange(-3.0, 4.0, device=device, dtype=dtype)
    grid = torch.cartesian_prod(w, w, b)  # (567, 3): w_1, w_2, b
    for layer in (1, 2):
        prev = steps[layer - 1][1]  # (2 inputs, 2) exact activations of the layer before
        out = ACT.sigmoid(grid[:, :2] @ prev.T + grid[:, 2:])  # (567, 2 inputs)
        for neuron in range(2):
            printed = torch.tensor(
                [PRINTED[n][layer][neuron] for n in range(2)], device=device, dtype=dtype
            )
            ok = ((out - printed).abs() <= 5e-3).all(dim=1)
            found = grid[ok].tolist()
            wts, bias = LECTURE_WEIGHTS[layer]
            want = [[*wts[neuron], bias[neuron]]]
            assert found == want, (
                f"{CLAIM_LECT}: layer {layer + 1}, neuron {neuron + 1}: integer solutions "
                f"{found}, expected exactly {want}"
            )


def _lecture_figure(steps: list[tuple[torch.Tensor, torch.Tensor]], evidence: Any) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.4))
    for n, ax in enumerate(axes):
        cols = [LECTURE_INPUTS[n]] + [[float(v) for v in s[1][n]] for s in steps]
        pos = {(c, r): (c * 2.2, 1.0 - r * 1.4) for c in range(4) for r in range(2)}
        for c in range(3):  # edges with their weights
            w, b = LECTURE_WEIGHTS[c]
            for i in range(2):
                for j in range(2):
                    (x0, y0), (x1, y1) = pos[(c, j)], pos[(c + 1, i)]
                    ax.plot([x0, x1], [y0, y1], color="0.75", lw=0.8, zorder=1)
                    t = 0.28 if i == j else 0.36
                    ax.text(
                        x0 + t * (x1 - x0),
                        y0 + t * (y1 - y0) + 0.08,
                        f"{w[i][j]:g}",
                        fontsize=7,
                        color="tab:blue",
                        ha="center",
                    )
        for (c, r), (px, py) in pos.items():
            face = "white" if c == 0 else "#fde9c9"
            ax.scatter([px], [py], s=900, color=face, edgecolor="0.3", zorder=2)
            ax.text(px, py, f"{cols[c][r]:.2f}", ha="center", va="center", fontsize=9, zorder=3)
            if c > 0:
                b = LECTURE_WEIGHTS[c - 1][1][r]
                ax.text(px, py - 0.42, f"b={b:g}", ha="center", fontsize=7, color="tab:red")
        ax.set_xlim(-0.6, 7.2)
        ax.set_ylim(-0.9, 1.5)
        ax.axis("off")
        ax.set_title(f"input ({LECTURE_INPUTS[n][0]:g}, {LECTURE_INPUTS[n][1]:g})", fontsize=10)
    fig.suptitle(
        "The lecture's network: sigmoid neurons, weights (blue), biases (red), outputs", y=1.05
    )
    evidence.figure(fig, "net-lecture-example")
    plt.close(fig)


# =================================================================================================
# net.softmax
# =================================================================================================

CLAIM_SM = "net.softmax"


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float32", "float64")
@settings(deadline=None)
@given(z=S.arrays((3, 5), bound=50.0), shift=st.floats(-1e3, 1e3))
@example(z=np.array([[0.0, 0.0, 0.0, 0.0, 0.0]] * 3), shift=7.0)
@example(z=np.array([[40.0, -40.0, 0.5, 1.0, 2.0]] * 3), shift=-1e3)
def test_softmax_is_a_distribution_and_shift_invariant(
    device: str, dtype: torch.dtype, z: np.ndarray[Any, Any], shift: float
) -> None:
    """Positive where representable, sums to 1, softmax(z + c) = softmax(z), = F.softmax;
    log_softmax = F.log_softmax; both backward passes equal autograd through the oracle."""
    t = tol(dtype)
    a = S.to_torch(z, device, dtype).requires_grad_(True)
    b = a.detach().clone().requires_grad_(True)
    p, ref = ACT.softmax(a, dim=-1), F.softmax(b, dim=-1)
    check_close(p, ref, t, CLAIM_SM, device, "softmax vs F.softmax")
    ones = torch.ones(3, device=device, dtype=dtype)
    check_close(p.sum(-1), ones, t, CLAIM_SM, device, "softmax rows sum to 1")
    assert bool((p >= 0).all()), f"{CLAIM_SM} [{device}, {dtype}]: a negative softmax entry"
    # exactly positive wherever e^{z_i − m} is representable (z_i − m above ln of the tiniest)
    representable = (a - a.amax(-1, keepdim=True)) > math.log(torch.finfo(dtype).tiny) + 1
    assert bool((p[representable] > 0).all()), f"{CLAIM_SM} [{device}, {dtype}]: a zero entry"
    shifted = ACT.softmax(a.detach() + shift, dim=-1)
    check_close(shifted, F.softmax(b.detach() + shift, -1), t, CLAIM_SM, device, "F.softmax(z+c)")
    check_close(
        shifted,
        p.detach(),
        Tol(rtol=t.rtol, atol=t.atol + 60 * torch.finfo(dtype).eps * (abs(shift) + 50)),
        CLAIM_SM,
        device,
        f"softmax(z + {shift}) vs softmax(z)",
    )
    lp = ACT.log_softmax(a, dim=0)  # along another dim too
    check_close(lp, F.log_softmax(b, dim=0), t, CLAIM_SM, device, "log_softmax vs oracle")
    g = torch.linspace(-1.0, 2.0, 15, device=device, dtype=dtype).reshape(3, 5)
    for mine, theirs, name in ((p, ref, "softmax"), (lp, F.log_softmax(b, dim=0), "log_softmax")):
        (ga,) = torch.autograd.grad(mine, a, g)
        (gb,) = torch.autograd.grad(theirs, b, g)
        check_close(ga, gb, t, CLAIM_SM, device, f"{name} backward vs oracle")


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float64")
def test_softmax_gradcheck(device: str, dtype: torch.dtype) -> None:
    z = torch.randn(3, 4, device=device, dtype=dtype, generator=None).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: ACT.softmax(v, dim=-1), (z,)), CLAIM_SM
    assert torch.autograd.gradcheck(lambda v: ACT.log_softmax(v, dim=0), (z,)), CLAIM_SM


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float64")
def test_default_softmax_is_the_plain_form(device: str, dtype: torch.dtype) -> None:
    """`softmax(z)` without `fast=` is the plain form, made of tensor ops only: torch.func's
    `jacrev` differentiates it (the fast form's old-style autograd.Function is refused by
    torch.func) and gives the Jacobian diag(p) − p pᵀ of the derivation."""
    z = torch.tensor([0.5, -1.0, 2.0, 0.0], device=device, dtype=dtype)
    jac = torch.func.jacrev(ACT.softmax)(z)
    e = torch.exp(z - 2.0)  # p by its definition, shifted by the max logit 2
    p = e / e.sum()
    check_close(jac, torch.diag(p) - torch.outer(p, p), tol(dtype), CLAIM_SM, device, "jacrev")


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float32")
@settings(deadline=None)
@given(z=S.arrays((4, 6), bound=1e4))
@example(z=np.array([[1e4, -1e4, 9999.0, 0.0, -5000.0, 1e4]] * 4))
@example(z=np.array([[-1e4] * 6] * 4))
def test_softmax_large_logits_float32(
    device: str, dtype: torch.dtype, z: np.ndarray[Any, Any]
) -> None:
    """Logits up to ±1e4 in float32: softmax and log_softmax finite and equal to the float64
    reference of the same float32 logits (to the float32 tolerance), where the naive
    e^{z}/Σe^{z} overflows to NaN."""
    a = S.to_torch(z, device, dtype)
    ref = F.softmax(a.double(), dim=-1)
    p = ACT.softmax(a, dim=-1)
    lp = ACT.log_softmax(a, dim=-1)
    assert bool(torch.isfinite(p).all() & torch.isfinite(lp).all()), (
        f"{CLAIM_SM} [{device}, float32]: non-finite softmax for logits up to ±1e4"
    )
    check_close(p.double(), ref, tol(dtype), CLAIM_SM, device, "softmax vs float64 reference")
    # log q_c is ≈ 10^4 in size: an error of a few ulps of the logits' magnitude
    lt = Tol(rtol=tol(dtype).rtol, atol=4 * torch.finfo(dtype).eps * float(a.abs().max() + 1))
    check_close(
        lp.double(), F.log_softmax(a.double(), -1), lt, CLAIM_SM, device, "log_softmax vs f64"
    )


@pytest.mark.claim(CLAIM_SM)
@pytest.mark.dtypes("float32")
def test_naive_softmax_overflows(device: str, dtype: torch.dtype, evidence: Any) -> None:
    """The direct e^{z}/Σe^{z} gives NaN (∞/∞) at z = (1e4, 0) and (89, 0); the shifted form
    gives (1, 0)."""
    a = torch.tensor([[1e4, 0.0], [89.0, 0.0]], device=device, dtype=dtype)
    naive = torch.exp(a) / torch.exp(a).sum(-1, keepdim=True)
    assert bool(torch.isnan(naive[:, 0]).all()), f"{CLAIM_SM}: naive softmax {naive}"
    want = torch.tensor([[1.0, 0.0], [1.0, 0.0]], device=device, dtype=dtype)
    check_close(ACT.softmax(a), want, tol(dtype), CLAIM_SM, device, "shifted softmax")
    evidence.value("naive_softmax_at_89", [float(v) for v in naive[1]])


@pytest.mark.claim(CLAIM_SM)
def test_softmax_dims_at_their_bounds() -> None:
    """A vector of logits is softmaxed along its one dimension (e^{z}/Σe^{z} by hand); dim may
    be −z.dim() and z.dim() − 1 (not z.dim()); one logit along dim gives probability 1 and
    log-probability 0; refusals report the range, the shape and the dim given, however far out
    the dim is (mutation testing, issue 12)."""
    z = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
    t = tol(torch.float64)
    want = torch.tensor([0.25, 0.75], dtype=torch.float64)
    check_close(ACT.softmax(z), want, t, CLAIM_SM, "cpu", "a vector of logits")
    a = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], dtype=torch.float64)
    by_col = torch.tensor([[0.5, 0.75], [0.5, 0.25]], dtype=torch.float64)  # along dim 0
    check_close(ACT.softmax(a, dim=-2), by_col, t, CLAIM_SM, "cpu", "dim = −2")
    check_close(ACT.softmax(a, dim=1), ACT.softmax(a, dim=-1), EXACT, CLAIM_SM, "cpu", "dim = 1")
    one = torch.tensor([[5.0], [-7.0]], dtype=torch.float64)  # one logit per row
    assert torch.equal(ACT.softmax(one), torch.ones_like(one)), f"{CLAIM_SM}: one logit"
    assert torch.equal(ACT.log_softmax(one), torch.zeros_like(one)), f"{CLAIM_SM}: one logit"
    for dim in (2, -3, -200):
        with pytest.raises(
            ValueError, match=rf"^dim must be in \[-2, 1\] for z of shape \(2, 2\), got {dim}$"
        ):
            ACT.softmax(a, dim=dim)
    with pytest.raises(  # a dim is a 64-bit integer (as torch's): one below −2⁶³ is no dim at all
        ValueError,
        match=r"^dim must be an integer ≥ -9223372036854775808, got -9223372036854775809$",
    ):
        ACT.softmax(a, dim=-(2**63) - 1)
    with pytest.raises(
        ValueError, match=r"^z must have at least one logit along dim 1, got shape \(2, 0\)$"
    ):
        ACT.log_softmax(torch.ones(2, 0), dim=1)


@pytest.mark.claim(CLAIM_SM)
def test_softmax_bad_input() -> None:
    with pytest.raises(ValueError, match="z must have at least one dimension"):
        ACT.softmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"dim must be in \[-2, 1\]"):
        ACT.log_softmax(torch.ones(2, 3), dim=2)
    with pytest.raises(ValueError, match="at least one logit"):
        ACT.softmax(torch.ones(2, 0))
    with pytest.raises(TypeError, match=r"z must be a torch\.Tensor"):
        ACT.softmax([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="z must be a floating-point tensor"):
        ACT.log_softmax(torch.ones(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="activation name must be one of"):
        ACT.activation("gelu")


# =================================================================================================
# net.softmax-fast-form, net.sigmoid-fast-form
# =================================================================================================

CLAIM_SM_FAST = "net.softmax-fast-form"
CLAIM_SIG_FAST = "net.sigmoid-fast-form"
EPS64 = torch.finfo(torch.float64).eps
TINY64 = torch.finfo(torch.float64).tiny


def sm_fast_tols(n: int, gmax: float, dtype: torch.dtype = torch.float64) -> tuple[Tol, Tol]:
    """Softmax fast form vs plain: values to 4ε relative (a product by the reciprocal of the sum
    instead of a quotient: two roundings), `tiny` absolute (subnormal entries); gradients to
    `4 n ε max|ḡ|` absolute for `n` logits (the two backward passes sum `n` products of size
    at most `max|ḡ|` in different orders), 4ε relative."""
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    return Tol(rtol=4 * eps, atol=tiny), Tol(rtol=4 * eps, atol=4 * n * eps * gmax)


def log_sm_fast_tol(n: int, dtype: torch.dtype = torch.float64) -> Tol:
    """Log-softmax fast form vs plain: `out_j = s_j − log1p(r)` with `s_j ≤ 0 ≤ log1p(r)`, so
    `|out_j| ≥ log1p(r)` and `|out_j| ≥ |s_j|`: the forms share `s` and differ at most in the
    rounding of `r` (`n − 1` terms, another order or another `exp` off the CPU: `(n + 1)ε`
    relative, which `log1p` does not enlarge) and of the last two operations, `(n + 3)ε` relative
    in all; `tiny` absolute for `out = 0` (one logit). A form that lost `log1p(r)`'s relative
    accuracy (`log(1 + r)` gives 0 for `r < ε/2`) fails here."""
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    return Tol(rtol=(n + 3) * eps, atol=tiny)


def _extreme_logits(draw: st.DrawFn, shape: tuple[int, ...], bound: float) -> np.ndarray[Any, Any]:
    """Logits in [−bound, bound], a third of them at ±bound or 0."""
    values = st.one_of(S.reals(bound), st.sampled_from([bound, -bound, 0.0]))
    return np.array(draw(st.lists(values, min_size=math.prod(shape), max_size=math.prod(shape))))


@st.composite
def _logit_cases(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    shape = draw(S.shapes(max_dims=3, max_side=6))
    bound = draw(st.sampled_from([3.0, 50.0, 1e300]))
    z = _extreme_logits(draw, shape, bound).reshape(shape)
    g = draw(S.arrays(shape, bound=2.0))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return z, g, dim


@pytest.mark.claim(CLAIM_SM_FAST)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(case=_logit_cases())
@example(case=(np.array([[1e300, -1e300, 0.0], [0.0, 0.0, 0.0]]), np.ones((2, 3)), -1))
@example(case=(np.array([[-1e300, -1e300], [1e300, 1e300]]), np.ones((2, 2)), 0))
@example(case=(np.array([[40.0, 0.0, 0.0]]), np.ones((1, 3)), -1))  # r = 2e^{−40} < ε/2
def test_softmax_fast_form_equals_plain(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]
) -> None:
    """softmax(z, fast=True) and log_softmax(z, fast=True): the plain forms' values and
    gradients, along every dim, logits up to ±1e300 included (finite: the max shift is kept)."""
    z, g_np, dim = case
    a = S.to_torch(z, device, dtype).requires_grad_(True)
    g = S.to_torch(g_np, device, dtype)
    n = a.shape[dim]
    vt, gt = sm_fast_tols(n, float(g.abs().max()))
    for fn in (ACT.softmax, ACT.log_softmax):
        plain, fast = fn(a, dim), fn(a, dim, fast=True)
        name = fn.__name__
        assert bool(torch.isfinite(fast).all()), f"{CLAIM_SM_FAST}: non-finite fast {name}"
        # log-softmax: out = s − log1p(r) with s ≤ 0 ≤ log1p(r), no cancellation: relative
        t = vt if fn is ACT.softmax else log_sm_fast_tol(n)
        check_close(fast, plain, t, CLAIM_SM_FAST, device, f"fast {name} vs plain")
        (g_plain,) = torch.autograd.grad(plain, a, g)
        (g_fast,) = torch.autograd.grad(fast, a, g)
        assert bool(torch.isfinite(g_fast).all()), f"{CLAIM_SM_FAST}: non-finite fast gradient"
        check_close(g_fast, g_plain, gt, CLAIM_SM_FAST, device, f"fast {name} gradient")


@pytest.mark.claim(CLAIM_SM_FAST)
@pytest.mark.dtypes("float32")
def test_softmax_fast_form_large_float32_logits(device: str, dtype: torch.dtype) -> None:
    """Float32 logits up to ±1e4: the fast forms stay finite and equal the plain forms."""
    gen = torch.Generator().manual_seed(11)
    a = (torch.rand(16, 9, generator=gen, dtype=torch.float64) * 2e4 - 1e4).to(device, dtype)
    a[0] = torch.tensor([1e4, -1e4, 1e4, 0, 0, 0, -1e4, 5, 5])
    a.requires_grad_(True)
    vt, gt = sm_fast_tols(9, 1.0, dtype)
    for fn in (ACT.softmax, ACT.log_softmax):
        plain, fast = fn(a, -1), fn(a, -1, fast=True)
        assert bool(torch.isfinite(fast).all()), f"{CLAIM_SM_FAST}: non-finite {fn.__name__}"
        t = vt if fn is ACT.softmax else log_sm_fast_tol(9, dtype)
        check_close(fast, plain, t, CLAIM_SM_FAST, device, f"fast {fn.__name__}, float32")
        g = torch.ones_like(plain)
        (g_plain,) = torch.autograd.grad(plain, a, g)
        (g_fast,) = torch.autograd.grad(fast, a, g)
        check_close(g_fast, g_plain, gt, CLAIM_SM_FAST, device, f"{fn.__name__} grad, f32")


def sig_fast_tols(gmax: float, dtype: torch.dtype = torch.float64) -> tuple[Tol, Tol]:
    """Sigmoid fast form vs plain: values to 4ε relative and `tiny` absolute (the plain form's
    subnormal tail below `ln tiny ≈ −708` is 0 in the fast form); gradients to 4ε relative and
    `2ε max|ḡ|` absolute (σ(1 − σ) rounds `1 − σ` to ε absolute where σ is near 1)."""
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    return Tol(rtol=4 * eps, atol=tiny), Tol(rtol=4 * eps, atol=2 * eps * gmax)


@pytest.mark.claim(CLAIM_SIG_FAST)
@pytest.mark.dtypes("float64")
@settings(deadline=None, max_examples=60)
@given(case=_logit_cases())
@example(case=(np.array([1e300, -1e300, 0.0, 710.0, -710.0, 36.0, -745.0]), np.ones(7), 0))
def test_sigmoid_fast_form_equals_plain(
    device: str, dtype: torch.dtype, case: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]
) -> None:
    """sigmoid(z, fast=True): the plain form's values and gradients, ±1e300 included."""
    z, g_np, _ = case
    a = S.to_torch(z, device, dtype).requires_grad_(True)
    g = S.to_torch(g_np, device, dtype)
    vt, gt = sig_fast_tols(float(g.abs().max()))
    plain, fast = ACT.sigmoid(a), ACT.sigmoid(a, fast=True)
    assert bool(torch.isfinite(fast).all()), f"{CLAIM_SIG_FAST}: non-finite fast sigmoid"
    check_close(fast, plain, vt, CLAIM_SIG_FAST, device, "fast sigmoid vs plain")
    (g_plain,) = torch.autograd.grad(plain, a, g)
    (g_fast,) = torch.autograd.grad(fast, a, g)
    check_close(g_fast, g_plain, gt, CLAIM_SIG_FAST, device, "fast sigmoid gradient vs plain")


@pytest.mark.claim(CLAIM_SIG_FAST)
@pytest.mark.dtypes("float32")
def test_sigmoid_fast_form_large_float32(device: str, dtype: torch.dtype) -> None:
    """Float32 inputs up to ±1e4 (e^{−z} overflows to ∞): finite, equal to the plain form."""
    a = torch.tensor([1e4, -1e4, 0.0, 88.0, -88.0, 89.0, -89.0, -104.0, 17.0, -3.0], device=device)
    a.requires_grad_(True)
    vt, gt = sig_fast_tols(1.0, dtype)
    plain, fast = ACT.sigmoid(a), ACT.sigmoid(a, fast=True)
    assert bool(torch.isfinite(fast).all()), f"{CLAIM_SIG_FAST}: non-finite fast sigmoid"
    check_close(fast, plain, vt, CLAIM_SIG_FAST, device, "fast sigmoid vs plain, float32")
    (g_plain,) = torch.autograd.grad(plain.sum(), a)
    (g_fast,) = torch.autograd.grad(fast.sum(), a)
    check_close(g_fast, g_plain, gt, CLAIM_SIG_FAST, device, "fast sigmoid gradient, float32")


@pytest.mark.claim(CLAIM_SM_FAST, CLAIM_SIG_FAST)
def test_fast_flag_takes_a_bool() -> None:
    for fn in (ACT.softmax, ACT.log_softmax, ACT.sigmoid):
        with pytest.raises(TypeError, match="fast must be a bool"):
            fn(torch.ones(2, 3), fast=1)  # type: ignore[operator]


@pytest.mark.claim(CLAIM_SM_FAST, CLAIM_SIG_FAST)
@pytest.mark.dtypes("float64")
def test_fast_forms_cuda_path(device: str, dtype: torch.dtype) -> None:
    """The fast forms' CUDA path (`tests.compiled_path`), on any device: it hands the plain
    function to `torch.compile(·, dynamic=True)` once per function, whatever the shapes and
    dims of later calls, and gives torch's softmax, log-softmax and sigmoid (values and
    gradients) on logits up to ±1e300."""
    gen = torch.Generator().manual_seed(7)
    inputs = [
        torch.randn(3, 4, generator=gen, dtype=dtype) * 30,
        torch.tensor([[1e300, -1e300, 0.0], [-745.0, 710.0, 40.0]], dtype=dtype),
        torch.randn(2, 5, 3, generator=gen, dtype=dtype),
    ]
    forms = (
        (ACT.softmax, torch.softmax, ACT._softmax),
        (ACT.log_softmax, torch.log_softmax, ACT._log_softmax),
        (ACT.sigmoid, lambda z, dim: torch.sigmoid(z), ACT._sigmoid),
    )
    with compiled_path() as calls:
        for z0 in inputs:
            for dim in (-1, 0):
                z = z0.to(device).requires_grad_(True)
                g = torch.rand(z.shape, generator=gen, dtype=dtype).to(device) + 0.5
                for fn, oracle, _ in forms:
                    fast = fn(z, dim, fast=True) if fn is not ACT.sigmoid else fn(z, fast=True)
                    want = oracle(z, dim)
                    what = f"{fn.__name__} CUDA path, shape {tuple(z.shape)}, dim {dim}"
                    check_close(fast, want, tol(dtype), CLAIM_SM_FAST, device, what)
                    (g_fast,) = torch.autograd.grad(fast, z, g)
                    (g_want,) = torch.autograd.grad(want, z, g)
                    check_close(g_fast, g_want, tol(dtype), CLAIM_SM_FAST, device, f"∂ {what}")
    want_calls = [(plain, {"dynamic": True}) for _, _, plain in forms]
    assert calls == want_calls, (
        f"{CLAIM_SM_FAST}: torch.compile calls {calls}, expected one per function {want_calls}"
    )


# =================================================================================================
# net.digits-mlp
# =================================================================================================

CLAIM_DIG = "net.digits-mlp"
DIG_HIDDEN = 64
DIG_COPIES = 5  # initializations trained at once (FeedForward(copies=...))
DIG_RUNS = (0, 1)  # generator seeds: each draws the 5 initializations and the minibatch order
DIG_EPOCHS = 20
DIG_LR = 1e-2
DIG_BATCH = 64
DIG_THRESHOLD = 0.95
DIG_RATE = 0.99  # the claim: one initialization reaches DIG_THRESHOLD with at least this chance
DIG_NEED = binomial_threshold(len(DIG_RUNS) * DIG_COPIES, DIG_RATE)  # networks demanded (6)
#: Hoeffding for the initialization test's two means on n = 400 000 draws (w/b ∈ [−1, 1] and
#: w²/b² ∈ [0, 1]): 2e^{−20} + 2e^{−80}; the max and sign checks add e^{−4000} and 0.9^1000.
FALSE_FAILURES = {
    "test_initialization_is_uniform_in_one_over_sqrt_fan_in": 2 * math.exp(-20)
    + 2 * math.exp(-80)
    + math.exp(-4000)
    + 2 * 0.9**1000,
    # exact binomial: fewer than DIG_NEED of 10 succeed although each does with chance DIG_RATE
    "test_digits_mlp_reaches_95_percent": binomial_cdf(
        DIG_NEED - 1, len(DIG_RUNS) * DIG_COPIES, DIG_RATE
    ),
}


@pytest.mark.claim(CLAIM_DIG)
@pytest.mark.dtypes("float32", "float64")
def test_initialization_is_uniform_in_one_over_sqrt_fan_in(device: str, dtype: torch.dtype) -> None:
    """The page's initialization: weights and biases i.i.d. U(−1/√fan_in, 1/√fan_in). On 400 000
    draws (fan_in 400): every |w| ≤ b, max |w| ≥ 0.99 b (chance 0.99^n = e^{−4000} to miss),
    |mean| ≤ 0.01 b and mean w² within 0.01 b² of b²/3 (Hoeffding: each ≤ 2e^{−20} by luck)."""
    fan_in = 400
    b = 1.0 / math.sqrt(fan_in)
    g = torch.Generator(device=device).manual_seed(11)
    layer = NET.Linear(fan_in, 1000, generator=g, device=device, dtype=dtype)
    assert layer.bias is not None
    w = layer.weight.detach().double()
    bias = layer.bias.detach().double()
    n = w.numel()
    slack = b * torch.finfo(dtype).eps * 4  # rounding of (2u − 1)·b
    checks = {
        "max |w| ≤ b": float(w.abs().max()) <= b + slack,
        "max |w| ≥ 0.99 b": float(w.abs().max()) >= 0.99 * b,
        "|mean w| ≤ 0.01 b": abs(float(w.mean())) <= 0.01 * b,
        "mean w² ≈ b²/3": abs(float((w * w).mean()) - b * b / 3) <= 0.01 * b * b,
        "max |bias| ≤ b": float(bias.abs().max()) <= b + slack,
        "max |bias| ≥ 0.9 b": float(bias.abs().max()) >= 0.9 * b,  # 0.9^1000 to miss
        "bias not one-signed": bool((bias > 0).any() and (bias < 0).any()),
    }
    bad = [k for k, ok in checks.items() if not ok]
    assert not bad, failure(
        CLAIM_DIG, device, dtype, f"initialization of {n} weights: {bad}", 0.0, "U(±1/√fan_in)"
    )


@pytest.mark.claim(CLAIM_DIG)
def test_digits_mlp_reaches_95_percent(device: str, evidence: Any) -> None:
    """10 MLPs 64 → 64 → 10 (ReLU), trained by dlspec.train.fit on the fixed digits split: at
    least DIG_NEED of them reach ≥ 95 % held-out accuracy (exact binomial bound, page)."""
    data = digits(device=device)
    accs, curves = [], []
    for run in DIG_RUNS:
        g = torch.Generator(device=device).manual_seed(run)
        net = NET.FeedForward(
            [64, DIG_HIDDEN, 10],
            "relu",
            copies=DIG_COPIES,
            generator=g,
            device=device,
            dtype=torch.float32,
        )
        history = fit(
            net,
            data.x_train,
            data.y_train,
            epochs=DIG_EPOCHS,
            generator=g,
            lr=DIG_LR,
            batch_size=DIG_BATCH,
            # the copies' mean loss times their number: each copy gets its own gradient
            loss=lambda out, y: DIG_COPIES * cross_entropy(out, y),
        )
        assert not history.diverged, f"{CLAIM_DIG}: run {run} diverged"
        accs.extend(float(a) for a in accuracy(net, data.x_test, data.y_test))
        curves.append([v / DIG_COPIES for v in history.loss])
    acc = np.array(accs)
    mean, sd = float(acc.mean()), float(acc.std(ddof=1))
    reached = int((acc >= DIG_THRESHOLD).sum())
    bound = FALSE_FAILURES["test_digits_mlp_reaches_95_percent"]

    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 3.6))
    ax1.plot(range(1, len(acc) + 1), 100 * acc, "o", color="tab:blue")
    ax1.axhline(100 * DIG_THRESHOLD, color="tab:red", ls="--", label="claimed 95 %")
    ax1.set_xlabel("network (run 0: 1–5, run 1: 6–10)")
    ax1.set_ylabel("held-out accuracy (%), 497 images")
    ax1.set_ylim(94, 100)
    ax1.legend(loc="lower right")
    ax1.grid(alpha=0.3)
    for run, curve in zip(DIG_RUNS, curves, strict=True):
        ax2.plot(range(1, len(curve) + 1), curve, label=f"run {run} (mean of 5 nets)")
    ax2.set_yscale("log")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training cross-entropy")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.suptitle(f"Digits MLP 64→{DIG_HIDDEN}→10, Adam lr {DIG_LR}, batch {DIG_BATCH}")
    evidence.figure(fig, f"net-digits-mlp-{device}")
    plt.close(fig)

    evidence.value("accuracies", [round(a, 4) for a in accs])
    evidence.value("accuracy_min", round(float(acc.min()), 4))
    evidence.value("accuracy_mean", round(mean, 4))
    evidence.value("accuracy_sd", round(sd, 4))
    evidence.value("networks_reaching_95", reached)
    evidence.value("false_failure", bound)
    assert reached >= DIG_NEED, failure(
        CLAIM_DIG,
        device,
        torch.float32,
        f"{reached} of {len(acc)} networks reach {DIG_THRESHOLD}: accuracies {acc.round(4)}",
        float(DIG_NEED - reached),
        f"≥ {DIG_NEED} networks",
    )
    assert bound <= 1e-6
