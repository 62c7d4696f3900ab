"""How worker processes start: forked from a server that has torch loaded once.

Importing torch and transformers costs seconds of CPU (about 6 s on two cores). A
`forkserver` — a fresh, single-threaded interpreter started on first use — imports them
once (`trainer.preload`), and every training, generation and evaluation worker is then
forked from it in milliseconds. The main process itself still never imports torch, and
the server never runs a tensor operation, so forking from it is safe. Where forkserver is
not available, workers are spawned and import everything themselves.

`Process.start()` waits for the server to answer, so callers in the event loop start
processes with `start_process` (in a thread): the first start waits for the imports.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess

PRELOAD = ["trainer.preload"]


def worker_context() -> ForkServerContext | SpawnContext:
    """The context every worker process is made with."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the server starts (once)
    # Start the server from this thread (normally the main one) and now, so it imports
    # in the background while the service starts. It must not be started from a pool
    # thread: it dies with the thread that started it (`trainer.preload`).
    forkserver.ensure_running()
    return context


async def start_process(process: BaseProcess) -> None:
    """Start a worker without blocking the event loop."""
    await asyncio.to_thread(process.start)
