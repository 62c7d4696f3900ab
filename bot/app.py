"""`App`: builds every part from `Settings`, starts them in order and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from bot.core.dataprep.service import DataPrepService
from bot.core.datasets import DatasetService
from bot.core.events import EventBus
from bot.core.generation import GenerationService
from bot.core.jobs.backends.local import JobSettings
from bot.core.jobs.service import JobService
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.schedules.service import ScheduleService
from bot.core.services import Services
from bot.core.sources.service import SourceService
from bot.logs import configure_logging, get_logger
from bot.settings import Settings
from storage.store import Store

log = get_logger(__name__)


class App:
    """The running Trainbot: storage, workers, services, and the HTTP and Matrix faces."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.http: Any = None
        self.matrix: Any = None
        self._pool: Any = None
        self._generator: Any = None
        self._openai: Any = None
        self._scheduler: Any = None
        self._stopped = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        """Open storage, start workers and services, then the faces."""
        from trainer.generation import GenerationWorker
        from trainer.pool import TrainingPool

        s = self.settings
        store = await Store.open(s.storage.data_dir)
        bus = EventBus(store.events)
        self._pool = TrainingPool(
            max_concurrent=s.trainer.max_concurrent_jobs,
            stop_grace_s=s.trainer.stop_grace_s,
            throughput_path=str(store.artifacts.throughput_file),
        )
        self._generator = GenerationWorker(
            cached_models=s.trainer.cached_models,
            max_new_tokens_cap=s.trainer.max_new_tokens,
            timeout_s=s.trainer.generation_timeout_s,
        )
        # Not started here: the worker spawns on the first generation, so a bot that
        # only trains never pays for a second process importing torch.
        self._openai = _openai_backend(s)
        datasets = DatasetService(store, s.trainer.min_examples, s.trainer.default_base)
        models = ModelService(store)
        remote = self._remote_jobs(store, bus, datasets, models)
        jobs = JobService(store, bus, datasets, models, self._pool, _job_settings(s), remote)
        generation = GenerationService(
            store,
            models,
            self._generator,
            max_concurrent=s.http.max_concurrent_generations,
            max_new_tokens=s.trainer.max_new_tokens,
            remote=self._openai,
        )
        notifications = NotificationOutbox(store.state)
        self.services = Services(
            store,
            bus,
            datasets,
            models,
            jobs,
            generation,
            notifications,
            dataprep=DataPrepService(store, datasets, self._openai, s.openai),
            sources=SourceService(store, datasets, notifications, s.sources),
            schedules=ScheduleService(
                store, datasets, models, jobs, notifications, s.schedules, self._openai
            ),
            openai=self._openai,
        )
        await jobs.start()
        await self.services.dataprep.start()
        self._start_scheduler()
        if s.http.enabled:
            from bot.http.server import HttpServer

            self.http = HttpServer(self.services, s)
            await self.http.start()
        if s.matrix.enabled:
            from bot.room.face import RoomFace

            self.matrix = RoomFace(self.services, s)
            await self.matrix.start()
        log.info(
            "trainbot started",
            data_dir=str(s.storage.data_dir),
            http=self.http.url if self.http else None,
            matrix=s.matrix.enabled,
        )

    async def stop(self) -> None:
        """Stop taking work, pause running jobs at a checkpoint, close everything (idempotent)."""
        if self._closed:
            return
        self._closed = True
        log.info("trainbot stopping")
        if self.http:
            await self.http.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self.services:
            await self.services.sources.stop()
            await self.services.schedules.stop()
            await self.services.dataprep.stop()
            await self.services.jobs.stop()
        if self.matrix:
            await self.matrix.stop()
        if self._pool:
            await self._pool.shutdown()
        if self._generator:
            await self._generator.stop()
        if self._openai:
            await self._openai.close()
        if self.services:
            await self.services.store.close()
        log.info("trainbot stopped")

    async def run_until_signal(self) -> None:
        """Start, wait for SIGTERM or SIGINT, stop gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopped.set)
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError):
                    loop.remove_signal_handler(sig)
            await self.stop()

    def _remote_jobs(
        self, store: Store, bus: EventBus, datasets: DatasetService, models: ModelService
    ) -> Any:
        """The OpenAI backend's jobs, or None without an API key (`backend=openai` says so)."""
        if self._openai is None:
            return None
        from bot.core.jobs.backends.openai import RemoteJobs, RemoteSettings

        o = self.settings.openai
        settings = RemoteSettings(o.fine_tune_model, o.poll_interval_s)
        return RemoteJobs(store, bus, datasets, models, self._openai, settings)

    def _start_scheduler(self) -> None:
        """Data sources and retraining schedules run on one apscheduler in this loop."""
        s = self.settings
        if not s.scheduler.enabled or not (s.sources or s.schedules):
            return
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        assert self.services is not None
        self._scheduler = AsyncIOScheduler(timezone=s.scheduler.timezone)
        self.services.sources.install(self._scheduler)
        self.services.schedules.install(self._scheduler)
        self._scheduler.start()

    def request_stop(self) -> None:
        """Ask `run_until_signal` to stop (as a signal would)."""
        self._stopped.set()


def _openai_backend(s: Settings) -> Any:
    """The OpenAI client, or None without an API key."""
    o = s.openai
    if o.api_key is None or not o.api_key.get_secret_value():
        return None
    # Imported here: without a key, start-up never pays for importing the client.
    from bot.core.openai.client import OpenAIBackend

    return OpenAIBackend(o)


def _job_settings(s: Settings) -> JobSettings:
    t = s.trainer
    return JobSettings(
        max_concurrent_jobs=t.max_concurrent_jobs,
        max_queue_length=t.max_queue_length,
        stop_grace_s=t.stop_grace_s,
        min_examples=t.min_examples,
        default_base=t.default_base,
        device=t.device,
        report_to=t.report_to,
    )


def setup_logging(settings: Settings) -> None:
    """Configure logging from settings, scrubbing every configured secret."""
    configure_logging(settings.logging.level, settings.logging.format, settings.secret_values())
