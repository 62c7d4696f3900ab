"""Data sources: HTTP endpoints fetched on a schedule into new dataset versions.

A fetch either writes one new version holding the previous version's records plus the
new unique items, or nothing: a failure is recorded, logged and posted to the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.core.errors import Conflict, Invalid, NotFound, Unavailable
from bot.core.sources.fetch import FetchFailed, download, pick_records, stored_records, unseen
from bot.logs import get_logger
from storage.sources import SourceFetchRow

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.base import BaseTrigger

    from bot.core.datasets import DatasetService
    from bot.core.notifications import NotificationOutbox
    from bot.settings import SourceSettings
    from storage.datasets import DatasetRow
    from storage.store import Store

log = get_logger(__name__)
# A run missed by up to an hour (a suspended machine, a busy loop) still happens once.
MISFIRE_GRACE_S = 3600
SCHEDULED = "schedule"


@dataclass(frozen=True)
class SourceStatus:
    """A configured source with its newest fetches and its next scheduled run."""

    settings: SourceSettings
    fetches: list[SourceFetchRow]  # newest first
    next_run: datetime | None  # None: the scheduler is off
    running: bool

    @property
    def schedule(self) -> str:
        """`every 15m` or `cron 0 3 * * *`."""
        s = self.settings
        return f"every {s.every}" if s.every is not None else f"cron {s.cron}"


class SourceService:
    """Fetch `[[sources]]` on their schedules; `!sources` reads their last results."""

    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        notifications: NotificationOutbox,
        sources: list[SourceSettings],
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.notifications = notifications
        self.sources = sources
        self._by_name = {source.name: source for source in sources}
        self._running: dict[str, asyncio.Task[SourceFetchRow]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._closed = False

    def get(self, name: str) -> SourceSettings:
        """A configured source by name; NotFound names the known ones."""
        if name in self._by_name:
            return self._by_name[name]
        known = ", ".join(sorted(self._by_name)) or "none are configured"
        raise NotFound(f"no source {name!r} (known: {known})")

    async def status(self, fetches: int = 1) -> list[SourceStatus]:
        """Every source with its newest `fetches` fetches, in configuration order."""
        return [
            SourceStatus(
                source,
                await self.store.source_fetches.recent(source.name, fetches),
                self._next_run(source.name),
                source.name in self._running,
            )
            for source in self.sources
        ]

    async def fetch(self, name: str, *, trigger: str) -> SourceFetchRow:
        """Fetch a source now; Conflict while a fetch of it is running."""
        source = self.get(name)
        if self._closed:
            raise Unavailable("the bot is shutting down")
        if name in self._running:
            raise Conflict(f"source {name} is being fetched right now; try again in a moment")
        task = asyncio.create_task(self._fetch(source, trigger))
        self._running[name] = task
        task.add_done_callback(lambda _: self._running.pop(name, None))
        # Shielded: a caller that goes away (an HTTP client hanging up) does not cut the
        # fetch short; only `stop` does.
        return await asyncio.shield(task)

    def install(self, scheduler: AsyncIOScheduler) -> None:
        """Add one scheduler job per source."""
        self._scheduler = scheduler
        for source in self.sources:
            scheduler.add_job(
                self._scheduled_fetch,
                self._trigger(source, scheduler),
                args=[source.name],
                id=job_id(source.name),
                name=f"fetch source {source.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE_S,
                replace_existing=True,
                **self._first_run(source, scheduler),
            )

    async def stop(self) -> None:
        """Stop fetching (running fetches are cancelled and write nothing)."""
        self._closed = True
        running = list(self._running.values())
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _scheduled_fetch(self, name: str) -> None:
        # Called by apscheduler: nothing may escape, so the job keeps its schedule.
        try:
            await self.fetch(name, trigger=SCHEDULED)
        except Conflict:
            log.info("source fetch skipped: the previous one is still running", source=name)
        except Unavailable:
            pass
        except Exception:
            log.exception("source fetch crashed", source=name)

    async def _fetch(self, source: SourceSettings, trigger: str) -> SourceFetchRow:
        started = time.time()
        found = new = blank = 0
        before = await self.store.source_fetches.recent(source.name, 1)
        try:
            records, blank = pick_records(await download(self._client(), source), source.select)
            found = len(records) + blank
            written, new = await self._add(source, records)
        except FetchFailed as exc:
            row = await self._record(source, trigger, started, found, 0, blank, None, str(exc))
            log.warning("source fetch failed", source=source.name, error=row.error)
            # The room hears of a failure once, not at every run until it is fixed.
            if not before or before[0].ok or before[0].error != row.error:
                await self._tell_room(
                    source,
                    f"⚠️ Source {source.name}: the fetch failed and "
                    f"no new version of {source.dataset} was written.\n"
                    f"{row.error}",
                )
            return row
        row = await self._record(source, trigger, started, found, new, blank, written, None)
        log.info(
            "source fetched", source=source.name, items=found, new=new, version=row.dataset_label
        )
        if before and not before[0].ok:
            await self._tell_room(source, f"✅ Source {source.name} works again: {row.outcome}.")
        return row

    async def _add(
        self, source: SourceSettings, records: list[dict[str, Any]]
    ) -> tuple[DatasetRow | None, int]:
        """Write previous + new unique records as the next version; (version, new count)."""
        previous = await self.store.datasets.latest(source.dataset)
        known = await asyncio.to_thread(stored_records, previous.path) if previous else []
        fresh = unseen(records, known)
        if not fresh:
            return None, 0
        try:
            upload = await self.datasets.upload_records(
                source.dataset,
                [*known, *fresh],
                format=_record_format(previous),
                skip_invalid=bool(previous and previous.report.get("skip_invalid")),
                created_by=f"source:{source.name}",
                room_id=(previous.room_id if previous else None) or source.room_id,
            )
        except Invalid as exc:
            # The upload hint (skip_invalid) is no option of a source: leave it out.
            why = "\n".join(line for line in exc.message.splitlines() if "skip_invalid" not in line)
            raise FetchFailed(f"the dataset refused the new items: {why}") from None
        return upload.dataset, len(fresh)

    async def _record(
        self,
        source: SourceSettings,
        trigger: str,
        started: float,
        found: int,
        new: int,
        blank: int,
        written: DatasetRow | None,
        error: str | None,
    ) -> SourceFetchRow:
        row = SourceFetchRow(
            id=0,
            source=source.name,
            trigger=trigger,
            started_at=started,
            finished_at=time.time(),
            ok=error is None,
            items=found,
            new_items=new,
            skipped=blank,
            dataset_id=written.id if written else None,
            dataset_label=written.label if written else None,
            error=error,
        )
        return await self.store.source_fetches.insert(row)

    async def _tell_room(self, source: SourceSettings, text: str) -> None:
        """A notice to the source's room, else the room of the dataset's newest version."""
        room = source.room_id
        if room is None:
            latest = await self.store.datasets.latest(source.dataset)
            room = latest.room_id if latest else None
        if room is None:
            return
        try:
            await self.notifications.enqueue(room, text, source=f"source:{source.name}")
        except Exception:
            log.exception("source notice not queued", source=source.name)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _next_run(self, name: str) -> datetime | None:
        job = self._scheduler.get_job(job_id(name)) if self._scheduler else None
        return job.next_run_time if job is not None else None

    def _trigger(self, source: SourceSettings, scheduler: AsyncIOScheduler) -> BaseTrigger:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if source.interval_s is not None:
            return IntervalTrigger(seconds=source.interval_s, timezone=scheduler.timezone)
        assert source.cron is not None
        return CronTrigger.from_crontab(source.cron, timezone=scheduler.timezone)

    def _first_run(self, source: SourceSettings, scheduler: AsyncIOScheduler) -> dict[str, Any]:
        """An interval source runs one interval after its last fetch (at once if that is
        past or it never ran), so restarting the bot neither skips nor repeats fetches."""
        if source.interval_s is None:
            return {}
        last = self.store.source_fetches.last_started_now(source.name)
        due = time.time() if last is None else max(time.time(), last + source.interval_s)
        return {"next_run_time": datetime.fromtimestamp(due, tz=scheduler.timezone)}


def _record_format(previous: DatasetRow | None) -> str | None:
    """The previous version's format for the new one, written as JSONL (a CSV version's
    rows become records whose format is detected again: text or completion)."""
    if previous is None or previous.format == "csv":
        return None
    return previous.format


def job_id(name: str) -> str:
    """The scheduler job id of a source."""
    return f"source:{name}"
