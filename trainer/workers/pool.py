"""Training jobs in spawned child processes, driven from asyncio without importing torch.

Each run gets a one-way pipe for its events; the event loop watches that pipe and the
process sentinel with `add_reader`, so nothing ever blocks the loop and a child that dies
without a word (OOM killer, SIGKILL, segfault) is noticed as soon as it is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from trainer.procs import start_process, worker_context
from trainer.spec import FINAL_EVENTS, TrainEvent, TrainSpec
from trainer.throughput import record_throughput
from trainer.worker import train_worker_main

_SIGNAL_HINTS = {
    "SIGKILL": "killed, possibly out of memory",
    "SIGSEGV": "crashed (segmentation fault)",
    "SIGABRT": "aborted",
    "SIGTERM": "terminated",
    "SIGBUS": "crashed (bus error)",
}


def death_event(exitcode: int | None) -> TrainEvent:
    """The `failed` event for a worker that ended without a final event."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
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
        process: BaseProcess,
        conn: Connection,
        flags: tuple[Any, Any],
        stop_grace_s: float,
        on_final: Any,
        on_exit: Any,
    ) -> None:
        self.spec = spec
        self._process = process
        self._conn = conn
        self._cancel, self._pause = flags
        self._stop_grace_s = stop_grace_s
        self._on_final = on_final
        self._on_exit_hook = on_exit
        self._exited = asyncio.Event()
        self._events: list[TrainEvent] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._stop_reason: str | None = None
        self._kill_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(conn.fileno(), self._read_events)
        self._loop.add_reader(process.sentinel, self._on_exit)

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        """None while running; negative for a signal, as in multiprocessing."""
        return self._process.exitcode

    @property
    def final_event(self) -> TrainEvent | None:
        """The completed/stopped/failed event once the run is over."""
        last = self._events[-1] if self._events else None
        return last if last is not None and last["event"] in FINAL_EVENTS else None

    async def events(self) -> AsyncIterator[TrainEvent]:
        """Every event from the start, ending with the final one; many readers may iterate."""
        index = 0
        while True:
            while index < len(self._events):
                index += 1
                yield self._events[index - 1]
            if self.final_event is not None:
                return
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait(self) -> TrainEvent:
        """Wait for the final event and the worker's exit; return the final event."""
        async for _ in self.events():
            pass
        await self._exited.wait()
        assert self.final_event is not None
        return self.final_event

    def cancel(self) -> None:
        """Stop at the next optimizer step without saving; kill after the grace period."""
        self._request_stop("cancel", self._cancel)

    def pause(self) -> None:
        """Save a checkpoint at the next optimizer step and stop (resume continues there)."""
        self._request_stop("pause", self._pause)

    def kill(self) -> None:
        """End the worker now (SIGKILL)."""
        if self._process.is_alive():
            self._process.kill()

    def _request_stop(self, reason: str, flag: Any) -> None:
        if self.final_event is not None or self._stop_reason is not None:
            return
        self._stop_reason = reason
        flag.set()
        self._kill_timer = self._loop.call_later(self._stop_grace_s, self.kill)

    def _read_events(self) -> None:
        try:
            while self._conn.poll():
                self._append(self._conn.recv())
        except (EOFError, OSError):
            self._loop.remove_reader(self._conn.fileno())

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._process.sentinel)
        if not self._conn.closed:
            self._read_events()  # events sent just before exiting are still in the pipe
            self._loop.remove_reader(self._conn.fileno())
            self._conn.close()
        self._process.join()
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        if self.final_event is None:
            self._append(self._unreported_end())
        self._exited.set()
        self._on_exit_hook(self)

    def _unreported_end(self) -> TrainEvent:
        if self._stop_reason is not None:  # killed after the grace period ran out
            steps = [e["step"] for e in self._events if "step" in e]
            step = steps[-1] if steps else 0
            return {
                "event": "stopped",
                "reason": self._stop_reason,
                "step": step,
                "checkpoint": None,
                "killed": True,
            }
        return death_event(self._process.exitcode)

    def _append(self, event: TrainEvent) -> None:
        if self.final_event is not None:
            return
        self._events.append(event)
        if event["event"] in FINAL_EVENTS:
            self._on_final(self, event)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class TrainingPool:
    """Runs at most `max_concurrent` training workers at once (spawned processes)."""

    def __init__(
        self,
        max_concurrent: int = 1,
        stop_grace_s: float = 30.0,
        throughput_path: str | None = None,
        threads_per_worker: int | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
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
        """Start a worker for `spec`, waiting for a free slot first."""
        await self._slots.acquire()
        try:
            receiver, sender = self._context.Pipe(duplex=False)
            flags = (self._context.Event(), self._context.Event())
            process = self._context.Process(
                target=train_worker_main,
                args=(spec, sender, *flags, self._threads),
                name=f"trainbot-train-{spec.job_id or 'job'}",
                daemon=True,
            )
            await start_process(process)
            sender.close()  # only the child writes; EOF then means the child is gone
        except BaseException:
            self._slots.release()
            raise
        run = TrainingRun(
            spec, process, receiver, flags, self._stop_grace_s, self._record, self._release
        )
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
        self._slots.release()

    def _record(self, run: TrainingRun, final: TrainEvent) -> None:
        if self._throughput_path and final["event"] == "completed":
            record_throughput(
                self._throughput_path,
                str(final.get("base", run.spec.base)),
                str(final.get("device", "cpu")),
                float(final["metrics"].get("tokens_per_s") or 0.0),
            )
