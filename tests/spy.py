"""Which kernels ran: `count_calls` wraps `torch.<name>` so each call is recorded and still runs.

The plain and fast forms of the optimizers and of clipping agree bit for bit on the CPU, so no
value can tell which form ran; the kernels called can (issue 12, mutation testing)."""

from __future__ import annotations

from typing import Any

import pytest
import torch


def count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[None]:
    """Count the calls of `torch.<name>` (still run) until the test ends: one entry per call."""
    real, calls = getattr(torch, name), []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, name, counted)
    return calls
