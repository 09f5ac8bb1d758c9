"""Losses, the training loops (student and the two teachers), checkpoints and resume; ``build_loss`` makes the
student's loss a config describes."""

from tasb.training.dual import build_loss

__all__ = ["build_loss"]
