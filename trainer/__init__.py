"""The training engine: datasets, training, generation, and the worker processes.

Only worker-side modules import torch; `trainer.spec`, `trainer.events`, `trainer.data`
and the parent side of `trainer.workers` stay importable in the main process without it.
"""
