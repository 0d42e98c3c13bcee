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


def options(pytester: pytest.Pytester) -> list[str]:
    return [
        "-p",
        "tests.plugin",
        "-p",
        "no:cacheprovider",
        f"--spec-dir={pytester.path / 'spec'}",
        f"--claims-json={pytester.path / 'claims.json'}",
    ]


def run(pytester: pytest.Pytester, *args: str, page: str = PAGE, tests: str = TESTS) -> Any:
    (pytester.path / "spec" / "generalization").mkdir(parents=True, exist_ok=True)
    (pytester.path / "spec" / "generalization" / "sample.md").write_text(page)
    pytester.makepyfile(test_sample=tests)
    return pytester.runpytest_inprocess(*options(pytester), "--device=cpu", *args)


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(pytester.path / "claims.json").read_text())
    return data


def test_report_lists_each_claim_with_its_tests(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=3)
    data = report(pytester)
    assert data["complete"] is True
    assert data["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "notrun": 0, "untested": 0}
    one = data["claims"]["x.one"]
    assert [t["nodeid"].split("::")[1] for t in one["tests"]] == [
        "test_one[cpu-float32]",
        "test_one[cpu-float64]",
    ]
    assert {t["dtype"] for t in one["tests"]} == {"float32", "float64"}
    assert all(t["device"] == "cpu" and t["examples"] >= 1 for t in one["tests"])
    assert one["devices"] == ["cpu"] and one["kind"] == "prop"
    assert data["claims"]["x.two"]["tests"][0]["values"] == {"answer": 42}
    assert "claims: 2 verified, 0 failing, 0 skipped, 0 not run, 0 untested" in result.stdout.str()


def test_unknown_claim_fails_collection(pytester: pytest.Pytester) -> None:
    result = run(pytester, tests=TESTS.replace('claim("x.two")', 'claim("x.tow")'))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*unknown claim 'x.tow' (did you mean 'x.two'?)*"])


BROKEN = """
import pytest

@pytest.mark.claim("x.tow")
def test_typo():
    pass
"""


def test_collection_error_makes_the_report_incomplete(pytester: pytest.Pytester) -> None:
    """A module knocked out at collection: its claims are "not run", never "untested"; the
    report says incomplete and names the cause; the claims it did not run keep their last
    result."""
    run(pytester).assert_outcomes(passed=3)
    first = report(pytester)
    pytester.makepyfile(test_broken=BROKEN)
    tests = TESTS.replace('claim("x.two")', 'claim("x.tow")')
    result = run(pytester, tests=tests)
    assert result.ret != pytest.ExitCode.OK
    out = result.stdout.str()
    assert "UNTESTED CLAIM" not in out and "untested" not in out.splitlines()[-3], out
    assert "report INCOMPLETE: 2 test module(s) failed to collect" in out
    data = report(pytester)
    assert data["complete"] is False
    assert [e["nodeid"] for e in data["collection_errors"]] == ["test_broken.py", "test_sample.py"]
    assert "unknown claim 'x.tow'" in data["collection_errors"][0]["message"]
    assert data["counts"]["untested"] == 0
    # nothing ran: every claim keeps the result of the first run, stamped with that run
    assert data["claims"]["x.one"]["status"] == "passed"
    assert data["claims"]["x.one"]["run"]["time"] == first["time"]


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
    # x.one has a test (deselected): "not run", never "untested"
    assert data["claims"]["x.one"]["status"] == "notrun"
    assert data["counts"]["untested"] == 0
    assert result.ret == pytest.ExitCode.OK


def test_filtered_run_merges_into_the_full_report(pytester: pytest.Pytester) -> None:
    """The command each claim box shows keeps the other claims' results, each with its run."""
    run(pytester).assert_outcomes(passed=3)
    full = report(pytester)
    stamp = full["claims"]["x.one"]["run"]
    assert stamp == {k: full[k] for k in ("commit", "dirty", "time")}
    import time

    time.sleep(1.1)  # the stamps have a resolution of one second
    result = run(pytester, "--claim=x.two", tests=TESTS.replace("42", "43"))
    result.assert_outcomes(passed=1, deselected=2)
    assert "merged" in result.stdout.str()
    data = report(pytester)
    assert data["complete"] is False
    assert data["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "notrun": 0, "untested": 0}
    assert data["claims"]["x.one"] == full["claims"]["x.one"]  # untouched, with its own run
    two = data["claims"]["x.two"]
    assert two["tests"][0]["values"] == {"answer": 43}
    assert two["run"]["time"] == data["time"] != full["time"]
    # -k deselects too: the claim it leaves out is "not run" in a fresh report, never untested
    (pytester.path / "claims.json").unlink()
    run(pytester, "-k", "test_two").assert_outcomes(passed=1, deselected=2)
    assert report(pytester)["claims"]["x.one"]["status"] == "notrun"


def test_meta_for_cpu_respects_the_device_option(pytester: pytest.Pytester) -> None:
    import torch

    tests = (
        TESTS
        + """
@pytest.mark.claim("x.one")
@pytest.mark.meta_for_cpu
def test_meta(device):
    assert torch.zeros(2, device=device).device.type == device
"""
    )
    run(pytester, tests=tests).assert_outcomes(passed=4)
    meta = [t for t in report(pytester)["claims"]["x.one"]["tests"] if "test_meta" in t["nodeid"]]
    assert [t["device"] for t in meta] == ["meta"]
    assert sorted(report(pytester)["devices"]) == ["cpu", "meta"]
    if torch.cuda.is_available():
        return
    result = run(pytester, "--device=cuda", tests=tests)
    result.assert_outcomes(passed=1, skipped=3)  # test_two takes no device
    data = report(pytester)
    assert data["devices"] == [] and data["devices_requested"] == ["cuda"]
    assert data["claims"]["x.one"]["devices"] == []
    assert data["claims"]["x.one"]["status"] == "skipped"


def test_claim_option_rejects_unknown_ids(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--claim=x.tw")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claim 'x.tw' matches no claim*did you mean*x.two*"])


@pytest.mark.slow  # runs a sample suite three times: left out of `nox -s quick`
def test_xdist_gives_the_same_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serial and parallel runs write the same report, a module that fails to collect included
    (under xdist the other tests run on past it: the report must still say incomplete).

    The controller runs in this process and two workers start (each imports torch: about 1 s),
    where a subprocess controller used to cost one more torch import.
    """

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
    # xdist hands its local workers the sys.path this interpreter started with (frozen when
    # xdist was imported), not PYTHONPATH: started as `pytest` rather than `python -m pytest`,
    # that lacks the repository root. Prepend it there.
    import xdist.workermanage

    frozen = list(getattr(xdist.workermanage, "_sys_path", []))
    monkeypatch.setattr(
        xdist.workermanage, "_sys_path", [str(root), str(root / "impl"), *frozen], raising=False
    )
    pytester.makepyfile(test_broken=BROKEN)
    run(pytester, "--continue-on-collection-errors").assert_outcomes(passed=3, errors=1)
    serial = report(pytester)
    (pytester.path / "claims.json").unlink()
    result = pytester.runpytest_inprocess(*options(pytester), "--device=cpu", "-n", "2")
    result.assert_outcomes(passed=3, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "UNTESTED CLAIM" not in out and "report INCOMPLETE" in out, out
    parallel = report(pytester)
    assert strip(parallel) == strip(serial)
    assert parallel["counts"] == serial["counts"]
    assert parallel["complete"] is serial["complete"] is False
    assert parallel["collection_errors"] == serial["collection_errors"] != []
    assert all(t["examples"] for t in parallel["claims"]["x.one"]["tests"]), (
        "hypothesis example counts lost under xdist"
    )
