"""Follow the README as a new user would: clone into an empty directory, run its two commands
exactly as written, and check that the site was built with every claim verified.

    python .ci/fresh_machine.py [--repo PATH] [--keep]

The commands are read from the README's "Two commands" section (its first ```bash block, one
command per non-comment line), so the check follows the README when it changes. Each runs with
`bash -c` in the clone with a clean environment (no PYTHONPATH, no virtualenv, no CI variable).
Afterwards the check fails unless

- `build/claims.json` is complete, from the clone's commit and a clean tree (`is_fresh`), covers
  every claim on the clone's spec pages, and every claim in it is verified (`passed`);
- `build/site/index.html` and a page for every spec page exist, and every claim of a page shows
  a `passed` badge there and no other status badge.

Only committed files reach the clone: uncommitted changes of the repository are not checked (the
script says so). The last line is `fresh_machine: OK ...` or `fresh_machine: FAILED ...`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Two commands"
BADGE_RE = re.compile(r"<span class='dls-badge dls-(?P<status>[^']+)' data-claim='(?P<id>[^']+)'")


def readme_commands(readme: str) -> list[str]:
    """The commands of the README's "Two commands" section, in order."""
    start = readme.find(SECTION)
    if start < 0:
        raise SystemExit(f"fresh_machine: FAILED: README has no {SECTION!r} section")
    block = re.search(r"```bash\n(.*?)```", readme[start:], re.S)
    if block is None:
        raise SystemExit(f"fresh_machine: FAILED: no ```bash block under {SECTION!r}")
    lines = [ln.strip() for ln in block.group(1).splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(commands) != 2:
        raise SystemExit(f"fresh_machine: FAILED: expected two commands, found {commands}")
    return commands


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a new user's shell: no virtualenv, no PYTHONPATH, no CI flag."""
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
            "PIP_FIND_LINKS", "PIP_CONFIG_FILE", "PIP_DISABLE_PIP_VERSION_CHECK")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k in keep}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:  # drop an activated virtualenv from PATH
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv)
        )
    env["HOME"] = os.environ.get("HOME", str(home))  # pip's configuration lives there
    return env


def check_clone(clone: Path) -> list[str]:
    """What is wrong with the clone's report and site (nothing: an empty list)."""
    sys.path.insert(0, str(clone / "impl"))
    from dlspec.claims import git_state, is_fresh, load_report, read_spec

    problems: list[str] = []
    spec = read_spec(clone / "spec")
    report = load_report(clone / "build" / "claims.json")
    if report is None:
        return ["build/claims.json is missing or unreadable"]
    if not is_fresh(report, *git_state(clone)):
        problems.append("build/claims.json is not a complete, clean report of the clone's commit")
    claims = report.get("claims", {})
    wanted = set(spec.by_id())
    if wanted - set(claims):
        problems.append(f"claims missing from the report: {sorted(wanted - set(claims))}")
    bad = {cid: c.get("status") for cid, c in claims.items() if c.get("status") != "passed"}
    if bad:
        problems.append(f"claims not verified in the report: {bad}")
    site = clone / "build" / "site"
    if not (site / "index.html").is_file():
        return [*problems, "build/site/index.html is missing: the site was not built"]
    for page in spec.pages:
        html_path = site / page.removesuffix(".md") / "index.html"
        if not html_path.is_file():
            problems.append(f"the site has no page for spec/{page}")
            continue
        badges = {m["id"]: m["status"] for m in BADGE_RE.finditer(html_path.read_text("utf-8"))}
        for claim in spec.claims:
            if claim.page != page:
                continue
            status = badges.get(claim.id)
            if status is None:
                problems.append(f"{claim.id}: no badge on {html_path.relative_to(clone)}")
            elif not status.startswith("passed"):
                problems.append(f"{claim.id}: badge {status!r} on the site, not passed")
    if not problems:
        print(f"fresh_machine: {len(wanted)} claims verified in the report and on the site")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone")
    parser.add_argument("--keep", action="store_true", help="keep the clone for inspection")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # ordered with children
    repo = Path(args.repo).resolve()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    if dirty:
        print("fresh_machine: note: uncommitted changes are not in the clone and are not checked")
    tmp = Path(tempfile.mkdtemp(prefix="dlspec-fresh-"))
    clone = tmp / "dlspec"
    start = time.monotonic()
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(repo), str(clone)],
                       check=True)  # fmt: skip
        commands = readme_commands((clone / "README.md").read_text("utf-8"))
        env = clean_env(tmp)
        for command in commands:
            print(f"fresh_machine: $ {command}", flush=True)
            t0 = time.monotonic()
            done = subprocess.run(["bash", "-c", command], cwd=clone, env=env)
            print(f"fresh_machine: exit {done.returncode} after {time.monotonic() - t0:.0f} s")
            if done.returncode != 0:
                print(f"fresh_machine: FAILED: {command!r} exited {done.returncode}")
                return 1
        problems = check_clone(clone)
        for p in problems:
            print(f"  - {p}")
        took = time.monotonic() - start
        if problems:
            print(f"fresh_machine: FAILED: {len(problems)} problems ({took:.0f} s)")
            return 1
        print(f"fresh_machine: OK: README's two commands on a fresh clone ({took:.0f} s)")
        return 0
    finally:
        if args.keep:
            print(f"fresh_machine: the clone is kept in {clone}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
