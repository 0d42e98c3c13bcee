"""The benchmarks page, generated from benchmark runs (pytest-benchmark JSON written by
``nox -s bench``): per kernel, device and form the median time, the ratio to the native kernel,
the fractions of the copy bandwidth and the matmul throughput measured in the same run, a flag
on unstable timings, a plot of the ratios, and the machine, torch, commit and date of each run.

Two uses:

- the site's build hook (``docs/hooks/claims.py``) fills the placeholder of ``docs/benchmarks.md``
  with :func:`render` and adds the plot (:func:`plot_svg`) and the latest run's JSON to the site;
- standalone, after ``nox -s bench``: ``python docs/tools/bench_page.py`` writes
  ``build/benchmarks/index.md``, ``ratios.svg`` and ``index.html`` (a page that opens without
  building the site) and prints where they are; ``--keep h100`` first copies the latest run,
  without the timings of each round, to ``docs/benchmarks/h100.json`` to be committed.

The runs: the latest one, ``build/bench.json`` (``DLSPEC_BENCH`` overrides it), and every run
committed under ``docs/benchmarks/*.json`` (e.g. one from a GPU machine: CI has none). The
pairing (``extra_info.ratio``) is computed when the run is written, by
``tests/benchmarks/conftest.py``; this module only reads it. No torch, pytest or mkdocs needed
(matplotlib for the plot, ``markdown`` for the standalone HTML).
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LATEST = Path(os.environ.get("DLSPEC_BENCH", ROOT / "build" / "bench.json"))
COMMITTED = ROOT / "docs" / "benchmarks"  # reviewed runs, e.g. from a GPU machine
FIGURE = "assets/benchmarks/ratios.svg"  # the plot's path in the site
LATEST_URI = "assets/benchmarks/bench.json"  # the latest run's JSON in the site
BASELINE = "torch"
FORM_NAMES = {"dlspec": "plain", "dlspec-fast": "fast", "torch": "native"}
FORM_ORDER = ["dlspec", "dlspec-fast"]
# the ratios labelled on the plot's axis: finely over a narrow range, coarsely over a wide one
TICKS = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100]
COARSE_TICKS = [0.01, 0.1, 0.5, 1, 2, 5, 10, 100, 1000, 10000]
TARGETS = {"cpu": (1.5, 1.2), "cuda": (1.2, 1.0)}  # issue 11: best form at most, geomean at most

#: Which claims each kernel's benchmark serves: the longest key that starts the kernel's name
#: (its group without the device) applies. A fast form's claim (`<topic>.fast-form`) on the page
#: of one of these claims is linked too; IDs the spec does not hold are left out.
KERNEL_CLAIMS: dict[str, list[str]] = {
    "dropout": ["dropout.expectation"],
    "sigmoid": ["net.neuron-logistic"],
    "softmax": ["net.softmax"],
    "log_softmax": ["net.softmax", "loss.ce-is-nll-categorical"],
    "cross-entropy": ["loss.ce-is-nll-categorical", "loss.logistic-gradient"],
    "linear-batch-vs-loop": ["compute.matrix-beats-loop"],
    "linear": ["net.forward-matrix-form"],
    "backprop": ["opt.backprop-equals-autograd"],
    "conv2d": ["conv.sparse-tied-linear", "conv.translation-equivariance"],
    "max-pool2d": ["pool.max-example", "pool.local-invariance"],
    "rnn": ["rnn.matches-torch"],
    "lstm": ["lstm.matches-torch"],
    "gd": ["opt.gd-update"],
    "adagrad": ["opt.adagrad-torch", "opt.adagrad-simplified"],
    "clip-norm": ["clip.by-norm"],
    "pca": ["pca.max-variance", "ae.optimal-is-projection"],
    "linear-autoencoder": ["ae.linear-spans-pca", "ae.linear-optimal-error"],
    "categorical": ["generate.ar-sequential"],
    "gan-value": ["gan.optimal-discriminator"],
    "jsd": ["gan.jsd"],
}


@dataclass
class Row:
    """One form of one kernel on one device in one run."""

    kernel: str  # the group without its device, e.g. "linear-forward"
    device: str
    impl: str
    median: float  # seconds
    ratio: float | None
    copy: float | None  # fraction of the measured copy bandwidth
    matmul: float | None  # fraction of the measured matmul throughput
    unstable: bool
    spread: float | None
    baseline: str = BASELINE


@dataclass
class Run:
    """One benchmark JSON."""

    label: str  # where it came from, e.g. "build/bench.json"
    uri: str | None  # its path in the site, for a download link
    machine: dict[str, Any]
    info: dict[str, Any]  # date, commit, ceilings (written by the benchmarks' conftest)
    rows: list[Row] = field(default_factory=list)

    @property
    def devices(self) -> list[str]:
        return sorted({r.device for r in self.rows}, key=lambda d: (d != "cpu", d))


# -------------------------------------------------------------------------------- reading


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def parse_run(data: dict[str, Any], label: str, uri: str | None = None) -> Run:
    """A pytest-benchmark JSON as a :class:`Run` (rows without a median are skipped)."""
    machine = dict(data.get("machine_info") or {})
    mine = dict(machine.get("dlspec") or {})
    info = dict(data.get("dlspec") or {})
    info.setdefault("date", data.get("datetime"))
    commit = data.get("commit_info") or {}
    info.setdefault("commit", commit.get("id"))
    info.setdefault("dirty", commit.get("dirty"))
    run = Run(label, uri, {**machine, **mine}, info)
    for b in data.get("benchmarks") or []:
        extra = b.get("extra_info") or {}
        params = b.get("params") or {}
        median = _number((b.get("stats") or {}).get("median"))
        if median is None:
            continue
        device = str(extra.get("device") or params.get("bench_device") or "cpu")
        group = str(b.get("group") or b.get("name"))
        kernel = group.removesuffix(f"-{device}")
        run.rows.append(
            Row(
                kernel=kernel, device=device, impl=str(params.get("impl", b.get("param"))),
                median=median, ratio=_number(extra.get("ratio")),
                copy=_number(extra.get("fraction_of_copy_bandwidth")),
                matmul=_number(extra.get("fraction_of_matmul_throughput")),
                unstable=bool(extra.get("unstable")), spread=_number(extra.get("spread")),
                baseline=str(extra.get("baseline") or BASELINE),
            )
        )  # fmt: skip
    return run


def load_runs(latest: Path = LATEST, committed: Path = COMMITTED) -> tuple[list[Run], list[str]]:
    """The latest run (if written) then the committed ones; and the files that could not be
    read (named on the page, never a crash of the build)."""
    runs, problems = [], []
    sources = [(latest, LATEST_URI)] if latest.is_file() else []
    if committed.is_dir():
        sources += [(p, f"benchmarks/{p.name}") for p in sorted(committed.glob("*.json"))]
    for path, uri in sources:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            runs.append(parse_run(data, _shown(path), uri))
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
            problems.append(f"`{_shown(path)}`: {type(e).__name__}: {e}")
    return runs, problems


def _shown(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


# ----------------------------------------------------------------------------- claims


def kernel_claims(kernel: str, spec_claims: dict[str, str]) -> list[str]:
    """The claim IDs ``kernel`` serves that the spec holds (``spec_claims``: ID -> page),
    with the fast-form claims on their pages."""
    keys = [k for k in KERNEL_CLAIMS if kernel == k or kernel.startswith(k + "-")]
    if not keys:
        return []
    ids = [c for c in KERNEL_CLAIMS[max(keys, key=len)] if c in spec_claims]
    pages = {spec_claims[c] for c in ids}
    fast = sorted(c for c, p in spec_claims.items() if p in pages and c.endswith(".fast-form"))
    return ids + [c for c in fast if c not in ids]


def claim_links(ids: list[str], spec_claims: dict[str, str], link: bool) -> str:
    if not ids:
        return "—"
    if not link:
        return ", ".join(f"`{c}`" for c in ids)
    return ", ".join(f"[`{c}`]({spec_claims[c]}#{c})" for c in ids)


# ------------------------------------------------------------------------------- formats


def form_name(impl: str) -> str:
    return FORM_NAMES.get(impl, impl)


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_fraction(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def fmt_ratio(row: Row) -> str:
    if row.ratio is None:
        return "—"
    if row.impl == row.baseline:
        return "1 (baseline)"
    return f"**{row.ratio:.2f}x**" if row.impl in FORM_ORDER else f"{row.ratio:.2f}x"


def when(value: Any) -> str:
    if not value:
        return "time unknown"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def machine_name(run: Run, device: str) -> str:
    m = run.machine
    if device.startswith("cuda"):
        return str(m.get("gpu") or "a CUDA GPU")
    cpu = m.get("cpu_name") or (m.get("cpu") or {}).get("brand_raw") or m.get("processor")
    return f"{cpu or 'CPU'}, {m.get('torch_threads', '?')} threads"


def _order(row: Row) -> tuple[int, str]:
    if row.impl in FORM_ORDER:
        return FORM_ORDER.index(row.impl), row.impl
    return (len(FORM_ORDER) + 1, row.impl) if row.impl == row.baseline else (2, row.impl)


def kernels(run: Run, device: str) -> dict[str, list[Row]]:
    """Kernel -> its rows on ``device``, dlspec's forms first and the baseline last."""
    out: dict[str, list[Row]] = {}
    for r in sorted((r for r in run.rows if r.device == device), key=lambda r: r.kernel):
        out.setdefault(r.kernel, []).append(r)
    return {k: sorted(rows, key=_order) for k, rows in out.items()}


def best_ratios(run: Run, device: str) -> dict[str, float]:
    """Kernel -> the ratio of its best dlspec form to the native kernel (groups with a torch
    baseline only)."""
    out = {}
    for kernel, rows in kernels(run, device).items():
        ratios = [r.ratio for r in rows if r.impl in FORM_ORDER and r.baseline == BASELINE]
        if ratios and all(x is not None for x in ratios):
            out[kernel] = min(x for x in ratios if x is not None)
    return out


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


# ------------------------------------------------------------------------------- the page


def render(
    runs: list[Run],
    spec_claims: dict[str, str],
    *,
    figure: str | None = FIGURE,
    link: bool = True,
    problems: list[str] | None = None,
) -> str:
    """The page's Markdown (without its title). ``spec_claims``: claim ID -> spec page (the
    claims' anchors); ``figure``: the plot's path relative to the page, None without one;
    ``link``: link claims and run files (False for the standalone page)."""
    out = [
        "Each benchmark times one kernel on identical inputs in each of its forms: **plain** (the "
        "form the claims test, written line by line with the math), **fast** (where the kernel "
        "has one) and PyTorch's **native** kernel, the baseline. Before timing, each form's "
        "output and gradients are checked against the native one. The **ratio** is the form's "
        "median time over the native median (below 1 is faster). **Copy** and **matmul** are "
        "the fractions of the copy bandwidth (analytic bytes moved / time) and of the float32 "
        "matmul throughput (analytic FLOPs / time) measured in the same run on the same device: "
        "a memory-bound kernel is judged by the first, a matmul-bound one by the second. "
        "**Unstable** marks a timing whose interquartile range exceeds 25% of its median: too "
        "noisy to trust. A fraction above 100% means the data stayed in cache (the ceilings "
        "stream from memory) or the machine was busier while the ceiling was measured. Timings "
        "are reported, never used as a gate.",
        "",
    ]
    for p in problems or []:
        out += [_admonition("failure", "Unreadable benchmark run", p), ""]
    if not runs:
        out += [
            _admonition(
                "warning",
                "No benchmark run",
                "No benchmark run was found: `build/bench.json` is missing and no run is "
                "committed under `docs/benchmarks/`. Run `nox -s bench` to time the kernels "
                "(it writes `build/bench.json` and this page), then rebuild the site.",
            ),
            "",
        ]
        return "\n".join(out)
    if not any(d.startswith("cuda") for run in runs for d in run.devices):
        out += [
            _admonition(
                "info",
                "No GPU run yet",
                "Every run shown here is from a CPU. No run from a GPU machine is committed yet: "
                "run `nox -s bench` on one, keep its run with `python docs/tools/bench_page.py "
                "--keep <gpu>` (it writes `docs/benchmarks/<gpu>.json`) and commit that file "
                "(see the README) to show CUDA figures here.",
            ),
            "",
        ]
    out += ["## Runs", "", runs_table(runs, link), ""]
    if figure:
        out += [
            "## Ratios",
            "",
            f"![Ratio to native per kernel and form]({figure})",
            "Ratio of each dlspec form's median to the native median, per kernel (log scale; "
            "hatched: unstable timing). The solid line marks parity (1.0), the dashed one 1.5x, "
            "the CPU target for each kernel's best form.",
            "{ .dls-figure }",
            "",
        ]
    many = len(runs) > 1
    for run in runs:
        for device in run.devices:
            title = f"{device.upper() if device == 'cpu' else device}: {machine_name(run, device)}"
            out += [f"## {title}" + (f" ({run.label})" if many else ""), ""]
            out += [summary(run, device), "", kernel_table(run, device), ""]
    out += ["## Kernels and their claims", "", claims_table(runs, spec_claims, link), ""]
    return "\n".join(out)


def runs_table(runs: list[Run], link: bool) -> str:
    lines = ["| Run | Machine | torch · CUDA | Commit | Date |", "|---|---|---|---|---|"]
    for run in runs:
        m, info = run.machine, run.info
        name = f"[`{run.label}`]({run.uri})" if link and run.uri else f"`{run.label}`"
        commit = f"`{str(info.get('commit') or 'unknown')[:10]}`"
        commit += " (uncommitted changes)" if info.get("dirty") else ""
        machines = "<br>".join(f"{d}: {html.escape(machine_name(run, d))}" for d in run.devices)
        cells = [name, machines, f"{m.get('torch') or '—'} · {m.get('cuda') or 'no CUDA'}",
                 commit, when(info.get("date"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(run: Run, device: str) -> str:
    """A line of the device's ceilings, the best forms' ratios and the unstable count."""
    parts = []
    ceil = (run.info.get("ceilings") or {}).get(device) or {}
    if ceil:
        parts.append(
            f"Ceilings measured in this run: copy {ceil.get('copy_GBps', 0):.1f} GB/s, matmul "
            f"{ceil.get('matmul_GFLOPs', 0):.0f} GFLOP/s."
        )
    best = best_ratios(run, device)
    if best:
        worst = max(best, key=best.__getitem__)
        parts.append(
            f"Best form per kernel: geometric mean **{geomean(list(best.values())):.2f}x** native "
            f"over {len(best)} kernels, the slowest `{worst}` at {best[worst]:.2f}x."
        )
        limit, mean = TARGETS["cuda" if device.startswith("cuda") else "cpu"]
        parts.append(f"(Targets: each at most {limit}x, the geometric mean at most {mean}x.)")
    n = sum(r.unstable for r in run.rows if r.device == device)
    if n:
        parts.append(f"{n} timings are unstable: rerun on a quiet machine.")
    return " ".join(parts)


def kernel_table(run: Run, device: str) -> str:
    lines = [
        "| Kernel | Form | Median | Ratio to native | Copy | Matmul | Spread |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for kernel, rows in kernels(run, device).items():
        for i, r in enumerate(rows):
            spread = "—" if r.spread is None else f"{r.spread:.0%}"
            spread = f"**{spread} unstable**" if r.unstable else spread
            form = form_name(r.impl) + (" (baseline)" if r.impl == r.baseline != BASELINE else "")
            name = f"[{kernel}](#{anchor(kernel)})" if i == 0 else ""
            cells = [name, form, fmt_time(r.median), fmt_ratio(r), fmt_fraction(r.copy),
                     fmt_fraction(r.matmul), spread]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def anchor(kernel: str) -> str:
    return f"kernel-{kernel}"


def claims_table(runs: list[Run], spec_claims: dict[str, str], link: bool) -> str:
    """Each kernel benchmarked in any run, with the claims it serves."""
    names = sorted({r.kernel for run in runs for r in run.rows})
    lines = ["| Kernel | Claims it serves |", "|---|---|"]
    for kernel in names:
        ids = kernel_claims(kernel, spec_claims)
        lines.append(
            f"| <span id='{anchor(kernel)}'></span>`{kernel}` "
            f"| {claim_links(ids, spec_claims, link)} |"
        )
    return "\n".join(lines)


def _admonition(kind: str, title: str, text: str) -> str:
    return f'!!! {kind} "{title}"\n\n    {text}'


# ------------------------------------------------------------------------------- the plot


def plot_svg(runs: list[Run]) -> str | None:
    """A horizontal bar chart of the ratio to native of dlspec's forms, per kernel and device
    (log scale, lines at 1.0 and 1.5), as SVG text; None when no row has one. Groups with
    another baseline (the batch-vs-loop comparison) are in the tables only."""
    bars = []  # (label, form, ratio, unstable)
    many = len(runs) > 1
    for run in runs:
        for device in run.devices:
            for kernel, rows in kernels(run, device).items():
                label = f"{kernel} [{device}]" + (f" {run.label}" if many else "")
                bars += [
                    (label, form_name(r.impl), r.ratio, r.unstable)
                    for r in rows
                    if r.ratio is not None
                    and r.ratio > 0
                    and r.impl in FORM_ORDER
                    and r.baseline == BASELINE
                ]
    if not bars:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = {"plain": "#3f51b5", "fast": "#e65100"}
    labels = list(dict.fromkeys(b[0] for b in bars))
    forms = list(dict.fromkeys(b[1] for b in bars))
    height = 0.8 / len(forms)
    plt.rcParams["svg.hashsalt"] = "dlspec-bench"  # stable ids: the same run gives the same SVG
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(labels) * max(1, len(forms) * 0.6)))
    for j, form in enumerate(forms):
        ys, xs, hatches = [], [], []
        for label, f, ratio, unstable in bars:
            if f == form:
                ys.append(labels.index(label) + (j - (len(forms) - 1) / 2) * height)
                xs.append(ratio)
                hatches.append("//" if unstable else "")
        drawn = ax.barh(ys, xs, height=height, label=form, color=colors.get(form, "#757575"))
        for patch, hatch in zip(drawn, hatches, strict=True):
            patch.set_hatch(hatch)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.axvline(1.5, color="black", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    lo, hi = min(b[2] for b in bars), max(b[2] for b in bars)
    ticks = [t for t in (TICKS if hi / lo < 20 else COARSE_TICKS) if lo / 2 <= t <= hi * 2]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(min(lo, 1.0) / 1.25, max(hi, 1.5) * 1.25)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median time / native median (log scale; < 1 is faster)")
    from matplotlib.patches import Patch

    handles = [Patch(color=colors.get(f, "#757575"), label=f) for f in forms]
    if any(b[3] for b in bars):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="unstable"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------- standalone


def spec_claims(spec_dir: Path = ROOT / "spec") -> dict[str, str]:
    """Claim ID -> its spec page, read from the spec pages."""
    sys.path.insert(0, str(ROOT / "impl"))
    from dlspec.claims import read_spec

    return {c.id: c.page for c in read_spec(spec_dir).claims}


def write_standalone(runs: list[Run], problems: list[str], out: Path) -> list[Path]:
    """``index.md``, ``ratios.svg`` and (with the ``markdown`` package) ``index.html`` in
    ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    svg = plot_svg(runs)
    written = []
    if svg:
        (out / "ratios.svg").write_text(svg, encoding="utf-8")
        written.append(out / "ratios.svg")
    body = render(runs, spec_claims(), figure="ratios.svg" if svg else None, link=False,
                  problems=problems)  # fmt: skip
    text = "# Benchmarks\n\n" + body + "\n"
    (out / "index.md").write_text(text, encoding="utf-8")
    written.append(out / "index.md")
    try:
        import markdown
    except ImportError:
        return written
    content = markdown.markdown(text, extensions=["tables", "admonition", "attr_list"])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>dlspec benchmarks</title>"
        f"<style>{STYLE}</style></head><body>{content}</body></html>\n"
    )
    (out / "index.html").write_text(page, encoding="utf-8")
    written.append(out / "index.html")
    return written


STYLE = (
    "body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.4}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
    "td:nth-child(n+3){text-align:right}.admonition{border-left:4px solid #3f51b5;"
    "padding:.5rem 1rem;background:#f5f5ff}.admonition-title{font-weight:bold}"
    "img{max-width:100%;display:block}"
)


def keep_run(source: Path, name: str, committed: Path = COMMITTED) -> Path:
    """Copy the run ``source`` to ``committed/<name>.json`` for the site, without the timings
    of each round (pytest-benchmark's ``stats.data``: most of the file) and the node name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"name must be a plain file name such as 'h100', got {name!r}")
    data = json.loads(source.read_text(encoding="utf-8"))
    for b in data.get("benchmarks") or []:
        (b.get("stats") or {}).pop("data", None)
    (data.get("machine_info") or {}).pop("node", None)
    committed.mkdir(parents=True, exist_ok=True)
    target = committed / f"{name.removesuffix('.json')}.json"
    target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=LATEST, help="the latest run")
    parser.add_argument("--committed", type=Path, default=COMMITTED, help="committed runs")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="copy the latest run (--json), without per-round timings, to <committed>/NAME.json "
        "to commit it (e.g. a GPU run: --keep h100)",
    )
    args = parser.parse_args(argv)
    if args.keep:
        kept = keep_run(args.json, args.keep, args.committed)
        print(f"bench_page: kept {_shown(args.json)} as {_shown(kept)}: review and commit it")
    runs, problems = load_runs(args.json, args.committed)
    written = write_standalone(runs, problems, args.out)
    names = ", ".join(p.name for p in written)
    print(f"bench_page: {len(runs)} run(s) -> {_shown(args.out)}/ ({names})")
    html_page = args.out / "index.html"
    if html_page.is_file():
        print(f"bench_page: open {html_page.resolve().as_uri()}")
    print("bench_page: on the site: `nox -s docs` (the Benchmarks page)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
