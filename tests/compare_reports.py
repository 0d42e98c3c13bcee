"""Compare two claim reports (`build/claims.json`) field by field: `compute.determinism`.

`python -m tests.compare_reports A.json B.json` prints every difference between two runs of the
claim suite and exits 1 if there is one. Compared: the claim set, each claim's status, and for
every test its outcome, hypothesis example count, recorded values and figure list. Not compared:
what says when or how long (the header's commit, time, duration and dirty flag, each claim's
`run` stamp, each test's `duration` and failure `message`), and the values that are wall-clock
measurements (`TIMINGS`). `nox -s determinism` runs the suite twice and calls this.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

#: Values that are timings, per claim: measured durations cannot repeat between two runs.
TIMINGS: dict[str, set[str]] = {
    "compute.matrix-beats-loop": {"ratios", "ratio"},
}

#: Header fields compared (the others say when and where the run happened).
HEADER = ("schema", "torch", "devices", "devices_requested", "hypothesis_profile", "complete")

#: Per-test fields compared.
TEST_FIELDS = ("outcome", "examples", "device", "dtype", "figures")


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (a recorded NaN is a result too)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Every difference between reports `a` and `b` that is not a time, as readable lines."""
    out = [f"header {k}: {a.get(k)!r} != {b.get(k)!r}" for k in HEADER if a.get(k) != b.get(k)]
    ca, cb = a.get("claims", {}), b.get("claims", {})
    for c in sorted(set(ca) ^ set(cb)):
        out.append(f"claim {c}: only in the {'first' if c in ca else 'second'} run")
    for cid in sorted(set(ca) & set(cb)):
        x, y = ca[cid], cb[cid]
        if x["status"] != y["status"]:
            out.append(f"{cid}: status {x['status']} != {y['status']}")
        tx = {t["nodeid"]: t for t in x["tests"]}
        ty = {t["nodeid"]: t for t in y["tests"]}
        out += [f"{cid}: test {n} only in one run" for n in sorted(set(tx) ^ set(ty))]
        skip = TIMINGS.get(cid, set())
        for node in sorted(set(tx) & set(ty)):
            s, t = tx[node], ty[node]
            for f in TEST_FIELDS:
                if not _same(s.get(f), t.get(f)):
                    out.append(f"{node}: {f} {s.get(f)!r} != {t.get(f)!r}")
            vs, vt = s.get("values", {}), t.get("values", {})
            for name in sorted((set(vs) | set(vt)) - skip):
                if name not in vs or name not in vt or not _same(vs[name], vt[name]):
                    out.append(f"{node}: value {name} {vs.get(name)!r} != {vt.get(name)!r}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.compare_reports FIRST.json SECOND.json", file=sys.stderr)
        return 2
    a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in argv)
    diff = differences(a, b)
    tests = sum(len(c["tests"]) for c in a.get("claims", {}).values())
    values = sum(len(t["values"]) for c in a.get("claims", {}).values() for t in c["tests"])
    for line in diff:
        print("DIFFERENT", line)
    print(
        f"compared {len(a.get('claims', {}))} claims, {tests} test results, {values} recorded "
        f"values: {len(diff)} difference(s)"
    )
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
