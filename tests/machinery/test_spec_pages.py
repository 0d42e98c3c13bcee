"""The claim-block parser (dlspec.claims): what it accepts and what it names as a problem."""

from __future__ import annotations

import pytest

from dlspec.claims import combine_status, display_math_problems, parse_page

GOOD = """## Heading

!!! claim "x.good-one"
    kind: sym

    The statement, $a = b$.

**Conditions.** c. **Derivation.** d. **Source.** `001_78bb22028378a92d.txt`. **Reference.** r.
"""


def test_good_block_parses() -> None:
    claims, problems = parse_page(GOOD, "networks/x.md")
    assert problems == []
    (c,) = claims
    assert (c.id, c.kind, c.chapter, c.line, c.heading) == (
        "x.good-one",
        "sym",
        "networks",
        3,
        "Heading",
    )
    assert c.statement == "The statement, $a = b$."


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("kind: sym", "kind: proof"), "must declare 'kind:"),
        (("    kind: sym\n", ""), "found 'none'"),
        (('"x.good-one"', '"X.Bad"'), "is not of the form"),
        (("**Conditions.**", "Conditions:"), "lacks a **Conditions.**"),
        (("**Derivation.**", "Derivation:"), "**Derivation.** or **Argument.**"),
        (("`001_78bb22028378a92d.txt`", "the notes"), "must name a seed note"),
        (("**Reference.** r.", ""), "lacks a **Reference.**"),
        (("    The statement, $a = b$.\n", ""), "has no statement"),
        (('!!! claim "x.good-one"', "!!! claim x.good-one"), "malformed claim block title"),
    ],
)
def test_each_convention_break_is_named(edit: tuple[str, str], problem: str) -> None:
    _, problems = parse_page(GOOD.replace(*edit), "networks/x.md")
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("spec/networks/x.md:") for p in problems), problems


def test_sections_belong_to_their_own_claim() -> None:
    second = GOOD.replace("x.good-one", "x.good-two").split("**Conditions.**")[0]
    _, problems = parse_page(GOOD + "\n" + second, "networks/x.md")
    assert len(problems) == 4 and all("'x.good-two'" in p for p in problems), problems


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([], "untested"),
        (["passed", "passed"], "passed"),
        (["passed", "skipped"], "skipped"),
        (["skipped", "failed"], "failed"),
        (["passed", "failed"], "failed"),
    ],
)
def test_status_is_passed_only_when_all_tests_passed(outcomes: list[str], status: str) -> None:
    assert combine_status(outcomes) == status


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a\n\n$$\nx\n$$\n\nb", None),
        ("a\n\n    $$\n    x = 1\n    $$\n\nb", None),
        ("a\n\n$$ x $$\n\nb", None),
        ("```\na\n$$\n```", None),
        ("a\n$$\nx\n$$\n\nb", "needs a blank line before it"),
        ("`a` b\n$$\nx\n$$\n\nc", "needs a blank line before it"),
        ("a\n\n$$\nx\n$$\nb", "needs a blank line after it"),
        ("a $$x$$ b", "must start its own line"),
        ("a\n\n$$\nx", "is never closed"),
        ("## Why $\\log\\sigma(z)$\n\nb", "a heading holds math"),
        ("```\n# $x$\n```", None),
    ],
)
def test_display_math_must_be_its_own_paragraph(text: str, problem: str | None) -> None:
    problems = display_math_problems(text, "networks/x.md")
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems
