"""Mutation testing of `impl/dlspec` against the claim suite (issue 12, item 5).

`nox -s mutants [-- MODULE ...]` runs this script; it also runs directly:

    PYTHONPATH=impl python tests/mutation/run.py impl/dlspec/nn/dropout.py

It drives mutmut 3 (https://mutmut.readthedocs.io), which copies the package, writes every mutant
of every function into that copy behind a trampoline, runs the whole claim suite once to learn
which tests call which function, then forks one process per mutant that runs only the tests
covering the mutated function (`-x`: the first failure kills it). The project's layout needs a
workspace, `build/mutation/`:

- mutmut names a module after its path and strips only a `src/` prefix, while our package lives
  in `impl/`: the workspace holds the package as `src/dlspec/` (a copy), and symlinks to
  `tests/`, `spec/` and `conftest.py`; its `pyproject.toml` is ours plus the `[tool.mutmut]`
  table written here, so pytest runs with the project's settings.
- mutmut skips decorated functions. The copy takes `@torch.no_grad()` off the methods that have
  it (the optimizers' `step`) and runs their bodies under `with torch.no_grad():` instead, which
  is the same thing, so their updates are mutated too. `@property` bodies are not mutated.
- mutants run with `-p tests.mutation.plugin` (the `mutants` hypothesis profile: derandomized,
  no example database, no shrinking; no claims report is written), on the CPU, one torch thread
  each, from a fork server (`process_isolation = "forkserver"`: the process that imported torch
  and ran tests is never forked itself), at low priority (`nice`).
- The selection is the claim suite: `tests/`, without `tests/machinery` (they test the claim
  machinery, spawn pytest in subprocesses and read the whole repository), hence without
  `dlspec/claims.py`, the machinery those tests decide.

Results are cached in `build/mutation/mutants/` per function (a changed function is tested
again); verdicts other than "killed" are tested again on every run, so a new test shows at once.
`--fresh` starts from nothing. Prints the counts and the score per module and in all, and merges
them into `build/mutants.json` (per module, with the commit and time of the run that produced
them, and every surviving mutant's diff).

Score = (killed + timeout) / (mutants - skipped): a mutant whose tests time out (e.g. an endless
loop) was detected; one that no test reaches ("no tests") was not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "impl" / "dlspec"
WORK = ROOT / "build" / "mutation"
SUMMARY = ROOT / "build" / "mutants.json"
# Never mutated (paths relative to impl/dlspec), each with the reason.
NOT_MUTATED = {
    "claims.py": "the claim machinery (spec pages, report), decided by tests/machinery",
}
TIMEOUT_MULTIPLIER, TIMEOUT_CONSTANT = 4.0, 5.0
TESTS = ["tests", "--ignore=tests/machinery", "--ignore=tests/benchmarks"]
PYTEST_ARGS = [
    "-p",
    "tests.mutation.plugin",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:xdist",
    "--hypothesis-profile=mutants",
    "--device=cpu",
]
# How mutmut's exit codes read (mutmut.stats.status_by_exit_code), folded into our counts.
KILLED, SURVIVED, TIMEOUT, NO_TESTS, OTHER = "killed", "survived", "timeout", "no tests", "other"
SKIPPED, NOT_CHECKED = "skipped", "not checked"
VERDICTS = (KILLED, SURVIVED, TIMEOUT, NO_TESTS, OTHER, SKIPPED, NOT_CHECKED)


def status(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    name = status_by_exit_code[exit_code]
    if name in ("killed", "segfault", "caught by type check"):
        return KILLED  # the run crashed or failed: detected
    if name in (SURVIVED, TIMEOUT, NO_TESTS, SKIPPED, NOT_CHECKED):
        return name
    return OTHER  # "suspicious", "check was interrupted by user"


# -- the workspace -------------------------------------------------------------------------------


def without_no_grad_decorator(source: str) -> str:
    """`@torch.no_grad()` on a function becomes `with torch.no_grad():` around its body
    (after its docstring), the same behaviour in a form that mutmut mutates."""
    import libcst as cst
    import libcst.matchers as m

    no_grad = m.Decorator(
        decorator=m.Call(func=m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad")), args=[])
    )

    class Unwrap(cst.CSTTransformer):
        def leave_FunctionDef(
            self, original: cst.FunctionDef, updated: cst.FunctionDef
        ) -> cst.FunctionDef:
            if not any(m.matches(d, no_grad) for d in updated.decorators):
                return updated
            assert isinstance(updated.body, cst.IndentedBlock)
            body = list(updated.body.body)
            head = body[:1] if body and original.get_docstring() is not None else []
            block = cst.With(
                items=[cst.WithItem(cst.parse_expression("torch.no_grad()"))],
                body=cst.IndentedBlock(body=body[len(head) :]),
            )
            return updated.with_changes(
                decorators=[d for d in updated.decorators if not m.matches(d, no_grad)],
                body=updated.body.with_changes(body=[*head, block]),
            )

    return cst.parse_module(source).visit(Unwrap()).code


def sync_package() -> None:
    """Copy impl/dlspec to build/mutation/src/dlspec: changed files only, with the source's
    modification time (mutmut regenerates a file's mutants when its copy is newer)."""
    dest_root = WORK / "src" / "dlspec"
    wanted = set()
    for src in sorted(PACKAGE.rglob("*.py")):
        rel = src.relative_to(PACKAGE)
        wanted.add(rel)
        dest = dest_root / rel
        text = src.read_text(encoding="utf-8")
        if "no_grad()" in text:
            text = without_no_grad_decorator(text)
        if not dest.is_file() or dest.read_text(encoding="utf-8") != text:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
        stat = src.stat()
        os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    for old in dest_root.rglob("*.py"):
        if old.relative_to(dest_root) not in wanted:
            old.unlink()


def write_config(patterns: list[str]) -> None:
    """Our pyproject.toml plus mutmut's table; links to the tests, pages and root conftest."""
    for name in ("tests", "spec", "conftest.py"):
        link = WORK / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    table = {
        "source_paths": ["src/dlspec"],
        "only_mutate": patterns,
        "do_not_mutate": [f"src/dlspec/{p}" for p in NOT_MUTATED],
        "also_copy": ["conftest.py", "spec"],
        "pytest_add_cli_args_test_selection": TESTS,
        "pytest_add_cli_args": PYTEST_ARGS,
        "process_isolation": "forkserver",
        "use_git_change_detection": False,
        "on_dependency_change": "ignore",  # tests changed: run.py re-tests every non-kill
        # A mutant's tests get TIMEOUT_MULTIPLIER × their clean CPU time (RLIMIT_CPU, so a busy
        # machine does not trip it) plus TIMEOUT_CONSTANT seconds. mutmut's default, 15×, let a
        # mutant that turns a training loop endless hold a worker for many minutes.
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
        "timeout_constant": TIMEOUT_CONSTANT,
    }
    lines = ["", "# written by tests/mutation/run.py", "[tool.mutmut]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8") + "\n".join(lines) + "\n"
    target = WORK / "pyproject.toml"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    # mutmut copies these into mutants/ without deleting what is gone: copy afresh each run
    for name in ("tests", "spec", "conftest.py"):
        old = WORK / "mutants" / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()


def selection(args: list[str]) -> list[str]:
    """mutmut's `only_mutate` globs (workspace paths) for the modules named on the command line
    (`impl/dlspec/nn/dropout.py`, `dlspec/nn`, `nn/*.py`, ...); all of dlspec by default."""
    if not args:
        return ["src/dlspec/*"]
    out = []
    for arg in args:
        rel = arg.replace(os.sep, "/").strip("/")
        for prefix in ("impl/dlspec/", "impl/", "dlspec/", "src/dlspec/"):
            rel = rel.removeprefix(prefix)
        if rel in ("impl", "dlspec", "impl/dlspec", ""):
            rel = ""
        if not rel.endswith(".py") and not rel.endswith("*"):
            rel = (rel + "/*").lstrip("/")
        modules = (str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))
        if not any(fnmatch.fnmatch(m, rel) for m in modules):
            raise SystemExit(f"mutants: {arg!r} names no module of impl/dlspec")
        out.append(f"src/dlspec/{rel}")
    return out


# -- error-message text ---------------------------------------------------------------------------
#
# Excluded from the score (configuration: MESSAGE_TEXT_COUNTS = False). mutmut rewrites every
# string literal ("XX" around it, upper or lower case); in an error message that changes only
# the wording. The contract of a message (CONTRIBUTING.md, issue 12 item 1) is its exception type
# and that it names the argument, what was expected and what was given: the bad-input tests
# assert the type and a `match=` on that content, and the argument names handed to the checks
# (`check_real(lr, "lr")`) are identifiers, never excluded. The claims say nothing of wording.
# A mutant is message text when its diff changes one line, only inside one plain string literal
# with a space in it (prose, not a name or a mode), into another string (a message replaced by
# `None` counts; so does an f-string, whose {fields} report what was given), on a line that is a
# `raise`, holds nothing but string literals (a message continued over lines), or passes that
# literal as `meaning=`.

MESSAGE_TEXT_COUNTS = False


def is_message_text(diff: str) -> bool:
    import io
    import tokenize

    body = [ln for ln in diff.splitlines() if not ln.startswith(("---", "+++", "@@"))]
    old = [ln[1:] for ln in body if ln.startswith("-")]
    new = [ln[1:] for ln in body if ln.startswith("+")]
    if len(old) != 1 or len(new) != 1:
        return False

    def tokens(line: str) -> list[tuple[int, str]]:
        out = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
                if tok.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
                    out.append((tok.type, tok.string))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass  # a fragment of a longer statement: the tokens so far
        return out

    a, b = tokens(old[0]), tokens(new[0])
    if len(a) != len(b) or not a:
        return False
    changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(changed) != 1:
        return False
    i = changed[0]
    if a[i][0] != tokenize.STRING or b[i][0] != tokenize.STRING or " " not in a[i][1]:
        return False  # (a message replaced by None loses what the tests assert: counted)
    if "f" in a[i][1].split(a[i][1][-1])[0].lower():
        return False  # an f-string: the mutant may be in a {field}, what the message reports
    code = [s for t, s in a if t not in (tokenize.STRING, tokenize.OP)]
    return (
        a[0][1] == "raise"
        or not code  # only literals (and commas, parentheses): a message's continuation
        or (i >= 2 and a[i - 1][1] == "=" and a[i - 2][1] == "meaning")
    )


# -- results --------------------------------------------------------------------------------------


def module_results(patterns: list[str]) -> dict[str, dict[str, Any]]:
    """Per selected module: counts by verdict (message-text mutants apart), and the mutants not
    killed with their diffs, each marked when tests/mutation/EQUIVALENT.md explains it."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    equivalent = equivalent_mutants()
    unreachable = equivalent_mutants(out_of_reach=True)
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((WORK / "src" / "dlspec").rglob("*.py")):
        rel = path.relative_to(WORK)
        if not any(fnmatch.fnmatch(str(rel), p) for p in patterns):
            continue
        if str(path.relative_to(WORK / "src" / "dlspec")) in NOT_MUTATED:
            continue
        data = SourceFileMutationData(path=rel)
        data.load()
        if not data.exit_code_by_key:
            continue
        counts = dict.fromkeys(VERDICTS, 0)
        message = dict.fromkeys(VERDICTS, 0)
        survivors = []
        for key, code in sorted(data.exit_code_by_key.items(), key=lambda kv: mutant_order(kv[0])):
            verdict = status(code)
            try:
                diff = get_diff_for_mutant(key, path=rel)
            except Exception as e:  # pragma: no cover - a diff is a convenience
                diff = f"(no diff: {e})"
            if not MESSAGE_TEXT_COUNTS and is_message_text(diff):
                message[verdict] += 1
                continue
            counts[verdict] += 1
            if verdict in (SURVIVED, NO_TESTS, OTHER):
                added = mutated_line(diff)
                why = equivalent.get(key, (None, ""))
                entry = {"mutant": key, "verdict": verdict, "diff": diff}
                if why[0] is not None and why[0] == added:
                    entry["equivalent"] = why[1]
                reach = unreachable.get(key, (None, ""))
                if reach[0] is not None and reach[0] == added:
                    entry["out_of_reach"] = reach[1]
                survivors.append(entry)
        name = "impl/dlspec/" + str(rel.relative_to("src/dlspec"))
        eq = sum("equivalent" in s for s in survivors)
        far = sum("out_of_reach" in s for s in survivors)
        out[name] = {
            "counts": counts,
            **score_of(counts),
            "equivalent": eq,
            "out_of_reach": far,
            "score_without_equivalent": score_of(counts, eq)["score"],
            "message_text": message,
            "survivors": survivors,
        }
    return out


EQUIVALENT = Path(__file__).with_name("EQUIVALENT.md")


def mutated_line(diff: str) -> str:
    """The first line a mutant's diff adds, stripped."""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    return ""


OUT_OF_REACH = "## Out of reach on the CPU"


def equivalent_mutants(*, out_of_reach: bool = False) -> dict[str, tuple[str, str]]:
    """tests/mutation/EQUIVALENT.md's table: mutant -> (its mutated line, why no test can tell);
    with `out_of_reach`, the table under OUT_OF_REACH instead (CUDA-only code: not equivalent,
    reported apart, never counted as explained).

    An entry counts only while the mutant's diff still adds that line (a renumbered or changed
    mutant is a survivor again until the list is reviewed)."""
    out: dict[str, tuple[str, str]] = {}
    if not EQUIVALENT.is_file():
        return out
    section = False
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line.strip() == OUT_OF_REACH
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if section == out_of_reach and len(cells) >= 3 and cells[0].startswith("`dlspec."):
            out[cells[0].strip("`")] = (cells[1].strip("`"), cells[2])
    return out


def mutant_order(key: str) -> tuple[str, int]:
    head, _, number = key.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def score_of(counts: dict[str, int], equivalent: int = 0) -> dict[str, Any]:
    """The share of the mutants tested so far that a test detected (less `equivalent` ones)."""
    mutants = sum(counts.values())
    tested = mutants - counts.get(SKIPPED, 0) - counts.get(NOT_CHECKED, 0) - equivalent
    detected = counts.get(KILLED, 0) + counts.get(TIMEOUT, 0)
    return {"mutants": mutants, "score": round(detected / tested, 4) if tested else None}


def git_head() -> tuple[str | None, bool]:
    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--", "impl", "tests"))


def write_summary(results: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Merge this run's modules into build/mutants.json; the totals cover every module there."""
    head, dirty = git_head()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    old: dict[str, Any] = {}
    if SUMMARY.is_file():
        try:
            old = json.loads(SUMMARY.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
    modules = dict(old.get("modules", {}))
    for name, entry in results.items():
        modules[name] = {**entry, "run": {"commit": head, "dirty": dirty, "time": now}}
    modules = {k: modules[k] for k in sorted(modules) if (ROOT / k).is_file()}
    totals = sum_counts(modules)
    message = sum_counts({k: {"counts": e.get("message_text", {})} for k, e in modules.items()})
    eq = sum(e.get("equivalent", 0) for e in modules.values())
    far = sum(e.get("out_of_reach", 0) for e in modules.values())
    summary = {
        "schema": 1,
        "tool": f"mutmut {version('mutmut')}",
        "commit": head,
        "dirty": dirty,
        "time": now,
        "seconds": round(seconds, 1),
        "counts": totals,
        **score_of(totals),
        "equivalent": eq,
        "score_without_equivalent": score_of(totals, eq)["score"],
        "out_of_reach": far,
        "message_text": message,
        "message_text_counts": MESSAGE_TEXT_COUNTS,
        "modules": modules,
    }
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    tmp = SUMMARY.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(SUMMARY)
    return summary


def version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version(dist)
    except PackageNotFoundError:
        return "?"


def table(results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    """Counts and scores per module; `message` = message-text mutants (not counted), `equiv.` =
    survivors explained in EQUIVALENT.md, `score-eq` = the score with them left out."""
    cols = (KILLED, SURVIVED, TIMEOUT, NO_TESTS, OTHER, NOT_CHECKED)
    names = (*cols[:-1], "unchecked", "mutants", "message", "equiv.", "score", "score-eq")
    head = f"{'module':<32}" + "".join(f"{c:>10}" for c in names)
    rows = [head, "-" * len(head)]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def row(name: str, entry: dict[str, Any]) -> str:
        cells = [entry["counts"].get(c, 0) for c in cols] + [entry["mutants"]]
        cells += [sum(entry.get("message_text", {}).values()), entry.get("equivalent", 0)]
        cells += [pct(entry["score"]), pct(entry.get("score_without_equivalent"))]
        return f"{name:<32}" + "".join(f"{v:>10}" for v in cells)

    for name, entry in results.items():
        rows.append(row(name.removeprefix("impl/dlspec/"), entry))
    rows.append("-" * len(head))
    counts = sum_counts(results)
    eq = sum(e["equivalent"] for e in results.values())
    message = sum_counts({k: {"counts": e["message_text"]} for k, e in results.items()})
    this = {"counts": counts, **score_of(counts), "equivalent": eq, "message_text": message}
    this["score_without_equivalent"] = score_of(counts, eq)["score"]
    rows.append(row("this run", this))
    rows.append(row(f"build/mutants.json ({len(summary['modules'])} mod.)", summary))
    return "\n".join(rows)


def sum_counts(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(VERDICTS, 0)
    for entry in results.values():
        for k, v in entry["counts"].items():
            totals[k] = totals.get(k, 0) + v
    return totals


# -- main ----------------------------------------------------------------------------------------


def retest_undecided(patterns: list[str], timeouts: bool = False) -> list[str]:
    """Forget every verdict but "killed"/"timeout" of the selected modules, so a survivor meets
    the tests as they are now (killed ones stay cached until their function changes); with
    `timeouts`, forget "timeout" too. mutmut also stops a mutant's tests after a *wall-clock*
    time, (clean time + 5 s) × 4, so a run on a loaded machine can read a slow mutant as timed
    out (counted as killed): testing the timeouts again on a quiet machine decides them."""
    keep = (KILLED,) if timeouts else (KILLED, TIMEOUT)
    from mutmut.mutation.data import SourceFileMutationData

    names: list[str] = []
    for meta in (WORK / "mutants" / "src" / "dlspec").rglob("*.py.meta"):
        rel = meta.relative_to(WORK / "mutants").with_suffix("")
        if not any(fnmatch.fnmatch(str(rel), p) for p in patterns):
            continue
        data = SourceFileMutationData(path=rel)
        data.load()
        stale = [
            k for k, c in data.exit_code_by_key.items() if c is not None and status(c) not in keep
        ]
        for k in stale:
            data.exit_code_by_key[k] = None
        if stale:
            data.save()
            names += stale
    return names


def set_workspace(path: Path) -> None:
    global WORK
    WORK = path


def stats_cover(patterns: list[str]) -> None:
    """mutmut learns which tests call which function from a run with every *mutated* function
    behind a trampoline, and later runs only add new tests: a module mutated for the first time
    has no callers on record and all its mutants would read "no tests". Collect the stats again
    whenever the selection reaches beyond the modules they were collected with."""
    record = WORK / "mutants" / "dlspec-stats-modules.json"
    stats = WORK / "mutants" / "mutmut-stats.json"
    wanted = {
        str(p.relative_to(WORK))
        for p in (WORK / "src" / "dlspec").rglob("*.py")
        if any(fnmatch.fnmatch(str(p.relative_to(WORK)), pat) for pat in patterns)
    }
    try:
        covered = set(json.loads(record.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError):
        covered = set()
        if stats.is_file():  # no record (an older workspace): the functions the stats hashed
            hashed = json.loads(stats.read_text(encoding="utf-8")).get("function_hashes", {})
            for key in hashed:
                module = key.split(".x_")[0].split(".xǁ")[0]
                covered.add("src/" + module.replace(".", "/") + ".py")
    if stats.is_file() and not wanted <= covered:
        print(f"mutants: {len(wanted - covered)} module(s) new to the test stats: collecting again")
        stats.unlink()
    if not stats.is_file():
        covered = set()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(sorted(covered | wanted)) + "\n", encoding="utf-8")


def report(patterns: list[str], seconds: float) -> None:
    results = module_results(patterns)
    summary = write_summary(results, seconds)
    print()
    print(table(results, summary))
    print(f"\nmutants: {seconds / 60:.1f} min; summary in {SUMMARY.relative_to(ROOT)}")
    survivors = [
        s
        for e in results.values()
        for s in e["survivors"]
        if "equivalent" not in s and "out_of_reach" not in s
    ]
    far = sum(e.get("out_of_reach", 0) for e in results.values())
    if far:
        print(f"mutants: {far} survivors out of reach on the CPU (EQUIVALENT.md), not counted")
    if survivors:
        print(f"mutants: {len(survivors)} not killed nor explained (diffs in the summary); e.g.")
        for s in survivors[:10]:
            print(f"    {s['verdict']:>10}  {s['mutant']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules or folders of impl/dlspec (all)")
    parser.add_argument("--max-children", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--nice", type=int, default=10, help="niceness of the run (10)")
    parser.add_argument("--fresh", action="store_true", help="forget cached mutants and stats")
    parser.add_argument(
        "--report", action="store_true", help="summarize the cached verdicts; run nothing"
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test again only the mutants not killed, leave the unchecked ones for later",
    )
    parser.add_argument(
        "--timeouts",
        action="store_true",
        help="with --survivors: test the timed-out mutants again too (after a loaded run)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep every cached verdict (survivors too): finish an interrupted run",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=WORK,
        help="the workspace (build/mutation); a second one runs beside the first",
    )
    args = parser.parse_args(argv)
    patterns = selection(args.modules)
    set_workspace(args.workspace.resolve())
    if args.report:
        os.chdir(WORK)
        report(patterns, 0.0)
        return 0
    if args.fresh and WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    sync_package()
    write_config(patterns)
    os.chdir(WORK)  # mutmut reads ./pyproject.toml and writes ./mutants
    stats_cover(patterns)
    again: list[str] = []
    if (WORK / "mutants").is_dir() and not args.resume:
        again = retest_undecided(patterns, timeouts=args.timeouts)
        if again:
            print(f"mutants: {len(again)} surviving mutants are tested again")
    if args.survivors and not again:
        print("mutants: no survivors to test again")
        return 0
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI")}
    env.update(
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TORCHINDUCTOR_COMPILE_THREADS="1",
        PYTHONHASHSEED="0",
    )
    mutmut = Path(sys.executable).parent / "mutmut"
    cmd = [str(mutmut if mutmut.exists() else "mutmut"), "run"]
    cmd += ["--max-children", str(args.max_children)]
    if args.survivors:
        cmd += again  # mutmut runs only the mutants named (those that still exist)
    if args.nice:
        os.nice(args.nice)
    start = time.monotonic()
    print("mutants:", " ".join(cmd), f"(in {WORK}, nice {args.nice})", flush=True)
    try:
        done = subprocess.run(cmd, env=env)
    except KeyboardInterrupt:  # report what was decided so far
        done = subprocess.CompletedProcess(cmd, 130)
    seconds = time.monotonic() - start
    report(patterns, seconds)
    if done.returncode != 0:
        print(f"mutants: mutmut stopped (exit {done.returncode})", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
