"""Optimizers, learning-rate schedules and gradient clipping, written from primitives.

Optimizers subclass `torch.optim.Optimizer`, so they drop into any training loop
(`dlspec.train.fit` takes an optimizer factory).
"""
