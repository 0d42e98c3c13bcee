"""MkDocs hooks: the spec pages with each claim's status and evidence, and the status page.

The spec pages live in ``spec/`` (``DLSPEC_SPEC_DIR`` overrides it) and are added to the site
here, with one nav section per chapter. Each claim block is rewritten with a status badge, its
statement, the devices it was verified on, the command that checks it alone, its tests and its
figures, all read from the report ``build/claims.json`` (``DLSPEC_REPORT`` overrides it). Pages
flag results that are stale (another commit, or uncommitted changes) or partial. The docs pages
hold placeholders ``<!-- dlspec:NAME -->`` that are filled in here: ``chapter-map``, ``status``,
``api`` and ``benchmarks`` (from the benchmark runs, with its plot: docs/tools/bench_page.py).
KaTeX, installed by ``docs/tools/install_katex.py``, is copied into the site.

A seed note named on a spec page (``003_a268a4d6ccd32294.txt``) links to its entry on the
Sources page (``docs/sources.md``, one heading per note with the file stem as its anchor); a
note without an entry there fails the build. A ``refute`` claim whose test passes gets its own
badge ("refuted: counterexample verified"), and the folded ``??? info "How the test decides"``
boxes get the class ``dls-howto`` (styled as secondary).
"""

from __future__ import annotations

import html
import os
import posixpath
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "impl"))  # this checkout's dlspec
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # bench_page
import bench_page

from dlspec.claims import (
    CHAPTERS,
    SEED_RE,
    STATUSES,
    SpecClaim,
    chapter_of,
    chapter_rank,
    git_state,
    load_report,
    parse_page,
    read_spec,
    run_of,
    stale_reasons,
    stale_remedy,
)

LABELS = {
    "passed": "verified",
    "failed": "failing",
    "skipped": "skipped",
    "notrun": "not run",
    "untested": "untested",
}
REFUTED = "refuted: counterexample verified"  # the badge of a `refute` claim whose test passed
TOOLTIPS = {
    "passed": "Every test of this claim passed in the last run that ran it.",
    "failed": "At least one test of this claim failed: its message is in the Tests box.",
    "skipped": "Its tests were skipped (e.g. a device this machine lacks); a skip is no pass.",
    "notrun": "Tests are bound to this claim, but no test run so far has run them.",
    "untested": "No test is bound to this claim.",
}
REFUTED_TOOLTIP = (
    "The naive reading in the notes is false: the test exhibits the counterexample and checks "
    "the corrected statement on this page."
)
META_TOOLTIP = (
    " Verified on meta: PyTorch's data-free device, on which a tensor created without the "
    "inputs' device shows up as an error; see the Computation chapter."
)
SOURCES_PAGE = "sources.md"
META_ANCHOR = ("computation/devices.md", "meta-device")
KIND_TEXT = {
    "sym": "symbolic: sympy proves the identity, then the code is checked against it",
    "prop": "property: hypothesis checks it on many drawn inputs",
    "diff": "differential: compared with an independent oracle",
    "emp": "empirical: seeded runs with a stated margin",
    "refute": "refutation: the naive reading is false; the test exhibits the counterexample",
}
KATEX_DIST = Path("build/katex/node_modules/katex/dist")
PLACEHOLDER = re.compile(r"<!-- dlspec:([a-z-]+) -->")


@dataclass
class Site:
    """What the hooks know about the spec, the report and the checkout, for one build."""

    root: Path
    spec_dir: Path
    pages: list[str]  # spec pages, relative to spec_dir
    claims: list[SpecClaim]
    problems: list[str]
    report_path: Path
    report: dict[str, Any] | None
    head: str | None  # the checkout's commit
    tree_dirty: bool
    figures: dict[str, Path] = field(default_factory=dict)  # site path -> file, see on_config
    sources: dict[str, str] = field(default_factory=dict)  # seed file stem -> entry title
    bench_runs: list[bench_page.Run] = field(default_factory=list)  # see on_files
    bench_problems: list[str] = field(default_factory=list)
    bench_figure: str | None = None

    def entry(self, cid: str) -> dict[str, Any]:
        return dict((self.report or {}).get("claims", {}).get(cid, {}))

    def status(self, cid: str) -> str:
        status = self.entry(cid).get("status")
        return status if status in LABELS else "untested"


def read_sources(path: Path) -> dict[str, str]:
    """The Sources page's entries: seed file stem (the heading's anchor) -> heading text."""
    if not path.is_file():
        return {}
    found = re.findall(
        r"^## +(.+?) *\{ *#(\d{3}_[0-9a-f]{16}) *\}\s*$", path.read_text("utf-8"), re.M
    )
    return {stem: title for title, stem in found}


def report_figures(report: dict[str, Any] | None, report_path: Path) -> dict[str, Path]:
    """The figures the report names that exist: site path (relative to the report) -> file."""
    found = {}
    for e in (report or {}).get("claims", {}).values():
        for fig in e.get("figures", []):
            path = report_path.parent / fig
            if not fig.startswith(("..", "/")) and path.is_file():
                found[posixpath.normpath(fig)] = path
    return found


site: Site


def chapters(pages: list[str]) -> list[str]:
    """The chapters that have pages, in ``CHAPTERS`` order (unknown folders last)."""
    return sorted({chapter_of(p) for p in pages}, key=chapter_rank)


def chapter_title(chapter: str) -> str:
    return CHAPTERS.get(chapter, chapter.capitalize() or "Other")


def page_title(page: str) -> str:
    text = (site.spec_dir / page).read_text(encoding="utf-8")
    m = re.search(r"^# +(.+?)\s*$", text, re.M)
    return str(m.group(1)) if m else Path(page).stem.replace("-", " ").capitalize()


# ---------------------------------------------------------------------------------------- hooks


def on_config(config: Any) -> Any:
    global site
    root = Path(config.config_file_path).resolve().parent
    spec_dir = Path(os.environ.get("DLSPEC_SPEC_DIR", root / "spec")).resolve()
    report_path = Path(os.environ.get("DLSPEC_REPORT", root / "build" / "claims.json")).resolve()
    index, report = read_spec(spec_dir), load_report(report_path)
    pages = index.pages
    site = Site(
        root, spec_dir, pages, index.claims, index.problems, report_path, report,
        *git_state(root), report_figures(report, report_path),
        read_sources(Path(config.docs_dir) / SOURCES_PAGE),
    )  # fmt: skip
    named = {
        m.group(0).removesuffix(".txt")
        for p in pages
        for m in SEED_RE.finditer((spec_dir / p).read_text(encoding="utf-8"))
    }
    if missing := sorted(named - set(site.sources)):
        raise PluginError(
            f"docs/{SOURCES_PAGE} has no entry for the seed notes {', '.join(missing)}: add a "
            "heading `## <what the note is> { #<file stem> }` for each"
        )
    sections = [
        {chapter_title(c): [p for p in pages if chapter_of(p) == c]} for c in chapters(pages)
    ]
    nav = config.nav
    at = next((i for i, item in enumerate(nav) if "status.md" in dict(item).values()), len(nav))
    nav[at:at] = sections
    return config


def on_files(files: Files, config: Any) -> Files:
    for page in site.pages:
        if files.get_file_from_path(page) is not None:
            raise PluginError(f"spec page {page} clashes with docs/{page}: rename one of them")
        files.append(File(page, str(site.spec_dir), config.site_dir, config.use_directory_urls))
    katex = site.root / KATEX_DIST
    if not (katex / "katex.min.js").is_file():
        raise PluginError(
            f"KaTeX is not installed ({katex} is missing): run "
            "`python docs/tools/install_katex.py` first (the site renders its math with it)."
        )
    for path in [katex / "katex.min.js", katex / "katex.min.css", *(katex / "fonts").iterdir()]:
        uri = f"assets/katex/{path.relative_to(katex).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    for uri, path in site.figures.items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    # the benchmarks page: the latest run's JSON and the plot of the ratios
    site.bench_runs, site.bench_problems = bench_page.load_runs()
    if bench_page.LATEST.is_file():
        latest = str(bench_page.LATEST)
        files.append(File.generated(config, bench_page.LATEST_URI, abs_src_path=latest))
    svg = bench_page.plot_svg(site.bench_runs)
    site.bench_figure = bench_page.FIGURE if svg else None
    if svg:
        files.append(File.generated(config, bench_page.FIGURE, content=svg))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    uri = page.file.src_uri
    if uri in site.pages and page.file.src_dir == str(site.spec_dir):
        return spec_page(markdown, uri)

    def expand(m: re.Match[str]) -> str:
        if m.group(1) not in GENERATED:
            raise PluginError(f"{uri}: unknown placeholder {m.group(0)}")
        return GENERATED[m.group(1)]()

    return PLACEHOLDER.sub(expand, markdown)


def on_page_content(output: str, page: Any, config: Any, files: Files) -> str:
    """On the API page, link each claim ID that a docstring names to the claim."""
    if page.file.src_uri != "api.md":
        return output
    pages = {c.id: files.get_file_from_path(c.page) for c in site.claims}

    def link(m: re.Match[str]) -> str:
        target = pages.get(m.group(1))
        if target is None:
            return m.group(0)
        return f"<a href='{get_relative_url(target.url, page.url)}#{m.group(1)}'>{m.group(0)}</a>"

    return re.sub(r"<code>([a-z0-9.-]+)</code>", link, output)


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """Rebuild when a spec page changes or a test run rewrites the report."""
    if site.spec_dir.is_dir():
        server.watch(str(site.spec_dir))
    site.report_path.parent.mkdir(parents=True, exist_ok=True)
    server.watch(str(site.report_path.parent), recursive=False)
    return server


# ------------------------------------------------------------------------------- spec pages


def spec_page(markdown: str, page: str) -> str:
    """The page with each claim block rewritten, seed notes linked to the Sources page, the
    "How the test decides" boxes marked, and a notice on stale or missing results."""
    claims, _ = parse_page(markdown, page)
    lines = markdown.splitlines()
    for claim in reversed(claims):
        lines[claim.line - 1 : claim.end] = claim_block(claim).splitlines()
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced:
            lines[i] = HOWTO_RE.sub(r"\1 info dls-howto \2", link_seeds(line, page))
    h1 = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
    notice = report_notice([c.id for c in claims])
    lines[h1:h1] = ["", *notice.splitlines(), ""]
    return "\n".join(lines) + "\n"


HOWTO_RE = re.compile(r'^(\s*\?\?\?\+?) info ("How the test decides")')
SEED_CODE_RE = re.compile(r"`(" + SEED_RE.pattern.removeprefix(r"\b").removesuffix(r"\b") + ")`")


def link_seeds(line: str, page: str) -> str:
    """Each seed note in backticks, `003_….txt`, as a link to its entry on the Sources page."""
    target = posixpath.relpath(SOURCES_PAGE, posixpath.dirname(page) or ".")

    def link(m: re.Match[str]) -> str:
        stem = m.group(1).removesuffix(".txt")
        title = site.sources.get(stem, "").replace('"', "'")
        return f'[`{m.group(1)}`]({target}#{stem} "{title}")'

    return SEED_CODE_RE.sub(link, line)


def badge(status: str, cid: str = "", text: str = "", tip: str = "") -> str:
    """A coloured status badge; ``data-claim`` lets the browser check find the claim's badge."""
    data = f" data-claim='{cid}'" if cid else ""
    title = f" title='{html.escape(tip, quote=True)}'" if tip else ""
    return f"<span class='dls-badge dls-{status}'{data}{title}>{text or LABELS[status]}</span>"


def claim_badge(claim: SpecClaim) -> str:
    """The status badge of a claim: refutations that hold read "refuted", with a tooltip."""
    status, entry = site.status(claim.id), site.entry(claim.id)
    text, tip = LABELS[status], TOOLTIPS[status]
    if claim.kind == "refute" and status == "passed":
        text, tip = REFUTED, REFUTED_TOOLTIP
    if status == "passed" and "meta" in entry.get("devices", []):
        tip += META_TOOLTIP
    extra = " dls-refuted" if text == REFUTED else ""
    return badge(status + extra, claim.id, text, tip)


def kind_chip(kind: str) -> str:
    return f"<span class='dls-kind' title='{KIND_TEXT.get(kind, '')}'>{kind}</span>"


def indent(lines: list[str]) -> str:
    """Lines (each may hold several) as the indented body of an admonition."""
    return "\n".join("    " + ln if ln.strip() else "" for ln in "\n".join(lines).splitlines())


def claim_block(claim: SpecClaim) -> str:
    """One claim as an admonition: badge, ID and kind; statement; verdict; tests; figures."""
    entry, status = site.entry(claim.id), site.status(claim.id)
    title = (
        f"{claim_badge(claim)} <a class='dls-id' id='{claim.id}' href='#{claim.id}'>"
        f"{claim.id}</a> {kind_chip(claim.kind)}"
    )
    verdict_line = verdict(claim.id, status, entry, claim.page)
    body = [claim.statement, "", verdict_line, "{ .dls-meta }"]
    body += figures(entry, claim.page)
    if entry.get("tests"):
        body += ["", tests_table(status, entry["tests"])]
    return f'!!! claim dls-{status} "{title}"\n\n' + indent(body)


def verdict(cid: str, status: str, entry: dict[str, Any], page: str = "") -> str:
    tests = entry.get("tests", [])
    meta_page, meta_anchor = META_ANCHOR
    meta_link = (
        f"[**meta**]({posixpath.relpath(meta_page, posixpath.dirname(page) or '.')}#{meta_anchor}"
        ' "the data-free device that shows where every tensor is made")'
        if meta_page in site.pages
        else "**meta**"
    )

    def shown(d: str) -> str:
        return meta_link if d == "meta" else f"**{d}**"

    def devices(outcome: str) -> str:
        found = sorted({t["device"] for t in tests if t["outcome"] == outcome and t.get("device")})
        return ", ".join(shown(d) for d in found)

    if status == "passed":
        where = ", ".join(shown(d) for d in entry.get("devices", [])) or devices("passed")
        text = (
            f"Verified on {where}." if where else "Verified (its tests do not depend on a device)."
        )
    elif status == "failed":
        text = f"Failing on {devices('failed')}." if devices("failed") else "Failing."
        text += f" Passed on {devices('passed')}." if devices("passed") else ""
    elif status == "skipped":
        why = next(
            (t["message"] for t in tests if t["outcome"] == "skipped" and t.get("message")), ""
        )
        text = f"Skipped: {html.escape(why.splitlines()[0])}." if why else "Skipped."
    elif status == "notrun":
        text = "Not run yet: no test run so far has run its tests."
    else:
        text = "Not run yet." if site.report is None else "No test is bound to this claim."
    report = site.report or {}
    run = run_of(report, cid) if entry else {}
    if run and run.get("time") != report.get("time"):
        text += f" (Result of an earlier run: `{str(run.get('commit'))[:10]}`, "
        text += f"{when(run.get('time'))}.)"
    return f"{text} Check it alone: `nox -s tests -- --claim {cid}`"


def tests_table(status: str, tests: list[dict[str, Any]]) -> str:
    """A collapsible table of the claim's tests (open when one failed), then failure messages.

    The values a test recorded stand under its name. Columns that no test fills (a symbolic
    test has no device, dtype or example count) are left out.
    """
    outcomes = Counter(t["outcome"] for t in tests)
    summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
    seconds = sum(t.get("duration") or 0 for t in tests)
    rows, messages = [], []
    for t in tests:
        name = t["nodeid"].split("::", 1)[-1]
        values = "<br>".join(f"{fmt(k)} = {fmt(v)}" for k, v in (t.get("values") or {}).items())
        values = f"<br><span class='dls-values'>{cell(values)}</span>" if values else ""
        rows.append({
            "Test": f"`{name}`{values}", "Outcome": badge(t["outcome"], text=t["outcome"]),
            "Device": t.get("device"), "Dtype": t.get("dtype"),
            "Time": f"{t.get('duration') or 0:.2f} s", "Examples": t.get("examples"),
        })  # fmt: skip
        if t.get("message") and t["outcome"] != "passed":
            fence = "~~~~" if "```" in t["message"] else "```"
            messages += ["", f"`{name}` {t['outcome']}:", "", f"{fence}text", t["message"], fence]
    columns = [c for c in rows[0] if any(r[c] for r in rows)]
    lines = [f"| {' | '.join(columns)} |", "|---" * len(columns) + "|"]
    lines += [f"| {' | '.join(str(r[c] or '—') for c in columns)} |" for r in rows]
    opener = "???+" if status == "failed" else "???"
    return f'{opener} dls-tests "Tests: {summary} · {seconds:.2f} s"\n\n' + indent(lines + messages)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return f"[{', '.join(map(fmt, value))}]"
    return html.escape(str(value))


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def figures(entry: dict[str, Any], page: str) -> list[str]:
    out, present = [], site.figures
    for fig in dict.fromkeys(posixpath.normpath(f) for f in entry.get("figures", [])):
        name = posixpath.splitext(posixpath.basename(fig))[0]
        if fig in present:
            link = posixpath.relpath(fig, posixpath.dirname(page) or ".")
            caption = f"{name}: drawn by the test run that decided this claim."
            out += ["", f"![{name}]({link})", caption, "{ .dls-figure }"]
        else:
            out += ["", f"*Figure `{fig}` is named in the report but missing beside it.*"]
    return out


def report_notice(claims: list[str] | None = None) -> str:
    """Admonitions that say when the results (of `claims`, default all) are missing, stale or
    partial."""
    r = site.report
    if r is None:
        return admonition(
            "warning",
            "No test report",
            f"No report was found at `{shown(site.report_path)}`, so every claim shows as "
            "untested. Run `nox -s tests` to produce it, then rebuild the site.",
        )
    commit = str(r.get("commit") or "unknown")
    ids = [c for c in (claims if claims is not None else list(r.get("claims", {})))]
    ids = [c for c in ids if c in r.get("claims", {})]
    reasons = stale_reasons(r, site.head, site.tree_dirty, ids or None)
    out = []
    if reasons:
        text = (
            f"The last test run was at commit `{commit[:10]}` ({when(r.get('time'))}), but "
            f"{'; '.join(reasons)}. {stale_remedy(r, site.tree_dirty, ids or None)}"
        )
        out.append(admonition("warning dls-stale", "Stale results", text))
    if errors := r.get("collection_errors"):
        listed = "; ".join(f"`{e['nodeid']}`" for e in errors)
        text = (
            f"The last run could not collect {len(errors)} test module(s): {listed}. Their "
            "claims keep the result of an earlier run, or show as not run. Run `nox -s tests` "
            "to see the error."
        )
        out.append(admonition("failure", "Incomplete report", text))
    elif r.get("complete") is False:
        text = (
            "The last run was filtered (`--claim`, `-k`, `-m` or some test paths only) and merged "
            "into the report: the claims it did not run keep the result of their own last run, "
            "whose commit and time they show; a claim no run has reached shows as not run."
        )
        out.append(admonition("info", "Partial run", text))
    return "\n\n".join(out)


def admonition(kind: str, title: str, text: str) -> str:
    return f'!!! {kind} "{title}"\n\n' + indent([text])


def when(time: Any) -> str:
    if not time:
        return "time unknown"
    try:
        return datetime.fromisoformat(str(time)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(time)


def shown(path: Path) -> str:
    return path.relative_to(site.root).as_posix() if path.is_relative_to(site.root) else str(path)


# ----------------------------------------------------------------------- generated docs pages


def counts_row(label: str, claims: list[SpecClaim]) -> str:
    n = Counter(site.status(c.id) for c in claims)
    return f"| {label} | " + " | ".join(str(n[s]) for s in STATUSES) + f" | {len(claims)} |"


def status_page() -> str:
    """Every claim by chapter, with its status, and the counts per status."""
    r = site.report or {}
    out = [report_notice(), ""]
    if r:
        facts = [
            f"commit `{str(r.get('commit'))[:10]}`", when(r.get("time")), f"torch {r.get('torch')}",
            f"Python {r.get('python')}", f"ran on {', '.join(r.get('devices', [])) or 'no device'}",
            f"hypothesis profile `{r.get('hypothesis_profile')}`",
            "complete run" if r.get("complete") else "partial run",
        ]  # fmt: skip
        out += ["**Report:** " + " · ".join(facts), ""]
    groups = {c: [x for x in site.claims if x.chapter == c] for c in chapters(site.pages)}
    groups = {c: claims for c, claims in groups.items() if claims}
    out += ["| Chapter | " + " | ".join(badge(s) for s in STATUSES) + " | total |"]
    out += ["|---|" + "---:|" * (len(STATUSES) + 1)]
    out += [
        counts_row(f"[{chapter_title(c)}](#{c or 'other'})", claims) for c, claims in groups.items()
    ]
    out += [counts_row("**All**", site.claims), ""]
    for chapter, claims in groups.items():
        out += [f"## {chapter_title(chapter)} {{ #{chapter or 'other'} }}", ""]
        out += ["| Status | Claim | Kind | Page | Devices |", "|---|---|---|---|---|"]
        titles = {p: page_title(p) for p in {c.page for c in claims}}
        for c in claims:
            devices = ", ".join(site.entry(c.id).get("devices", [])) or "—"
            out.append(
                f"| {claim_badge(c)} | [`{c.id}`]({c.page}#{c.id}) "
                f"| {kind_chip(c.kind)} | [{titles[c.page]}]({c.page}) | {devices} |"
            )
        out.append("")
    gone = sorted(set(r.get("claims", {})) - {c.id for c in site.claims})
    if gone:
        listed = ", ".join(f"`{g}`" for g in gone)
        out += [f"The report also holds results for claims no longer on any page: {listed}.", ""]
    if site.problems:
        problems = "\n".join(f"- {p}" for p in site.problems)
        out.append(admonition("failure", "Problems on the spec pages", problems))
    return "\n".join(out)


def chapter_map() -> str:
    """The home page's table of chapters, their pages and their claims' statuses."""
    rows = ["| Chapter | Pages | Claims |", "|---|---|---|"]
    for chapter, title in CHAPTERS.items():
        pages = [p for p in site.pages if chapter_of(p) == chapter]
        links = ", ".join(f"[{page_title(p)}]({p})" for p in pages) or "*not written yet*"
        n = Counter(site.status(c.id) for c in site.claims if c.chapter == chapter)
        summary = " ".join(f"{badge(s)} {n[s]}" for s in STATUSES if n[s]) or "—"
        rows.append(f"| {title} | {links} | {summary} |")
    return "\n".join(rows)


def api_reference() -> str:
    """A ``:::`` directive per module of ``impl/dlspec``, grouped by subpackage; the machinery
    (modules at the top level) last."""
    pkg = site.root / "impl" / "dlspec"
    out: list[str] = []
    for sub in sorted(d for d in pkg.iterdir() if (d / "__init__.py").exists()):
        mods = sorted(p.stem for p in sub.glob("[!_]*.py"))
        if mods:
            out += [f"## `dlspec.{sub.name}`", ""] + [f"::: dlspec.{sub.name}.{m}\n" for m in mods]
    top = sorted(p.stem for p in pkg.glob("[!_]*.py"))
    machinery = [m for m in top if m in ("claims", "registry", "checks")]
    out += ["## Training", ""] + [f"::: dlspec.{m}\n" for m in top if m not in machinery]
    out += ["## Claim machinery", ""] + [f"::: dlspec.{m}\n" for m in machinery]
    return "\n".join(out)


def benchmarks_page() -> str:
    """The benchmarks page: every run's timings per kernel, device and form, and the plot;
    see docs/tools/bench_page.py."""
    claims = {c.id: c.page for c in site.claims}
    return bench_page.render(
        site.bench_runs, claims, figure=site.bench_figure, problems=site.bench_problems
    )


GENERATED = {
    "chapter-map": chapter_map,
    "status": status_page,
    "api": api_reference,
    "benchmarks": benchmarks_page,
}
