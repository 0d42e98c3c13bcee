"""A layer on a batch as one matrix product vs a per-example loop (compute.matrix-beats-loop).

The baseline of each group is the batched call (`record(..., baseline="batched")`): the ratio
of the loop says how much the matrix form saves. Both are forward passes of the same dlspec
layer, checked equal before timing (no gradient is involved).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.analysis.batching import per_example
from dlspec.nn.linear import Linear
from tests.benchmarks.conftest import assert_close_to_scale, record, synchronized
from tests.benchmarks.sizes import size


@pytest.mark.parametrize("case", [0, 1], ids=["case0", "case1"])
@pytest.mark.parametrize("impl", ["batched", "loop"])
def test_linear_batch_vs_loop(benchmark: Any, bench_device: str, impl: str, case: int) -> None:
    d, batch = size("linear-batch-vs-loop", bench_device)["cases"][case]
    g = torch.Generator(device=bench_device).manual_seed(0)
    layer = Linear(d, d, generator=g, device=bench_device)
    x = torch.randn(batch, d, generator=g, device=bench_device)
    with torch.no_grad():
        assert_close_to_scale(per_example(layer, x), layer(x), "loop")  # correct before timed

    def run() -> Any:
        with torch.no_grad():
            return layer(x) if impl == "batched" else per_example(layer, x)

    benchmark.group = f"linear-batch-vs-loop-d{d}-B{batch}-{bench_device}"
    threads = torch.get_num_threads()
    if bench_device == "cpu":
        torch.set_num_threads(1)  # as in the claim's test: one thread, no thread-pool barriers
    try:
        benchmark(synchronized(run, bench_device))
    finally:
        torch.set_num_threads(threads)
    record(benchmark, bench_device, bytes_moved=4 * (d * d + 2 * batch * d),
           flops=2 * batch * d * d, baseline="batched")  # fmt: skip
