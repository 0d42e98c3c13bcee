"""The notes' convolutional network: conv → pool → conv → pool → fully connected → classifier.

For an image `x` of shape `(N, C, S, S)` (the digits: `C = 1`, `S = 8`):

    a₁ = relu(conv₁(x))          k × k kernels, C → c₁ channels, zero padding k // 2 (same size)
    h₁ = maxpool₂(a₁)            2 × 2 windows, stride 2: S → S/2
    a₂ = relu(conv₂(h₁))         c₁ → c₂ channels, same size
    h₂ = maxpool₂(a₂)            S/2 → S/4
    f  = relu(h₂ Wᵀ_fc + b_fc)   fully connected on the flattened c₂ (S/4)² features → `hidden`
    z  = f Wᵀ_out + b_out        fully connected → one logit per class
    p  = softmax(z)              the classifier (inside `dlspec.nn.losses.cross_entropy`)

`models = M > 1` holds `M` independent networks with separate weights and runs them on the same
input in one pass: the first convolution with `M·c₁` output channels (network `m` owns channel
block `m`), the second as a grouped convolution (`groups = M`), the fully connected layers as
`M` `dlspec.nn.linear.Linear` layers. The output is then `(M, N, classes)`, which
`dlspec.train.fit` (with the loss summed over networks) and `dlspec.train.accuracy` handle as `M`
networks trained side by side: the seeds of claim `cnn.digits` are trained as one batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dlspec.checks import check_float_dtype, check_float_tensor, check_generator, check_int
from dlspec.nn.activations import relu
from dlspec.nn.conv import Conv2d, max_pool2d
from dlspec.nn.linear import Linear
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["CNN"]


class CNN(nn.Module):
    """conv → pool → conv → pool → FC → FC (logits) for `(N, in_channels, size, size)` images.

    `channels = (c₁, c₂)`, `kernel_size` odd (same-size zero padding), `size` divisible by 4,
    `hidden` units in the first fully connected layer, `classes` logits. With `models = M > 1`
    the module holds `M` independent networks (see the module docstring) and returns
    `(M, N, classes)`; with `M = 1` it returns `(N, classes)`. Weights start as
    `U(−1/√fan_in, 1/√fan_in)` from `generator`. Serves `cnn.digits`.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        size: int = 8,
        channels: tuple[int, int] = (4, 8),
        kernel_size: int = 3,
        hidden: int = 16,
        classes: int = 10,
        models: int = 1,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.size = check_int(size, "size", low=4)
        if self.size % 4:
            raise ValueError(f"size must be a multiple of 4 (two 2×2 poolings), got {size}")
        if not isinstance(channels, tuple | list) or len(channels) != 2:
            raise ValueError(f"channels must be a pair (c1, c2), got {channels!r}")
        c1, c2 = (check_int(c, f"channels[{i}]") for i, c in enumerate(channels))
        self.channels = (c1, c2)
        self.kernel_size = check_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-size padding), got {kernel_size}")
        self.hidden = check_int(hidden, "hidden")
        self.classes = check_int(classes, "classes", low=2)
        self.models = m = check_int(models, "models")
        generator = check_generator(generator)
        dtype = check_float_dtype(dtype if dtype is not None else torch.get_default_dtype())
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": dtype}
        k, pad = self.kernel_size, self.kernel_size // 2
        # conv₁ of all M networks is one convolution with M·c₁ output channels: they share x.
        self.conv1 = Conv2d(self.in_channels, m * c1, k, padding=pad, **kw)
        self.conv2 = Conv2d(m * c1, m * c2, k, padding=pad, groups=m, **kw)
        self.features = c2 * (self.size // 4) ** 2  # c₂ (S/4)² inputs to the first FC layer
        self.fc = nn.ModuleList(Linear(self.features, self.hidden, **kw) for _ in range(m))
        self.out = nn.ModuleList(Linear(self.hidden, self.classes, **kw) for _ in range(m))

    def forward_all(self, x: Tensor) -> dict[str, Tensor]:
        """Every stage: `conv1`, `pool1`, `conv2`, `pool2` (channel block `m` belongs to network
        `m`), `fc` `(M, N, hidden)` and `logits` `(M, N, classes)`."""
        check_float_tensor(x, "x", dim=4)
        expected = (self.in_channels, self.size, self.size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"x must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        n, m = x.shape[0], self.models
        a1 = relu(self.conv1(x))  # a₁ = relu(conv₁(x))
        h1 = max_pool2d(a1, 2)  # h₁ = maxpool₂(a₁)
        a2 = relu(self.conv2(h1))  # a₂ = relu(conv₂(h₁))
        h2 = max_pool2d(a2, 2)  # h₂ = maxpool₂(a₂)
        flat = h2.reshape(n, m, self.features)  # network m's c₂ (S/4)² features
        f = torch.stack([relu(fc(flat[:, i])) for i, fc in enumerate(self.fc)])  # relu(W h₂ + b)
        z = torch.stack([out(f[i]) for i, out in enumerate(self.out)])  # logits W f + b
        return {"conv1": a1, "pool1": h1, "conv2": a2, "pool2": h2, "fc": f, "logits": z}

    def forward(self, x: Tensor) -> Tensor:
        z = self.forward_all(x)["logits"]
        return z[0] if self.models == 1 else z

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, size={self.size}, channels={self.channels}, "
            f"kernel_size={self.kernel_size}, hidden={self.hidden}, classes={self.classes}, "
            f"models={self.models}"
        )


@register("cnn.CNN")
def _sample_cnn(device: torch.device, dtype: torch.dtype) -> Sample:
    net = CNN(channels=(2, 3), hidden=5, models=2, device=device, dtype=dtype)
    return net, (torch.randn(3, 1, 8, 8, device=device, dtype=dtype),)


@register_calls
def _calls_cnn(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(3, 1, 8, 8, device=device, dtype=dtype)
    init = {"channels": (2, 3), "hidden": 5, "models": 2, "device": device, "dtype": dtype}
    return [Call(CNN, init, forward={"x": x}, ndim=("x",))]
