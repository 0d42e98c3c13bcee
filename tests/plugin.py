"""The claim machinery as a pytest plugin (loaded by the root ``conftest.py``).

- ``@pytest.mark.claim("id", ...)`` binds a test to claims on the spec pages. An unknown ID fails
  collection; a full run fails when a claim on a page has no test, or a page breaks the
  claim-block conventions (duplicate IDs included).
- ``--claim ID`` (repeatable, globs allowed) runs only the tests of those claims.
- Tests that take a ``device`` and/or ``dtype`` argument are parametrized from ``--device`` and
  ``--dtype`` (ids like ``[cpu-float64]``); ``@pytest.mark.dtypes("float64")`` restricts dtypes.
- The ``evidence`` fixture records values and figures for the site.
- ``--claims-json=PATH`` writes the report (see CONTRIBUTING.md), also under pytest-xdist: test
  data travels on the reports' ``user_properties`` and the controller aggregates. A filtered run
  (``--claim``, ``-k``, ``-m``, some paths, or a test module that failed to collect) merges its
  results into the report already at PATH: the claims it did not run keep their last result,
  each stamped with the commit and time of its own run.
- ``@pytest.mark.meta_for_cpu``: the test takes ``device`` but runs on ``meta`` where
  ``--device`` names ``cpu`` (the device-agnostic check: on the host, meta catches what cpu hides).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import fnmatch
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import torch

from dlspec.claims import (
    STATUSES,
    SpecIndex,
    chapter_rank,
    combine_status,
    git_state,
    load_report,
    merge_reports,
    read_spec,
)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
KNOWN_DTYPES = {"float16", "bfloat16", "float32", "float64"}
_PROP = "dlspec"  # key of our entry in user_properties

# -- hypothesis profiles -------------------------------------------------------------------------


class _TorchRandom:
    """torch's global RNG in the shape ``hypothesis.register_random`` expects."""

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def getstate(self) -> torch.Tensor:
        return torch.get_rng_state()

    def setstate(self, state: torch.Tensor) -> None:
        torch.set_rng_state(state)


_TORCH_RANDOM = _TorchRandom()  # hypothesis keeps only a weak reference
hypothesis.register_random(_TORCH_RANDOM)  # type: ignore[arg-type]
_base = {"deadline": None, "print_blob": True}
hypothesis.settings.register_profile("dev", max_examples=25, **_base)
hypothesis.settings.register_profile(
    "ci",
    max_examples=50,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
    **_base,
)
hypothesis.settings.register_profile("thorough", max_examples=1000, **_base)
# `nox -s quick`: fast local feedback (the slow seeded experiments are left out there)
hypothesis.settings.register_profile("quick", max_examples=8, **_base)
hypothesis.settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


# -- options and configuration -------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dlspec", "dlspec claims")
    g.addoption(
        "--claim",
        action="append",
        default=[],
        metavar="ID",
        help="run only the tests bound to this claim (repeatable; globs such as 'dropout.*')",
    )
    g.addoption(
        "--device",
        default="auto",
        help="comma-separated torch devices to test on; 'auto' = cpu, plus cuda when available",
    )
    g.addoption(
        "--dtype",
        default="float32,float64",
        help="comma-separated dtypes for tests that take a dtype (default: float32,float64)",
    )
    g.addoption(
        "--claims-json",
        default=None,
        metavar="PATH",
        help="write the claims report (status and evidence per claim) to PATH",
    )
    g.addoption("--spec-dir", default=str(ROOT / "spec"), help="folder of the spec pages")
    g.addoption("--bench", action="store_true", help="collect the benchmarks in tests/benchmarks")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(*ids): the spec claims this test decides")
    config.addinivalue_line("markers", "dtypes(*names): the only dtypes this test runs in")
    config.addinivalue_line("markers", "slow: a seeded experiment or long run; not in nox -s quick")
    config.addinivalue_line(
        "markers", "meta_for_cpu: run on the meta device where --device names cpu"
    )
    config.addinivalue_line(
        "markers", "takes_dtype: set by the plugin on every test parametrized by --dtype"
    )
    config.stash[_spec_key] = read_spec(config.getoption("--spec-dir"))
    config.stash[_devices_key] = _parse_devices(config.getoption("--device"))
    config.stash[_dtypes_key] = _parse_dtypes(config.getoption("--dtype"))
    if hasattr(config, "workerinput"):  # an xdist worker: share the cores, don't oversubscribe
        workers = int(config.workerinput.get("workercount", 1))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    else:  # the controller (or the only process)
        _check_spec(config)
        config.pluginmanager.register(Recorder(config), "dlspec-recorder")


def _check_spec(config: pytest.Config) -> None:
    """Fail fast on broken spec pages and on ``--claim`` patterns that match nothing."""
    spec = config.stash[_spec_key]
    if spec.problems:
        raise pytest.UsageError(
            "the spec pages break the claim conventions (see CONTRIBUTING.md):\n"
            + "\n".join(f"  {p}" for p in spec.problems)
        )
    known = list(spec.by_id())
    for pattern in config.getoption("--claim"):
        if not any(fnmatch.fnmatchcase(cid, pattern) for cid in known):
            close = difflib.get_close_matches(pattern, known, n=3)
            raise pytest.UsageError(
                f"--claim {pattern!r} matches no claim on the spec pages"
                + (f"; did you mean {', '.join(close)}?" if close else "")
            )


_spec_key = pytest.StashKey[SpecIndex]()
_bound_key = pytest.StashKey[set[str]]()  # claims some collected test is bound to
_devices_key = pytest.StashKey[list[str]]()
_dtypes_key = pytest.StashKey[list[str]]()


def _parse_devices(value: str) -> list[str]:
    devices: list[str] = []
    for name in (v.strip() for v in value.split(",") if v.strip()):
        if name == "auto":
            devices += ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            continue
        try:
            torch.device(name)
        except RuntimeError as e:
            raise pytest.UsageError(f"--device: {name!r} is not a torch device ({e})") from None
        devices.append(name)
    if not devices:
        raise pytest.UsageError("--device: give at least one device, e.g. --device cpu")
    return list(dict.fromkeys(devices))


def _parse_dtypes(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in KNOWN_DTYPES]
    if bad or not names:
        raise pytest.UsageError(
            f"--dtype: {', '.join(bad) or 'nothing'} given; choose from {sorted(KNOWN_DTYPES)}"
        )
    return list(dict.fromkeys(names))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name == "benchmarks" and not config.getoption("--bench"):
        return True
    return None


# -- device and dtype parameters -----------------------------------------------------------------


def _device_marks(name: str | None) -> list[pytest.MarkDecorator]:
    """A skip, with its reason, for a requested device this machine lacks."""
    if name and name.startswith("cuda") and not torch.cuda.is_available():
        return [pytest.mark.skip(reason=f"{name} requested but CUDA is not available")]
    if name == "mps" and not torch.backends.mps.is_available():
        return [pytest.mark.skip(reason="mps requested but not available")]
    return []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the ``device`` and ``dtype`` arguments: ids like ``[cpu-float64]``."""
    config = metafunc.config
    own = {
        n.strip()
        for m in metafunc.definition.iter_markers("parametrize")
        for n in (m.args[0].split(",") if isinstance(m.args[0], str) else m.args[0])
    }  # a test that parametrizes device or dtype itself keeps its own values
    names = [n for n in ("device", "dtype") if n in metafunc.fixturenames and n not in own]
    if not names:
        return
    devices: list[str | None] = list(config.stash[_devices_key]) if "device" in names else [None]
    if "device" in names and metafunc.definition.get_closest_marker("meta_for_cpu"):
        devices = list(dict.fromkeys("meta" if d == "cpu" else d for d in devices))
    dtypes: list[str | None] = [None]
    marks = []
    if "dtype" in names:
        dtypes = list(config.stash[_dtypes_key])
        if marker := metafunc.definition.get_closest_marker("dtypes"):
            if unknown := set(marker.args) - KNOWN_DTYPES:
                raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown dtypes {unknown}")
            dtypes = [d for d in dtypes if d in marker.args]
            if not dtypes:  # e.g. an exact identity asked to run in float32 only
                reason = f"runs only in {', '.join(marker.args)}, which --dtype excludes"
                marks.append(pytest.mark.skip(reason=reason))
                dtypes = list(marker.args[:1])
    if "dtype" in names:
        marks.append(pytest.mark.takes_dtype)
    params = []
    for dev in devices:
        for dt_name in dtypes:
            values = [v for v in (dev, getattr(torch, dt_name) if dt_name else None) if v]
            ident = "-".join(v for v in (dev, dt_name) if v)
            params.append(pytest.param(*values, marks=marks + _device_marks(dev), id=ident))
    metafunc.parametrize(names if len(names) > 1 else names[0], params)


# -- collection: claim IDs, --claim selection, coverage -----------------------------------------


def _claims_of(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("claim"):
        if not mark.args or not all(isinstance(a, str) for a in mark.args):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.claim needs claim ID strings")
        ids += mark.args
    return list(dict.fromkeys(ids))


def _is_complete(config: pytest.Config) -> bool:
    """Whether this run is the whole suite: no selection by claim, keyword, marker or path."""
    if config.getoption("--claim") or config.getoption("keyword") or config.getoption("markexpr"):
        return False
    if config.getoption("lf", False) or config.getoption("deselect", None):
        return False
    root = config.rootpath
    whole = {root, *(root / p for p in config.getini("testpaths"))}
    return all(
        (config.invocation_params.dir / a.split("::")[0]).resolve() in whole for a in config.args
    )


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[pytest.CollectReport]:
    """A test that cites a claim no spec page defines is a collection error of its module."""
    rep: pytest.CollectReport = yield
    if rep.outcome != "passed":
        return rep
    known = collector.config.stash[_spec_key].by_id()
    unknown = []
    for item in rep.result:
        if isinstance(item, pytest.Item):
            for cid in _claims_of(item):
                if cid not in known:
                    close = difflib.get_close_matches(cid, list(known), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    unknown.append(f"{item.nodeid}: unknown claim {cid!r}{hint}")
    if unknown:
        rep.outcome = "failed"
        rep.longrepr = "tests cite claims that no spec page defines:\n  " + "\n  ".join(unknown)
        rep.result = []
    return rep


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: every collected test counts as bound
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Attach each test's claims, device and dtype to it; note the bound claims; apply
    ``--claim``."""
    claims_of: dict[pytest.Item, list[str]] = {}
    bound = config.stash.setdefault(_bound_key, set())
    for item in items:
        params = getattr(item, "callspec", None)
        dtype = params.params.get("dtype") if params else None
        claims_of[item] = _claims_of(item)
        bound.update(claims_of[item])
        item.user_properties.append(
            (
                _PROP,
                {
                    "claims": claims_of[item],
                    "device": params.params.get("device") if params else None,
                    "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
                },
            )
        )
    wanted = config.getoption("--claim")
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        hit = any(fnmatch.fnmatchcase(c, p) for c in claims_of[item] for p in wanted)
        (keep if hit else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# -- evidence and per-test data -------------------------------------------------------------------


class Evidence:
    """What a test records for the site beside its claims: named values and figures."""

    def __init__(self, item: pytest.Item, figure_dir: Path) -> None:
        self._item = item
        self._dir = figure_dir

    def value(self, name: str, value: float | int | str | bool | list[Any]) -> None:
        """Record a measured value (JSON-serializable) under ``name``."""
        json.dumps(value)
        self._item.user_properties.append(("dlspec-value", [name, value]))

    def figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<figures>/<name>.svg`` and attach it to the claims."""
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise ValueError(f"figure name {name!r}: use letters, digits, '-' and '_' only")
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{name}.svg"
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
        self._item.user_properties.append(("dlspec-figure", f"figures/{name}.svg"))
        return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one CPU thread for the test, restored after (see tests/threads.py)."""
    from tests.threads import one_thread as block

    with block():
        yield


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record values and figures that the site shows beside the test's claims."""
    report = request.config.getoption("--claims-json")
    base = Path(report).resolve().parent if report else BUILD
    return Evidence(request.node, base / "figures")


def _count_examples(stats: dict[str, Any]) -> int:
    cases = 0
    for key, phase in stats.items():
        if key.endswith("-phase") and isinstance(phase, dict):
            cases += sum(1 for t in phase.get("test-cases", []) if t.get("status") == "valid")
    return cases


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Count hypothesis examples (via its statistics collector, an unstable API: degrade)."""
    try:
        from hypothesis.statistics import collector
    except ImportError:  # pragma: no cover
        return (yield)
    previous = collector.value
    counted: list[int] = []

    def note(stats: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            counted.append(_count_examples(stats))
        if previous is not None:
            previous(stats)

    try:
        with collector.with_value(note):
            return (yield)
    finally:
        if counted:
            item.user_properties.append(("dlspec-examples", sum(counted)))


# -- aggregation and the report -------------------------------------------------------------------


def _failure_message(report: pytest.TestReport) -> str:
    """What failed, short: the ``E`` lines (the assertion message) and where it was raised."""
    text = report.longreprtext.strip()
    lines = text.splitlines()
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    where = next((ln for ln in reversed(lines) if ln.startswith(("tests/", "impl/"))), "")
    body = "\n".join(errors[:12] + (["…"] if len(errors) > 12 else [])) or "\n".join(lines[-12:])
    prefix = "" if report.when == "call" else f"[in {report.when}] "
    return prefix + body + (f"\n({where})" if where else "")


def _headline(message: str | None) -> str:
    """The first line of a failure message."""
    return (message or "").strip().split("\n", 1)[0][:300]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, send the claims its collected tests are bound to to the controller."""
    config = session.config
    if hasattr(config, "workeroutput"):
        config.workeroutput["dlspec_bound"] = sorted(config.stash.get(_bound_key, set()))


class Recorder:
    """Gathers test outcomes on the controller, writes the report, prints the claim summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict[str, Any]] = {}
        self.collection_errors: dict[str, str] = {}  # nodeid -> message
        self.bound: set[str] = set()  # from xdist workers; the stash holds the local ones
        self.start = time.time()
        self.report: dict[str, Any] | None = None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = report.longreprtext.strip() or "collection failed"
            self.collection_errors.setdefault(report.nodeid or ".", text)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.bound.update(getattr(node, "workeroutput", {}).get("dlspec_bound", []))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(p for p in report.user_properties if p[0] == _PROP)
        if _PROP not in props:
            return
        r = self.results.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                **props[_PROP],
                "outcome": "passed",
                "duration": 0.0,
                "examples": None,
                "message": None,
                "values": {},
                "figures": [],
            },
        )
        r["duration"] = round(r["duration"] + report.duration, 4)
        for key, value in report.user_properties:
            if key == "dlspec-value":
                r["values"][value[0]] = value[1]
            elif key == "dlspec-figure" and value not in r["figures"]:
                r["figures"].append(value)
            elif key == "dlspec-examples":
                r["examples"] = value
        if report.failed:
            r["outcome"] = "failed"
            r["message"] = _failure_message(report)
        elif report.skipped and r["outcome"] != "failed":
            r["outcome"] = "skipped"
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            r["message"] = reason.removeprefix("Skipped: ")

    def complete(self) -> bool:
        """The whole suite ran: no selection, and every test module was collected."""
        return _is_complete(self.config) and not self.collection_errors

    def build_report(self) -> dict[str, Any]:
        config = self.config
        spec = config.stash[_spec_key]
        results = list(self.results.values())
        complete = self.complete()
        head, dirty = git_state(ROOT)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = {"commit": head, "dirty": dirty, "time": now}
        claims: dict[str, Any] = {}
        for c in spec.claims:
            tests = sorted((r for r in results if c.id in r["claims"]), key=lambda r: r["nodeid"])
            tests = [{k: v for k, v in r.items() if k != "claims"} for r in tests]
            passed_on = {t["device"] for t in tests if t["device"] and t["outcome"] == "passed"}
            # "untested" only when no test is bound to the claim, which only a full run knows
            status = combine_status([t["outcome"] for t in tests])
            if status == "untested" and not complete:
                status = "notrun"
            claims[c.id] = {
                "status": status,
                "kind": c.kind,
                "page": c.page,
                "chapter": c.chapter,
                "heading": c.heading,
                "devices": sorted(passed_on),
                "figures": list(dict.fromkeys(f for t in tests for f in t["figures"])),
                "tests": tests,
                "run": run,
            }
        claims = dict(
            sorted(claims.items(), key=lambda kv: (chapter_rank(kv[1]["chapter"]), kv[1]["page"]))
        )
        counts = {s: sum(c["status"] == s for c in claims.values()) for s in STATUSES}
        ran_on = {r["device"] for r in results if r["device"] and r["outcome"] != "skipped"}
        return {
            "schema": 1,
            **run,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "devices": sorted(ran_on),
            "devices_requested": config.stash[_devices_key],
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "hypothesis_profile": hypothesis.settings.get_current_profile_name(),
            "complete": complete,
            "collection_errors": [
                {"nodeid": k, "message": v} for k, v in sorted(self.collection_errors.items())
            ],
            "duration": round(time.time() - self.start, 2),
            "counts": counts,
            "claims": claims,
        }

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the report (merged into the previous one after a filtered run); a whole-suite
        run fails when a claim on a page has no test."""
        if not self.results and not self.collection_errors and exitstatus not in (0, 5):
            return  # interrupted before anything ran: keep the previous report
        report = self.build_report()
        path = self.config.getoption("--claims-json")
        if not report["complete"] and path:
            ran = {cid for r in self.results.values() for cid in r["claims"]}
            bound = self.bound | self.config.stash.get(_bound_key, set())
            report = merge_reports(load_report(path), report, ran, bound)
        self.report = report
        # (--collect-only runs nothing, so every claim reads untested: not a failure. mutmut
        # lists the tests that way before each incremental run.)
        if (
            report["complete"]
            and report["counts"]["untested"]
            and not self.config.option.collectonly
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.collection_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # xdist runs on past the error
        if path:
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
            tmp.replace(out)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = self.report
        ran_claims = any(r["claims"] for r in self.results.values())
        if report is None or not (ran_claims or self.collection_errors):
            return  # no claim-bound test ran (e.g. the benchmarks, the machinery tests)
        tr = terminalreporter
        failed: dict[str, list[dict[str, Any]]] = {}
        for r in self.results.values():
            if r["outcome"] == "failed":
                for cid in r["claims"]:
                    failed.setdefault(cid, []).append(r)
        if failed:
            tr.section("claims not verified", sep="=", red=True, bold=True)
            for cid, tests in sorted(failed.items()):
                tr.write_line(
                    f"FAILED CLAIM {cid}: {len(tests)} test(s) failed", red=True, bold=True
                )
                for t in tests:
                    tr.write_line(f"    {t['nodeid']}\n        {_headline(t['message'])}")
        untested = [cid for cid, c in report["claims"].items() if c["status"] == "untested"]
        if report["complete"] and untested:
            tr.section("claims without a test", sep="=", red=True, bold=True)
            for cid in untested:
                tr.write_line(
                    f"UNTESTED CLAIM {cid} (spec/{report['claims'][cid]['page']}): bind a test "
                    f'with @pytest.mark.claim("{cid}")',
                    red=True,
                )
        c = report["counts"]
        where = self.config.getoption("--claims-json") or "not written (use --claims-json=PATH)"
        line = (
            f"claims: {c['passed']} verified, {c['failed']} failing, {c['skipped']} skipped, "
            f"{c['notrun']} not run, {c['untested']} untested; report {where}"
        )
        if self.collection_errors:
            n = len(self.collection_errors)
            line = (  # pytest lists the errors themselves (ERRORS, short test summary)
                f"claims: report INCOMPLETE: {n} test module(s) failed to collect "
                f"({', '.join(sorted(self.collection_errors))}); report {where}"
            )
        elif not report["complete"] and self.config.getoption("--claims-json"):
            line += " (a filtered run: merged; other claims keep their last result)"
        tr.write_sep("-", line)


# -- issue 12, determinism (compute.determinism) -------------------------------------------------
# `nox -s determinism` runs the suite twice with `--hypothesis-profile=determinism` and the same
# `--hypothesis-seed`: the dev profile's examples without the example database (replaying saved
# or targeted examples from the first run would change the second run's examples).
hypothesis.settings.register_profile(
    "determinism",
    max_examples=50,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
    **_base,
)


@pytest.fixture(autouse=True)
def _seed_global_rngs(request: pytest.FixtureRequest) -> None:
    """Every test starts with torch's, numpy's and Python's global RNGs seeded from its node ID,
    so a test that draws from them without a seed gets the same numbers whatever ran before it
    in the same process (pytest-xdist hands tests to workers in a different order each run)."""
    import random
    import zlib

    import numpy as np

    seed = zlib.crc32(request.node.nodeid.encode("utf-8"))
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
