"""Tests of `compute.determinism` (spec/computation/numerics.md): a seeded training run is a
function of its seeds alone.

A representative set of the suite's training computations (each kind of training loop the
empirical claims run: `fit` with minibatches and dropout, `fit(copies=...)`, a denoising
autoencoder, a recurrent classifier with gradient clipping, the GAN loop, the sampled
bias-variance estimate) runs twice in this process with the same seeds and one CPU thread, with
torch's global RNG put in a different state before each run. Every number it produces (losses,
final parameters, outputs) must agree bit for bit: a draw from the global RNG, an unseeded
generator or an order that depends on anything but the seeds shows up as a difference. The whole
suite's determinism (two runs, same hypothesis seed, the same report) is `nox -s determinism`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from dlspec.analysis import bias_variance as BV
from dlspec.data.digits import digits
from dlspec.nn.autoencoder import Autoencoder, Denoising, reconstruction_loss
from dlspec.nn.gan import Discriminator, Generator, train_gan
from dlspec.nn.mlp import MLP, StackedMLP
from dlspec.nn.rnn import RNN, SequenceClassifier
from dlspec.optim.clip import clip_by_norm
from dlspec.train import fit

CLAIM = "compute.determinism"

Numbers = dict[str, Any]


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _params(model: torch.nn.Module) -> Numbers:
    return {f"param:{k}": v.detach().clone() for k, v in model.state_dict().items()}


def run_mlp_dropout() -> Numbers:
    data = digits(dtype=torch.float32)
    x, y = data.x_train[:256], data.y_train[:256]
    net = MLP([64, 32, 10], p=0.3, generator=_seeded(1))
    hist = fit(net, x, y, epochs=2, generator=_seeded(2), batch_size=32)
    return {"loss": hist.loss, "out": net(data.x_test[:64]), **_params(net)}


def run_stacked_copies() -> Numbers:
    data = digits(dtype=torch.float32)
    x, y = data.x_train[:128], data.y_train[:128]
    stack = StackedMLP([MLP([64, 16, 10], p=0.5, generator=_seeded(s)) for s in range(3)])
    hist = fit(stack, x, y, epochs=2, generator=_seeded(4), batch_size=32, copies=3)
    return {"loss": hist.loss, **_params(stack)}


def run_denoising() -> Numbers:
    x = torch.rand(96, 12, generator=_seeded(5))
    dae = Denoising(Autoencoder([12, 4], generator=_seeded(6)), "masking", 0.3)
    hist = fit(dae, x, x, epochs=3, generator=_seeded(7), batch_size=16, loss=reconstruction_loss)
    return {"loss": hist.loss, **_params(dae)}


def run_rnn_clipped() -> Numbers:
    g = _seeded(8)
    x = torch.randn(64, 10, 3, generator=g, dtype=torch.float64)
    y = (x[:, 0, 0] > 0).long()
    model = SequenceClassifier(RNN(3, 8, generator=g, dtype=torch.float64), 2, generator=g)
    norms: list[float] = []

    def clip(m: torch.nn.Module) -> None:
        norms.append(float(clip_by_norm(m.parameters(), 1.0)))

    hist = fit(model, x, y, epochs=2, generator=_seeded(9), batch_size=16, before_step=clip)
    return {"loss": hist.loss, "norms": norms, **_params(model)}


def run_gan() -> Numbers:
    gen = Generator(2, hidden=(8,), generator=_seeded(10))
    disc = Discriminator(2, hidden=(8,), generator=_seeded(11))

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        return 2.0 + 0.5 * torch.randn(2, n, 1, generator=g)

    hist = train_gan(gen, disc, sample, steps=25, batch_size=16, generator=_seeded(12))
    return {"value": [v.clone() for v in hist.value], **_params(gen), **_params(disc)}


def run_bias_variance() -> Numbers:
    x = torch.linspace(-1, 1, 8, dtype=torch.float64)
    bv = BV.bias_variance(
        BV.polynomial_learner(3),
        torch.sin,
        x,
        torch.linspace(-0.9, 0.9, 5, dtype=torch.float64),
        sigma=0.3,
        noise=BV.Noise(),
        exact=False,
        draws=64,
        generator=_seeded(13),
    )
    return {f: getattr(bv, f) for f in ("expected_error", "bias2", "variance", "error_se")}


#: The training computations run twice: one per kind of loop the empirical claims use.
COMPUTATIONS: dict[str, Callable[[], Numbers]] = {
    "fit-dropout-digits": run_mlp_dropout,
    "fit-copies-dropout-digits": run_stacked_copies,
    "fit-denoising-masking": run_denoising,
    "fit-rnn-clip-by-norm": run_rnn_clipped,
    "train-gan-copies": run_gan,
    "bias-variance-sampled": run_bias_variance,
}


def bits(value: Any) -> list[Any]:
    """Every number in `value` as exact bit patterns (so −0.0 ≠ 0.0 and NaN = the same NaN)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.is_floating_point():
            width = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
            t = t.view(width)
        return [tuple(t.shape), t.flatten().tolist()]
    if isinstance(value, float):
        return [value.hex() if not math.isnan(value) else "nan"]
    if isinstance(value, (list, tuple)):
        return [bits(v) for v in value]
    return [value]


def count(value: Any) -> int:
    """How many numbers `value` holds."""
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, dict):
        return sum(count(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(count(v) for v in value)
    return 1


def differences(a: Numbers, b: Numbers) -> list[str]:
    """The names of the numbers that differ between two runs (or exist in one only)."""
    out = sorted(set(a) ^ set(b))
    out += [k for k in sorted(set(a) & set(b)) if bits(a[k]) != bits(b[k])]
    return out


@pytest.mark.claim(CLAIM)
@pytest.mark.parametrize("name", list(COMPUTATIONS))
def test_training_is_a_function_of_its_seeds(name: str, one_thread: None, evidence: Any) -> None:
    compute = COMPUTATIONS[name]
    torch.manual_seed(123)  # the global RNG in one state ...
    first = compute()
    torch.manual_seed(456)  # ... and in another: a run that draws from it cannot repeat
    torch.rand(17)
    second = compute()
    diff = differences(first, second)
    assert not diff, (
        f"{CLAIM} [cpu, 1 thread]: {name}: two runs with the same seeds differ in {diff[:8]}"
        f"{' …' if len(diff) > 8 else ''}; error: {len(diff)} of {len(first)} numbers, tolerance 0"
    )
    evidence.value("numbers_compared", count(first))


@pytest.mark.claim(CLAIM)
def test_comparison_sees_one_bit() -> None:
    """The instrument: a difference of one unit in the last place, or −0.0 against 0.0, counts."""
    x = torch.tensor([1.0, 0.0], dtype=torch.float64)
    y = x.clone()
    y[0] = torch.nextafter(x[0], torch.tensor(2.0, dtype=torch.float64))
    z = torch.tensor([1.0, -0.0], dtype=torch.float64)
    assert differences({"a": x}, {"a": y}) == ["a"]
    assert differences({"a": x}, {"a": z}) == ["a"]
    assert differences({"a": [0.1, x]}, {"a": [0.1, x.clone()]}) == []


@pytest.mark.claim(CLAIM)
def test_report_comparison_ignores_times_only() -> None:
    """`nox -s determinism`'s comparison: a changed outcome, example count or value is reported;
    a changed duration, timestamp or timing value is not."""
    from tests.compare_reports import differences as report_differences

    def report(**change: Any) -> dict[str, Any]:
        test = {
            "nodeid": "t::a[cpu-float64]",
            "outcome": "passed",
            "device": "cpu",
            "dtype": "float64",
            "duration": 0.5,
            "examples": 50,
            "message": None,
            "values": {"gap": 0.061, "ratio": 150.0},
            "figures": [],
        }
        test.update(change.pop("test", {}))
        claim = {"status": "passed", "tests": [test], "run": {"time": change.pop("t", "1")}}
        return {"time": "1", "duration": 9.0, **change, "claims": {"x.y": claim}}

    base = report()
    assert report_differences(base, report(time="2", duration=1.0, t="2")) == []
    assert report_differences(base, report(test={"duration": 7.0, "message": "m"})) == []
    assert len(report_differences(base, report(test={"examples": 49}))) == 1
    assert len(report_differences(base, report(test={"outcome": "failed"}))) == 1
    assert len(report_differences(base, report(test={"values": {"gap": 0.062}}))) == 2
    timing = {"compute.matrix-beats-loop": report()["claims"]["x.y"]}
    other = {
        "compute.matrix-beats-loop": report(test={"values": {"gap": 0.061, "ratio": 90.0}})[
            "claims"
        ]["x.y"]
    }
    assert report_differences({"claims": timing}, {"claims": other}) == []
    assert len(report_differences(base, {**base, "claims": {}})) == 1


@pytest.mark.claim(CLAIM)
def test_thread_count_is_part_of_the_setting(evidence: Any) -> None:
    """Why runs are compared at the same thread count: record whether one large reduction, and
    each training computation, gives the same bits on one thread and on two (not asserted: it
    depends on the machine's torch build and core count)."""
    x = torch.randn(4_000_000, generator=_seeded(14))
    before = torch.get_num_threads()
    try:
        sums, agree = [], []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            sums.append(x.sum())
        torch.set_num_threads(1)
        one = run_rnn_clipped()
        torch.set_num_threads(2)
        agree.append(not differences(one, run_rnn_clipped()))
    finally:
        torch.set_num_threads(before)
    evidence.value("sum_of_4e6_float32_same_bits_on_1_and_2_threads", bool(sums[0] == sums[1]))
    evidence.value("rnn_training_same_bits_on_1_and_2_threads", agree[0])
