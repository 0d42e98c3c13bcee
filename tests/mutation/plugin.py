"""pytest plugin for the runs of `nox -s mutants` (issue 12, item 5): loaded with
`-p tests.mutation.plugin` by tests/mutation/run.py, never by the claim suite.

- The `mutants` hypothesis profile: derandomized (every mutant meets the same examples as the
  clean run, so a verdict does not depend on luck), no example database (failures found against
  one mutant must not be replayed against the next, nor leak into `.hypothesis/`), no shrinking
  (a mutant only needs one failing example; shrinking it can take minutes).
- No claims report: a mutant's run must never write `build/claims.json` (or any report).
- torch on one thread: mutmut forks a process per mutant; one thread each is both fork-safe and
  fair to a small shared machine.
- The fastest tests first: mutmut hands a mutant the tests that call its function and stops at
  the first failure (`-x`); run in order of their duration in mutmut's stats
  (`mutants/mutmut-stats.json`, the working folder of these runs), a mutant that a quick property
  test kills does not wait for a slow training test first.
"""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis
import pytest
import torch

hypothesis.settings.register_profile(
    "mutants",
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "claims_json", None):
        config.option.claims_json = None  # a mutant's outcome is no claim's status
    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    try:
        stats = json.loads(Path("mutmut-stats.json").read_text(encoding="utf-8"))
        duration = stats["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return  # the stats run itself: no durations yet
    items.sort(key=lambda item: duration.get(item.nodeid, 0.0))
