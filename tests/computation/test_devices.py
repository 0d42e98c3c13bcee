"""compute.device-agnostic: every registered model runs on meta (and CUDA when present).

The device comes from ``--device`` like every other test's, with ``cpu`` replaced by ``meta``
(``@pytest.mark.meta_for_cpu``): on the host, the data-free meta device catches a tensor pinned
to the CPU that a run on cpu would hide. A requested device this machine lacks is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.registry import CALLS, entries

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


# -- every valid call of the bad-input registry, on the device ------------------------------------
#
# The registry of valid calls (`dlspec.registry.calls`, built for compute.bad-input) names every
# public entry point. Run on the device in both dtypes, each call's tensors must come back on that
# device and, when floating, in that dtype: a tensor made without `device=` or `dtype=` inside a
# function (an easy slip, and invisible on a CPU-only float32 run) lands on the CPU or in float32.

#: Calls that read their data (`.item()` of a loss, `nonzero`), which `meta` does not hold: on
#: `meta` each must fail for that reason (so the list cannot go stale); CUDA runs them.
READS_DATA = {
    "linear_pieces",
    "fit_gaussian_classifier",
    "fit_mle",
    "steps_to_tolerance",
    "pretrain_greedy",
    "fit",
}

MAKERS = {f"{make.__module__}.{make.__name__}": make for make in CALLS}


@pytest.mark.claim("compute.device-agnostic")
@pytest.mark.meta_for_cpu
@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.dtypes("float32", "float64")
def test_valid_calls_run_on_device(maker: str, device: str, dtype: torch.dtype) -> None:
    dev = torch.device(device)
    ran = 0
    for c in MAKERS[maker](dev, dtype):
        name = c.fn.__qualname__
        if dev.type == "meta" and name in READS_DATA:
            with pytest.raises((RuntimeError, NotImplementedError), match=r"meta|nonzero"):
                out = c.fn(**c.kwargs)
                if c.forward is not None:
                    out(**c.forward)
            continue
        where = f"compute.device-agnostic [{name}, {device}, {dtype}]"
        out = c.fn(**c.kwargs)
        if c.forward is not None:
            out = out(**c.forward)
        ran += 1
        if isinstance(out, torch.nn.Module):  # what it built: every parameter and buffer
            held = [*out.parameters(), *out.buffers()]
        else:  # a result object's tensor fields (a fitted standardizer, PCA, ...)
            held = _tensors(getattr(out, "__dict__", {}))
        for t in _tensors(out) + held:
            assert t.device.type == dev.type, f"{where}: a result on {t.device}, expected {dev}"
            if t.is_floating_point():
                assert t.dtype == dtype, f"{where}: a result in {t.dtype}, expected {dtype}"
    assert ran, f"compute.device-agnostic [{maker}]: no call ran"


# -- the registry itself ------------------------------------------------------------------------
# (The lists above are built at collection; these run its functions inside tests.)


@pytest.mark.claim("compute.device-agnostic")
def test_registry_lists_every_public_module_and_entry() -> None:
    import dlspec.registry as R

    mods = R.modules()
    assert mods == sorted(mods) and "dlspec.nn.dropout" in mods and "dlspec.optim.sgd" in mods
    assert "dlspec.nn._recurrent_fast" not in mods and "dlspec.nn" in mods  # private left out
    assert all(m.startswith("dlspec.") for m in mods)
    found = R.entries()
    assert found == R.REGISTRY and found is not R.REGISTRY  # a copy
    assert all(isinstance(e, R.Entry) and e.name == name for name, e in found.items())
    assert {"dropout.Dropout", "lstm.LSTM", "conv.Conv2d"} <= set(found)
    made = R.calls(torch.device("cpu"), torch.float64)
    n = sum(len(make(torch.device("cpu"), torch.float64)) for make in R.CALLS)
    assert len(made) == n >= 100 and all(isinstance(c, R.Call) for c in made)
    assert all(
        t.dtype == torch.float64 for c in made for t in _tensors(c.kwargs) if t.is_floating_point()
    )


@pytest.mark.claim("compute.device-agnostic")
def test_register_records_an_entry_once() -> None:
    import dlspec.registry as R

    def make(device: torch.device, dtype: torch.dtype) -> Any:
        return torch.neg, (torch.ones(1, device=device, dtype=dtype),)

    seen: list[tuple[torch.device, torch.dtype]] = []

    def make_calls(device: torch.device, dtype: torch.dtype) -> list[R.Call]:
        seen.append((device, dtype))
        return [R.Call(torch.neg, {"input": torch.ones(1, device=device, dtype=dtype)})]

    try:
        assert R.register("test.only")(make) is make
        assert R.REGISTRY["test.only"] == R.Entry("test.only", make, True)
        assert R.register("test.fwd", backward=False)(make) is make
        assert R.REGISTRY["test.fwd"] == R.Entry("test.fwd", make, False)
        with pytest.raises(ValueError, match=r"'test\.only' is registered twice"):
            R.register("test.only")(make)
        assert R.REGISTRY["test.only"].make is make
        assert R.register_calls(make_calls) is make_calls and R.CALLS[-1] is make_calls
        made = R.calls(torch.device("cpu"), torch.float64)
        assert seen == [(torch.device("cpu"), torch.float64)]  # the device itself, not None
        assert made[-1].fn is torch.neg and made[-1].kwargs["input"].dtype == torch.float64
    finally:
        R.REGISTRY.pop("test.only", None)
        R.REGISTRY.pop("test.fwd", None)
        if R.CALLS and R.CALLS[-1] is make_calls:
            R.CALLS.pop()
