"""Pruning in Time (PIT) for temporal convolutional networks, as a Lightning plugin."""
