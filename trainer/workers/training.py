"""Entry points of the spawned worker processes (training here; generation has its own).

Importing this module is cheap and torch-free: the parent pickles a reference to
`train_worker_main`, and only the child imports the training stack.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings
from multiprocessing.connection import Connection
from typing import Any

from trainer.spec import TrainEvent, TrainSpec


def prepare_child_process(num_threads: int) -> None:
    """Common set-up of a worker: quiet, single-purpose, immune to the terminal's Ctrl-C."""
    die_with_parent()
    # The parent decides what Ctrl-C means (pause); the terminal sends SIGINT to the
    # whole process group, so the child must not die of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Libraries print to stdout; the parent's stdout may be a JSON event stream.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=UserWarning)


def die_with_parent() -> None:
    """Have Linux SIGKILL this worker when the service dies, even by SIGKILL.

    Otherwise an orphaned worker trains on (and writes checkpoints) while the restarted
    service resumes the same job from the same folder.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def failure_event(exc: BaseException) -> TrainEvent:
    """A `failed` event with one readable line and the traceback as detail."""
    from trainer.data import DatasetError

    event: dict[str, Any] = {"event": "failed", "error": one_line(exc)}
    event["detail"] = "".join(traceback.format_exception(exc))
    if isinstance(exc, DatasetError):
        event["code"] = "dataset_refused"
        event["error"] = "dataset refused"
        event["detail"] = exc.report.summary()
    return event


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, prefixed with its type if unclear."""
    from trainer.models import BaseModelError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, BaseModelError | FileNotFoundError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def train_worker_main(
    spec: TrainSpec, conn: Connection, cancel: Any, pause: Any, threads: int
) -> None:
    """Run one training job and report every event over `conn`; never raises."""
    try:
        # Training is batch work: at a lower priority it leaves the CPU to the bot, the
        # homeserver and generation whenever they need it, and takes the rest.
        os.nice(10)
        prepare_child_process(threads)
        from trainer.callbacks import Control
        from trainer.train import run_training

        run_training(spec, conn.send, Control(cancel, pause))
    except BaseException as exc:
        conn.send(failure_event(exc))
    finally:
        conn.close()
