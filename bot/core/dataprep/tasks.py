"""Background data tasks: their rows, live progress, followers, and cancellation.

A task's body returns the dataset version it stored and its report; anything it raises
fails the task with a message for people, and a cancelled task is marked interrupted.
Either way the body wrote no version, so nothing partial is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.core.dataprep.progress import LiveTask, Progress
from bot.core.errors import NotFound, TrainbotError
from bot.core.types import JobStatus
from bot.logs import get_logger
from storage.data_tasks import DataTaskRow
from storage.datasets import DatasetRow
from storage.ids import new_id

if TYPE_CHECKING:
    from storage.store import Store

log = get_logger(__name__)
NOTHING_STORED = "nothing was stored"
Outcome = tuple[DatasetRow, dict[str, Any]]
Body = Callable[[LiveTask], Awaitable[Outcome]]
Show = Callable[[DataTaskRow], Awaitable[None]]


class TaskFailed(Exception):
    """A task cannot finish; the message says why, for people."""


@dataclass(frozen=True)
class Prepared:
    """What a task made, before it is stored as a dataset version: records and report."""

    records: list[dict[str, Any]]
    format: str
    report: dict[str, Any]


class TaskRunner:
    """Runs data tasks in the background and keeps their progress for followers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._live: dict[str, LiveTask] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._followers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Mark tasks a previous process left running as interrupted."""
        for task in await self.store.data_tasks.with_status(JobStatus.RUNNING):
            await self.store.data_tasks.update(
                task.id,
                status=JobStatus.FAILED,
                finished_at=time.time(),
                error=f"interrupted by a restart; {NOTHING_STORED}",
            )

    async def stop(self) -> None:
        """Cancel running tasks; they store no dataset version."""
        running = dict(self._tasks)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        for task_id in running:  # one cancelled before its first step never saw it
            row = await self.store.data_tasks.get(task_id)
            if row is not None and row.status == JobStatus.RUNNING:
                await self.store.data_tasks.update(
                    task_id,
                    status=JobStatus.FAILED,
                    finished_at=time.time(),
                    error=f"interrupted by a shutdown; {NOTHING_STORED}",
                )
        for follower in list(self._followers):
            follower.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)

    async def create(
        self,
        kind: str,
        name: str,
        dataset_id: str | None,
        params: dict[str, Any],
        requested_by: str,
        room_id: str | None,
        total: int,
    ) -> DataTaskRow:
        """Store a new running task of `total` items."""
        task = DataTaskRow(
            id=new_id(),
            kind=kind,
            status=JobStatus.RUNNING,
            dataset_id=dataset_id,
            dataset_name=name,
            params=params,
            progress={"done": 0, "total": total, "invalid": 0},
            result_dataset_id=None,
            result_label=None,
            report={},
            error=None,
            requested_by=requested_by,
            room_id=room_id,
            created_at=time.time(),
            finished_at=None,
        )
        await self.store.data_tasks.insert(task)
        return task

    def launch(self, task: DataTaskRow, total: int, body: Body) -> None:
        """Run `body` in the background; its outcome (or failure) ends the task."""
        live = self._live[task.id] = LiveTask(total)
        self._tasks[task.id] = asyncio.create_task(self._run(task, live, body))

    async def _run(self, task: DataTaskRow, live: LiveTask, body: Body) -> None:
        try:
            dataset, report = await body(live)
        except asyncio.CancelledError:
            await self._finish(task, live, error=f"interrupted by a shutdown; {NOTHING_STORED}")
            raise
        except (TaskFailed, TrainbotError) as exc:
            await self._finish(task, live, error=f"{exc}; {NOTHING_STORED}")
        except Exception as exc:
            log.exception("data task failed", task_id=task.id)
            await self._finish(task, live, error=f"unexpected error ({exc}); {NOTHING_STORED}")
        else:
            await self._finish(task, live, dataset=dataset, report=report)

    async def _finish(
        self,
        task: DataTaskRow,
        live: LiveTask,
        *,
        dataset: DatasetRow | None = None,
        report: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "status": JobStatus.FAILED if error else JobStatus.SUCCEEDED,
            "error": error,
            "finished_at": time.time(),
            "progress": live.progress.to_dict(),
        }
        if dataset is not None:
            fields |= {
                "result_dataset_id": dataset.id,
                "result_label": dataset.label,
                "report": report or {},
            }
        try:
            await self.store.data_tasks.update(task.id, **fields)
        finally:
            self._live.pop(task.id, None)
            self._tasks.pop(task.id, None)
            live.end()

    async def get(self, task_id: str) -> DataTaskRow:
        """One task, with its live progress while it runs."""
        task = await self.store.data_tasks.get(task_id)
        if task is None:
            raise NotFound(f"no task {task_id!r}; GET /v1/tasks lists them")
        return self._with_live(task)

    async def find(self, limit: int = 50) -> list[DataTaskRow]:
        """The newest tasks first."""
        return [self._with_live(task) for task in await self.store.data_tasks.find(limit)]

    def live(self, task_id: str) -> LiveTask | None:
        """The running task's progress, or None once it ended."""
        return self._live.get(task_id)

    def follow(self, task_id: str, show: Show, interval_s: float) -> None:
        """Call `show(task)` as the task progresses, at most every `interval_s` (the newest
        progress is shown when the interval is over), and once more when it has ended."""
        follower = asyncio.create_task(self._follow(task_id, show, interval_s))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)

    async def _follow(self, task_id: str, show: Show, interval_s: float) -> None:
        shown: Progress | None = None
        last = -math.inf
        while (live := self._live.get(task_id)) is not None:
            tick = live.tick  # taken first, so a change during `show` is not missed
            if live.progress == shown:
                await tick.wait()
                continue
            wait = last + interval_s - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(live.ended.wait(), wait)
                continue
            shown, last = live.progress, time.monotonic()
            await _show(show, await self.get(task_id))
        task = await self.store.data_tasks.get(task_id)
        if task is not None:
            await _show(show, task)

    def _with_live(self, task: DataTaskRow) -> DataTaskRow:
        live = self._live.get(task.id)
        return replace(task, progress=live.progress.to_dict()) if live else task


async def _show(show: Show, task: DataTaskRow) -> None:
    try:
        await show(task)
    except Exception:
        log.exception("task progress not shown", task_id=task.id)
