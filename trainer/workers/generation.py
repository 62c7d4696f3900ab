"""Text generation in one long-lived worker process that keeps recent models loaded.

The parent side (`GenerationWorker`) is asyncio and torch-free; the child
(`generation_worker_main`, forked from the forkserver) loads models on demand and keeps
the `cached_models` most recently used ones (`trainer.workers.generation_child`). A
request that takes too long, or a child that dies, fails with `GenerationError`, and a
fresh child takes over.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

from trainer.spec import GenerationRequest, GenerationResult
from trainer.workers.server import ServingWorker, WorkerError, serve


class GenerationError(Exception):
    """A generation request failed; the message is one readable line."""


class GenerationWorker:
    """Asyncio front of the generation process; requests are served one at a time.

    `max_tokens` is not capped here: the service checks it against its setting, and the
    child only shortens it to what the model's context window allows.
    """

    def __init__(self, cached_models: int = 2, timeout_s: float = 60) -> None:
        threads = max(1, (os.cpu_count() or 1) // 2)
        self._server = ServingWorker(
            generation_worker_main,
            (cached_models, threads),
            name="trainbot-generate",
            task="generation",
            timeout_s=timeout_s,
        )

    @property
    def pid(self) -> int | None:
        """The current child's process id (changes after a restart)."""
        return self._server.pid

    async def start(self) -> None:
        """Start the child process (models load on first use)."""
        await self._server.start()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate text for `request`; raises GenerationError on failure or timeout."""
        try:
            result, latency = await self._server.request(request)
        except WorkerError as exc:
            raise GenerationError(str(exc)) from None
        assert isinstance(result, GenerationResult)
        return GenerationResult(
            result.text, result.prompt_tokens, result.completion_tokens, latency
        )

    async def stop(self) -> None:
        """Ask the child to exit; kill it if it does not within a few seconds."""
        # Nothing to save in a generation worker: a short wait, then kill.
        await self._server.stop()


# ---- child side ---------------------------------------------------------------------


def generation_worker_main(conn: Connection, cached_models: int, threads: int) -> None:
    """Serve generation requests from `conn` until it closes or a None arrives."""
    from trainer.workers.process import prepare_child

    prepare_child(threads)
    from trainer.workers.generation_child import ModelCache, generate_text

    cache = ModelCache(cached_models)

    def handle(request: object) -> GenerationResult:
        assert isinstance(request, GenerationRequest)
        return generate_text(cache, request)

    serve(conn, handle)
