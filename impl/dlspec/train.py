"""One minimal training loop for every empirical claim in the project.

`fit()` runs seeded minibatch training: the `generator` shuffles the minibatches (and draws
dropout masks for models whose `forward` takes a `generator`), so a run is reproducible from the
generator's seed and the initial weights. The optimizer is a tool here, not under test: any
`torch.optim.Optimizer` factory drops in (Adam by default; the optimization chapter's own
optimizers subclass `torch.optim.Optimizer` and plug in the same way). `accuracy()` evaluates a
classifier in evaluation mode.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import (
    check_callable,
    check_finite,
    check_float_tensor,
    check_index_tensor,
    check_int,
    check_module,
    check_real,
)
from dlspec.nn.losses import cross_entropy
from dlspec.registry import Call, register_calls, sample_generator

__all__ = ["History", "accuracy", "fit"]

Loss = Callable[[Tensor, Tensor], Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@dataclass
class History:
    """What a run did: the mean training loss per epoch, and whether it stayed finite.

    `diverged` is True when a minibatch loss became NaN or ±∞; training stops there and the
    last entry of `loss` is that non-finite value. `steps` counts optimizer steps taken.
    """

    loss: list[float] = field(default_factory=list)
    diverged: bool = False
    steps: int = 0


def _takes_generator(model: nn.Module) -> bool:
    try:
        return "generator" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    generator: torch.Generator,
    loss: Loss = cross_entropy,
    optimizer: OptimizerFactory | None = None,
    lr: float = 3e-3,
    batch_size: int | None = 64,
    before_step: Callable[[nn.Module], Any] | None = None,
    copies: int | None = None,
) -> History:
    """Train `model` on `(x, y)` for `epochs` passes; return its `History`.

    - `loss(output, target)` is minimized (softmax cross-entropy by default; `y` then holds
      class labels).
    - `optimizer` builds the optimizer from the parameters (default `torch.optim.Adam(lr=lr)`).
    - `batch_size=None` trains full-batch (one step per epoch, no shuffling).
    - `before_step(model)` runs after each backward pass, before the step (e.g. clipping).
    - `copies=M` trains a stack of `M` independent models at once (e.g.
      `dlspec.nn.mlp.StackedMLP`): each epoch draws an independent minibatch order per copy,
      the model receives inputs `(M, B, ...)` and `loss` targets `(M, B)`; `loss` must average
      over all `M·B` examples (as `cross_entropy` does) and is multiplied by `M`, so that each
      copy's gradient is that of its own mean loss. `History.loss` is then the mean over copies.
    - The model is left in evaluation mode.
    """
    check_module(model, "model")
    check_finite(check_float_tensor(x, "x"), "x")
    check_callable(loss, "loss")
    if optimizer is not None:
        check_callable(optimizer, "optimizer")
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    n = x.shape[0] if x.dim() else 0
    if n == 0 or y.dim() == 0 or y.shape[0] != n:
        raise ValueError(
            f"x and y must hold the same number ≥ 1 of examples along dimension 0, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    epochs = check_int(epochs, "epochs", low=0)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", low=1)
    if copies is not None:
        copies = check_int(copies, "copies", low=1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if optimizer is None:
        lr = check_real(lr, "lr", low=0.0, low_open=True, meaning="the learning rate")
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=lr)
    else:
        opt = optimizer(params)
    pass_generator = _takes_generator(model)
    history = History()
    model.train()
    for _ in range(epochs):
        if batch_size is None:
            batches = [torch.arange(n, device=x.device)]
            if copies is not None:
                batches = [batches[0].expand(copies, n)]
        elif copies is None:
            order = torch.randperm(n, generator=generator, device=x.device)
            batches = list(torch.split(order, batch_size))
        else:  # one independent permutation per copy: argsort of i.i.d. uniforms
            u = torch.rand(copies, n, generator=generator, device=x.device)
            batches = list(torch.split(u.argsort(dim=1), batch_size, dim=1))
        total = 0.0
        for idx in batches:
            out = model(x[idx], generator=generator) if pass_generator else model(x[idx])
            value = loss(out, y[idx]) if copies is None else copies * loss(out, y[idx])
            opt.zero_grad(set_to_none=True)
            value.backward()  # type: ignore[no-untyped-call]
            if before_step is not None:
                before_step(model)
            v = float(value.detach())
            if not math.isfinite(v):
                history.loss.append(v)
                history.diverged = True
                model.eval()
                return history
            opt.step()
            history.steps += 1
            total += v * idx.shape[-1] / (copies or 1)
        history.loss.append(total / n)
    model.eval()
    return history


def accuracy(model: nn.Module, x: Tensor, y: Tensor, **kwargs: Any) -> Tensor:
    """Fraction of correct argmax predictions, in evaluation mode and without gradients.

    Extra keyword arguments go to the model's `forward` (e.g. the MLP's `unit_masks`); the
    mean is over the last dimension of the predictions, so leading copies give one accuracy
    each.
    """
    check_module(model, "model")
    check_float_tensor(x, "x")
    check_index_tensor(y, "y")
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x, **kwargs)
    finally:
        model.train(was_training)
    acc: Tensor = (logits.argmax(dim=-1) == y).to(x.dtype).mean(dim=-1)
    return acc


@register_calls
def _calls_train(device: torch.device, dtype: torch.dtype) -> list[Call]:
    from dlspec.nn.linear import FeedForward

    x = torch.randn(6, 3, device=device, dtype=dtype)
    y = torch.tensor([0, 1, 0, 1, 1, 0], device=device)
    g = sample_generator(device).manual_seed(0)
    net = FeedForward([3, 2], device=device, dtype=dtype)
    return [
        Call(
            fit,
            {"model": net, "x": x, "y": y, "epochs": 1, "generator": g, "batch_size": 3},
            ranges={"lr": "(0, inf)", "epochs": "[0, inf)"},
            finite=("x",),
            nonempty=("x",),
        ),
        Call(accuracy, {"model": net, "x": x, "y": y}),
    ]
