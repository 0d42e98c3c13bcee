"""compute.device-agnostic: every registered model runs on meta (and CUDA when present).

The device comes from ``--device`` like every other test's, with ``cpu`` replaced by ``meta``
(``@pytest.mark.meta_for_cpu``): on the host, the data-free meta device catches a tensor pinned
to the CPU that a run on cpu would hide. A requested device this machine lacks is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.registry import entries

ENTRIES = entries()


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list | tuple):
        return [t for o in obj for t in _tensors(o)]
    return []


@pytest.mark.claim("compute.device-agnostic")
def test_registry_is_not_empty() -> None:
    assert len(ENTRIES) >= 2, f"compute.device-agnostic: registry holds only {sorted(ENTRIES)}"


@pytest.mark.claim("compute.device-agnostic")
@pytest.mark.meta_for_cpu
@pytest.mark.parametrize("name", sorted(ENTRIES))
@pytest.mark.dtypes("float32", "float64")
def test_entry_runs_on_device(name: str, device: str, dtype: torch.dtype) -> None:
    dev = torch.device(device)
    fn, args = ENTRIES[name].make(dev, dtype)
    where = f"compute.device-agnostic [{name}, {device}, {dtype}]"
    out = fn(*args)
    outs = _tensors(out)
    assert outs, f"{where}: the sample returned no tensor"
    for t in outs:
        assert t.device.type == dev.type, f"{where}: output on {t.device}, expected {dev}"
        if t.is_floating_point():
            assert t.dtype == dtype, f"{where}: output dtype {t.dtype}, expected {dtype}"
    if not ENTRIES[name].backward:
        return
    params = list(fn.parameters()) if isinstance(fn, torch.nn.Module) else []
    leaves = [a for a in _tensors(args) if a.requires_grad] + params
    assert leaves, f"{where}: marked backward=True but nothing requires grad"
    loss = sum(t.sum() for t in outs if t.is_floating_point())
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    for p in leaves:
        assert p.grad is not None, f"{where}: no gradient reached a leaf of shape {tuple(p.shape)}"
        assert p.grad.device.type == dev.type, f"{where}: gradient on {p.grad.device}"
