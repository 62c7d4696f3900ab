"""Prometheus metrics in a registry owned by the server, so two servers never share counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core.types import JobStatus

if TYPE_CHECKING:
    from bot.core.services import Services

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class HttpMetrics:
    """Request counters and latencies, generation latency, and gauges read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "trainbot_http_requests",
            "HTTP requests by route (canonical path) and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "trainbot_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.generation_seconds = Histogram(
            "trainbot_generation_latency_seconds",
            "Time to generate one answer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Gauge("trainbot_jobs", "Jobs by state.", ["state"], registry=r)
        self.tokens_per_s = Gauge(
            "trainbot_training_tokens_per_second",
            "Training throughput of each running job (its last progress event).",
            ["job_id"],
            registry=r,
        )
        self.subscribers = Gauge(
            "trainbot_event_subscribers",
            "Open job event subscriptions (SSE and others).",
            registry=r,
        )
        self.queue_length = Gauge("trainbot_job_queue_length", "Jobs waiting.", registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    async def render(self, services: Services) -> bytes:
        """Read the gauges from storage and the event bus, then the text exposition."""
        store = services.store
        counts = await store.jobs.count_by_status()
        for state in JobStatus:
            self.jobs.labels(state).set(counts.get(state, 0))
        self.queue_length.set(counts.get(JobStatus.QUEUED, 0))
        # Finished jobs must disappear from the gauge, not linger at their last value.
        self.tokens_per_s.clear()
        for job in await store.jobs.with_status(JobStatus.RUNNING):
            progress = await store.events.last(job.id, "progress")
            if progress and progress.data.get("tokens_per_s") is not None:
                self.tokens_per_s.labels(job.id).set(float(progress.data["tokens_per_s"]))
        self.subscribers.set(services.bus.subscriber_count)
        return generate_latest(self.registry)
