"""A long-lived worker that answers requests one at a time (evaluation).

Generation batches concurrent requests in its own worker (`generation.py`).

The parent side (`ServingWorker`) sends `(request_id, request)` over a duplex pipe and
waits for `(request_id, "ok" | "error", payload)`; the child side (`serve`) loops over
requests until the pipe closes or a None arrives. A request that takes too long, or a
child that dies, fails with `WorkerError`, and the next request forks a fresh child.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from trainer.workers.process import WorkerContext, WorkerProcess, exit_reason, worker_context

Reply = tuple[str, object]  # ("ok", result) or ("error", one readable line)


class WorkerError(Exception):
    """A request failed; the message is one readable line."""


class ServingWorker:
    """Asyncio front of one serving child; requests are served one at a time.

    `task` names the work in error messages ("generation" -> "the generation worker died
    (signal SIGKILL) during the request", "generation timed out after 60s").
    """

    def __init__(
        self,
        target: Callable[..., None],
        args: tuple[object, ...],
        *,
        name: str,
        task: str,
        timeout_s: float | None = None,
        stop_grace_s: float = 2.0,
    ) -> None:
        self._target, self._args = target, args
        self._name, self._task = name, task
        self._label = f"{task} worker"
        self._timeout_s = timeout_s
        self._stop_grace_s = stop_grace_s
        self._context: WorkerContext = worker_context()
        self._worker: WorkerProcess | None = None
        self._pending: asyncio.Future[Reply] | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The current child's process id (changes after a restart)."""
        return self._worker.pid if self._worker is not None else None

    async def start(self) -> None:
        """Fork the child now rather than on the first request."""
        async with self._lock:
            await self._ensure_started()

    async def request(self, request: object) -> tuple[object, float]:
        """The child's answer to `request` and the seconds it took (from sending it).

        Raises WorkerError on failure or timeout.
        """
        async with self._lock:
            worker = await self._ensure_started()
            began = time.perf_counter()
            request_id = next(self._ids)
            self._pending = asyncio.get_running_loop().create_future()
            try:
                worker.send((request_id, request))
            except OSError as exc:  # the child died and nobody has noticed yet
                self._discard()
                raise WorkerError(f"the {self._label} is gone ({exc})") from None
            try:
                status, payload = await asyncio.wait_for(self._pending, self._timeout_s)
            except TimeoutError:
                self._discard()  # the child is busy with the request; only a kill stops it
                raise WorkerError(f"{self._task} timed out after {self._timeout_s:g}s") from None
            finally:
                self._pending = None
            seconds = time.perf_counter() - began
        if status != "ok":
            raise WorkerError(str(payload))
        return payload, seconds

    async def stop(self) -> None:
        """Ask the child to exit; kill it if it does not within the grace period."""
        self._fail(f"the {self._label} was stopped during the request")
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop(self._stop_grace_s)

    def close(self) -> None:
        """End the child now; a request in flight fails."""
        self._fail(f"the {self._label} was stopped during the request")
        self._discard()

    async def _ensure_started(self) -> WorkerProcess:
        if self._worker is None:
            worker = await WorkerProcess.start(
                self._context, self._target, self._args, name=self._name, duplex=True
            )
            worker.watch(self._on_reply, self._on_exit)
            self._worker = worker
        return self._worker

    def _discard(self) -> None:
        # The next request forks a fresh child; restarting lazily avoids a crash loop
        # when the child cannot even start.
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _on_reply(self, message: object) -> None:
        assert isinstance(message, tuple)
        _request_id, status, payload = message
        if self._pending is not None and not self._pending.done():
            self._pending.set_result((status, payload))

    def _on_exit(self, exitcode: int | None) -> None:
        self._fail(f"the {self._label} died ({exit_reason(exitcode)}) during the request")
        self._discard()

    def _fail(self, message: str) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(WorkerError(message))


# ---- child side ---------------------------------------------------------------------


def serve(conn: Connection, handle: Callable[[object], object]) -> None:
    """Answer requests from `conn` with `handle` until it closes or a None arrives."""
    from trainer.workers.process import one_line

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        request_id, request = message
        try:
            conn.send((request_id, "ok", handle(request)))
        except Exception as exc:
            conn.send((request_id, "error", one_line(exc)))
