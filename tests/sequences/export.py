"""What the RNN and LSTM tests share about `to_torch()`."""

from __future__ import annotations

from typing import Any

import torch


def check_export_placement(cls: Any, claim: str, device: str, dtype: torch.dtype) -> None:
    """`cls(2, 3).to_torch()` builds its `torch.nn` module on the layer's device, in its dtype,
    on `device` and on `meta` (which nothing can be copied out of)."""
    for dev in (device, "meta"):
        exported = cls(2, 3, device=dev, dtype=dtype).to_torch()
        for name, p in exported.named_parameters():
            assert p.device.type == torch.device(dev).type and p.dtype == dtype, (
                f"{claim} [{dev}, {dtype}]: to_torch() gives {name} on {p.device} in "
                f"{p.dtype}, expected {dev} and {dtype}"
            )
