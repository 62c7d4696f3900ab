"""Text generation in one long-lived worker process that batches concurrent requests.

The parent side (`GenerationWorker`) is asyncio and torch-free; the child
(`generation_worker_main`, forked from the forkserver) keeps the `cached_models` most
recently used bases loaded (`trainer.workers.generation_child`) and steps every active
sequence together (`trainer.workers.generation_engine`).

The pipe carries, parent to child, `("generate", id, GenerationRequest)` (with a last
`"quiet"` when only the result is wanted: `generate()` needs no pieces) and
`("cancel", id)` and `("active", id)` (how many answers are being written); child to
parent, one list of events per step: `(id, "piece", Piece)`,
`(id, "done", GenerationResult)`, `(id, "error", line)`, and `(0, "alive", None)` when
it starts serving and about once a second (a quarter of the silence timeout when that
is shorter) while it works on requests without anything else to send. The parent fans events out to
one queue per request, so a slow reader never holds the others back. A request that
hears nothing for `timeout_s`, or a child that dies, fails with `GenerationError`; a
silent child is killed and a fresh one takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import AsyncGenerator
from multiprocessing.connection import Connection

from trainer.spec import GenerationRequest, GenerationResult, Piece
from trainer.workers.process import WorkerContext, WorkerProcess, exit_reason, worker_context

BATCH_WAIT_S = 0.002  # an idle child waits this long for more requests to prefill together
ALIVE_S = 1.0  # a busy child that sent nothing for this long says it is alive
STARTUP_S = 60.0  # a fresh child that has not said it serves after this long failed to start


class GenerationError(Exception):
    """A generation request failed; the message is one readable line."""


class GenerationWorker:
    """Asyncio front of the generation process; concurrent requests share its batches.

    `max_tokens` is not capped here: the service checks it against its setting, and the
    child only shortens it to what the model's context window allows.
    """

    def __init__(self, cached_models: int = 2, timeout_s: float = 60) -> None:
        self._threads = max(1, (os.cpu_count() or 1) // 2)
        self._cached_models = cached_models
        self._timeout_s = timeout_s
        self._context: WorkerContext = worker_context()
        self._worker: WorkerProcess | None = None
        self._starting = asyncio.Lock()
        self._queues: dict[int, asyncio.Queue[object]] = {}
        self._ids = itertools.count(1)
        self._heard = time.monotonic()
        self._serving = asyncio.Event()  # set by the current child's first word (or exit)
        # Several heartbeats fit in one silence timeout, however short it is set.
        self._alive_s = min(ALIVE_S, timeout_s / 4)

    @property
    def pid(self) -> int | None:
        """The current child's process id (changes after a restart)."""
        return self._worker.pid if self._worker is not None else None

    async def start(self) -> None:
        """Start the child process (models load on first use)."""
        await self._ensure_started()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate text for `request`; raises GenerationError on failure or timeout."""
        async with contextlib.aclosing(self.stream(request, pieces=False)) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    return event
        raise GenerationError("the generation worker ended the request without an answer")

    async def stream(
        self, request: GenerationRequest, *, pieces: bool = True
    ) -> AsyncGenerator[Piece | GenerationResult]:
        """The answer's pieces as they are written (none when not `pieces`), then the result.

        Leaving the iterator early (`aclose()`, a client gone) cancels the request in the
        child at its next step.
        """
        worker = await self._ensure_started()
        request_id = next(self._ids)
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues[request_id] = queue
        began = time.perf_counter()
        finished = False
        try:
            try:
                quiet = () if pieces else ("quiet",)  # the child then sends only the result
                worker.send(("generate", request_id, request, *quiet))
            except OSError as exc:  # the child died and nobody has noticed yet
                self._discard()
                raise GenerationError(f"the generation worker is gone ({exc})") from None
            while True:
                event = await self._next(queue)
                if isinstance(event, GenerationResult):
                    finished = True
                    yield _with_latency(event, time.perf_counter() - began)
                    return
                if isinstance(event, GenerationError):
                    finished = True
                    raise event
                assert isinstance(event, Piece)
                yield event
        finally:
            del self._queues[request_id]
            if not finished and self._worker is worker:
                with contextlib.suppress(OSError):
                    worker.send(("cancel", request_id))

    async def active_sequences(self) -> int:
        """How many answers the child is writing (0 when it is not running)."""
        if self._worker is None:
            return 0
        request_id = next(self._ids)
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues[request_id] = queue
        try:
            self._worker.send(("active", request_id))
            answer = await self._next(queue)
        finally:
            del self._queues[request_id]
        if isinstance(answer, GenerationError):
            raise answer
        assert isinstance(answer, int)
        return answer

    async def stop(self) -> None:
        """Ask the child to exit; kill it if it does not within a few seconds."""
        # Nothing to save in a generation worker: a short wait, then kill.
        self._fail_all("the generation worker was stopped during the request")
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop(2.0)

    async def _next(self, queue: asyncio.Queue[object]) -> object:
        while True:
            try:
                return await asyncio.wait_for(queue.get(), self._timeout_s)
            except TimeoutError:
                if time.monotonic() - self._heard >= self._timeout_s:
                    # The child said nothing to anyone: it is stuck; only a kill stops it.
                    self._fail_all(f"generation timed out after {self._timeout_s:g}s")
                    self._discard()
                    raise GenerationError(
                        f"generation timed out after {self._timeout_s:g}s"
                    ) from None
                # Others are being served: this request waits in line.

    async def _ensure_started(self) -> WorkerProcess:
        async with self._starting:
            if self._worker is None:
                worker = await WorkerProcess.start(
                    self._context,
                    generation_worker_main,
                    (self._cached_models, self._threads, BATCH_WAIT_S, self._alive_s),
                    name="trainbot-generate",
                    duplex=True,
                )
                self._serving = serving = asyncio.Event()
                worker.watch(self._on_message, self._on_exit)
                self._worker = worker
                # Silence counts once the child serves: starting it (a fork and imports)
                # may take longer than a short timeout on a busy machine.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(serving.wait(), STARTUP_S)
                if not serving.is_set():  # silent all along: stuck while starting
                    self._discard()
                if self._worker is not worker:  # killed above, or died while starting
                    raise GenerationError("the generation worker did not start")
                self._heard = time.monotonic()
            return self._worker

    def _discard(self) -> None:
        # The next request forks a fresh child; restarting lazily avoids a crash loop
        # when the child cannot even start.
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _on_message(self, message: object) -> None:
        self._heard = time.monotonic()
        self._serving.set()
        assert isinstance(message, list)
        for request_id, kind, payload in message:
            queue = self._queues.get(request_id)
            if queue is None:
                continue  # a request its caller already left
            queue.put_nowait(GenerationError(str(payload)) if kind == "error" else payload)

    def _on_exit(self, exitcode: int | None) -> None:
        self._serving.set()  # a start waiting for this child ends
        self._fail_all(f"the generation worker died ({exit_reason(exitcode)}) during the request")
        self._discard()

    def _fail_all(self, message: str) -> None:
        for queue in self._queues.values():
            queue.put_nowait(GenerationError(message))


def _with_latency(result: GenerationResult, seconds: float) -> GenerationResult:
    return GenerationResult(
        result.text,
        result.prompt_tokens,
        result.completion_tokens,
        seconds,
        result.choices,
        result.dropped_messages,
    )


# ---- child side ---------------------------------------------------------------------


def generation_worker_main(
    conn: Connection, cached_models: int, threads: int, batch_wait_s: float, alive_s: float
) -> None:
    """Serve generation requests from `conn` until it closes or a None arrives."""
    from trainer.workers.process import prepare_child

    prepare_child(threads)
    from trainer.workers.generation_child import ModelCache
    from trainer.workers.generation_engine import Engine, serve_engine

    serve_engine(conn, Engine(ModelCache(cached_models)), batch_wait_s, alive_s)
