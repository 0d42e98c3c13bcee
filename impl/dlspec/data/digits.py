"""The 8×8 handwritten digits that scikit-learn ships (1,797 images, 10 classes), no network.

One fixed, documented split serves the whole project: a permutation drawn by
`numpy.random.default_rng(0)`, its first 1,300 indices for training and the other 497 for
testing. Pixels (integers 0 to 16) are divided by 16, so features lie in [0, 1].
Needs scikit-learn (the `test` extra).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dlspec.checks import check_float_dtype, check_int
from dlspec.registry import Call, register_calls

__all__ = ["TRAIN_SIZE", "Digits", "digits"]

#: Training examples in the fixed split; the remaining 497 are the test set.
TRAIN_SIZE = 1300
SPLIT_SEED = 0


@dataclass(frozen=True)
class Digits:
    """The fixed split as tensors: features `(n, 64)` in [0, 1], integer labels `(n,)`."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    def images(self, x: Tensor) -> Tensor:
        """Features `(n, 64)` as images `(n, 1, 8, 8)` (one channel, row-major pixels)."""
        return x.reshape(-1, 1, 8, 8)

    def subset(self, classes: tuple[int, ...]) -> Digits:
        """Only the examples whose label is in `classes` (labels kept as they are)."""
        keep = torch.tensor(classes, device=self.y_train.device)
        tr = torch.isin(self.y_train, keep)
        te = torch.isin(self.y_test, keep)
        return Digits(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te])


@functools.cache
def _arrays() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "dlspec.data.digits needs scikit-learn: pip install 'dlspec[test]'"
        ) from e
    data = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(data.target))
    return data.data / 16.0, data.target, order


def digits(
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    train_size: int = TRAIN_SIZE,
) -> Digits:
    """The digits split on `device`: the first `train_size` of the fixed permutation for
    training (1,300 by default), the rest for testing."""
    dtype = check_float_dtype(dtype)
    x, y, order = _arrays()
    train_size = check_int(train_size, "train_size", low=1, high=len(order) - 1)
    xt = torch.as_tensor(x[order], dtype=dtype, device=device)
    yt = torch.as_tensor(y[order], dtype=torch.long, device=device)
    return Digits(xt[:train_size], yt[:train_size], xt[train_size:], yt[train_size:])


@register_calls
def _calls_digits(device: torch.device, dtype: torch.dtype) -> list[Call]:
    return [
        Call(
            digits,
            {"device": device, "dtype": dtype, "train_size": 100},
            ranges={"train_size": "[1, 1796]"},
        )
    ]
