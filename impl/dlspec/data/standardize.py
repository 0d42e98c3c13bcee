"""Standardization (feature scaling to mean 0, standard deviation 1) as a fitted transform.

`Standardizer().fit(x_train)` learns each feature's mean `μ_j` and standard deviation `s_j`
(population form, divisor `n`); `transform(x)` returns `(x_j − μ_j)/s_j` for any data, e.g. the
test set, with the *training* statistics (claim `opt.standardize`). The notes' rule:
"均值为0,标准差为1" (mean 0, standard deviation 1).

A **constant feature** (`s_j = 0` in the training data) cannot be scaled to standard deviation 1.
Rule: it is centred and left unscaled (`s_j` is replaced by 1), so it becomes 0 on the training
data, as scikit-learn's `StandardScaler` does; `constant` lists those features after `fit`.
`transform` before `fit` raises `NotFittedError`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlspec.checks import check_finite, check_float_tensor, check_like
from dlspec.registry import Call, Sample, register, register_calls

__all__ = ["NotFittedError", "Standardizer", "standardize"]


class NotFittedError(RuntimeError):
    """A fitted transform was used before `fit`."""


class Standardizer:
    """`x ↦ (x − μ)/s` per feature (last dimension), `μ`, `s` fitted on training data."""

    def __init__(self) -> None:
        self.mean: Tensor | None = None
        self.scale: Tensor | None = None
        self.constant: Tensor | None = None

    def fit(self, x: Tensor) -> Standardizer:
        """Learn `μ_j = mean_i x_ij` and `s_j = √(mean_i (x_ij − μ_j)²)` from `x` `(n, d)`."""
        check_float_tensor(x, "x", dim=2)
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must have at least one row and one feature, got {tuple(x.shape)}")
        check_finite(x, "x")
        mu = x.mean(dim=0)  # μ_j
        s = torch.sqrt(((x - mu) ** 2).mean(dim=0))  # s_j, divisor n
        # A feature is constant when its spread is zero up to rounding of the mean.
        tiny = torch.finfo(x.dtype).eps * x.abs().amax(dim=0) * 4
        const = s <= tiny
        self.mean = mu
        self.scale = torch.where(const, torch.ones_like(s), s)  # rule: constant ⇒ s_j := 1
        self.constant = const
        return self

    def transform(self, x: Tensor) -> Tensor:
        """`(x − μ)/s` with the fitted statistics."""
        if self.mean is None or self.scale is None:
            raise NotFittedError("Standardizer.transform called before fit(x_train)")
        check_float_tensor(x, "x")
        check_like(x, self.mean, "x", "the training data")
        if x.dim() == 0 or x.shape[-1] != self.mean.shape[0]:
            raise ValueError(
                f"x must end in {self.mean.shape[0]} features (as fitted), got {tuple(x.shape)}"
            )
        return (x - self.mean) / self.scale  # z_j = (x_j − μ_j)/s_j

    def fit_transform(self, x: Tensor) -> Tensor:
        return self.fit(x).transform(x)


def standardize(x: Tensor) -> Tensor:
    """`Standardizer().fit_transform(x)`: every non-constant feature gets mean 0 and std 1."""
    return Standardizer().fit_transform(x)


@register("standardize.Standardizer", backward=False)
def _sample_standardizer(device: torch.device, dtype: torch.dtype) -> Sample:
    return standardize, (torch.randn(5, 3, device=device, dtype=dtype),)


@register_calls
def _calls_standardize(device: torch.device, dtype: torch.dtype) -> list[Call]:
    x = torch.randn(5, 3, device=device, dtype=dtype)
    xs = ("x",)
    return [
        Call(standardize, {"x": x}, ndim=xs, finite=xs, nonempty=xs),
        Call(Standardizer().fit, {"x": x}, ndim=xs, finite=xs, nonempty=xs),
        Call(Standardizer().fit(x).transform, {"x": x}),
    ]
