"""The claim machinery itself: binding, coverage, selection, parameters and the report.

Each test runs a small pytest session on a throwaway spec page and test module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

PAGE = """# Sample

## One

!!! claim "x.one"
    kind: prop

    One is one.

**Conditions.** None.

**Derivation.** Reflexivity.

**Source.** `003_a268a4d6ccd32294.txt` says so.

**Reference.** Euclid.

## Two

!!! claim "x.two"
    kind: sym

    Two is two.

**Conditions.** None.

**Argument.** Reflexivity.

**Source.** `003_a268a4d6ccd32294.txt` says so.

**Reference.** Euclid.
"""

TESTS = """
import pytest
from hypothesis import given, strategies as st
import torch

@pytest.mark.claim("x.one")
@given(st.integers(0, 10))
def test_one(device, dtype, n):
    assert torch.zeros(n, device=device, dtype=dtype).sum() == 0

@pytest.mark.claim("x.two")
@pytest.mark.dtypes("float64")
def test_two(dtype, evidence):
    evidence.value("answer", 42)
    assert dtype == torch.float64
"""


def run(pytester: pytest.Pytester, *args: str, page: str = PAGE, tests: str = TESTS) -> Any:
    (pytester.path / "spec" / "generalization").mkdir(parents=True, exist_ok=True)
    (pytester.path / "spec" / "generalization" / "sample.md").write_text(page)
    pytester.makepyfile(test_sample=tests)
    return pytester.runpytest_inprocess(
        "-p",
        "tests.plugin",
        "-p",
        "no:cacheprovider",
        f"--spec-dir={pytester.path / 'spec'}",
        f"--claims-json={pytester.path / 'claims.json'}",
        "--device=cpu",
        *args,
    )


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(pytester.path / "claims.json").read_text())
    return data


def test_report_lists_each_claim_with_its_tests(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=3)
    data = report(pytester)
    assert data["complete"] is True
    assert data["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "untested": 0}
    one = data["claims"]["x.one"]
    assert [t["nodeid"].split("::")[1] for t in one["tests"]] == [
        "test_one[cpu-float32]",
        "test_one[cpu-float64]",
    ]
    assert {t["dtype"] for t in one["tests"]} == {"float32", "float64"}
    assert all(t["device"] == "cpu" and t["examples"] >= 1 for t in one["tests"])
    assert one["devices"] == ["cpu"] and one["kind"] == "prop"
    assert data["claims"]["x.two"]["tests"][0]["values"] == {"answer": 42}
    assert "claims: 2 verified, 0 failing, 0 skipped, 0 untested" in result.stdout.str()


def test_unknown_claim_fails_collection(pytester: pytest.Pytester) -> None:
    result = run(pytester, tests=TESTS.replace('claim("x.two")', 'claim("x.tow")'))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*unknown claim 'x.tow' (did you mean 'x.two'?)*"])


def test_claim_without_test_fails_the_full_run(pytester: pytest.Pytester) -> None:
    tests = TESTS.replace('@pytest.mark.claim("x.two")\n', "")
    result = run(pytester, tests=tests)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(['*UNTESTED CLAIM x.two*@pytest.mark.claim("x.two")*'])
    assert report(pytester)["claims"]["x.two"]["status"] == "untested"


def test_duplicate_id_fails_with_both_places(pytester: pytest.Pytester) -> None:
    result = run(pytester, page=PAGE.replace('"x.two"', '"x.one"'))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*duplicate claim ID 'x.one' at spec/generalization/sample.md:5*"])


def test_failing_test_fails_its_claim_by_name(pytester: pytest.Pytester) -> None:
    result = run(pytester, tests=TESTS.replace("== 0\n", "== 1\n"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED CLAIM x.one: 2 test(s) failed*"])
    data = report(pytester)
    assert data["claims"]["x.one"]["status"] == "failed"
    assert data["claims"]["x.two"]["status"] == "passed"
    assert "assert" in data["claims"]["x.one"]["tests"][0]["message"]


def test_skip_is_never_shown_as_passed(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--dtype=float32")
    result.assert_outcomes(passed=1, skipped=1)
    data = report(pytester)
    assert data["claims"]["x.two"]["status"] == "skipped"
    assert "float64" in data["claims"]["x.two"]["tests"][0]["message"]


def test_cuda_requested_without_gpu_skips(pytester: pytest.Pytester) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run(pytester, "--device=cuda")
    data = report(pytester)
    assert data["claims"]["x.one"]["status"] == "skipped", result.stdout.str()
    assert "CUDA is not available" in data["claims"]["x.one"]["tests"][0]["message"]


def test_claim_option_selects_and_marks_report_partial(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--claim=x.two")
    result.assert_outcomes(passed=1, deselected=2)
    data = report(pytester)
    assert data["complete"] is False
    assert data["claims"]["x.one"]["status"] == "untested"
    assert result.ret == pytest.ExitCode.OK


def test_claim_option_rejects_unknown_ids(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--claim=x.tw")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claim 'x.tw' matches no claim*did you mean*x.two*"])


def test_xdist_gives_the_same_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def strip(data: dict[str, Any]) -> dict[str, Any]:
        return {
            cid: [
                (t["nodeid"], t["outcome"], t["device"], t["dtype"], t["values"])
                for t in c["tests"]
            ]
            for cid, c in data["claims"].items()
        }

    # The repo root (for `tests.plugin`) before whatever made `dlspec` importable here.
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), str(root / "impl")]))
    run(pytester).assert_outcomes(passed=3)
    serial = report(pytester)
    result = pytester.runpytest_subprocess(
        "-p",
        "tests.plugin",
        "-p",
        "no:cacheprovider",
        f"--spec-dir={pytester.path / 'spec'}",
        f"--claims-json={pytester.path / 'claims.json'}",
        "--device=cpu",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=3)
    parallel = report(pytester)
    assert strip(parallel) == strip(serial)
    assert parallel["counts"] == serial["counts"]
    assert all(t["examples"] for t in parallel["claims"]["x.one"]["tests"]), (
        "hypothesis example counts lost under xdist"
    )
