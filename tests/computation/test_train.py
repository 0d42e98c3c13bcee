"""compute.determinism, the training loop itself: `fit` is a function of its seeds, and of them
alone, because every step it takes is the one its docstring describes.

Each test trains a small network twice: once with `fit`, once with the loop written out here from
`fit`'s documentation (minibatch orders drawn from the generator, `torch.optim.Adam` at the
default learning rate 3e-3, the default softmax cross-entropy, `History.loss` the epoch's mean
loss over the examples, the model left in evaluation mode). The same operations in the same order
give the same bits, so every comparison is exact.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from dlspec.nn.linear import FeedForward
from dlspec.nn.losses import cross_entropy
from dlspec.train import History, accuracy, fit
from tests.tolerances import Tol, check_close, failure

CLAIM = "compute.determinism"
pytestmark = [pytest.mark.claim(CLAIM), pytest.mark.dtypes("float64")]


def _data(n: int, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(n, 3, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, 2, (n,), generator=g).to(device)
    return x, y


def _net(dtype: torch.dtype, device: str) -> FeedForward:
    return FeedForward(
        [3, 4, 2], "tanh", generator=torch.Generator().manual_seed(3), dtype=dtype, device=device
    )


def _same_params(a: nn.Module, b: nn.Module, device: str, what: str) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        err = float((p.detach() - q.detach()).abs().max())
        assert torch.equal(p.detach(), q.detach()), failure(
            CLAIM, device, p.dtype, f"{what}: {name}", err, "exact"
        )


def _reference(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    orders: Callable[[], list[torch.Tensor]],
    make_opt: Callable[[Any], torch.optim.Optimizer],
    before_step: Callable[[nn.Module], Any] | None = None,
) -> tuple[list[float], int]:
    """The documented loop: per epoch, one step per minibatch of `orders()`; returns the epoch
    means of the minibatch losses weighted by their sizes, and the number of steps."""
    opt = make_opt(net.parameters())
    losses, steps = [], 0
    for _ in range(epochs):
        total = 0.0
        for idx in orders():
            value = cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            value.backward()
            if before_step is not None:
                before_step(net)
            opt.step()
            steps += 1
            total += float(value.detach()) * len(idx)
        losses.append(total / x.shape[0])
    return losses, steps


def test_fit_is_the_documented_minibatch_loop(device: str, dtype: torch.dtype) -> None:
    """Minibatches of 4 from 10 examples (4, 4, 2), a fresh order per epoch from `generator`,
    Adam at lr 3e-3 by default: same losses, steps and final weights as the loop written out."""
    x, y = _data(10, dtype, device)
    net = _net(dtype, device)
    ref = copy.deepcopy(net)
    hist = fit(
        net, x, y, epochs=3, generator=torch.Generator(device=device).manual_seed(5), batch_size=4
    )
    g = torch.Generator(device=device).manual_seed(5)

    def orders() -> list[torch.Tensor]:
        return list(torch.randperm(10, generator=g, device=device).split(4))

    want, steps = _reference(ref, x, y, 3, orders, lambda ps: torch.optim.Adam(ps, lr=3e-3))
    assert isinstance(hist, History) and not hist.diverged
    assert hist.steps == steps == 9, failure(CLAIM, device, dtype, "steps", hist.steps, "9")
    assert hist.loss == want, failure(
        CLAIM, device, dtype, f"losses {hist.loss}", math.inf, "exact"
    )
    _same_params(net, ref, device, "fit vs the documented loop")
    assert not net.training, f"{CLAIM}: fit must leave the model in evaluation mode"
    x65, y65 = _data(65, dtype, device)  # the default batch size is 64: minibatches 64 and 1
    one = fit(_net(dtype, device), x65, y65, epochs=1, generator=torch.Generator(device=device))
    assert one.steps == 2, failure(CLAIM, device, dtype, "steps on 65 examples", one.steps, "2")


def test_fit_full_batch_draws_nothing(device: str, dtype: torch.dtype) -> None:
    """`batch_size=None`: one full-batch step per epoch in the data's order, the generator left
    untouched; `lr` and `before_step` (after the backward pass, before the step) are used."""
    x, y = _data(7, dtype, device)
    net = _net(dtype, device)
    ref = copy.deepcopy(net)
    g = torch.Generator(device=device).manual_seed(9)
    state = g.get_state()
    seen: list[bool] = []

    def halve(model: nn.Module) -> None:  # sees the gradients of this step, before the step
        seen.append(all(p.grad is not None for p in model.parameters()))
        for p in model.parameters():
            assert p.grad is not None
            p.grad.mul_(0.5)

    hist = fit(net, x, y, epochs=4, generator=g, batch_size=None, lr=0.05, before_step=halve)
    assert torch.equal(g.get_state(), state), f"{CLAIM}: full-batch fit drew from the generator"
    want, steps = _reference(
        ref,
        x,
        y,
        4,
        lambda: [torch.arange(7, device=device)],
        lambda ps: torch.optim.Adam(ps, lr=0.05),
        before_step=halve,
    )
    assert hist.steps == steps == 4 and seen == [True] * 8
    assert hist.loss == want, failure(
        CLAIM, device, dtype, f"losses {hist.loss}", math.inf, "exact"
    )
    _same_params(net, ref, device, "full-batch fit vs the documented loop")


def test_fit_with_an_optimizer_factory_and_a_loss(device: str, dtype: torch.dtype) -> None:
    """`optimizer` builds the optimizer from the trainable parameters (frozen ones are left
    out and stay put); `loss` replaces the cross-entropy; zero epochs train nothing."""
    x, y = _data(6, dtype, device)
    net = _net(dtype, device)
    params = list(net.parameters())
    params[0].requires_grad_(False)
    before = [p.detach().clone() for p in params]
    given: list[list[nn.Parameter]] = []

    def make(ps: Any) -> torch.optim.Optimizer:
        ps = list(ps)
        given.append(ps)
        return torch.optim.SGD(ps, lr=0.1)

    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 2.0 * cross_entropy(out, t)

    g = torch.Generator(device=device).manual_seed(1)
    empty = fit(net, x, y, epochs=0, generator=g, optimizer=make, loss=loss)
    assert empty.loss == [] and empty.steps == 0 and not empty.diverged
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))
    hist = fit(net, x, y, epochs=1, generator=g, optimizer=make, loss=loss, batch_size=None)
    assert [len(ps) for ps in given] == [len(params) - 1] * 2
    assert all(p is q for p, q in zip(given[0], params[1:], strict=True))
    assert torch.equal(params[0], before[0]) and not torch.equal(params[1], before[1])
    ref = _net(dtype, device)
    with torch.no_grad():
        want = float(loss(ref(x), y)) * 6 / 6  # fit's epoch mean: Σ v·B / n, here B = n = 6
    assert hist.loss == [want] and hist.steps == 1, failure(
        CLAIM, device, dtype, f"loss {hist.loss}", math.inf, f"[{want}] (the loss given)"
    )


def test_fit_stops_at_a_non_finite_loss(device: str, dtype: torch.dtype) -> None:
    """A NaN minibatch loss: `diverged`, the NaN is the last loss, no step is taken with it,
    and the model is left in evaluation mode."""
    x, y = _data(8, dtype, device)
    net = _net(dtype, device)
    calls = []

    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        value = cross_entropy(out, t)
        return value if len(calls) < 3 else value * math.inf

    g = torch.Generator(device=device).manual_seed(2)
    hist = fit(net, x, y, epochs=5, generator=g, batch_size=4, loss=loss)
    assert hist.diverged and hist.steps == 2 and len(calls) == 3, (
        f"{CLAIM}: diverged={hist.diverged}, steps={hist.steps}, losses computed={len(calls)}"
    )
    assert len(hist.loss) == 2 and math.isfinite(hist.loss[0]) and hist.loss[1] == math.inf
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())
    assert not net.training


class _Stacked(nn.Module):
    """`M` independent linear classifiers on inputs `(M, B, 3)`: logits `(M, B, 2)`."""

    def __init__(self, copies: int, dtype: torch.dtype, device: str) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(4)
        self.w = nn.Parameter(torch.randn(copies, 3, 2, generator=g, dtype=dtype).to(device))
        self.copies = copies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the documented input: (M, B, 3), one minibatch per copy
        assert x.dim() == 3 and x.shape[0] == self.copies, f"input of shape {tuple(x.shape)}"
        return x @ self.w


def test_fit_copies_trains_each_copy_on_its_own_order(device: str, dtype: torch.dtype) -> None:
    """`copies=3`, minibatches of 4 of 6 examples: each copy moves as plain SGD on its own mean
    loss over its own minibatches (the orders are independent permutations drawn from the
    generator); `History.loss` is the mean over the copies of each copy's epoch loss."""
    x, y = _data(6, dtype, device)
    stack = _Stacked(3, dtype, device)
    w0 = stack.w.detach().clone()
    g = torch.Generator(device=device).manual_seed(8)
    hist = fit(
        stack,
        x,
        y,
        epochs=2,
        generator=g,
        batch_size=4,
        copies=3,
        optimizer=lambda ps: torch.optim.SGD(ps, lr=0.5),
    )
    assert hist.steps == 4 and not stack.training
    # replay: each copy k, with the minibatch orders the stacked run used
    g = torch.Generator(device=device).manual_seed(8)
    w = [w0[k].clone().requires_grad_(True) for k in range(3)]
    epoch_losses = []
    for _ in range(2):
        orders = torch.rand(3, 6, generator=g, device=device).argsort(dim=1)
        assert all(sorted(o.tolist()) == list(range(6)) for o in orders)
        total = torch.zeros(3, dtype=dtype, device=device)
        for idx in orders.split(4, dim=1):
            for k in range(3):
                value = cross_entropy(x[idx[k]] @ w[k], y[idx[k]])
                (grad,) = torch.autograd.grad(value, w[k])
                with torch.no_grad():
                    w[k] -= 0.5 * grad
                total[k] += float(value.detach()) * idx.shape[1]
        epoch_losses.append(float((total / 6).mean()))
    tight = Tol(rtol=1e-12, atol=1e-13)
    for k in range(3):
        check_close(stack.w.detach()[k], w[k].detach(), tight, CLAIM, device, f"copy {k}")
    check_close(
        torch.tensor(hist.loss), torch.tensor(epoch_losses), tight, CLAIM, device, "History.loss"
    )
    # full batch: every copy sees all the examples, in order, once per epoch; nothing is drawn
    state = g.get_state()
    w0 = stack.w.detach().clone()
    sgd = lambda ps: torch.optim.SGD(ps, lr=0.5)  # noqa: E731
    hist = fit(stack, x, y, epochs=2, generator=g, batch_size=None, copies=3, optimizer=sgd)
    assert hist.steps == 2 and torch.equal(g.get_state(), state)
    w = [w0[k].clone().requires_grad_(True) for k in range(3)]
    losses = []
    for _ in range(2):
        values = [cross_entropy(x @ w[k], y) for k in range(3)]
        for k in range(3):
            (grad,) = torch.autograd.grad(values[k], w[k])
            with torch.no_grad():
                w[k] -= 0.5 * grad
        losses.append(float(torch.stack(values).detach().mean()))
    for k in range(3):
        check_close(stack.w.detach()[k], w[k].detach(), tight, CLAIM, device, f"full-batch {k}")
    check_close(torch.tensor(hist.loss), torch.tensor(losses), tight, CLAIM, device, "losses")


def test_accuracy_restores_the_mode(device: str, dtype: torch.dtype) -> None:
    """`accuracy` is the fraction of argmax hits, computed in evaluation mode without gradients,
    and leaves the model in the mode it found; keyword arguments reach `forward`."""
    x, y = _data(8, dtype, device)
    net = _net(dtype, device)
    with torch.no_grad():
        want = float((net(x).argmax(-1) == y).double().mean())
    for mode in (True, False):
        net.train(mode)
        acc = accuracy(net, x, y)
        assert float(acc) == want and acc.dtype == dtype and not acc.requires_grad
        assert net.training is mode, f"{CLAIM}: accuracy changed the model's mode"

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[Any] = []

        def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            self.seen.append((self.training, torch.is_grad_enabled(), kwargs))
            return torch.stack([x[..., 0], -x[..., 0]], dim=-1)

    stack = _Stacked(3, dtype, device)  # leading copies: one accuracy each
    xs = x.expand(3, *x.shape)
    accs = accuracy(stack, xs, y)
    with torch.no_grad():
        each = [float(((x @ stack.w[k]).argmax(-1) == y).double().mean()) for k in range(3)]
    assert accs.shape == (3,) and accs.tolist() == each, f"{CLAIM}: accuracy per copy {accs}"

    probe = Probe().train()
    got = accuracy(probe, x, y, scale=2)
    assert probe.seen == [(False, False, {"scale": 2})] and probe.training
    assert float(got) == float(((x[:, 0] < 0).long() == y).double().mean())


def test_fit_hands_its_generator_to_a_forward_that_takes_one(
    device: str, dtype: torch.dtype
) -> None:
    """A model whose `forward` takes `generator` (dropout, a denoising corruption) gets fit's
    generator at every step; one whose `forward` does not is called with the input alone."""

    class Takes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 2, dtype=dtype, device=device)
            self.got: list[Any] = []

        def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Any:
            self.got.append(generator)
            return self.lin(x)

    class Plain(Takes):
        def forward(self, x: torch.Tensor) -> Any:  # type: ignore[override]
            self.got.append("no generator")
            return self.lin(x)

    x, y = _data(6, dtype, device)
    g = torch.Generator(device=device).manual_seed(0)
    takes, plain = Takes(), Plain()
    assert fit(takes, x, y, epochs=2, generator=g, batch_size=3).steps == 4
    assert len(takes.got) == 4 and all(got is g for got in takes.got)
    fit(plain, x, y, epochs=1, generator=g, batch_size=None)
    assert plain.got == ["no generator"]


def test_fit_refuses_bad_input_saying_what_it_got(device: str, dtype: torch.dtype) -> None:
    """The messages of fit's own checks (name, expected, given), and the edges it accepts: one
    example, minibatches of one, zero epochs, one copy."""
    x, y = _data(4, dtype, device)
    g = torch.Generator(device=device).manual_seed(0)

    def refused(err: type[Exception], want: str, **kw: Any) -> None:
        args: dict[str, Any] = {"model": _net(dtype, device), "x": x, "y": y, "epochs": 1}
        args.update(kw)
        with pytest.raises(err) as info:
            fit(generator=g, **args) if "generator" not in kw else fit(**args)
        assert str(info.value) == want, f"{CLAIM}: message {str(info.value)!r}, not {want!r}"

    same = "x and y must hold the same number ≥ 1 of examples along dimension 0, got shapes"
    refused(TypeError, "y must be a torch.Tensor, got list", y=[0, 1, 0, 1])
    refused(ValueError, f"{same} (4, 3) and (3,)", y=y[:3])
    refused(ValueError, f"{same} (4, 3) and ()", y=y[0])
    refused(ValueError, f"{same} () and (1,)", x=x[0, 0], y=y[:1])
    refused(ValueError, f"{same} (0, 3) and (0,)", x=x[:0], y=y[:0])
    refused(ValueError, "y must be on x's device meta, got " + str(y.device), x=x.to("meta"))
    refused(TypeError, "generator must be a torch.Generator, got int", generator=0)
    refused(TypeError, "optimizer must be callable, got int", optimizer=3)
    refused(TypeError, "generator must be a torch.Generator, got NoneType", generator=None)
    refused(ValueError, "batch_size must be an integer ≥ 1, got 0", batch_size=0)
    refused(ValueError, "copies must be an integer ≥ 1, got 0", copies=0)
    refused(ValueError, "epochs must be an integer ≥ 0, got -1", epochs=-1)
    refused(ValueError, "lr must be a real number in (0, inf] (the learning rate), got 0.0", lr=0)
    frozen = _net(dtype, device).requires_grad_(False)
    refused(ValueError, "model has no trainable parameters", model=frozen)
    # the edges that are accepted
    assert fit(_net(dtype, device), x[:1], y[:1], epochs=1, generator=g).steps == 1
    assert fit(_net(dtype, device), x, y, epochs=1, generator=g, batch_size=1).steps == 4
    one = _Stacked(1, dtype, device)
    assert fit(one, x, y, epochs=1, generator=g, batch_size=2, copies=1).steps == 2


def test_a_step_leaves_alone_a_parameter_it_did_not_use(device: str, dtype: torch.dtype) -> None:
    """Gradients are cleared to none before each step, so a parameter that takes no part in a
    step has no gradient and Adam skips it. (A zeroed gradient would not: Adam's moments carry
    on, and its second step would move the parameter by ≈ 0.67·lr more.)"""

    class Once(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 2, dtype=dtype, device=device)
            self.extra = nn.Parameter(torch.ones(2, dtype=dtype, device=device))
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            out: torch.Tensor = self.lin(x)
            return out + self.extra if self.calls == 1 else out  # extra: first step only

    x, y = _data(4, dtype, device)
    net = Once()
    fit(net, x, y, epochs=3, generator=torch.Generator(device=device), batch_size=None, lr=0.1)
    moved = (net.extra.detach() - 1.0).abs()
    # Adam's first step moves each entry by lr·|g|/(|g| + 1e-8): just under lr = 0.1
    assert bool((moved > 0.099).all() and (moved <= 0.1).all()), failure(
        CLAIM, device, dtype, f"extra moved by {moved.tolist()}", math.inf, "one step (≤ 0.1)"
    )


def test_fit_trains_a_model_whose_forward_has_no_signature(device: str, dtype: torch.dtype) -> None:
    """A `forward` that is a builtin (no signature to read) is called with the input alone."""

    class Builtin(nn.Module):
        forward = torch.neg  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, dtype=dtype, device=device))

    x, _ = _data(4, dtype, device)
    model = Builtin()

    def loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return ((out * model.w - t) ** 2).mean()

    g = torch.Generator(device=device)
    hist = fit(model, x, x, epochs=1, generator=g, loss=loss, batch_size=None, lr=0.1)
    assert hist.steps == 1 and not hist.diverged
