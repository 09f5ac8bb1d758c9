"""Losses, the training loops (student and cross-encoder teacher), checkpoints and resume."""
