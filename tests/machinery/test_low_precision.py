"""Every test that takes a dtype either passes in float16 and bfloat16 or is excluded by its own
``@pytest.mark.dtypes(...)`` mark (exact identities run in float64 only).

This runs the real suite, not a sample project: the property checked is one of the chapters'
tests (a tolerance derived for each dtype, or a dtype mark), not of the plugin, and a sample
project cannot show that a real test of an exact identity forgot its mark. Only the tests the
plugin parametrizes by ``--dtype`` run (they carry the ``takes_dtype`` mark), on cpu, in a
subprocess with its own report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # about 5 s idle with one chapter: it runs every dtype test twice
def test_low_precision_passes_or_is_excluded_by_mark(tmp_path: Path) -> None:
    dtype = "float16,bfloat16"  # one run for both: one interpreter start, one collection
    report_path = tmp_path / "claims.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "impl")])}
    env.setdefault("MPLBACKEND", "Agg")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests"),
            "-m",
            "takes_dtype",
            f"--dtype={dtype}",
            "--device=cpu",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            f"--claims-json={report_path}",
            f"--basetemp={tmp_path / 'tmp'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode in (0, 5), f"--dtype={dtype}: the suite failed:\n{tail}"
    data = json.loads(report_path.read_text())
    tests = [t for c in data["claims"].values() for t in c["tests"] if t["dtype"]]
    assert tests or done.returncode == 5, f"--dtype={dtype}: no test ran:\n{tail}"
    ran = {t["dtype"] for t in tests if t["outcome"] != "skipped"}  # a skip keeps a placeholder
    assert ran <= {"float16", "bfloat16"}, f"--dtype was not applied: {sorted(ran)}"
    unmarked = [
        f"{t['nodeid']}: {t['message']}"
        for t in tests
        if t["outcome"] == "skipped" and "which --dtype excludes" not in (t["message"] or "")
    ]
    assert not unmarked, (
        f"--dtype={dtype}: skipped for another reason than the test's own dtypes mark:\n"
        + "\n".join(unmarked)
    )
