"""The training worker: the entry point of a process forked from the forkserver.

Importing this module is cheap and torch-free: the parent pickles a reference to
`train_worker_main`, and only the child runs the training stack (already imported by
the forkserver, or imported here when workers are spawned).
"""

from __future__ import annotations

import os
import traceback
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from trainer.events import Failed
from trainer.spec import TrainSpec
from trainer.workers.process import one_line, prepare_child


def failure_event(exc: BaseException) -> Failed:
    """A `failed` event with one readable line and the traceback as detail."""
    from trainer.data import DatasetError

    if isinstance(exc, DatasetError):
        return {
            "event": "failed",
            "error": "dataset refused",
            "detail": exc.report.summary(),
            "code": "dataset_refused",
        }
    oom = _out_of_memory(exc)
    if oom is not None:
        return {
            "event": "failed",
            "error": oom,
            "detail": "".join(traceback.format_exception(exc)),
            "code": "out_of_memory",
        }
    return {
        "event": "failed",
        "error": one_line(exc),
        "detail": "".join(traceback.format_exception(exc)),
    }


def _out_of_memory(exc: BaseException) -> str | None:
    """The advice for a run that ran out of memory, or None for any other failure."""
    import sys

    if "torch" not in sys.modules:  # nothing ran yet that could exhaust memory
        return None
    import torch

    from trainer.precision import OOM_ADVICE, is_out_of_memory

    if not is_out_of_memory(exc):
        return None
    device = "the GPU" if isinstance(exc, torch.OutOfMemoryError) else "the CPU"
    return OOM_ADVICE.format(device=device)


def train_worker_main(
    conn: Connection, spec: TrainSpec, cancel: Event, pause: Event, threads: int
) -> None:
    """Run one training job and report every event over `conn`; never raises."""
    try:
        # Training is batch work: at a lower priority it leaves the CPU to the bot, the
        # homeserver and generation whenever they need it, and takes the rest.
        os.nice(10)
        prepare_child(threads)
        from trainer.callbacks import Control
        from trainer.train import run_training

        run_training(spec, conn.send, Control(cancel, pause))
    except BaseException as exc:
        conn.send(failure_event(exc))
    finally:
        conn.close()
