"""The flakiness budget (spec/computation/reliability.md) cannot go stale.

Each statistical test module declares ``FALSE_FAILURES``: test function name -> its chance of
failing by bad luck per run (computed from the test's design: exact binomial tails, Hoeffding or
Bernstein), the same number the test records beside its claim as ``false_failure``. The page's
tables must list exactly those figures, each at most 1e-6, and every ``emp`` claim.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from dlspec.claims import read_spec
from tests.stats import BUDGET

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "spec" / "computation" / "reliability.md"
ROW = re.compile(r"^\| `([a-z0-9.-]+)` \| `([^`:]+)::(\w+)` \| ([^|]+) \| ([^|]+) \|\s*$")


def tables() -> dict[str, list[tuple[str, str, str, str]]]:
    """The page's two tables: (claim, file, test, figure) per row, by section."""
    found: dict[str, list[tuple[str, str, str, str]]] = {"computed": [], "open": []}
    section = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = "computed" if "Computed" in line else "open" if "open" in line else ""
        m = ROW.match(line)
        if m and section:
            found[section].append((m[1], m[2], m[3], m[4].strip()))
    return found


def module_of(path: str) -> Any:
    return importlib.import_module(path.removesuffix(".py").replace("/", "."))


def declared() -> dict[tuple[str, str], float]:
    """Every ``FALSE_FAILURES`` entry of the test modules: (file, test) -> figure."""
    out = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "machinery" in rel or "benchmarks" in rel:
            continue
        if not re.search(r"^FALSE_FAILURES\b", path.read_text(encoding="utf-8"), re.M):
            continue
        for name, value in module_of(rel).FALSE_FAILURES.items():
            out[(rel, name)] = float(value)
    return out


def claims_of(path: str, name: str) -> set[str]:
    """The claim IDs a test function is bound to (its ``pytest.mark.claim`` decorators)."""
    fn = getattr(module_of(path), name, None)
    assert fn is not None, f"{path}::{name}: no such test"
    return {m.args[0] for m in getattr(fn, "pytestmark", []) if m.name == "claim"}


def test_every_computed_figure_matches_its_test_and_meets_the_budget() -> None:
    rows = tables()["computed"]
    assert rows, f"{PAGE.name}: no rows found in 'Computed bounds'"
    figures = declared()
    for cid, path, name, printed in rows:
        assert (path, name) in figures, f"{path}::{name}: listed, but not in FALSE_FAILURES"
        value = figures[(path, name)]
        assert abs(value - float(printed)) <= 0.05 * float(printed), (
            f"{path}::{name}: the page prints {printed}, the module computes {value:.3g}"
        )
        assert value <= BUDGET, f"{path}::{name}: false failure {value:.3g} > {BUDGET}"
        assert cid in claims_of(path, name), f"{path}::{name}: not bound to {cid}"
    listed = {(p, n) for _, p, n, _ in rows}
    missing = sorted(f"{p}::{n}" for p, n in set(figures) - listed)
    assert not missing, f"{PAGE.name}: FALSE_FAILURES entries missing from the table: {missing}"


def _records_false_failure(node: ast.AST) -> bool:
    return any(
        isinstance(call, ast.Call)
        and ast.unparse(call.func).endswith("evidence.value")
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "false_failure"
        for call in ast.walk(node)
    )


def test_each_figure_is_recorded_beside_its_claims() -> None:
    """A listed test that takes the `evidence` fixture records its own `false_failure` (shown on
    the site); one that does not (a hypothesis test, a small check) has a module whose tests
    record one."""
    for path, name in sorted(declared()):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        fns = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in fns, f"{path}::{name}: no such test function"
        takes_evidence = any(a.arg == "evidence" for a in fns[name].args.args)
        scope: ast.AST = fns[name] if takes_evidence else tree
        assert _records_false_failure(scope), (
            f'{path}::{name}: no evidence.value("false_failure", ...)'
            + (" in the test" if takes_evidence else " in its module")
        )


def test_open_rows_name_bound_tests_without_a_computed_figure() -> None:
    figures = declared()
    for cid, path, name, _ in tables()["open"]:
        assert cid in claims_of(path, name), f"{path}::{name}: not bound to {cid}"
        assert (path, name) not in figures, f"{path}::{name}: computed now: move it up"


def test_every_empirical_claim_is_listed() -> None:
    rows = tables()
    listed = {cid for section in rows.values() for cid, *_ in section}
    emp = {c.id for c in read_spec(ROOT / "spec").claims if c.kind == "emp"}
    assert emp, "no emp claims found"
    assert not emp - listed, f"{PAGE.name}: emp claims missing: {sorted(emp - listed)}"


@pytest.mark.parametrize(
    ("n", "p", "k"), [(10, 0.9, 3), (10, 0.99, 6), (30, 0.95, 20), (7, 0.9, 1)]
)
def test_binomial_threshold_is_the_largest_within_budget(n: int, p: float, k: int) -> None:
    from tests.stats import binomial_cdf, binomial_threshold

    assert binomial_threshold(n, p) == k
    assert binomial_cdf(k - 1, n, p) <= BUDGET < binomial_cdf(k, n, p)


@pytest.mark.parametrize(("c", "v", "draws"), [(1.0, 0.5, 1), (1.0, 0.5, 50), (0.3, 2.0, 400)])
def test_chernoff_bound_covers_the_exact_noncentral_chi_square_tail(
    c: float, v: float, draws: int
) -> None:
    """For one square (c + √v Z)², R·Q̄/v is noncentral χ² with R degrees of freedom and
    noncentrality R c²/v: Chernoff's bound must lie above its exact tails, within a factor 100
    of them at the 1e-8 tolerance (so the tolerance is not needlessly loose)."""
    from scipy.stats import ncx2

    from tests.stats import gaussian_squares_tail, gaussian_squares_tolerance

    mean = c * c + v
    t = gaussian_squares_tolerance([c], [v], draws, 1e-8)
    dist = ncx2(draws, draws * c * c / v)
    exact = dist.sf(draws * (mean + t) / v) + dist.cdf(max(draws * (mean - t) / v, 0.0))
    bound = gaussian_squares_tail([c], [v], draws, t)
    assert exact <= bound <= 1e-8 * 1.0001
    assert bound <= 100 * exact or draws == 1
