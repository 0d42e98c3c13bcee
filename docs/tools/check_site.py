"""Check the built site in a real headless browser: ``python docs/tools/check_site.py build/site``.

Serves SITE_DIR on 127.0.0.1, opens every page of the built site (each ``index.html`` outside
``assets/`` and ``search/``: home, reading guide, status, sources, API and every spec page, new
chapters included) in Debian's Chromium (installed quietly with apt-get when missing; its log
goes to ``build/site-check/apt.log``) through playwright, and fails unless on every page:

- the math is rendered: each ``.arithmatex`` element holds KaTeX output, KaTeX's fonts loaded,
  and no raw TeX delimiters (``\\(``, ``\\[``, ``$$``, ``$...$``) are left in the visible text
  outside code;
- every claim the spec puts on the page (read with ``dlspec.claims``) shows a status badge;
- no request left the loopback interface, no request failed and no script raised.

Full-page screenshots go to ``build/site-check/``. The last line is one summary: ``check_site:
OK ...`` or ``check_site: FAILED ...`` (the problems are listed above it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "impl"))  # this checkout's dlspec
from dlspec.claims import read_spec  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NOT_PAGES = {"assets", "search", "site-check"}  # folders of the built site that hold no page


def site_pages(site_dir: Path) -> list[str]:
    """Every page of the built site, as URL paths (``""``, ``"reading/"``, ``"chapter/topic/"``)."""
    pages = []
    for index in sorted(site_dir.rglob("index.html")):
        rel = index.parent.relative_to(site_dir)
        if rel.parts and rel.parts[0] in NOT_PAGES:
            continue
        pages.append("" if not rel.parts else rel.as_posix() + "/")
    return pages


def missing_spec_pages(pages: list[str], spec_dir: Path) -> list[str]:
    """Spec pages that the built site lacks."""
    have = set(pages)
    return [p for p in read_spec(spec_dir).pages if p.removesuffix(".md") + "/" not in have]


RENDERED = (
    "() => [...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))"
)
# Runs in the page: what the checks need, gathered in one pass.
INSPECT = r"""async () => {
  await document.fonts.ready;
  const math = [...document.querySelectorAll(".arithmatex")];
  const unrendered = math.filter(e => !e.querySelector(".katex")).map(e => e.textContent.trim());
  const errors = [...document.querySelectorAll(".katex-error")].map(e => e.title || e.textContent);
  const fonts = [...document.fonts].filter(f => f.family.includes("KaTeX"));
  const brokenFonts = fonts.filter(f => f.status === "error").map(f => f.family);
  const loadedFonts = fonts.filter(f => f.status === "loaded").length;
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const pattern = /\\[()\[\]]|\$[^$]*\$/;  // TeX delimiters, or $...$ left unconverted
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest("code, pre, script, style, .katex") || !el.checkVisibility()) continue;
    const m = node.textContent.match(pattern);
    if (m) raw.push(node.textContent.slice(Math.max(0, m.index - 30), m.index + 40).trim());
  }
  const blocks = [...document.querySelectorAll(".admonition.claim")];
  const unbadged = blocks.filter(b => !b.querySelector(".admonition-title .dls-badge")).length;
  const images = [...document.images].filter(i => !i.complete || !i.naturalWidth).map(i => i.src);
  const badged = [...document.querySelectorAll(".dls-badge[data-claim]")].map(b => b.dataset.claim);
  return {math: math.length, unrendered, errors, brokenFonts, loadedFonts, raw,
          blocks: blocks.length, unbadged, badged, images};
}"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        sys.exit(f"check_site: {CHROMIUM} is missing; install it: apt-get install -y chromium")
    log = ROOT / "build" / "site-check" / "apt.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"check_site: installing Debian's chromium (apt-get; log in {log})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("w") as out:
        # a CJK font too: the pages quote the notes in Chinese (else the screenshots show boxes)
        install = ["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-zenhei"]
        for cmd in (["apt-get", "update", "-qq"], install):
            done = subprocess.run(cmd, env=env, check=False, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(*tail, sep="\n", file=sys.stderr)
                sys.exit(f"check_site: `{' '.join(cmd)}` failed (log: {log}); cannot install "
                         f"{CHROMIUM}")  # fmt: skip


def expected_claims(spec_dir: Path, page: str) -> list[str]:
    """The IDs of the claims the spec puts on ``page`` (every claim for the status page)."""
    claims = read_spec(spec_dir).claims
    if page == "status":
        return [c.id for c in claims]
    return [c.id for c in claims if c.page in (f"{page}.md", f"{page}/index.md")]


def check_page(
    context: Any, base: str, path: str, spec_dir: Path, out: Path, totals: dict[str, int]
) -> list[str]:
    """Load one page, save its screenshot and return what is wrong with it."""
    failures: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: failures.append(f"{path}: script error: {e}"))
    response = page.goto(base + path, wait_until="networkidle")
    if response is None or response.status != 200:
        status = response.status if response else "no response"
        return [f"{path}: HTTP {status}: the site has no such page (is its spec page there?)"]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # what stayed raw is reported below
        page.wait_for_function(RENDERED, timeout=10_000)
    found = page.evaluate(INSPECT)
    shot = out / f"{path.strip('/').replace('/', '-') or 'index'}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()

    if found["unrendered"]:
        failures.append(f"{path}: {len(found['unrendered'])} math elements not rendered by KaTeX, "
                        f"e.g. {found['unrendered'][0][:80]!r}")  # fmt: skip
    failures += [f"{path}: KaTeX error: {e[:120]}" for e in found["errors"]]
    if found["brokenFonts"] or (found["math"] and not found["loadedFonts"]):
        failures.append(f"{path}: KaTeX fonts did not load ({sorted(set(found['brokenFonts']))})")
    if found["raw"]:
        failures.append(f"{path}: raw TeX in the visible text, {len(found['raw'])} places, e.g. "
                        + "; ".join(map(repr, found["raw"][:3])))  # fmt: skip
    failures += [f"{path}: image did not load: {src}" for src in found["images"]]
    name = path.strip("/")
    expected = expected_claims(spec_dir, name)
    missing = [c for c in expected if c not in found["badged"]]
    if missing:
        failures.append(f"{path}: no status badge for {len(missing)} claims: {', '.join(missing)}")
    if found["unbadged"]:
        failures.append(f"{path}: {found['unbadged']} claim blocks have no badge in their title")
    if name != "status" and found["blocks"] != len(expected):
        failures.append(f"{path}: {found['blocks']} claim blocks, the spec has {len(expected)}")
    print(f"  /{path}: {found['math']} math elements, {len(expected)} claims with badges "
          f"{len(expected) - len(missing)}/{len(expected)}, screenshot {shot}")  # fmt: skip
    totals["pages"] += 1
    totals["math"] += found["math"]
    totals["badges"] += len(expected) - len(missing) if name != "status" else 0
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site_dir", type=Path)
    parser.add_argument(
        "--page",
        action="append",
        help="page path to check (default: every page of the built site)",
    )
    parser.add_argument(
        "--spec", type=Path, default=Path(os.environ.get("DLSPEC_SPEC_DIR", ROOT / "spec"))
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site-check")
    args = parser.parse_args()
    if not (args.site_dir / "index.html").is_file():
        sys.exit(f"check_site: {args.site_dir} holds no built site (run `mkdocs build` first)")
    ensure_chromium()

    args.out.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(QuietHandler, directory=str(args.site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"check_site: serving {args.site_dir} at {base}")

    requests: list[str] = []
    failures: list[str] = []
    pages = args.page or site_pages(args.site_dir)
    if not args.page:
        failures += [f"spec page {p} is not in the built site" for p in
                     missing_spec_pages(pages, args.spec)]  # fmt: skip
    totals = {"pages": 0, "math": 0, "badges": 0}

    from playwright.sync_api import sync_playwright  # imported here: the page list needs none

    def failed(request: Any) -> None:
        if is_local(request.url):  # the others are refused on purpose and reported below
            failures.append(f"request failed: {request.url}")

    def answered(response: Any) -> None:
        if response.status >= 400:
            failures.append(f"HTTP {response.status}: {response.url}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.on("request", lambda r: requests.append(r.url))
        context.on("requestfailed", failed)
        context.on("response", answered)
        context.route(  # nothing may leave the machine: record it (below) and refuse it
            "**/*",
            lambda route: route.continue_() if is_local(route.request.url) else route.abort(),
        )
        for path in pages:
            failures += check_page(context, base, path, args.spec, args.out, totals)
        browser.close()
    server.shutdown()

    outside = sorted({u for u in requests if not is_local(u)})
    failures += [f"request to a host other than loopback: {u}" for u in outside]
    summary = (
        f"{totals['pages']} pages, {totals['math']} math elements, {totals['badges']} claim "
        f"badges, {len(requests)} requests ({len(outside)} left loopback), screenshots in "
        f"{args.out}"
    )
    if failures:
        problems = list(dict.fromkeys(failures))
        print("problems:", *(f"  - {f}" for f in problems), sep="\n", flush=True)
        print(f"check_site: FAILED: {len(problems)} problems; {summary}")
        return 1
    print(f"check_site: OK: {summary}")
    return 0


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOOPBACK


if __name__ == "__main__":
    sys.exit(main())
