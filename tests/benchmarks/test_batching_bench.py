"""A layer on a batch as one matrix product vs a per-example loop (compute.matrix-beats-loop)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dlspec.analysis.batching import per_example
from dlspec.nn.linear import Linear
from tests.benchmarks.conftest import record, synchronized


@pytest.mark.parametrize("size", [(64, 1024), (256, 256)], ids=lambda s: f"d{s[0]}-B{s[1]}")
@pytest.mark.parametrize("impl", ["batched", "loop"])
def test_linear_batch_vs_loop(
    benchmark: Any, bench_device: str, impl: str, size: tuple[int, int]
) -> None:
    d, batch = size
    layer = Linear(d, d, generator=torch.Generator().manual_seed(0)).to(bench_device)
    x = torch.randn(batch, d).to(bench_device)
    with torch.no_grad():
        torch.testing.assert_close(per_example(layer, x), layer(x))

    def run() -> Any:
        with torch.no_grad():
            return layer(x) if impl == "batched" else per_example(layer, x)

    benchmark.group = f"linear-batch-vs-loop-d{d}-B{batch}-{bench_device}"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the claim's test: one thread, no thread-pool barriers
    try:
        benchmark(synchronized(run, bench_device))
    finally:
        torch.set_num_threads(threads)
    record(
        benchmark, bench_device, bytes_moved=4 * (d * d + 2 * batch * d), flops=2 * batch * d * d
    )
