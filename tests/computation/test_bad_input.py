"""compute.bad-input and compute.registry-coverage: every public entry point refuses bad input.

Each module registers valid calls of its public functions and classes
(`dlspec.registry.register_calls`, a `Call` per entry point). From a valid call the test derives
invalid ones, one argument at a time, from the argument's value and the entry point's signature
(`cases()`); hypothesis draws the bad value of each case. Every invalid call must raise a
`TypeError` or `ValueError` whose message names the argument (as a whole word). A second test
fails when a public name (a module's `__all__`) has no valid call and is not exempt.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from dlspec.registry import Call, calls, modules

DEV, DTYPE = torch.device("cpu"), torch.float64
CALLS = calls(DEV, DTYPE)

#: Public names with no valid call of their own, and why.
EXEMPT = {
    # The claim machinery: it checks the others, and its tests live in tests/machinery.
    "dlspec.checks.*",
    # Constants (tables and numbers, nothing to call).
    "dlspec.data.digits.TRAIN_SIZE",
    "dlspec.data.problems.MULTI_BASIN_SMOOTHNESS",
    "dlspec.nn.activations.ACTIVATIONS",
    "dlspec.nn.conv.PADDING_MODES",
    "dlspec.nn.dropout.MAX_ENUMERATED_UNITS",
    "dlspec.nn.losses.REDUCTIONS",
    "dlspec.nn.rnn.GAMMA",
    "dlspec.optim.clip.TORCH_EPS",
    # Exceptions the others raise.
    "dlspec.data.standardize.NotFittedError",
    "dlspec.optim.clip.NonFiniteGradientError",
    # An abstract base class (its subclasses Factorized, Mixture, Autoregressive are covered).
    "dlspec.nn.generation.PairModel",
    # Result records that dlspec builds and returns (plain dataclasses, never built by a user).
    "dlspec.analysis.bias_variance.BiasVariance",
    "dlspec.analysis.pca.PCA",
    "dlspec.analysis.pieces.Pieces",
    "dlspec.data.digits.Digits",
    "dlspec.data.problems.Quadratic",
    "dlspec.nn.gan.GANHistory",
    "dlspec.nn.generation.Generation",
    "dlspec.nn.lstm.LSTMTrace",
    "dlspec.train.History",
}

_BAD = (TypeError, ValueError)


def _public() -> dict[str, Any]:
    """Every public name of dlspec (`module.name` → object), re-exports under their home."""
    found: dict[str, Any] = {}
    for mod_name in modules():
        mod = importlib.import_module(mod_name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            home = getattr(obj, "__module__", mod_name) if callable(obj) else mod_name
            found.setdefault(f"{home}.{name}", obj)
    return found


def _exempt(qualified: str) -> bool:
    return qualified in EXEMPT or f"{qualified.rsplit('.', 1)[0]}.*" in EXEMPT


def _bound(c: Call) -> bool:
    """Whether `c.fn` is a method of an instance of a public class (e.g. `Standardizer.fit`)."""
    return inspect.ismethod(c.fn) and not inspect.isclass(c.fn.__self__)


def _label(c: Call) -> str:
    return f"{c.fn.__module__.removeprefix('dlspec.')}.{c.fn.__qualname__}"


def _interval(spec: str) -> tuple[float, float, bool, bool]:
    """`"(0, 1]"` → (0.0, 1.0, low_open=True, high_open=False)."""
    m = re.fullmatch(r"([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])", spec)
    assert m, f"bad interval {spec!r}"
    return float(m[2]), float(m[3]), m[1] == "(", m[4] == ")"


def _outside(spec: str, integer: bool) -> st.SearchStrategy[Any]:
    """Numbers outside the interval `spec` (nothing when it is the whole line)."""
    lo, hi, lo_open, hi_open = _interval(spec)
    parts: list[st.SearchStrategy[Any]] = []
    if integer:
        if lo > -math.inf:
            parts.append(st.integers(max_value=int(lo) - (0 if lo_open else 1)))
        if hi < math.inf:
            parts.append(st.integers(min_value=int(hi) + (0 if hi_open else 1)))
    else:
        if lo > -math.inf:
            below = st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False)
            parts.append(below.filter(math.isfinite))
        if hi < math.inf:
            above = st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False)
            parts.append(above.filter(math.isfinite))
    return st.one_of(parts) if parts else st.nothing()


def _edges(spec: str, integer: bool) -> list[Any]:
    """The invalid numbers closest to the interval `spec`: an open end itself, or the next
    number (integer or float) beyond a closed one."""
    lo, hi, lo_open, hi_open = _interval(spec)
    out: list[float] = []
    if lo > -math.inf:
        out.append(lo if lo_open else (lo - 1 if integer else math.nextafter(lo, -math.inf)))
    if hi < math.inf:
        out.append(hi if hi_open else (hi + 1 if integer else math.nextafter(hi, math.inf)))
    return [int(v) for v in out] if integer else out


@dataclass(frozen=True)
class Case:
    """One invalid call: argument `arg` of stage `stage` (`init` or `forward`) replaced by a
    value drawn from `bad(valid_value)`."""

    stage: str
    arg: str
    kind: str
    bad: Callable[[Any], st.SearchStrategy[Any]]


def _const(v: Any) -> Callable[[Any], st.SearchStrategy[Any]]:
    return lambda _: st.just(v)


def _strategy(s: st.SearchStrategy[Any]) -> Callable[[Any], st.SearchStrategy[Any]]:
    return lambda _: s


def _inject(v: torch.Tensor) -> st.SearchStrategy[torch.Tensor]:
    """`v` with one entry replaced by NaN, +inf or −inf."""

    def put(i: int, bad: float) -> torch.Tensor:
        out = v.detach().clone()
        out.view(-1)[i] = bad
        return out

    return st.builds(
        put, st.integers(0, v.numel() - 1), st.sampled_from([math.nan, math.inf, -math.inf])
    )


_NOT_BOOL = st.one_of(st.integers(0, 1), st.floats(0, 1), st.sampled_from(["True", "", None]))
_NOT_NUMBER = st.sampled_from(["1", [1], 1j])


def _value_cases(c: Call, stage: str, arg: str, v: Any, tensors: int) -> list[Case]:
    """The invalid values derived from one valid value `v` of argument `arg`."""
    out: list[Case] = []

    def add(kind: str, bad: Callable[[Any], st.SearchStrategy[Any]]) -> None:
        out.append(Case(stage, arg, kind, bad))

    if arg in c.free or v is None:
        return out
    if isinstance(v, bool):
        add("flag not bool", _strategy(_NOT_BOOL))
    elif isinstance(v, torch.Tensor):
        if v.is_floating_point():
            add("integer tensor", lambda t: st.just(t.detach().round().long()))
            add("bool tensor", lambda t: st.just(t.detach() > 0))
        else:
            add("float tensor", lambda t: st.just(t.to(DTYPE)))
        add("not a tensor", _strategy(st.sampled_from(["x", 1.5])))
        if tensors > 1:
            add("meta tensor among cpu ones", lambda t: st.just(t.detach().to("meta")))
        if arg in c.ndim:
            add("extra dimension", lambda t: st.just(t.detach()[None]))
            if v.dim() > 0:
                add("missing dimension", lambda t: st.just(t.detach()[0]))
        if arg in c.nonempty and v.dim() > 0:
            add("empty", lambda t: st.just(t.detach()[:0]))
        if arg in c.finite:
            add("NaN/inf entry", lambda t: _inject(t))
    elif isinstance(v, int):
        add("not an integer", _strategy(st.sampled_from([1.5, "2"])))
        add("bool for an integer", _const(True))
        spec = c.ranges.get(arg, "[1, inf)")
        add("integer out of range", _strategy(_outside(spec, integer=True)))
        for edge in _edges(spec, integer=True):
            add(f"integer just outside {spec}", _const(edge))
    elif isinstance(v, float):
        add("not a number", _strategy(_NOT_NUMBER))
        add("bool for a number", _const(True))
        add("NaN or inf", _strategy(st.sampled_from([math.nan, math.inf, -math.inf])))
        if arg in c.ranges:
            add("number out of range", _strategy(_outside(c.ranges[arg], integer=False)))
            for edge in _edges(c.ranges[arg], integer=False):
                add(f"number just outside {c.ranges[arg]}", _const(edge))
    elif isinstance(v, str):
        add("unknown choice", _strategy(st.text(max_size=4).map(lambda s: f"no-{s}")))
        add("choice not a string", _const(3))
    elif isinstance(v, torch.Generator):
        add("generator not a Generator", _strategy(st.sampled_from([0, "seed"])))
    elif isinstance(v, torch.dtype):
        add("non-float dtype", _strategy(st.sampled_from([torch.int64, torch.bool, "float64"])))
    elif isinstance(v, torch.nn.Module) or inspect.isclass(v):
        add("not a module", _const("model"))
    elif callable(v):
        add("not callable", _const(3))
    elif isinstance(v, list | tuple) and v and all(isinstance(e, int) for e in v):
        spec = c.ranges.get(arg, "[1, inf)")

        def one_bad(seq: Any, spec: str = spec) -> st.SearchStrategy[Any]:
            return st.builds(
                lambda i, b: type(seq)([b if j == i else e for j, e in enumerate(seq)]),
                st.integers(0, len(seq) - 1),
                _outside(spec, integer=True),
            )

        add("entry out of range", one_bad)
    elif isinstance(v, list | tuple) and v and all(isinstance(e, torch.Tensor) for e in v):
        if arg in c.nonempty:
            add("empty list of tensors", _const([]))
        add("non-tensor in the list", lambda seq: st.just([*seq[:-1], "x"]))
    elif isinstance(v, list | tuple) and v and all(isinstance(e, float) for e in v):
        add("NaN entry", lambda seq: st.just(type(seq)([math.nan, *seq[1:]])))
    elif not isinstance(v, torch.device | list | tuple | dict | str):
        add("wrong type", _const("x"))  # an optimizer, a noise law, ...
    return out


def _signature_values(fn: Callable[..., Any], given_: dict[str, Any]) -> dict[str, Any]:
    """The arguments given, plus every parameter's default that the call leaves out."""
    values = dict(given_)
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in values:
            continue
        if p.default is not p.empty:
            values[p.name] = p.default
    return values


def _count_tensors(values: dict[str, Any], extra: int = 0) -> int:
    return extra + sum(isinstance(v, torch.Tensor) for v in values.values())


def cases(c: Call) -> list[Case]:
    """Every invalid-input case derived from the valid call `c`."""
    out: list[Case] = []
    init = _signature_values(c.fn, c.kwargs)
    for arg, v in init.items():
        out += _value_cases(c, "init", arg, v, _count_tensors(init))
    if c.forward is not None:
        module = c.fn(**c.kwargs)
        fwd = _signature_values(module.forward, c.forward)
        params = 1 if any(True for _ in module.parameters()) else 0
        for arg, v in fwd.items():
            out += _value_cases(c, "forward", arg, v, _count_tensors(fwd, params))
    return out


def _names(message: str, arg: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(arg)}(?!\w)", message) is not None


def _run(c: Call, stage: str, arg: str | None = None, bad: Any = None) -> Any:
    init = dict(c.kwargs)
    if stage == "init" and arg is not None:
        init[arg] = bad
    out = c.fn(**init)
    if c.forward is None or (stage == "init" and arg is not None):
        return out  # a bad constructor argument must fail in the constructor
    fwd = dict(c.forward)
    if stage == "forward" and arg is not None:
        fwd[arg] = bad
    return out(**fwd)


def _valid(c: Call, case: Case) -> Any:
    """The valid value of the case's argument (given, or the signature's default)."""
    given_ = c.kwargs if case.stage == "init" else c.forward or {}
    if case.arg in given_:
        return given_[case.arg]
    fn = c.fn if case.stage == "init" else c.fn(**c.kwargs).forward
    return inspect.signature(fn).parameters[case.arg].default


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor(shape={tuple(v.shape)}, dtype={v.dtype}, device={v.device})"
    text = str(v) if isinstance(v, BaseException) else repr(v)
    return text if len(text) < 200 else text[:200] + "..."


#: No "explain" phase: it reruns a failing example many times to comment on it.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

IDS = [_label(c) for c in CALLS]
CASES = [cases(c) for c in CALLS]
#: Examples per entry point: each example draws one bad value for every case of the entry.
EXAMPLES = max(1, settings.default.max_examples // 5)


@pytest.mark.claim("compute.bad-input")
@pytest.mark.parametrize("label", sorted(set(IDS)))
def test_every_bad_argument_is_refused(label: str, evidence: Any) -> None:
    where = f"compute.bad-input [{label}]"
    mine = [(c, cs) for c, lab, cs in zip(CALLS, IDS, CASES, strict=True) if lab == label]
    for c, _ in mine:
        _run(c, "valid")  # the valid call itself must pass
    assert any(cs for _, cs in mine), f"{where}: no invalid case derived"

    @settings(max_examples=EXAMPLES, phases=_PHASES, print_blob=False)
    @given(data=st.data())
    def each(data: st.DataObject) -> None:
        wrong: list[str] = []
        for c, cs in mine:
            for case in cs:
                bad = data.draw(case.bad(_valid(c, case)), label=f"{case.arg}: {case.kind}")
                what = f"{case.stage} argument {case.arg!r} ({case.kind}) = {_short(bad)}"
                try:
                    _run(c, case.stage, case.arg, bad)
                except _BAD as err:
                    if not any(_names(str(err), a) for a in (case.arg, *c.parts.get(case.arg, ()))):
                        wrong.append(f"{what}: {type(err).__name__} not naming it: {err}")
                except Exception as err:  # the point is which error it was
                    wrong.append(f"{what}: raised {type(err).__name__}: {_short(err)}")
                else:
                    wrong.append(f"{what}: accepted silently")
        assert not wrong, f"{where}: {len(wrong)} invalid call(s) not refused:\n" + "\n".join(wrong)

    each()


def _covered() -> set[int]:
    """The ids of the public objects with a valid call (a bound method covers its class)."""
    return {id(c.fn) for c in CALLS} | {id(type(c.fn.__self__)) for c in CALLS if _bound(c)}


@pytest.mark.claim("compute.bad-input")
def test_counts(evidence: Any) -> None:
    """The numbers the page shows: entry points, valid calls and invalid cases, by kind."""
    public = _public()
    entry_points = sum(id(obj) in _covered() for obj in public.values())
    n_cases = sum(len(cs) for cs in CASES)
    kinds: dict[str, int] = {}
    for cs in CASES:
        for case in cs:
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
    evidence.value("entry_points", entry_points)
    evidence.value("valid_calls", len(CALLS))
    evidence.value("invalid_cases", n_cases)
    evidence.value("examples_per_entry_point", EXAMPLES)
    evidence.value("cases_by_kind", [f"{k}: {n}" for k, n in sorted(kinds.items())])
    assert entry_points >= 100 and n_cases >= 500, (
        f"compute.bad-input: only {entry_points} entry points and {n_cases} cases registered"
    )


@pytest.mark.claim("compute.registry-coverage")
def test_every_public_name_has_a_valid_call(evidence: Any) -> None:
    public = _public()
    covered = _covered()
    evidence.value("public_names", len(public))
    evidence.value("exempt_names", sum(_exempt(q) for q in public))
    missing = sorted(q for q, obj in public.items() if id(obj) not in covered and not _exempt(q))
    stale = sorted(e for e in EXEMPT if not e.endswith("*") and e not in public)
    assert not missing, f"compute.registry-coverage: public names with no valid call: {missing}"
    assert not stale, f"compute.registry-coverage: exemptions that name nothing public: {stale}"
