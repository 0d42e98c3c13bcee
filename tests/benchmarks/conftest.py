"""Benchmark helpers: devices, synchronized timing, ceilings measured in the same run, and the
terminal table that pairs each kernel with PyTorch's native one.

A benchmark file (``tests/benchmarks/test_<topic>_bench.py``) parametrizes ``impl`` over
``"dlspec"`` and ``"torch"`` (more implementations are allowed; ``torch`` is the baseline), sets
``benchmark.group = f"<kernel>-{bench_device}"``, checks its output against the native one, times
``synchronized(fn, bench_device)`` and calls ``record(benchmark, bench_device, bytes_moved=...,
flops=...)``. This conftest then

- warms every benchmark up before timing and runs at least ``MIN_ROUNDS`` rounds (the first
  calls of a kernel pay for allocation and lazy initialization: a run of 5 cold rounds once
  reported 57x where warm runs give 1.0-1.3x);
- flags a measurement whose interquartile range exceeds ``MAX_SPREAD`` of its median as too
  noisy to trust (``extra_info["unstable"]``, and ``!`` in the table);
- prints, after pytest-benchmark's own table, one line per group: each implementation's median,
  its spread, its GB/s and GFLOP/s, and the ratio to the native kernel, which also goes into the
  JSON (``extra_info["ratio"]``) with the machine's details (torch, threads, GPU, ceilings);
- creates the folder of ``--benchmark-json`` (``nox -s bench`` on a fresh clone has no build/).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
BASELINE = "torch"  # the `impl` every other implementation of a group is compared with
MIN_ROUNDS = 15
WARMUP_ITERATIONS = 10
MAX_SPREAD = 0.25  # interquartile range / median above which a timing is flagged unstable
_CEILINGS: dict[str, dict[str, float]] = {}


def synchronized(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` followed by a device synchronization, so the timer sees the finished work."""
    if device.startswith("cuda"):

        def run() -> Any:
            out = fn()
            torch.cuda.synchronize()
            return out

        return run
    return fn


def _median_seconds(fn: Callable[[], Any], repeats: int = 7) -> float:
    import time

    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def ceilings(device: str) -> dict[str, float]:
    """Measured copy bandwidth (GB/s) and matmul throughput (GFLOP/s) on ``device``."""
    if device not in _CEILINGS:
        n = 1 << 25 if device == "cpu" else 1 << 28  # 128 MiB / 1 GiB of float32
        src = torch.empty(n, device=device).uniform_()
        dst = torch.empty_like(src)
        t_copy = _median_seconds(synchronized(lambda: dst.copy_(src), device))
        m = 1024 if device == "cpu" else 8192
        a = torch.randn(m, m, device=device)
        t_mm = _median_seconds(synchronized(lambda: a @ a, device), repeats=5)
        _CEILINGS[device] = {
            "copy_GBps": 2 * n * 4 / t_copy / 1e9,
            "matmul_GFLOPs": 2 * m**3 / t_mm / 1e9,
        }
    return _CEILINGS[device]


def spread(median: float, iqr: float) -> float:
    """The interquartile range relative to the median (inf for a zero median)."""
    return iqr / median if median > 0 else float("inf")


def record(benchmark: Any, device: str, *, bytes_moved: float, flops: float) -> None:
    """Attach analytic bytes and FLOPs, achieved rates, their ratio to the measured ceilings,
    and whether the timing's spread is too large to trust."""
    stats = benchmark.stats.stats
    median = stats.median
    ceil = ceilings(device)
    gbps, gflops = bytes_moved / median / 1e9, flops / median / 1e9
    rel = spread(median, stats.iqr)
    benchmark.extra_info.update(
        device=device,
        bytes=bytes_moved,
        flops=flops,
        GBps=round(gbps, 3),
        GFLOPs=round(gflops, 3),
        copy_ceiling_GBps=round(ceil["copy_GBps"], 3),
        matmul_ceiling_GFLOPs=round(ceil["matmul_GFLOPs"], 3),
        fraction_of_copy_bandwidth=round(gbps / ceil["copy_GBps"], 4),
        spread=round(rel, 4),
        unstable=rel > MAX_SPREAD,
    )


@pytest.fixture(params=DEVICES)
def bench_device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def benchmark(benchmark: Any) -> Any:
    """pytest-benchmark's fixture with a warm-up before timing and at least ``MIN_ROUNDS``
    rounds (more when the command line asks for more)."""
    benchmark._warmup = max(int(benchmark._warmup or 0), WARMUP_ITERATIONS)
    benchmark._min_rounds = max(int(benchmark._min_rounds), MIN_ROUNDS)
    return benchmark


# -- pairing each implementation with the native kernel -----------------------------------------


def pair_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{group, impl, median, iqr, extra_info}``, with ``ratio`` (median / the baseline's
    median in the same group; None without a baseline) and ``unstable`` added, in group order."""
    base = {r["group"]: r["median"] for r in rows if r["impl"] == BASELINE and r["median"] > 0}
    out = []
    for r in rows:
        ratio = r["median"] / base[r["group"]] if r["group"] in base else None
        rel = spread(r["median"], r["iqr"])
        out.append({**r, "ratio": ratio, "spread": rel, "unstable": rel > MAX_SPREAD})
    return sorted(out, key=lambda r: (str(r["group"]), r["impl"] != "dlspec", str(r["impl"])))


def _rows_of_session(config: pytest.Config) -> list[dict[str, Any]]:
    session = getattr(config, "_benchmarksession", None)
    rows = []
    for b in getattr(session, "benchmarks", []) or []:
        if not b:
            continue
        rows.append(
            {
                "group": b.group or b.name,
                "impl": str((b.params or {}).get("impl", b.param or b.name)),
                "median": b.stats.median,
                "iqr": b.stats.iqr,
                "extra_info": b.extra_info,
            }
        )
    return rows


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("benchmark_json", None)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    """``ratio`` (to the native kernel) and ``unstable`` in each benchmark's extra_info."""
    entries = output_json.get("benchmarks", [])
    rows = [
        {
            "group": e.get("group") or e.get("name"),
            "impl": str((e.get("params") or {}).get("impl", e.get("param"))),
            "median": e["stats"]["median"],
            "iqr": e["stats"]["iqr"],
            "extra_info": e.setdefault("extra_info", {}),
        }
        for e in entries
    ]
    for r in pair_rows(rows):
        r["extra_info"]["ratio"] = round(r["ratio"], 4) if r["ratio"] is not None else None
        r["extra_info"]["unstable"] = r["unstable"]


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    machine_info["dlspec"] = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "ceilings": {d: {k: round(v, 3) for k, v in c.items()} for d, c in _CEILINGS.items()},
    }


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = pair_rows(_rows_of_session(config))
    if not rows:
        return
    tr = terminalreporter
    tr.section(f"dlspec vs native ({BASELINE}): ratio of medians, lower is faster", sep="-")
    header = f"{'group':<28} {'impl':<8} {'median':>10} {'spread':>7} {'GB/s':>8} "
    header += f"{'GFLOP/s':>8} {'ratio':>7}"
    tr.write_line(header)
    flagged = False
    for r in rows:
        info = r["extra_info"] or {}
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        mark = " !" if r["unstable"] else ""
        flagged |= r["unstable"]
        tr.write_line(
            f"{str(r['group'])[:28]:<28} {r['impl'][:8]:<8} {r['median'] * 1e3:>8.3f}ms "
            f"{r['spread']:>6.0%} {info.get('GBps', float('nan')):>8.2f} "
            f"{info.get('GFLOPs', float('nan')):>8.2f} {ratio:>7}{mark}",
            red=bool(r["unstable"]),
        )
    if flagged:
        tr.write_line(
            f"! spread (IQR / median) above {MAX_SPREAD:.0%}: too noisy to trust; rerun on a quiet "
            "machine or with more rounds (--benchmark-min-rounds=N)",
            yellow=True,
        )
