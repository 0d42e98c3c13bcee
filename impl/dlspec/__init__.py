"""dlspec: an executable, verified specification of deep-learning fundamentals.

What is specified lives in subpackages: `dlspec.nn` (layers, models, losses), `dlspec.optim`
(optimizers, schedules, clipping), `dlspec.data` (digits, synthetic problems), `dlspec.analysis`
(PCA, Jacobian probes, explanations), and `dlspec.train` (the one training loop). Each is written
from primitives (matmul, elementwise ops, reductions, autograd); PyTorch's own layers serve only
as test oracles. The machinery that checks it is apart: `dlspec.claims` (spec pages and the
report), `dlspec.registry` (sample inputs for the device test) and `dlspec.checks` (argument
checks). `dlspec.registry.entries()` imports every module.
"""

__version__ = "0.1.0"
