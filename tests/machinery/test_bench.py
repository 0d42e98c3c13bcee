"""The benchmark helpers (tests/benchmarks/conftest.py): the JSON's folder is created, each
implementation is paired with the native kernel (ratio in the table and the JSON), timings are
warmed up and run for enough rounds, and a noisy timing is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BENCH = """
import pytest, torch
from conftest import record, synchronized

@pytest.mark.parametrize("impl", ["dlspec", "torch"])
def test_kernel(benchmark, bench_device, impl):
    x = torch.ones(64, device=bench_device)
    fn = (lambda: x * 2) if impl == "dlspec" else (lambda: torch.mul(x, 2))
    benchmark.group = f"kernel-{bench_device}"
    benchmark(synchronized(fn, bench_device))
    record(benchmark, bench_device, bytes_moved=2 * 4 * 64, flops=64)
"""


def test_bench_pairs_with_native_and_writes_json_into_a_new_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-benchmark disables itself inside an xdist worker (it reads PYTEST_XDIST_WORKER), and
    # this test may run in one: the inner session is serial.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest = (ROOT / "tests" / "benchmarks" / "conftest.py").read_text(encoding="utf-8")
    # tiny ceilings: this test checks the bookkeeping, not the machine
    conftest = conftest.replace("\"cpu\": (1 << 25, 1024)", "\"cpu\": (1 << 10, 64)")
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_k_bench=BENCH)
    out = pytester.path / "fresh" / "build" / "bench.json"  # no such folder yet
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", f"--benchmark-json={out}",
        "--benchmark-max-time=0.005", "--benchmark-min-rounds=2",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    data = json.loads(out.read_text())
    rows = {b["params"]["impl"]: b for b in data["benchmarks"] if "cpu" in b["group"]}
    assert rows["torch"]["extra_info"]["ratio"] == 1.0
    ratio = rows["dlspec"]["stats"]["median"] / rows["torch"]["stats"]["median"]
    assert rows["dlspec"]["extra_info"]["ratio"] == pytest.approx(ratio, rel=1e-3)
    assert all(b["stats"]["rounds"] >= 15 for b in rows.values()), "fewer than MIN_ROUNDS"
    assert all(isinstance(b["extra_info"]["unstable"], bool) for b in rows.values())
    assert data["machine_info"]["dlspec"]["torch"]
    result.stdout.fnmatch_lines(["*dlspec vs native*", "*kernel-cpu*dlspec*x*"])


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
