"""The autoencoder chapter's tests run torch on one thread (see tests/threads.py): their tensors
are small (at most 1300 × 64); a 1000-step training run measured 5–40 s with two threads on a
loaded machine, 1 s with one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.threads import one_thread


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield
