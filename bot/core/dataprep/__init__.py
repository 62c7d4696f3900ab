"""Data preparation at the chat model: clean a dataset version (`!optimize`) or generate one
from a template, as background tasks.
"""
