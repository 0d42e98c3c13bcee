"""Claim blocks on the spec pages and the claims report.

The spec pages (`spec/<chapter>/<topic>.md`) are the only place a claim's text lives. This
module reads them for the two consumers that need the list of claims: the pytest plugin (which
checks that every test cites a known claim and every claim has a test, then writes the report)
and the site's build hook (which renders each claim with its status). It has no dependency on
torch, pytest or mkdocs.

A claim block is an admonition of type `claim` whose title is the claim's ID, whose first line
declares its kind, and whose body is the precise statement::

    !!! claim "dropout.expectation"
        kind: prop

        The expected training-time output ...

Below the block, before the next claim or heading of the same level, come the labelled
paragraphs `**Conditions.**`, `**Derivation.**` (or `**Argument.**`), `**Source.**`
(naming the seed note) and `**Reference.**`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("sym", "prop", "diff", "emp", "refute")
#: A claim's status in the report. `notrun`: tests may be bound to it, but no run so far ran them
#: (a filtered run, or a test module that failed to import); `untested`: no test is bound to it.
STATUSES = ("passed", "failed", "skipped", "notrun", "untested")

#: Chapter folders of `spec/`, in reading order, with their titles.
CHAPTERS: dict[str, str] = {
    "networks": "Networks as functions",
    "losses": "Losses",
    "optimization": "Optimization",
    "generalization": "Generalization and dropout",
    "autoencoders": "Autoencoders and PCA",
    "sequences": "Sequences",
    "convolution": "Convolution",
    "generative": "Generative models",
    "explaining": "Explaining a network",
    "computation": "Computation",
}

ID_RE = re.compile(r"^[a-z][a-z0-9]*\.[a-z0-9]+(?:-[a-z0-9]+)*$")
BLOCK_RE = re.compile(r'^!!! claim "(?P<id>[^"]*)"\s*$')
KIND_RE = re.compile(r"^ {4}kind:\s*(?P<kind>\S+)\s*$")
SEED_RE = re.compile(r"\b\d{3}_[0-9a-f]{16}\.txt\b")
REQUIRED_SECTIONS: tuple[tuple[str, ...], ...] = (
    ("**Conditions.**",),
    ("**Derivation.**", "**Argument.**"),
    ("**Source.**",),
    ("**Reference.**",),
)


def chapter_of(page: str) -> str:
    """The chapter folder of a spec page path (`generalization/dropout.md` → `generalization`)."""
    return page.split("/", 1)[0] if "/" in page else ""


def chapter_rank(chapter: str) -> tuple[int, str]:
    """Sort key: chapters in `CHAPTERS` order, unknown folders after them by name."""
    order = list(CHAPTERS)
    return (order.index(chapter) if chapter in CHAPTERS else len(order), chapter)


@dataclass(frozen=True)
class SpecClaim:
    """One claim block, as written on its page."""

    id: str
    kind: str
    page: str  # path relative to the spec folder, with forward slashes
    line: int  # 1-based line of the `!!! claim` line
    statement: str  # the block's body, dedented, without the kind line
    heading: str = ""  # the nearest heading above the block
    end: int = field(default=0, compare=False)  # 1-based last line of the block (its body)

    @property
    def chapter(self) -> str:
        return chapter_of(self.page)

    @property
    def where(self) -> str:
        return f"spec/{self.page}:{self.line}"


@dataclass
class SpecIndex:
    """Every claim on the spec pages, with the problems found while reading them."""

    claims: list[SpecClaim] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # relative to the spec folder, sorted

    def by_id(self) -> dict[str, SpecClaim]:
        return {c.id: c for c in self.claims}

    def duplicates(self) -> dict[str, list[SpecClaim]]:
        counts = Counter(c.id for c in self.claims)
        return {i: [c for c in self.claims if c.id == i] for i, n in counts.items() if n > 1}


def parse_page(text: str, page: str) -> tuple[list[SpecClaim], list[str]]:
    """Claim blocks of one page and the convention problems found on it."""
    lines = text.splitlines()
    claims: list[SpecClaim] = []
    problems: list[str] = []
    heading = ""
    heading_level = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        m_head = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m_head:
            heading, heading_level = m_head.group(2).strip(), len(m_head.group(1))
        m = BLOCK_RE.match(line)
        if not m:
            if line.startswith("!!! claim"):
                problems.append(f"spec/{page}:{i + 1}: malformed claim block title: {line!r}")
            i += 1
            continue
        cid, start = m.group("id"), i
        if not ID_RE.match(cid):
            problems.append(
                f"spec/{page}:{i + 1}: claim ID {cid!r} is not of the form 'topic.name' "
                "(lowercase letters, digits and hyphens; e.g. 'dropout.linear-average')"
            )
        body: list[str] = []
        i += 1
        while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        last = start + 1 + len(body)
        kind = ""
        first = next((j for j, b in enumerate(body) if b.strip()), None)
        if first is not None and (mk := KIND_RE.match(body[first])):
            kind = mk.group("kind")
            del body[first]
        if kind not in KINDS:
            problems.append(
                f"spec/{page}:{start + 1}: claim {cid!r} must declare 'kind: <{'|'.join(KINDS)}>' "
                f"as the first line of its block (found {kind or 'none'!r})"
            )
        statement = "\n".join(b[4:] for b in body).strip()
        if not statement:
            problems.append(f"spec/{page}:{start + 1}: claim {cid!r} has no statement")
        # The labelled sections run until the next claim block or a heading at most as deep.
        end = i
        while end < len(lines):
            if BLOCK_RE.match(lines[end]):
                break
            mh = re.match(r"^(#{1,6})\s", lines[end])
            if mh and len(mh.group(1)) <= max(heading_level, 1):
                break
            end += 1
        after = "\n".join(lines[i:end])
        for options in REQUIRED_SECTIONS:
            if not any(o in after for o in options):
                problems.append(
                    f"spec/{page}:{start + 1}: claim {cid!r} lacks a {' or '.join(options)} "
                    "paragraph below its block"
                )
        src = re.search(r"\*\*Source\.\*\*(.*?)(?:\n\s*\n|$)", after, re.S)
        if src and not SEED_RE.search(src.group(1)):
            problems.append(
                f"spec/{page}:{start + 1}: the Source of claim {cid!r} must name a seed note "
                "(e.g. 003_a268a4d6ccd32294.txt)"
            )
        claims.append(SpecClaim(cid, kind, page, start + 1, statement, heading, last))
    return claims, problems


def display_math_problems(text: str, page: str) -> list[str]:
    """`$$` blocks that do not stand as their own paragraph, and math in headings.

    Arithmatex recognizes display math only between blank lines; elsewhere the TeX reaches the
    reader raw, and Markdown eats its backslashes. A heading's math reaches the table of
    contents (and the page, in some themes) as raw TeX: write headings in plain text.
    """
    lines = text.splitlines()
    problems: list[str] = []
    fenced = False
    opened = 0
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and not opened and line.startswith("#") and "$" in line:
            problems.append(f"spec/{page}:{i + 1}: a heading holds math; write it in plain text")
        if fenced or "$$" not in s:
            continue
        if not opened:
            if not s.startswith("$$"):
                problems.append(f"spec/{page}:{i + 1}: '$$' must start its own line and paragraph")
                continue
            if i > 0 and lines[i - 1].strip():
                problems.append(
                    f"spec/{page}:{i + 1}: display math '$$' needs a blank line before it"
                )
            opened = i + 1
            if s.count("$$") < 2:
                continue
        if s.endswith("$$") and (i + 1 > opened or s.count("$$") >= 2):
            if i + 1 < len(lines) and lines[i + 1].strip():
                problems.append(
                    f"spec/{page}:{i + 1}: display math '$$' needs a blank line after it"
                )
            opened = 0
        elif i + 1 > opened:
            problems.append(f"spec/{page}:{i + 1}: '$$' must end its line")
    if opened:
        problems.append(f"spec/{page}:{opened}: display math opened with '$$' is never closed")
    return problems


def read_spec(spec_dir: str | Path) -> SpecIndex:
    """Read every page under `spec_dir`; duplicate IDs are reported as problems."""
    root = Path(spec_dir)
    index = SpecIndex()
    if not root.is_dir():
        index.problems.append(f"spec folder {root} does not exist")
        return index
    for path in sorted(root.rglob("*.md")):
        page = path.relative_to(root).as_posix()
        index.pages.append(page)
        text = path.read_text(encoding="utf-8")
        claims, problems = parse_page(text, page)
        index.claims.extend(claims)
        index.problems.extend(problems + display_math_problems(text, page))
    for cid, copies in index.duplicates().items():
        places = ", ".join(c.where for c in copies)
        index.problems.append(f"duplicate claim ID {cid!r} at {places}")
    return index


def combine_status(outcomes: list[str]) -> str:
    """A claim's status from its tests' outcomes.

    `passed` only when every test passed; any failure makes it `failed`; otherwise a skipped
    test makes it `skipped`; no test at all leaves it `untested`.
    """
    if not outcomes:
        return "untested"
    if any(o == "failed" for o in outcomes):
        return "failed"
    if any(o == "skipped" for o in outcomes):
        return "skipped"
    if all(o == "passed" for o in outcomes):
        return "passed"
    raise ValueError(f"unknown test outcomes {sorted(set(outcomes))}")


def load_report(path: str | Path) -> dict[str, Any] | None:
    """The claims report at `path`, or None when there is none."""
    p = Path(path)
    if not p.is_file():
        return None
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def git_state(root: str | Path) -> tuple[str | None, bool]:
    """The checkout's commit (None when unreadable) and whether its tree has changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain"))


def run_of(report: dict[str, Any], cid: str) -> dict[str, Any]:
    """The run (`commit`, `dirty`, `time`) that produced claim `cid`'s result in `report`.

    A filtered run merges into the report, so claims may come from different runs; a claim
    without its own `run` stamp (an older report) comes from the report's run.
    """
    entry = report.get("claims", {}).get(cid, {})
    run = entry.get("run")
    if isinstance(run, dict):
        return run
    return {k: report.get(k) for k in ("commit", "dirty", "time")}


def stale_reasons(
    report: dict[str, Any], head: str | None, tree_dirty: bool, claims: list[str] | None = None
) -> list[str]:
    """Why the results of `claims` (default: every claim of the report) do not describe the
    checkout at `head`; empty when they do."""
    ids = list(report.get("claims", {})) if claims is None else claims
    runs = [run_of(report, cid) for cid in ids] or [run_of(report, "")]
    reasons = []
    if head is None:
        reasons.append("the checkout's commit cannot be read")
    else:
        other = sorted({str(r.get("commit"))[:10] for r in runs if r.get("commit") != head})
        if other:
            reasons.append(
                f"the checkout is now at `{head[:10]}` (results from "
                + ", ".join(f"`{c}`" for c in other)
                + ")"
            )
    if any(r.get("dirty") for r in runs):
        reasons.append("the run was made with uncommitted changes")
    if tree_dirty:
        reasons.append("the working tree has uncommitted changes")
    return reasons


def stale_remedy(report: dict[str, Any], tree_dirty: bool, claims: list[str] | None = None) -> str:
    """What clears the stale-results warning for `claims`."""
    ids = list(report.get("claims", {})) if claims is None else claims
    run_dirty = any(run_of(report, cid).get("dirty") for cid in ids)
    if tree_dirty:
        return (
            "A re-run alone does not clear this warning while the working tree has uncommitted "
            "changes: commit (or stash) them, then run `nox -s tests`."
        )
    if run_dirty:
        return "The tree is clean now: run `nox -s tests` to test the committed code."
    return "Run `nox -s tests` to test the checkout's commit."


def is_fresh(report: dict[str, Any] | None, head: str | None, tree_dirty: bool) -> bool:
    """Whether `report` holds a result for every claim, all from clean runs of commit `head`
    with a clean tree now, and no test module failed to collect."""
    if not report or report.get("collection_errors"):
        return False
    if any(c.get("status") == "notrun" for c in report.get("claims", {}).values()):
        return False
    return not stale_reasons(report, head, tree_dirty)


def merge_reports(
    old: dict[str, Any] | None, new: dict[str, Any], ran: set[str], bound: set[str]
) -> dict[str, Any]:
    """Merge a filtered run's report `new` into the previous report `old`.

    Claims the filtered run ran (`ran`) take its results; every other claim keeps its entry of
    `old`, with the `run` stamp (commit, time) of the run that produced it. A claim that `old`
    showed as untested but that now has a test bound to it (`bound`) becomes `notrun`.
    Counts are recomputed; `new`'s header (commit, time, complete, ...) describes the last run.
    """
    merged = dict(new)
    claims = dict(new.get("claims", {}))
    previous = (old or {}).get("claims", {}) if (old or {}).get("schema") == new["schema"] else {}
    for cid, entry in claims.items():
        if cid in ran or cid not in previous:
            continue
        before = dict(previous[cid])
        if before.get("status") not in STATUSES:
            continue
        if before["status"] == "untested" and cid in bound:
            continue  # a test has been bound since: "not run" (from `new`) is the truth
        before["run"] = run_of(old or {}, cid)
        for key in ("kind", "page", "chapter", "heading"):  # the pages, as they are now
            before[key] = entry.get(key, before.get(key))
        claims[cid] = before
    merged["claims"] = claims
    merged["counts"] = {s: sum(c["status"] == s for c in claims.values()) for s in STATUSES}
    return merged
