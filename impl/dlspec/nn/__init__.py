"""Layers, models and losses, written from primitives (matmul, elementwise ops, reductions).

One module per family: `dropout`, `mlp`, `losses`, and those each chapter adds (activations,
linear and feedforward nets, convolution and pooling, recurrent layers, autoencoders, GANs).
"""
