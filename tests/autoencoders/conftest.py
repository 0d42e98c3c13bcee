"""The autoencoder chapter's tests run torch on one thread: their tensors are small (at most
1300 × 64), so a second thread only adds synchronization, which costs much more than it saves on
a loaded machine (a 1000-step training run measured 5–40 s with two threads, 1 s with one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
