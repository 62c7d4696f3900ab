"""The training engine: datasets, training workers, generation.

Only worker-side modules import torch; `trainer.spec`, `trainer.data` and
`trainer.pool` stay importable in the main process without it.
"""
