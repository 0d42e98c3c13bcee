"""The benchmarks page (docs/tools/bench_page.py), generated from small fake benchmark runs: the
rows per kernel, device and form, the ratios written by the pairing, the unstable flag, the
links to the claims each kernel serves, the plot, and the notices with no GPU run or no run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_page", ROOT / "docs" / "tools" / "bench_page.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_page"] = mod
    spec.loader.exec_module(mod)
    return mod


bp = _load()

CLAIMS = {
    "lstm.matches-torch": "sequences/lstm.md",
    "lstm.fast-form": "sequences/lstm.md",
    "rnn.matches-torch": "sequences/rnn.md",
    "compute.matrix-beats-loop": "computation/batching.md",
}


def bench(
    group: str, impl: str, median: float, ratio: float | None, *, device: str = "cpu",
    unstable: bool = False, baseline: str = "torch", copy: float = 0.5, matmul: float = 0.02,
) -> dict[str, Any]:  # fmt: skip
    return {
        "group": f"{group}-{device}",
        "name": f"test_{group}[{device}-{impl}]",
        "params": {"bench_device": device, "impl": impl},
        "stats": {"median": median, "iqr": median * (0.5 if unstable else 0.05)},
        "extra_info": {
            "device": device, "baseline": baseline, "ratio": ratio, "unstable": unstable,
            "spread": 0.5 if unstable else 0.05, "fraction_of_copy_bandwidth": copy,
            "fraction_of_matmul_throughput": matmul,
        },
    }  # fmt: skip


def run_json(device: str = "cpu", gpu: str | None = None) -> dict[str, Any]:
    rows = [
        bench("lstm-forward", "dlspec", 4e-3, 2.0, device=device),
        bench("lstm-forward", "dlspec-fast", 1.6e-3, 0.8, device=device, unstable=True),
        bench("lstm-forward", "torch", 2e-3, 1.0, device=device),
        bench("rnn-forward", "dlspec", 3e-6, 1.25, device=device, copy=1.5),
        bench("rnn-forward", "torch", 2.4e-6, 1.0, device=device),
        bench("odd-kernel", "dlspec", 1e-3, 0.1, device=device, baseline="other"),
        bench("odd-kernel", "other", 1e-2, 1.0, device=device, baseline="other"),
        bench(
            "linear-batch-vs-loop-d64-B1024", "loop", 0.04, 600.0, device=device, baseline="batched"
        ),
        bench(
            "linear-batch-vs-loop-d64-B1024",
            "batched",
            6e-5,
            1.0,
            device=device,
            baseline="batched",
        ),
    ]
    return {
        "machine_info": {"dlspec": {"torch": "2.13.0+cpu", "cuda": "13.0" if gpu else None,
                                    "torch_threads": 2, "cpu_name": "Test CPU", "gpu": gpu}},
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "datetime": "2026-11-22T12:00:00+00:00",
        "dlspec": {"date": "2026-11-22T12:00:00+00:00", "commit": "abcdef0123456789",
                   "dirty": True, "ceilings": {device: {"copy_GBps": 5.0, "matmul_GFLOPs": 150}}},
        "benchmarks": rows,
    }  # fmt: skip


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_page_shows_each_form_with_ratio_fractions_flags_and_claims(tmp_path: Path) -> None:
    runs, problems = bp.load_runs(write(tmp_path / "bench.json", run_json()), tmp_path / "none")
    assert problems == [] and len(runs) == 1
    page = bp.render(runs, CLAIMS)
    lines = page.splitlines()
    assert "| plain | 4 ms | **2.00x** | 50% | 2.0% |" in page
    assert "| fast | 1.6 ms | **0.80x** | 50% | 2.0% | **50% unstable** |" in page
    assert "| native | 2 ms | 1 (baseline) |" in page
    assert "| plain | 3 µs | **1.25x** | 150% |" in page  # a fraction above 1 is shown as is
    assert "| loop | 40 ms | 600.00x |" in page and "batched (baseline)" in page
    # the forms in order: plain, fast, native
    at = next(i for i, ln in enumerate(lines) if ln.startswith("| [lstm-forward]"))
    assert [ln.split("|")[2].strip() for ln in lines[at : at + 3]] == ["plain", "fast", "native"]
    # claims: the mapped one and the fast form on the same page, linked to their anchors
    assert "[`lstm.matches-torch`](sequences/lstm.md#lstm.matches-torch)" in page
    assert "[`lstm.fast-form`](sequences/lstm.md#lstm.fast-form)" in page
    assert (
        "[`compute.matrix-beats-loop`](computation/batching.md#compute.matrix-beats-loop)" in page
    )
    # machine, torch, commit (the run's, not pytest-benchmark's), date; ceilings; no GPU run
    assert "Test CPU, 2 threads" in page and "2.13.0+cpu" in page
    assert "`abcdef0123` (uncommitted changes)" in page and "2026-11-22 12:00 UTC" in page
    assert "copy 5.0 GB/s, matmul 150 GFLOP/s" in page
    assert "No GPU run yet" in page and "docs/benchmarks/" in page
    # best form per kernel: lstm 0.8 (fast), rnn 1.25; geometric mean sqrt(0.8 * 1.25) = 1
    assert "geometric mean **1.00x** native over 2 kernels" in page
    assert "the slowest `rnn-forward` at 1.25x" in page
    assert f"![Ratio to native per kernel and form]({bp.FIGURE})" in page


def test_claims_not_in_the_spec_are_not_linked() -> None:
    assert bp.kernel_claims("lstm-forward-backward", CLAIMS) == [
        "lstm.matches-torch", "lstm.fast-form"]  # fmt: skip
    assert bp.kernel_claims("lstm-forward", {"lstm.matches-torch": "s.md"}) == [
        "lstm.matches-torch"
    ]
    assert bp.kernel_claims("linear-batch-vs-loop-d1-B2", CLAIMS) == ["compute.matrix-beats-loop"]
    assert bp.kernel_claims("lstmx-forward", CLAIMS) == []  # a prefix only at a word boundary
    assert bp.kernel_claims("unknown", CLAIMS) == []


def test_gpu_run_committed_beside_the_latest(tmp_path: Path) -> None:
    latest = write(tmp_path / "build" / "bench.json", run_json())
    write(tmp_path / "committed" / "h100.json", run_json("cuda", gpu="NVIDIA H100 80GB HBM3"))
    runs, _ = bp.load_runs(latest, tmp_path / "committed")
    assert [r.devices for r in runs] == [["cpu"], ["cuda"]]
    page = bp.render(runs, CLAIMS)
    assert "No GPU run yet" not in page
    assert "## cuda: NVIDIA H100 80GB HBM3" in page
    assert "[`h100.json`]" not in page and "(benchmarks/h100.json)" in page  # a download link
    svg = bp.plot_svg(runs)
    assert svg is not None and svg.lstrip().startswith(("<?xml", "<svg"))
    assert "lstm-forward [cuda]" in svg and "lstm-forward [cpu]" in svg
    assert "linear-batch-vs-loop" not in svg  # another baseline: in the tables only
    assert "odd-kernel" not in svg


def test_no_run_says_how_to_make_one(tmp_path: Path) -> None:
    runs, problems = bp.load_runs(tmp_path / "missing.json", tmp_path / "none")
    assert runs == [] and problems == []
    page = bp.render(runs, CLAIMS, figure=bp.plot_svg(runs))
    assert "No benchmark run" in page and "`nox -s bench`" in page
    assert "![" not in page and "| Kernel |" not in page


def test_unreadable_run_is_named_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "committed" / "broken.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    runs, problems = bp.load_runs(tmp_path / "missing.json", bad.parent)
    assert runs == [] and len(problems) == 1 and "broken.json" in problems[0]
    assert "Unreadable benchmark run" in bp.render(runs, CLAIMS, problems=problems)


def test_standalone_page_writes_markdown_svg_and_html(tmp_path: Path) -> None:
    runs, problems = bp.load_runs(write(tmp_path / "b.json", run_json()), tmp_path / "none")
    written = {p.name for p in bp.write_standalone(runs, problems, tmp_path / "out")}
    assert {"index.md", "ratios.svg"} <= written
    text = (tmp_path / "out" / "index.md").read_text()
    assert text.startswith("# Benchmarks") and "![Ratio to native" in text
    assert "](sequences/" not in text  # no links into a site that is not there
    if "index.html" in written:
        assert "<table>" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.parametrize(
    ("seconds", "shown"), [(2.5, "2.5 s"), (0.0123, "12.3 ms"), (4.2e-6, "4.2 µs"), (5e-9, "5 ns")]
)
def test_times_are_shown_in_their_unit(seconds: float, shown: str) -> None:
    assert bp.fmt_time(seconds) == shown


def test_kept_run_drops_the_per_round_timings(tmp_path: Path) -> None:
    data = run_json()
    data["machine_info"]["node"] = "my-host"
    for b in data["benchmarks"]:
        b["stats"]["data"] = [b["stats"]["median"]] * 1000
    kept = bp.keep_run(write(tmp_path / "bench.json", data), "h100", tmp_path / "committed")
    assert kept == tmp_path / "committed" / "h100.json"
    back = json.loads(kept.read_text())
    assert all("data" not in b["stats"] for b in back["benchmarks"])
    assert "node" not in back["machine_info"]
    runs, problems = bp.load_runs(tmp_path / "none.json", tmp_path / "committed")
    assert problems == [] and len(runs[0].rows) == len(data["benchmarks"])
    with pytest.raises(ValueError, match="plain file name"):
        bp.keep_run(tmp_path / "bench.json", "../elsewhere", tmp_path / "committed")


def test_every_mapped_claim_is_on_a_spec_page() -> None:
    from dlspec.claims import read_spec

    ids = {c.id for c in read_spec(ROOT / "spec").claims}
    missing = {k: [c for c in v if c not in ids] for k, v in bp.KERNEL_CLAIMS.items()}
    assert not {k: v for k, v in missing.items() if v}, "KERNEL_CLAIMS names unknown claims"


def test_site_hook_fills_the_benchmarks_placeholder(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    from types import SimpleNamespace

    from dlspec.claims import SpecClaim

    spec = importlib.util.spec_from_file_location("dlspec_hook", ROOT / "docs/hooks/claims.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    sys.modules["dlspec_hook"] = hook  # dataclasses look their module up
    spec.loader.exec_module(hook)
    claims = [SpecClaim("lstm.matches-torch", "diff", "sequences/lstm.md", 1, "s")]
    hook.site = hook.Site(
        ROOT, ROOT / "spec", ["sequences/lstm.md"], claims, [], tmp_path / "claims.json", None,
        "c1", False, {}, {},
    )  # fmt: skip
    hook.site.bench_runs = [hook.bench_page.parse_run(run_json(), "build/bench.json")]
    hook.site.bench_figure = bp.FIGURE
    page = SimpleNamespace(file=SimpleNamespace(src_uri="benchmarks.md", src_dir=str(ROOT)))
    out = hook.on_page_markdown("# B\n\n<!-- dlspec:benchmarks -->\n", page, None, None)
    assert "<!-- dlspec" not in out and "| [lstm-forward](#kernel-lstm-forward) | plain |" in out
    assert "[`lstm.matches-torch`](sequences/lstm.md#lstm.matches-torch)" in out
    assert "lstm.fast-form" not in out  # not on the (fake) spec: not linked
    assert f"]({bp.FIGURE})" in out
