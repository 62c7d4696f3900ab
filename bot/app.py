"""`App`: builds every part from `Settings`, starts them in order and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

from bot.core.dataprep.service import DataPrepService
from bot.core.datasets import DatasetService
from bot.core.events import EventBus
from bot.core.generation import GenerationService
from bot.core.jobs.backends.local import JobSettings, LocalBackend
from bot.core.jobs.backends.ray_setup import build_ray_backend
from bot.core.jobs.backends.unconfigured import NO_OPENAI, Unconfigured
from bot.core.jobs.ledger import JobLedger
from bot.core.jobs.service import JobService, QueueSettings
from bot.core.models import ModelService
from bot.core.notifications import NotificationOutbox
from bot.core.ports import TrainingBackend
from bot.core.schedules.service import ScheduleService
from bot.core.services import Services
from bot.core.sources.service import SourceService
from bot.logs import configure_logging, get_logger
from bot.settings import Settings
from storage.store import Store

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.core.openai.client import OpenAIClient
    from bot.http.server import HttpServer
    from bot.room.face import RoomFace
    from trainer.workers.generation import GenerationWorker
    from trainer.workers.pool import TrainingPool

log = get_logger(__name__)


class App:
    """The running Trainbot: storage, workers, services, and the HTTP and Matrix faces."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._services: Services | None = None
        self.http: HttpServer | None = None
        self.matrix: RoomFace | None = None
        self._pool: TrainingPool | None = None
        self._generator: GenerationWorker | None = None
        self._openai: OpenAIClient | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._stopped = asyncio.Event()
        self._closed = False

    @property
    def services(self) -> Services:
        """The domain services (only once `start` has built them)."""
        if self._services is None:
            raise RuntimeError("App.services is built by App.start(); call it first")
        return self._services

    async def start(self) -> None:
        """Open storage, build the services, start workers and services, then the faces."""
        s = self.settings
        services = await self._build()
        await services.jobs.start()
        await services.dataprep.start()
        self._start_scheduler()
        if s.http.enabled:
            from bot.http.server import HttpServer

            self.http = HttpServer(services, s)
            await self.http.start()
        if s.matrix.enabled:
            from bot.room.face import RoomFace

            self.matrix = RoomFace(services, s)
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
        services = self._services
        if services:
            await services.sources.stop()
            await services.schedules.stop()
            await services.dataprep.stop()
            await services.jobs.stop()
        if self.matrix:
            await self.matrix.stop()
        if self._pool:
            await self._pool.shutdown()
        if self._generator:
            await self._generator.stop()
        if self._openai:
            await self._openai.close()
        if services:
            await services.store.close()
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

    async def _build(self) -> Services:
        """Storage, worker managers and services, wired; nothing runs yet."""
        from trainer.workers.generation import GenerationWorker
        from trainer.workers.pool import TrainingPool

        s = self.settings
        store = await Store.open(s.storage.data_dir)
        bus = EventBus(store.events)
        # The job dispatcher is the one concurrency gate (`LocalRuns`): a job waiting for a
        # slot stays queued. The pool is sized alike, so its own count only holds a start
        # back if a worker outlives the dispatcher's wait for its exit.
        self._pool = TrainingPool(
            max_concurrent=s.trainer.max_concurrent_jobs,
            stop_grace_s=s.trainer.stop_grace_s,
            throughput_path=str(store.artifacts.throughput_file),
        )
        # Not started here: the worker starts on the first generation, so a bot that
        # only trains never runs a second worker process.
        self._generator = GenerationWorker(
            cached_models=s.trainer.cached_models, timeout_s=s.trainer.generation_timeout_s
        )
        self._openai = _openai_client(s)
        datasets = DatasetService(store, s.trainer.min_examples, s.trainer.default_base)
        models = ModelService(store)
        ledger = JobLedger(store, bus)
        local = LocalBackend(ledger, datasets, models, self._pool, _job_settings(s))
        queue = QueueSettings(s.trainer.max_queue_length, s.trainer.default_backend)
        notifications = NotificationOutbox(store.state)
        ray = build_ray_backend(
            s.ray, store.artifacts.root, ledger, datasets, models, notifications, _job_settings(s)
        )
        backends = [local, self._openai_backend(ledger, datasets, models), ray]
        jobs = JobService(ledger, backends, queue)
        generation = GenerationService(
            store,
            models,
            self._generator,
            max_concurrent=s.http.max_concurrent_generations,
            max_new_tokens=s.trainer.max_new_tokens,
            remote=self._openai,
        )
        self._services = Services(
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
        return self._services

    def _openai_backend(
        self, ledger: JobLedger, datasets: DatasetService, models: ModelService
    ) -> TrainingBackend:
        """The OpenAI backend, or a stand-in that says what is missing without an API key."""
        if self._openai is None:
            return Unconfigured("openai", NO_OPENAI)
        from bot.core.jobs.backends.openai import OpenAIBackend, RemoteSettings

        o = self.settings.openai
        settings = RemoteSettings(o.fine_tune_model, o.poll_interval_s)
        return OpenAIBackend(ledger, datasets, models, self._openai, settings)

    def _start_scheduler(self) -> None:
        """Data sources and retraining schedules run on one apscheduler in this loop."""
        s = self.settings
        if not s.scheduler.enabled or not (s.sources or s.schedules):
            return
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._scheduler = AsyncIOScheduler(timezone=s.scheduler.timezone)
        self.services.sources.install(self._scheduler)
        self.services.schedules.install(self._scheduler)
        self._scheduler.start()


def _openai_client(s: Settings) -> OpenAIClient | None:
    """The OpenAI client, or None without an API key."""
    o = s.openai
    if o.api_key is None or not o.api_key.get_secret_value():
        return None
    # Imported here: without a key, start-up never pays for importing the client.
    from bot.core.openai.client import OpenAIClient

    return OpenAIClient(o)


def _job_settings(s: Settings) -> JobSettings:
    t = s.trainer
    return JobSettings(
        max_concurrent_jobs=t.max_concurrent_jobs,
        stop_grace_s=t.stop_grace_s,
        min_examples=t.min_examples,
        default_base=t.default_base,
        device=t.device,
        report_to=t.report_to,
        base_dirs=tuple(t.base_dirs),
        allow_hub=t.allow_hub,
        max_memory_gb=t.max_memory_gb,
        precision=t.precision,
        compile=t.compile,
    )


def setup_logging(settings: Settings) -> None:
    """Configure logging from settings, scrubbing every configured secret."""
    configure_logging(settings.logging.level, settings.logging.format, settings.secret_values())
