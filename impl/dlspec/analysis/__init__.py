"""Analysis tools: PCA, principal angles, Jacobian probes, piece counting, explanations.

These are the instruments the claims use to look inside a model; they are specified and tested
like the models.
"""
