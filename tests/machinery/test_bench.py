"""The benchmark helpers (tests/benchmarks/conftest.py): the JSON's folder is created, each form
(plain and fast) is paired with the native kernel of its group (ratio in the table and the
JSON), both roofline fractions are recorded, the machine and the run are described, timings are
warmed up and run for enough rounds, a noisy timing is flagged, and `--benchmark-compare`
against a saved run works (quietly: the run's own figures are kept out of machine_info)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

BENCH = """
import pytest, torch
from conftest import record, synchronized

@pytest.mark.parametrize("impl", ["dlspec", "dlspec-fast", "torch"])
def test_kernel(benchmark, bench_device, impl):
    x = torch.randn(64, device=bench_device)
    forms = {"dlspec": lambda: x * 2, "dlspec-fast": lambda: x + x, "torch": lambda: x.mul(2)}
    fn = forms[impl]
    benchmark.group = f"kernel-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    record(benchmark, bench_device, bytes_moved=2 * 4 * 64, flops=64)
"""


def _inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark folder with this conftest (tiny ceilings: this checks the bookkeeping, not
    the machine) and one kernel in three forms."""
    # pytest-benchmark disables itself inside an xdist worker (it reads PYTEST_XDIST_WORKER), and
    # this test may run in one: the inner session is serial.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest = (ROOT / "tests" / "benchmarks" / "conftest.py").read_text(encoding="utf-8")
    tiny = conftest.replace('"cpu": (1 << 25, 1024)', '"cpu": (1 << 10, 64)')
    assert tiny != conftest, "the ceilings' sizes moved: update this test"
    pytester.makeconftest(tiny)
    pytester.makepyfile(test_k_bench=BENCH)


FAST = ("-p", "no:cacheprovider", "-p", "no:xdist", "--benchmark-max-time=0.005",
        "--benchmark-min-rounds=2")  # fmt: skip
N_TESTS = 3 * (2 if torch.cuda.is_available() else 1)


def test_bench_pairs_with_native_and_writes_json_into_a_new_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inner(pytester, monkeypatch)
    out = pytester.path / "fresh" / "build" / "bench.json"  # no such folder yet
    result = pytester.runpytest_inprocess(*FAST, f"--benchmark-json={out}")
    result.assert_outcomes(passed=N_TESTS)
    data = json.loads(out.read_text())
    rows = {b["params"]["impl"]: b for b in data["benchmarks"] if "cpu" in b["group"]}
    assert rows["torch"]["extra_info"]["ratio"] == 1.0
    for form in ("dlspec", "dlspec-fast"):  # both forms against the native row of the group
        ratio = rows[form]["stats"]["median"] / rows["torch"]["stats"]["median"]
        assert rows[form]["extra_info"]["ratio"] == pytest.approx(ratio, rel=1e-3)
    assert all(b["stats"]["rounds"] >= 15 for b in rows.values()), "fewer than MIN_ROUNDS"
    assert all(isinstance(b["extra_info"]["unstable"], bool) for b in rows.values())
    info, median = rows["dlspec"]["extra_info"], rows["dlspec"]["stats"]["median"]
    ceil = data["dlspec"]["ceilings"]["cpu"]
    assert info["fraction_of_copy_bandwidth"] == pytest.approx(
        info["bytes"] / median / 1e9 / ceil["copy_GBps"], rel=0.01, abs=1e-4
    )
    assert info["fraction_of_matmul_throughput"] == pytest.approx(
        info["flops"] / median / 1e9 / ceil["matmul_GFLOPs"], rel=0.01, abs=1e-4
    )
    machine = data["machine_info"]["dlspec"]
    assert machine["torch"] == torch.__version__ and machine["torch_threads"] >= 1
    assert {"cuda", "gpu", "cpu_name", "tf32"} <= set(machine)
    assert data["dlspec"]["date"] and "commit" in data["dlspec"]
    assert "ceilings" not in machine and "date" not in machine  # they change from run to run
    result.stdout.fnmatch_lines(
        ["*dlspec vs native*", "*%copy*%mm*ratio*", "*kernel-cpu*dlspec-fast*x*", "*ceilings*"]
    )


def test_compare_against_a_saved_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inner(pytester, monkeypatch)
    storage = f"--benchmark-storage=file://{pytester.path / 'saved'}"
    saved = pytester.runpytest_inprocess(*FAST, storage, "--benchmark-autosave")
    saved.assert_outcomes(passed=N_TESTS)
    assert list((pytester.path / "saved").rglob("0001_*.json")), "nothing saved"
    again = pytester.runpytest_inprocess(*FAST, storage, "--benchmark-compare", "-W", "error")
    again.assert_outcomes(passed=N_TESTS)  # -W error: no machine_info warning either
    assert "Comparing against benchmarks from" in again.stdout.str() + again.stderr.str()
    again.stdout.fnmatch_lines(["*vs saved*"])
    again.stdout.fnmatch_lines(["*kernel-cpu*dlspec-fast*x *x"])


def test_pairing_flags_noisy_timings() -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "bench_conftest", ROOT / "tests" / "benchmarks" / "conftest.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_conftest"] = mod
    spec.loader.exec_module(mod)
    rows = mod.pair_rows(
        [
            {"group": "g", "impl": "torch", "median": 2.0, "iqr": 0.1, "extra_info": {}},
            {"group": "g", "impl": "dlspec", "median": 3.0, "iqr": 1.5, "extra_info": {}},
            {"group": "h", "impl": "dlspec", "median": 1.0, "iqr": 0.0, "extra_info": {}},
        ]
    )
    by = {(r["group"], r["impl"]): r for r in rows}
    assert by["g", "dlspec"]["ratio"] == 1.5 and by["g", "dlspec"]["unstable"]
    assert by["g", "torch"]["ratio"] == 1.0 and not by["g", "torch"]["unstable"]
    assert by["h", "dlspec"]["ratio"] is None  # no native row to compare with


def _conftest() -> Any:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "bench_conftest", ROOT / "tests" / "benchmarks" / "conftest.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_conftest"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_pairing_of_both_forms_and_another_baseline() -> None:
    mod = _conftest()
    rows = mod.pair_rows(
        [
            {"group": "g", "impl": "torch", "median": 2.0, "iqr": 0.1, "extra_info": {}},
            {"group": "g", "impl": "dlspec-fast", "median": 1.0, "iqr": 0.1, "extra_info": {}},
            {"group": "g", "impl": "dlspec", "median": 3.0, "iqr": 0.1, "extra_info": {}},
            {"group": "f", "impl": "torch", "median": 4.0, "iqr": 0.1, "extra_info": {}},
            {"group": "f", "impl": "dlspec", "median": 5.0, "iqr": 0.1, "extra_info": {}},
            {"group": "b", "impl": "loop", "median": 9.0, "iqr": 0.1,
             "extra_info": {"baseline": "batched"}},
            {"group": "b", "impl": "batched", "median": 3.0, "iqr": 0.1,
             "extra_info": {"baseline": "batched"}},
        ]
    )  # fmt: skip
    assert [(r["group"], r["impl"]) for r in rows] == [
        ("b", "loop"), ("b", "batched"), ("f", "dlspec"), ("f", "torch"),
        ("g", "dlspec"), ("g", "dlspec-fast"), ("g", "torch"),
    ]  # fmt: skip
    by = {(r["group"], r["impl"]): r["ratio"] for r in rows}
    assert by["g", "dlspec"] == 1.5 and by["g", "dlspec-fast"] == 0.5  # the same group's torch
    assert by["f", "dlspec"] == 1.25
    assert by["b", "loop"] == 3.0 and by["b", "batched"] == 1.0
    lines = mod.table_lines(rows)
    assert "%copy" in lines[0] and "%mm" in lines[0] and "vs saved" not in lines[0]
    assert "1.50x" in lines[5] and "0.50x" in lines[6]
    with_saved = mod.table_lines(
        [{**rows[2], "fullname": "t[f]", "extra_info": {"fraction_of_copy_bandwidth": 0.5}}],
        {"t[f]": 2.5},
    )
    assert "vs saved" in with_saved[0] and with_saved[1].endswith("2.00x")  # 5.0 / 2.5
    assert " 50% " in with_saved[1]


def test_synchronized_waits_for_the_benchmarks_device(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _conftest()
    waited: list[Any] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(device))
    fn = lambda: "out"  # noqa: E731
    assert mod.synchronized(fn, "cpu") is fn  # nothing to wait for on the CPU
    assert mod.synchronized(fn, "cuda:1")() == "out"
    assert waited == [torch.device("cuda:1")]  # after the call, on that device
