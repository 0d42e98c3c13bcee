"""A module prints its configuration (`repr`), the way PyTorch's modules do: what a reader of a
printed model or a failing test's message relies on. Each expected string is written from the
constructor's arguments, in PyTorch's `name=value` style."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.nn.cnn import CNN
from dlspec.nn.conv import Conv2d, MaxPool2d
from dlspec.nn.linear import Linear
from dlspec.nn.lstm import LSTM
from dlspec.nn.rnn import RNN


def _case(claim: str, make: Any, want: str) -> Any:
    """`want` is the printed module, `Name(extra_repr)`."""
    return pytest.param(make, want, marks=pytest.mark.claim(claim), id=want[:40])


CASES = [
    _case(
        "net.forward-matrix-form",
        lambda: Linear(3, 2),
        "Linear(in_features=3, out_features=2, bias=True)",
    ),
    _case(
        "net.forward-matrix-form",
        lambda: Linear(3, 2, bias=False, copies=5),
        "Linear(in_features=3, out_features=2, bias=False, copies=5)",
    ),
    _case(
        "rnn.matches-torch",
        lambda: RNN(3, 4),
        "RNN(input_size=3, hidden_size=4, nonlinearity='tanh')",
    ),
    _case(
        "rnn.matches-torch",
        lambda: RNN(2, 5, nonlinearity="sigmoid", ensemble=3, fast=True),
        "RNN(input_size=2, hidden_size=5, nonlinearity='sigmoid', ensemble=3, fast=True)",
    ),
    _case("lstm.matches-torch", lambda: LSTM(3, 4), "LSTM(input_size=3, hidden_size=4)"),
    _case(
        "lstm.matches-torch",
        lambda: LSTM(2, 6, ensemble=2, fast=True),
        "LSTM(input_size=2, hidden_size=6, ensemble=2, fast=True)",
    ),
    _case(
        "conv.sparse-tied-linear",
        lambda: Conv2d(2, 3, 3),
        "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), padding_mode='zeros', "
        "groups=1, bias=True)",
    ),
    _case(
        "conv.sparse-tied-linear",
        lambda: Conv2d(
            4,
            2,
            (1, 3),
            stride=2,
            padding=1,
            padding_mode="circular",
            groups=2,
            bias=False,
            fast=True,
        ),
        "Conv2d(4, 2, kernel_size=(1, 3), stride=(2, 2), padding=(1, 1), "
        "padding_mode='circular', groups=2, bias=False, fast=True)",
    ),
    _case("pool.max-example", lambda: MaxPool2d(2), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"),
    _case(
        "pool.max-example",
        lambda: MaxPool2d((3, 2), stride=1),
        "MaxPool2d(kernel_size=(3, 2), stride=(1, 1))",
    ),
    _case(
        "cnn.digits",
        lambda: CNN(),
        "CNN(in_channels=1, size=8, channels=(4, 8), kernel_size=3, hidden=16, classes=10, "
        "models=1)",
    ),
    _case(
        "cnn.digits",
        lambda: CNN(
            in_channels=2, size=12, channels=(3, 5), kernel_size=1, hidden=7, classes=4, models=2
        ),
        "CNN(in_channels=2, size=12, channels=(3, 5), kernel_size=1, hidden=7, classes=4, "
        "models=2)",
    ),
]


@pytest.mark.parametrize(("make", "want"), CASES)
def test_module_prints_its_configuration(make: Any, want: str) -> None:
    module = make()
    assert isinstance(module, torch.nn.Module)
    got = f"{type(module).__name__}({module.extra_repr()})"
    assert got == want, f"repr: got {got!r}, want {want!r}"
    assert repr(module).startswith(f"{type(module).__name__}(")
