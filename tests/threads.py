"""One CPU thread for torch inside a block: `with one_thread(): ...` (or the fixture of the same
name, from tests/plugin.py).

The training-based tests work on small tensors (at most a few thousand rows by a hundred
columns). A second OpenMP thread then only adds synchronization, and on a busy machine its
barriers made such work 10 to 1000 times slower (measured by every chapter's author on the shared
2-core machine). The thread count is restored when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with `torch.set_num_threads(1)`, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
