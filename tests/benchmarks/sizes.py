"""The one table of benchmark sizes, per kernel and device.

CPU sizes keep `nox -s bench` under 5 minutes on a 2-core machine; CUDA sizes are large enough
that the GPU is busy rather than waiting for kernel launches (hundreds of MB for elementwise and
reduction kernels, the shapes cuDNN is tuned for: LSTM B >= 64, H >= 512; a ResNet 3x3 stage for
convolution). A benchmark reads its sizes with ``size("<kernel>", device)``; change them here.
"""

from __future__ import annotations

from typing import Any

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    # elementwise and reductions (float32)
    "dropout": {"cpu": {"shape": (256, 4096)}, "cuda": {"shape": (16384, 8192)}},
    "sigmoid": {"cpu": {"shape": (256, 4096)}, "cuda": {"shape": (16384, 8192)}},
    "softmax": {"cpu": {"shape": (1024, 1000)}, "cuda": {"shape": (65536, 1000)}},
    "cross-entropy": {"cpu": {"N": 1024, "C": 1000}, "cuda": {"N": 65536, "C": 1000}},
    "categorical": {"cpu": {"rows": 1024, "vocab": 256}, "cuda": {"rows": 65536, "vocab": 1024}},
    "gan-value": {"cpu": {"n": 1 << 18}, "cuda": {"n": 1 << 26}},
    "jsd": {"cpu": {"rows": 1024, "k": 256}, "cuda": {"rows": 65536, "k": 1024}},
    "max-pool2d": {
        "cpu": {"N": 32, "C": 16, "H": 32, "W": 32},
        "cuda": {"N": 256, "C": 64, "H": 112, "W": 112},
    },
    # matmul-bound
    "linear": {
        "cpu": {"batch": 512, "in": 1024, "out": 1024},
        "cuda": {"batch": 8192, "in": 4096, "out": 4096},
    },
    # a layer on a batch as one matrix product vs a loop over its examples: (width d, batch B)
    "linear-batch-vs-loop": {
        "cpu": {"cases": [(64, 1024), (256, 256)]},
        "cuda": {"cases": [(512, 4096), (4096, 512)]},
    },
    "backprop": {
        "cpu": {"batch": 256, "sizes": [256, 512, 512, 512, 10]},
        "cuda": {"batch": 8192, "sizes": [1024, 4096, 4096, 4096, 1000]},
    },
    "conv2d": {
        "cpu": {"N": 32, "C": 16, "H": 32, "W": 32, "O": 32, "k": 3},
        "cuda": {"N": 64, "C": 64, "H": 56, "W": 56, "O": 64, "k": 3},
    },
    "rnn": {
        "cpu": {"B": 32, "T": 64, "D": 32, "H": 64},
        "cuda": {"B": 64, "T": 128, "D": 512, "H": 512},
    },
    "lstm": {
        "cpu": {"B": 32, "T": 64, "D": 32, "H": 64},
        "cuda": {"B": 64, "T": 128, "D": 512, "H": 512},
    },
    "pca": {"cpu": {"N": 4096, "D": 256, "K": 32}, "cuda": {"N": 65536, "D": 1024, "K": 128}},
    "linear-autoencoder": {
        "cpu": {"N": 4096, "D": 256, "K": 32},
        "cuda": {"N": 65536, "D": 1024, "K": 128},
    },
    # optimizers and clipping: parameter shapes
    "optimizer": {"cpu": {"shapes": [(512, 512)] * 8}, "cuda": {"shapes": [(4096, 4096)] * 16}},
    "clip-norm": {
        "cpu": {"shapes": [(512, 512), (512,), (1024, 256), (256,), (256, 10)]},
        "cuda": {"shapes": [(4096, 4096), (4096,)] * 8 + [(4096, 1000), (1000,)]},
    },
}


def size(kernel: str, device: str) -> dict[str, Any]:
    """The sizes of ``kernel``'s benchmark on ``device`` ("cpu", "cuda" or "cuda:N")."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if kernel not in SIZES:
        raise KeyError(f"no benchmark sizes for kernel {kernel!r}; add it to SIZES in {__file__}")
    return dict(SIZES[kernel][kind])
