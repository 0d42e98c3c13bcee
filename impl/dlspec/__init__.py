"""dlspec: an executable, verified specification of deep-learning fundamentals.

Each submodule implements one family of models or algorithms from primitives (matmul,
elementwise ops, reductions, autograd); PyTorch's own layers serve only as test oracles.
Import the submodules you need (`from dlspec import dropout`); `dlspec.registry.entries()`
imports them all.
"""

__version__ = "0.1.0"
