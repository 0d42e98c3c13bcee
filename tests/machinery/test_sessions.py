"""The nox sessions and the README: one torch installation, examples that stay true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sessions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            "session" in ast.unparse(d) for d in node.decorator_list
        ):
            found[node.name] = node
    return found


def test_sessions_that_need_torch_share_one_environment() -> None:
    """A session with its own virtualenv and torch adds about 1 GB to .nox/ (issue 5: 5 GB)."""
    found = sessions()
    assert {"tests", "docs", "bench", "lint", "site_check"} <= set(found)
    for name, fn in found.items():
        body = ast.unparse(fn)
        decorators = " ".join(ast.unparse(d) for d in fn.decorator_list)
        if "_install(session" in body:
            assert "venv_backend='none'" in decorators, f"{name}: installs torch in its own venv"
        assert "TORCH" not in body.replace("_install(", ""), f"{name}: installs torch itself"


def test_bench_session_creates_the_build_folder() -> None:
    body = ast.unparse(sessions()["bench"])
    assert "mkdir(parents=True, exist_ok=True)" in body


def test_readme_summary_line_matches_the_plugin() -> None:
    """The README shows the run's last line; it must have the plugin's shape, with no count
    that goes stale as claims are added."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"`(claims: [^`]*)`", readme)
    assert example, "README.md shows no `claims: ...` summary line"
    plugin = (ROOT / "tests" / "plugin.py").read_text(encoding="utf-8")
    assert "verified, {c['failed']} failing, {c['skipped']} skipped, " in plugin
    assert "{c['notrun']} not run, {c['untested']} untested" in plugin
    assert re.fullmatch(
        r"claims: N verified, 0 failing, 0 skipped, 0 not run, 0 untested", example.group(1)
    ), example.group(1)
