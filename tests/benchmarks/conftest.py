"""Benchmark helpers: devices, synchronized timing, ceilings measured in the same run, and the
terminal table that pairs each kernel's forms with PyTorch's native one.

A benchmark file (``tests/benchmarks/test_<topic>_bench.py``) parametrizes ``impl`` over
``"dlspec"`` (the plain form), ``"dlspec-fast"`` (its fast form, where it has one) and
``"torch"`` (the native kernel: the baseline), sets ``benchmark.group =
f"<kernel>-<pass>-{bench_device}"``, checks each form's output and gradients against the native
one, times ``synchronized(fn, bench_device)`` and calls ``record(benchmark, bench_device,
bytes_moved=..., flops=...)``. This conftest then

- warms every benchmark up before timing and runs at least ``MIN_ROUNDS`` rounds (the first
  calls of a kernel pay for allocation and lazy initialization: a run of 5 cold rounds once
  reported 57x where warm runs give 1.0-1.3x);
- on CUDA: turns TF32 off for matmuls and cuDNN (float32 means float32 on both sides; a TF32
  convolution against an fp32 unfold would compare two precisions), and the timed call ends
  with a synchronization of the benchmark's device, so the timer sees finished work (the
  warm-up rounds absorb whatever the setup left queued);
- measures, once per device and run, the two ceilings a kernel is judged against: the copy
  bandwidth (``dst.copy_(src)``, bytes read + written) and the float32 matmul throughput
  (timed with CUDA events on a GPU), and records each benchmark's fraction of both;
- flags a measurement whose interquartile range exceeds ``MAX_SPREAD`` of its median as too
  noisy to trust (``extra_info["unstable"]``, and ``!`` in the table);
- pairs every form with the baseline of its group: ``ratio`` = its median / the native median
  (``extra_info["ratio"]``; a group may name another baseline: ``record(..., baseline=...)``);
- prints, after pytest-benchmark's own table, one line per form: median, spread, GB/s, GFLOP/s,
  the fractions of the two ceilings, the ratio, and with ``--benchmark-compare`` the change
  against the saved run;
- writes the machine into the JSON: ``machine_info["dlspec"]`` (what identifies the machine:
  torch, CUDA and cuDNN versions, device names, threads; pytest-benchmark warns on
  ``--benchmark-compare`` when it differs) and ``dlspec`` at the top level (what belongs to this
  run: date, git commit, the ceilings);
- creates the folder of ``--benchmark-json`` (``nox -s bench`` on a fresh clone has no build/).
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
BASELINE = "torch"  # the `impl` every other implementation of a group is compared with
FORMS = ("dlspec", "dlspec-fast")  # the forms of dlspec, in the order the table shows them
MIN_ROUNDS = 15
WARMUP_ITERATIONS = 10
MAX_SPREAD = 0.25  # interquartile range / median above which a timing is flagged unstable
# The ceilings' sizes: copy `n` float32 elements; multiply two `m x m` float32 matrices.
CEILING_SIZES = {"cpu": (1 << 25, 1024), "cuda": (1 << 28, 8192)}
_CEILINGS: dict[str, dict[str, float]] = {}
ROOT = Path(__file__).resolve().parents[2]


#: How far a float32 result may sit from the native kernel's, relative to the largest entry of
#: the native tensor (see `assert_close_to_scale`).
REL = 1e-4


def assert_close_to_scale(
    got: torch.Tensor, want: torch.Tensor, what: str, rel: float = REL
) -> None:
    """``max |got - want| <= rel * max |want|``: two float32 computations of the same sums.

    An entry-by-entry relative tolerance cannot be met by sums taken in another order: an entry
    whose terms cancel keeps the absolute rounding error of its largest terms (a CI machine with
    another matmul kernel put one backprop weight-gradient entry 2% from autograd's, 3.9e-5 in
    absolute terms against entries up to 7.8). Against the tensor's scale the error is bounded:
    the unit roundoff is 6e-8 and a benchmark's longest sum has about 10^4 terms (seen: at most
    5e-6 on two CPUs). A wrong formula moves entries by about their own size, and a typical
    entry is a fair fraction of the largest (about 1/5 among 10^6 Gaussian ones): far above 1e-4.
    """
    got, want = got.detach(), want.detach()
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    scale = float(want.abs().max())
    err = float((got - want).abs().max())
    assert err <= rel * scale, f"{what}: {err:.3g} from the native result, > {rel} x {scale:.3g}"


def synchronized(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    """``fn`` followed by a synchronization of ``device``, so the timer sees the finished work.

    No host copy happens here: the result stays on the device (a ``.item()`` or ``.cpu()`` in
    the timed call would time a device-to-host transfer and serialize the queue).
    """
    if device.startswith("cuda"):
        dev = torch.device(device)

        def run() -> Any:
            out = fn()
            torch.cuda.synchronize(dev)
            return out

        return run
    return fn


def _median_seconds(fn: Callable[[], Any], device: str, repeats: int = 7) -> float:
    """The median time of ``fn`` after two warm-up calls; CUDA events on a GPU."""
    for _ in range(2):
        fn()
    times = []
    if device.startswith("cuda"):
        dev = torch.device(device)
        with torch.cuda.device(dev):  # the events go on the current stream of this device
            torch.cuda.synchronize(dev)
            for _ in range(repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def ceilings(device: str) -> dict[str, float]:
    """Measured copy bandwidth (GB/s, bytes read + written) and float32 matmul throughput
    (GFLOP/s) on ``device``, once per run."""
    if device not in _CEILINGS:
        n, m = CEILING_SIZES["cuda" if device.startswith("cuda") else "cpu"]
        with torch.device(device):
            src = torch.empty(n).uniform_()
            dst = torch.empty_like(src)
            t_copy = _median_seconds(lambda: dst.copy_(src), device)
            del src, dst
            a, b = torch.randn(m, m), torch.randn(m, m)
            out = torch.empty(m, m)
            t_mm = _median_seconds(lambda: torch.mm(a, b, out=out), device, repeats=5)
        _CEILINGS[device] = {
            "copy_GBps": 2 * n * 4 / t_copy / 1e9,
            "matmul_GFLOPs": 2 * m**3 / t_mm / 1e9,
        }
    return _CEILINGS[device]


def _sig(value: float, digits: int = 5) -> float:
    """``value`` rounded to ``digits`` significant digits (for the JSON)."""
    return float(f"{value:.{digits}g}")


def spread(median: float, iqr: float) -> float:
    """The interquartile range relative to the median (inf for a zero median)."""
    return iqr / median if median > 0 else float("inf")


def record(
    benchmark: Any,
    device: str,
    *,
    bytes_moved: float,
    flops: float,
    baseline: str = BASELINE,
) -> None:
    """Attach analytic bytes and FLOPs, achieved rates, their fractions of the two ceilings
    measured in this run on ``device``, and whether the timing's spread is too large to trust.

    ``baseline``: the ``impl`` of the group the others are compared with (default ``"torch"``).
    """
    stats = benchmark.stats.stats
    median = stats.median
    ceil = ceilings(device)
    gbps, gflops = bytes_moved / median / 1e9, flops / median / 1e9
    rel = spread(median, stats.iqr)
    benchmark.extra_info.update(
        device=device,
        baseline=baseline,
        bytes=bytes_moved,
        flops=flops,
        GBps=round(gbps, 3),
        GFLOPs=round(gflops, 3),
        copy_ceiling_GBps=_sig(ceil["copy_GBps"]),
        matmul_ceiling_GFLOPs=_sig(ceil["matmul_GFLOPs"]),
        fraction_of_copy_bandwidth=round(gbps / ceil["copy_GBps"], 4),
        fraction_of_matmul_throughput=round(gflops / ceil["matmul_GFLOPs"], 4),
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


# -- pairing each form with the native kernel ---------------------------------------------------


def _order(impl: str, baseline: str) -> tuple[int, str]:
    """dlspec's forms first (plain, fast), then other implementations, the baseline last."""
    if impl in FORMS:
        return FORMS.index(impl), impl
    return (len(FORMS) + 1, impl) if impl == baseline else (len(FORMS), impl)


def pair_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{group, impl, median, iqr, extra_info}``, with ``ratio`` (median / the median of
    the group's baseline: ``extra_info["baseline"]``, default ``"torch"``; None without one) and
    ``spread`` and ``unstable`` added, sorted by group then form."""
    baseline = {r["group"]: (r.get("extra_info") or {}).get("baseline", BASELINE) for r in rows}
    base = {
        r["group"]: r["median"]
        for r in rows
        if r["impl"] == baseline[r["group"]] and r["median"] > 0
    }
    out = []
    for r in rows:
        ratio = r["median"] / base[r["group"]] if r["group"] in base else None
        rel = spread(r["median"], r["iqr"])
        out.append({**r, "ratio": ratio, "spread": rel, "unstable": rel > MAX_SPREAD})
    return sorted(out, key=lambda r: (str(r["group"]), _order(r["impl"], baseline[r["group"]])))


def _impl(params: dict[str, Any] | None, fallback: Any) -> str:
    return str((params or {}).get("impl", fallback))


def _rows_of_session(config: pytest.Config) -> list[dict[str, Any]]:
    session = getattr(config, "_benchmarksession", None)
    rows = []
    for b in getattr(session, "benchmarks", []) or []:
        if not b or b.has_error:
            continue
        rows.append(
            {
                "group": b.group or b.name,
                "impl": _impl(b.params, b.param or b.name),
                "median": b.stats.median,
                "iqr": b.stats.iqr,
                "extra_info": b.extra_info,
                "fullname": b.fullname,
            }
        )
    return rows


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("benchmark_json", None)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if torch.cuda.is_available():
        # float32 on both sides of every comparison, and in the matmul ceiling
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def git_commit() -> tuple[str | None, bool]:
    """This checkout's commit and whether its tree has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, bool(status)


def run_info() -> dict[str, Any]:
    """What belongs to this run: when, which commit, the ceilings measured on each device."""
    commit, dirty = git_commit()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "devices": sorted(_CEILINGS),
        "ceilings": {d: {k: _sig(v) for k, v in c.items()} for d, c in _CEILINGS.items()},
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What identifies the machine and its software (stable from run to run)."""
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_name": _cpu_name(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "tf32": {
            "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32,
        },
    }


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    """``ratio`` (to the group's baseline) and ``unstable`` in each benchmark's extra_info; the
    run's date, commit and ceilings under ``dlspec``."""
    entries = output_json.get("benchmarks", [])
    rows = [
        {
            "group": e.get("group") or e.get("name"),
            "impl": _impl(e.get("params"), e.get("param")),
            "median": e["stats"]["median"],
            "iqr": e["stats"]["iqr"],
            "extra_info": e.setdefault("extra_info", {}),
        }
        for e in entries
    ]
    for r in pair_rows(rows):
        r["extra_info"]["ratio"] = round(r["ratio"], 4) if r["ratio"] is not None else None
        r["extra_info"]["unstable"] = r["unstable"]
    output_json["dlspec"] = run_info()


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    machine_info["dlspec"] = machine()


def _compared_medians(config: pytest.Config) -> dict[str, float]:
    """fullname -> median in the saved run that ``--benchmark-compare`` loaded (the last one)."""
    session = getattr(config, "_benchmarksession", None)
    found: dict[str, float] = {}
    for mapping in (getattr(session, "compared_mapping", None) or {}).values():
        for name, bench in mapping.items():
            median = (bench.get("stats") or {}).get("median")
            if median:
                found[name] = float(median)
    return found


def _fmt(value: Any, spec: str, missing: str = "-") -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return missing
    return format(value, spec)


def table_lines(rows: list[dict[str, Any]], compared: dict[str, float] | None = None) -> list[str]:
    """The terminal table: one line per form, in ``pair_rows`` order."""
    compared = compared or {}
    header = f"{'group':<30} {'impl':<11} {'median':>10} {'spread':>7} {'GB/s':>8} "
    header += f"{'GFLOP/s':>8} {'%copy':>6} {'%mm':>6} {'ratio':>7}"
    if compared:
        header += f" {'vs saved':>9}"
    lines = [header]
    for r in rows:
        info = r["extra_info"] or {}
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        line = (
            f"{str(r['group'])[:30]:<30} {str(r['impl'])[:11]:<11} {r['median'] * 1e3:>8.3f}ms "
            f"{_fmt(r['spread'], '>6.0%'):>7} {_fmt(info.get('GBps'), '>8.2f'):>8} "
            f"{_fmt(info.get('GFLOPs'), '>8.2f'):>8} "
            f"{_fmt(info.get('fraction_of_copy_bandwidth'), '>6.0%'):>6} "
            f"{_fmt(info.get('fraction_of_matmul_throughput'), '>6.0%'):>6} {ratio:>7}"
        )
        if compared:
            saved = compared.get(str(r.get("fullname")))
            line += f" {_fmt(r['median'] / saved if saved else None, '>8.2f')}x"
        lines.append(line + (" !" if r["unstable"] else ""))
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = pair_rows(_rows_of_session(config))
    if not rows:
        return
    tr = terminalreporter
    tr.section(f"dlspec vs native ({BASELINE}): ratio of medians, lower is faster", sep="-")
    compared = _compared_medians(config)
    lines = table_lines(rows, compared)
    tr.write_line(lines[0])
    for r, line in zip(rows, lines[1:], strict=True):
        tr.write_line(line, red=bool(r["unstable"]))
    ceil = ", ".join(
        f"{d}: copy {c['copy_GBps']:.1f} GB/s, matmul {c['matmul_GFLOPs']:.0f} GFLOP/s"
        for d, c in sorted(_CEILINGS.items())
    )
    tr.write_line(f"ceilings measured in this run ({ceil}); %copy, %mm: fractions of them")
    if compared:
        tr.write_line("vs saved: this median / the saved run's median (lower is faster)")
    if any(r["unstable"] for r in rows):
        tr.write_line(
            f"! spread (IQR / median) above {MAX_SPREAD:.0%}: too noisy to trust; rerun on a quiet "
            "machine or with more rounds (--benchmark-min-rounds=N)",
            yellow=True,
        )
