"""The site's machinery: the report helpers of dlspec.claims, and the build hook's rewriting
(seed notes linked to the Sources page, refutation badges, the "How the test decides" boxes).

The hook tests need mkdocs (the `docs` extra): they are skipped where it is not installed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from dlspec.claims import SEED_RE, is_fresh, merge_reports, read_spec, stale_reasons, stale_remedy

ROOT = Path(__file__).resolve().parents[2]


def entry(status: str, commit: str = "c1", dirty: bool = False, time: str = "t1") -> dict[str, Any]:
    return {"status": status, "tests": [], "run": {"commit": commit, "dirty": dirty, "time": time}}


def test_stale_warning_names_what_clears_it() -> None:
    report = {"commit": "c1", "dirty": False, "time": "t1", "claims": {"a.b": entry("passed")}}
    assert stale_reasons(report, "c1", False) == []
    assert is_fresh(report, "c1", False)
    assert "commit (or stash)" in stale_remedy(report, tree_dirty=True)
    assert "re-run alone does not clear" in stale_remedy(report, tree_dirty=True)
    assert stale_remedy(report, tree_dirty=False).startswith("Run `nox -s tests`")
    dirty = {**report, "claims": {"a.b": entry("passed", dirty=True)}}
    assert "tree is clean now" in stale_remedy(dirty, tree_dirty=False)
    assert not is_fresh(dirty, "c1", False)
    old = {**report, "claims": {"a.b": entry("passed"), "a.c": entry("passed", commit="c0")}}
    assert any("`c0`" in r for r in stale_reasons(old, "c1", False))
    assert stale_reasons(old, "c1", False, ["a.b"]) == []  # a page with only fresh claims
    assert not is_fresh({**report, "claims": {"a.b": entry("notrun")}}, "c1", False)
    assert not is_fresh({**report, "collection_errors": [{"nodeid": "x"}]}, "c1", False)


def test_merge_keeps_other_claims_with_their_own_run() -> None:
    old = {"schema": 1, "claims": {"a.b": entry("passed"), "a.c": entry("failed"),
                                   "a.d": entry("untested")}}  # fmt: skip
    new = {"schema": 1, "claims": {"a.b": entry("notrun", "c2", time="t2"),
                                   "a.c": entry("passed", "c2", time="t2"),
                                   "a.d": entry("notrun", "c2", time="t2")}}  # fmt: skip
    merged = merge_reports(old, new, ran={"a.c"}, bound={"a.b", "a.c", "a.d"})
    assert merged["claims"]["a.b"]["run"] == {"commit": "c1", "dirty": False, "time": "t1"}
    assert merged["claims"]["a.c"]["run"]["commit"] == "c2"
    assert merged["claims"]["a.d"]["status"] == "notrun"  # bound since: no longer "untested"
    assert merged["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "notrun": 1,
                                "untested": 0}  # fmt: skip
    assert (
        merge_reports({"schema": 0, "claims": old["claims"]}, new, {"a.c"}, set())["claims"]["a.b"][
            "status"
        ]
        == "notrun"
    )  # another schema: nothing kept


def test_every_seed_note_named_on_a_page_has_a_sources_entry() -> None:
    sources = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r"\{ *#(\d{3}_[0-9a-f]{16}) *\}", sources))
    spec = read_spec(ROOT / "spec")
    named = {
        m.group(0).removesuffix(".txt")
        for page in spec.pages
        for m in SEED_RE.finditer((ROOT / "spec" / page).read_text(encoding="utf-8"))
    }
    assert named <= anchors, f"docs/sources.md lacks entries for {sorted(named - anchors)}"
    assert len(anchors) == 5


@pytest.fixture
def hook(tmp_path: Path) -> Any:
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("dlspec_hook", ROOT / "docs/hooks/claims.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dlspec_hook"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    module.site = module.Site(
        ROOT, ROOT / "spec", ["generalization/x.md", "computation/devices.md"], [], [],
        tmp_path / "claims.json", None, "c1", False, {},
        module.read_sources(ROOT / "docs" / "sources.md"),
    )  # fmt: skip
    return module


def test_seed_names_link_to_their_sources_entry(hook: Any) -> None:
    line = "**Source.** `003_a268a4d6ccd32294.txt`: quoted."
    linked = hook.link_seeds(line, "generalization/x.md")
    assert linked.startswith("**Source.** [`003_a268a4d6ccd32294.txt`](../sources.md#003_a268")
    assert "Hung-yi Lee" in linked  # the entry's title as the link's tooltip
    page = '# T\n\n```\n`003_a268a4d6ccd32294.txt`\n```\n\n??? info "How the test decides"\n'
    out = hook.spec_page(page, "generalization/x.md")
    assert "```\n`003_a268a4d6ccd32294.txt`\n```" in out  # code blocks stay as they are
    assert '??? info dls-howto "How the test decides"' in out


def test_refutation_badge_and_meta_tooltip(hook: Any) -> None:
    from dlspec.claims import SpecClaim

    devices = {"status": "passed", "devices": ["meta"], "tests": []}
    hook.site.report = {"claims": {"r.x": {"status": "passed", "tests": []}, "d.x": devices}}
    refute = SpecClaim("r.x", "refute", "generalization/x.md", 1, "s")
    badge = hook.claim_badge(refute)
    assert "refuted: counterexample verified" in badge and ">verified<" not in badge
    meta = hook.claim_badge(SpecClaim("d.x", "prop", "generalization/x.md", 1, "s"))
    assert "data-free device" in meta
    verdict = hook.verdict("d.x", "passed", devices, "generalization/x.md")
    assert "(../computation/devices.md#meta-device" in verdict
    hook.site.report["claims"]["r.x"]["status"] = "failed"
    assert ">failing<" in hook.claim_badge(refute)


def test_site_check_finds_every_page_of_the_built_site(tmp_path: Path) -> None:
    """The browser check loads every page the build wrote (reading guide, sources and chapters
    that arrive later included), not a fixed list."""
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "docs/tools/check_site.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for page in ["", "reading", "sources", "status", "newchapter/topic", "assets/katex", "search"]:
        (tmp_path / page).mkdir(parents=True, exist_ok=True)
        (tmp_path / page / "index.html").write_text("<html></html>")
    pages = module.site_pages(tmp_path)
    assert pages == ["", "newchapter/topic/", "reading/", "sources/", "status/"]
    missing = module.missing_spec_pages(pages, ROOT / "spec")
    assert missing == read_spec(ROOT / "spec").pages  # none of them was built here
