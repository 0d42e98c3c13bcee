"""Data: the handwritten digits that scikit-learn ships (`digits`), and synthetic problems.

Nothing here touches the network.
"""
