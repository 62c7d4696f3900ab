"""Trainbot: a Matrix chat bot with an embedded trainer."""

__version__ = "0.1.0"
