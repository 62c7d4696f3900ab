"""Text generation in one long-lived child process that keeps recent models loaded.

The parent side (`GenerationWorker`) is asyncio and torch-free; the child side
(`generation_worker_main`, `generate_text`) loads models on demand and keeps the
`cached_models` most recently used ones. A request that takes too long, or a child that
dies, fails with `GenerationError`, and a fresh child takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from trainer.procs import start_process, worker_context
from trainer.spec import GenerationRequest, GenerationResult


class GenerationError(Exception):
    """A generation request failed; the message is one readable line."""


class GenerationWorker:
    """Asyncio front of the generation process; requests are served one at a time."""

    def __init__(
        self, cached_models: int = 2, max_new_tokens_cap: int = 512, timeout_s: float = 60
    ) -> None:
        self._cached_models = cached_models
        self._cap = max_new_tokens_cap
        self._timeout_s = timeout_s
        self._context = worker_context()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._pending: asyncio.Future[tuple[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The current child's process id (changes after a restart)."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the child process (models load on first use)."""
        async with self._lock:
            if self._process is None:
                await self._spawn()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate text for `request`; raises GenerationError on failure or timeout."""
        async with self._lock:
            if self._process is None:
                await self._spawn()
            assert self._conn is not None
            began = time.perf_counter()
            self._pending = asyncio.get_running_loop().create_future()
            request_id = next(self._ids)
            try:
                self._conn.send((request_id, request, self._cap))
            except OSError as exc:  # the child died and nobody has noticed yet
                self._discard()
                raise GenerationError(f"the generation worker is gone ({exc})") from None
            try:
                status, payload = await asyncio.wait_for(self._pending, self._timeout_s)
            except TimeoutError:
                self._discard()  # the child is busy with the request; only a kill stops it
                raise GenerationError(f"generation timed out after {self._timeout_s:g}s") from None
            finally:
                self._pending = None
            if status != "ok":
                raise GenerationError(str(payload))
            result: GenerationResult = payload
            latency = time.perf_counter() - began
            return GenerationResult(
                result.text, result.prompt_tokens, result.completion_tokens, latency
            )

    async def stop(self) -> None:
        """Ask the child to exit; kill it if it does not within a few seconds."""
        process, conn = self._process, self._conn
        if process is None:
            return
        self._detach()
        self._process = self._conn = None
        if conn is not None and process.is_alive():
            with contextlib.suppress(OSError):
                conn.send(None)
        # Nothing to save in a generation worker: a short wait, then kill.
        await asyncio.to_thread(process.join, 2)
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        if conn is not None:
            conn.close()

    async def _spawn(self) -> None:
        parent, child = self._context.Pipe(duplex=True)
        threads = max(1, (os.cpu_count() or 1) // 2)
        process = self._context.Process(
            target=generation_worker_main,
            args=(child, self._cached_models, threads),
            name="trainbot-generate",
            daemon=True,
        )
        await start_process(process)
        child.close()
        self._process, self._conn = process, parent
        loop = asyncio.get_running_loop()
        loop.add_reader(parent.fileno(), self._on_reply)
        loop.add_reader(process.sentinel, self._on_exit)

    def _detach(self) -> None:
        loop = asyncio.get_running_loop()
        if self._conn is not None and not self._conn.closed:
            loop.remove_reader(self._conn.fileno())
        if self._process is not None:
            loop.remove_reader(self._process.sentinel)

    def _discard(self) -> None:
        # The next request starts a fresh child; restarting lazily avoids a crash loop
        # when the child cannot even start.
        process, conn = self._process, self._conn
        self._detach()
        self._process = self._conn = None
        if process is not None:
            process.kill()
            process.join(timeout=5)
        if conn is not None:
            conn.close()

    def _on_reply(self) -> None:
        assert self._conn is not None
        try:
            while self._conn.poll():
                _request_id, status, payload = self._conn.recv()
                if self._pending is not None and not self._pending.done():
                    self._pending.set_result((status, payload))
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self._conn.fileno())

    def _on_exit(self) -> None:
        assert self._process is not None
        self._process.join()
        code = self._process.exitcode
        reason = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"code {code}"
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(
                GenerationError(f"the generation worker died ({reason}) during the request")
            )
        self._discard()


# ---- child side ---------------------------------------------------------------------


def generation_worker_main(conn: Connection, cached_models: int, threads: int) -> None:
    """Serve requests from `conn` until it closes or a None arrives."""
    from trainer.worker import one_line, prepare_child_process

    prepare_child_process(threads)
    from trainer.generation_child import ModelCache, generate_text

    cache = ModelCache(cached_models)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        request_id, request, cap = message
        try:
            conn.send((request_id, "ok", generate_text(cache, request, cap)))
        except Exception as exc:
            conn.send((request_id, "error", one_line(exc)))
