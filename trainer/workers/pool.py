"""Training jobs in worker processes forked from the forkserver, driven from asyncio.

Each run is a `WorkerProcess` with a one-way pipe for its events (`trainer.events`); a
worker that dies without a final event (OOM killer, SIGKILL, segfault) gets one made up
from its exit code as soon as it is gone. Nothing here imports torch.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from multiprocessing.synchronize import Event
from typing import cast

from trainer.events import Failed, FinalEvent, Stopped, TrainEvent, is_final
from trainer.spec import TrainSpec
from trainer.throughput import record_throughput
from trainer.workers.process import WorkerProcess, signal_name, worker_context
from trainer.workers.training import train_worker_main

_SIGNAL_HINTS = {
    "SIGKILL": "killed, possibly out of memory",
    "SIGSEGV": "crashed (segmentation fault)",
    "SIGABRT": "aborted",
    "SIGTERM": "terminated",
    "SIGBUS": "crashed (bus error)",
}


def death_event(exitcode: int | None) -> Failed:
    """The `failed` event for a worker that ended without a final event."""
    name = signal_name(exitcode)
    if name is not None:
        hint = _SIGNAL_HINTS.get(name, "ended by a signal")
        return {
            "event": "failed",
            "error": f"training worker {hint} ({name})",
            "detail": f"worker ended by signal {name}",
            "exitcode": exitcode,
            "signal": name,
        }
    return {
        "event": "failed",
        "error": f"training worker exited with code {exitcode} without reporting a result",
        "detail": f"exit code {exitcode}",
        "exitcode": exitcode,
        "signal": None,
    }


class TrainingRun:
    """One training job in its own process: its events, and cancel/pause controls."""

    def __init__(
        self,
        spec: TrainSpec,
        worker: WorkerProcess,
        flags: tuple[Event, Event],
        stop_grace_s: float,
        on_final: Callable[[TrainingRun, FinalEvent], None],
        on_exit: Callable[[TrainingRun], None],
    ) -> None:
        self.spec = spec
        self._worker = worker
        self._cancel, self._pause = flags
        self._stop_grace_s = stop_grace_s
        self._on_final = on_final
        self._on_exit_hook = on_exit
        self._exited = asyncio.Event()
        self._events: list[TrainEvent] = []
        self._final: FinalEvent | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._stop_reason: str | None = None
        self._kill_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        worker.watch(self._received, self._on_exit)

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._worker.pid

    @property
    def exitcode(self) -> int | None:
        """None while running; negative for a signal, as in multiprocessing."""
        return self._worker.exitcode

    @property
    def final_event(self) -> FinalEvent | None:
        """The completed/stopped/failed event once the run is over."""
        return self._final

    async def events(self) -> AsyncIterator[TrainEvent]:
        """Every event from the start, ending with the final one; many readers may iterate."""
        index = 0
        while True:
            while index < len(self._events):
                index += 1
                yield self._events[index - 1]
            if self._final is not None:
                return
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait(self) -> FinalEvent:
        """Wait for the final event and the worker's exit; return the final event."""
        async for _ in self.events():
            pass
        await self._exited.wait()
        assert self._final is not None
        return self._final

    def cancel(self) -> None:
        """Stop at the next optimizer step without saving; kill after the grace period."""
        self._request_stop("cancel", self._cancel)

    def pause(self) -> None:
        """Save a checkpoint at the next optimizer step and stop (resume continues there)."""
        self._request_stop("pause", self._pause)

    def kill(self) -> None:
        """End the worker now (SIGKILL)."""
        self._worker.kill()

    def _request_stop(self, reason: str, flag: Event) -> None:
        if self._final is not None or self._stop_reason is not None:
            return
        self._stop_reason = reason
        flag.set()
        self._kill_timer = self._loop.call_later(self._stop_grace_s, self.kill)

    def _received(self, message: object) -> None:
        assert isinstance(message, dict)
        self._append(cast(TrainEvent, message))  # what `train_worker_main` sends

    def _on_exit(self, exitcode: int | None) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        if self._final is None:
            self._append(self._unreported_end(exitcode))
        self._exited.set()
        self._on_exit_hook(self)

    def _unreported_end(self, exitcode: int | None) -> FinalEvent:
        if self._stop_reason is not None:  # killed after the grace period ran out
            return self._killed_after_stop()
        return death_event(exitcode)

    def _killed_after_stop(self) -> Stopped:
        steps = [step for e in self._events if isinstance(step := e.get("step"), int)]
        return {
            "event": "stopped",
            "reason": self._stop_reason,
            "step": steps[-1] if steps else 0,
            "checkpoint": None,
            "killed": True,
        }

    def _append(self, event: TrainEvent) -> None:
        if self._final is not None:
            return
        self._events.append(event)
        if is_final(event):
            self._final = event
            self._on_final(self, event)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class TrainingPool:
    """Starts training workers (forked from the forkserver) and stops them all at shutdown.

    How many run at once is the job dispatcher's decision (`bot.core.jobs.backends`), made
    once there; `max_concurrent` here only shares the CPU threads among that many workers.
    """

    def __init__(
        self,
        max_concurrent: int = 1,
        stop_grace_s: float = 30.0,
        throughput_path: str | None = None,
        threads_per_worker: int | None = None,
    ) -> None:
        self._stop_grace_s = stop_grace_s
        self._throughput_path = throughput_path
        cpus = os.cpu_count() or 1
        self._threads = threads_per_worker or max(1, cpus // max_concurrent)
        self._context = worker_context()
        self._runs: set[TrainingRun] = set()

    @property
    def running(self) -> int:
        """Workers alive now."""
        return len(self._runs)

    async def start(self, spec: TrainSpec) -> TrainingRun:
        """Start a worker for `spec`."""
        flags = (self._context.Event(), self._context.Event())
        worker = await WorkerProcess.start(
            self._context,
            train_worker_main,
            (spec, *flags, self._threads),
            name=f"trainbot-train-{spec.job_id or 'job'}",
            duplex=False,  # only the child writes
        )
        run = TrainingRun(spec, worker, flags, self._stop_grace_s, self._record, self._release)
        self._runs.add(run)
        return run

    async def shutdown(self) -> None:
        """Cancel every run, wait up to the grace period, then kill what is left."""
        runs = list(self._runs)
        for run in runs:
            run.cancel()
        if runs:
            waits = [asyncio.ensure_future(run.wait()) for run in runs]
            _, pending = await asyncio.wait(waits, timeout=self._stop_grace_s + 5)
            for run in runs:
                run.kill()
            if pending:
                await asyncio.wait(pending, timeout=5)

    def _release(self, run: TrainingRun) -> None:
        self._runs.discard(run)

    def _record(self, run: TrainingRun, final: FinalEvent) -> None:
        if self._throughput_path and final["event"] == "completed":
            record_throughput(
                self._throughput_path,
                str(final.get("base", run.spec.base)),
                str(final.get("device", "cpu")),
                float(final["metrics"].get("tokens_per_s") or 0.0),
                final["metrics"],
            )
