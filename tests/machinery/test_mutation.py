"""The mutation-testing driver (tests/mutation/run.py, `nox -s mutants`; issue 12, item 5)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from tests.mutation import run

ROOT = Path(__file__).resolve().parents[2]


def test_modules_on_the_command_line_become_workspace_globs() -> None:
    assert run.selection([]) == ["src/dlspec/*"]
    assert run.selection(["impl/dlspec/nn/dropout.py"]) == ["src/dlspec/nn/dropout.py"]
    assert run.selection(["dlspec/optim", "nn/*.py"]) == [
        "src/dlspec/optim/*",
        "src/dlspec/nn/*.py",
    ]
    with pytest.raises(SystemExit, match="names no module"):
        run.selection(["impl/dlspec/nn/nothing.py"])


def test_no_grad_methods_are_unwrapped_into_the_same_behaviour() -> None:
    """mutmut skips decorated functions: the copy runs the body under `with torch.no_grad()`."""
    pytest.importorskip("libcst")  # comes with mutmut (the `mutants` extra)
    source = (
        "import torch\n\n"
        "class A:\n"
        "    @torch.no_grad()\n"
        "    def step(self, x):\n"
        '        """Doc."""\n'
        "        y = x * 2\n"
        "        return y.requires_grad\n"
    )
    out = run.without_no_grad_decorator(source)
    assert "@torch.no_grad()" not in out and "with torch.no_grad():" in out
    tree = ast.parse(out)
    method = tree.body[1].body[0]  # type: ignore[attr-defined]
    assert ast.get_docstring(method) == "Doc."
    namespace: dict[str, object] = {}
    exec(compile(out, "<unwrapped>", "exec"), namespace)
    a = namespace["A"]()  # type: ignore[operator]
    assert a.step(torch.ones(2, requires_grad=True)) is False


def test_only_plain_message_text_is_left_out_of_the_score() -> None:
    def diff(old: str, new: str) -> str:
        return f"--- a\n+++ b\n@@ -1 +1 @@\n-{old}\n+{new}\n"

    message = [
        (
            'raise ValueError("mask is used only in training")',
            'raise ValueError("XXmask is used only in trainingXX")',
        ),
        (
            '    "log_outputs must have a class dimension, got "',
            '    "LOG_OUTPUTS MUST HAVE A CLASS DIMENSION, GOT "',
        ),
        (
            'q = check_probability(q, "q", meaning="the keep probability")',
            'q = check_probability(q, "q", meaning="THE KEEP PROBABILITY")',
        ),
    ]
    counted = [
        ('raise ValueError("mask is used only in training")', "raise ValueError(None)"),
        ('_check_weights(s, weights, "s")', '_check_weights(s, weights, "XXsXX")'),  # a name
        (
            'raise TypeError(f"x must be a tensor, got {type(x)}")',
            'raise TypeError(f"x must be a tensor, got {type(None)}")',
        ),
        (
            'q = check_probability(q, "q", meaning="the keep probability")',
            'q = check_probability(q, "q", meaning=None)',
        ),
        ('y = torch.einsum("i j, j k", a, b)', 'y = torch.einsum("XXi j, j kXX", a, b)'),
        ("x = a + b", "x = a - b"),
    ]
    for old, new in message:
        assert run.is_message_text(diff(old, new)), new
    for old, new in counted:
        assert not run.is_message_text(diff(old, new)), new


def test_score_counts_timeouts_as_detected_and_leaves_unchecked_out() -> None:
    counts = dict.fromkeys(run.VERDICTS, 0) | {"killed": 8, "timeout": 1, "survived": 1}
    assert run.score_of(counts) == {"mutants": 10, "score": 0.9}
    counts |= {"not checked": 5, "no tests": 2}
    assert run.score_of(counts)["score"] == round(9 / 12, 4)
    assert run.score_of(counts, 1)["score"] == round(9 / 11, 4)


def test_equivalent_list_is_well_formed() -> None:
    """Each entry of tests/mutation/EQUIVALENT.md names a mutant of an existing module and
    function, the line the mutant writes, and a reason."""
    entries = {**run.equivalent_mutants(), **run.equivalent_mutants(out_of_reach=True)}
    for name, (line, why) in entries.items():
        match = re.fullmatch(r"dlspec\.([\w.]+)\.x[_ǁ](\w+?)(?:ǁ(\w+))?__mutmut_\d+", name)
        assert match, f"EQUIVALENT.md: {name!r} is not a mutmut mutant name"
        module = ROOT / "impl" / "dlspec" / (match.group(1).replace(".", "/") + ".py")
        assert module.is_file(), f"EQUIVALENT.md: {name}: no module {module}"
        function = match.group(3) or match.group(2)
        assert f"def {function}(" in module.read_text(encoding="utf-8"), (
            f"EQUIVALENT.md: {name}: no function {function} in {module.name}"
        )
        assert line and len(why) > 20, f"EQUIVALENT.md: {name}: give the mutated line and why"


def test_mutation_runs_never_write_the_claims_report() -> None:
    plugin = (ROOT / "tests" / "mutation" / "plugin.py").read_text(encoding="utf-8")
    assert "config.option.claims_json = None" in plugin
    assert not any("--claims-json" in a for a in run.PYTEST_ARGS + run.TESTS)
