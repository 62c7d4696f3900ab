"""`RunHost`: one detached Ray actor per cluster that drives the Trainbot runs on it.

Each run (a job's attempt, keyed `<job id>-<attempt>`) is Ray Train's `TorchTrainer`
started in a thread of this actor, so the actor stays callable while `fit()` blocks; the
actor keeps every event the run's rank-0 worker sends, in order and numbered, and holds
the stop request the workers read at each step. The Trainbot service polls
`events(key, since)`; a restarted service finds the actor again by name and continues
from the last event it stored.

Why one long-lived actor and not one per job: `TorchTrainer` needs `ray.train.torch`,
which imports torch, and a fresh actor process paid that import (seconds; most of a
run's start) for every job. This one imports it once, in the background, when it is
created, so the runs after it start warm. Nothing of torch runs here: the actor only
schedules; the training happens in Ray Train's worker processes, or, for a one-worker
CPU job, in a warm worker it keeps between jobs (`warm.py`: Ray Train's own controller
and workers are fresh processes every run).
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, cast

from trainer.distributed.channel import HostHandle, RunChannel
from trainer.distributed.resources import Resources
from trainer.distributed.warm import WarmPool, run_warm, warm_fits
from trainer.events import Failed, TrainEvent, is_final

HOST_NAME = "trainbot-runs"

# Ray Train's documented switches (ray.train.v2 constants), set before TorchTrainer exists;
# Ray Train passes them on to each run's controller and workers.
TRAIN_ENV = {
    # The controller's state reconciliation polls the dashboard's state API, which a
    # minimal Ray install lacks: it would only log "Failed to query ..." every few seconds.
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
    # One actor process less per run: it only reports node drains (preemption), which
    # Trainbot's own re-attach and resubmission handle; each process start costs seconds.
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    # The controller looks at its workers this often (default 2 s): a run's end, a pause
    # and the restart after a lost worker each waited for it.
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",
    # Prometheus metrics of the controller and workers: nothing here scrapes them.
    "RAY_TRAIN_METRICS_ENABLED": "0",
}


@dataclass
class Run:
    """One run's events, stop request and worker processes."""

    thread: threading.Thread | None = None
    events: list[TrainEvent] = field(default_factory=list)
    stop: str | None = None
    pids: dict[int, int] = field(default_factory=dict)  # rank -> pid, latest worker group


class RunHost:
    """Runs the jobs' `TorchTrainer`s and keeps their events and stop requests (a Ray actor).

    Every method takes the run's key; a key this actor does not know (it was restarted,
    or the run was forgotten) reads as None, which the service treats as a lost run.
    """

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        for key, value in TRAIN_ENV.items():
            os.environ.setdefault(key, value)
        self._warm = threading.Thread(target=_import_ray_train, daemon=True)
        self._warm.start()  # torch and Ray Train load while the service prepares the job
        self._pool = WarmPool()

    def configure(self, warm_workers: int, resources: dict[str, Any]) -> None:
        """Keep up to `warm_workers` idle warm workers (`ray.warm_workers`), one of the
        default `resources` started now (trainer.distributed.warm)."""
        self._pool.configure(warm_workers, Resources(**resources))

    def warm_workers(self) -> int:
        """How many warm workers wait for a job now."""
        return self._pool.idle()

    def start(
        self,
        key: str,
        spec: dict[str, Any],
        resources: dict[str, Any],
        storage: str,
        max_failures: int,
    ) -> bool:
        """Start the run in a thread (once: a second call is a no-op and says False)."""
        with self._lock:
            if key in self._runs:
                return False
            run = self._runs[key] = Run()
            args = (key, spec, Resources(**resources), storage, max_failures)
            run.thread = threading.Thread(target=self._fit, args=args, daemon=True)
            run.thread.start()
            return True

    def exists(self, key: str) -> bool:
        """Whether this host has the run (a host started anew has none)."""
        with self._lock:
            return key in self._runs

    def put(self, key: str, event: TrainEvent) -> None:
        """An event from the run's rank-0 worker (ordered: one caller per run)."""
        with self._lock:
            run = self._runs.get(key)
            if run is not None and not any(is_final(e) for e in run.events):
                run.events.append(event)

    def events(self, key: str, since: int) -> list[TrainEvent] | None:
        """Every event of the run after the first `since`; None for an unknown run."""
        with self._lock:
            run = self._runs.get(key)
            return None if run is None else run.events[since:]

    def request_stop(self, key: str, reason: str) -> bool:
        """Ask the run's workers to stop at their next step ("cancel" wins over "pause")."""
        with self._lock:
            run = self._runs.get(key)
            if run is None:
                return False
            if run.stop != "cancel":
                run.stop = reason
            return True

    def stop_requested(self, key: str) -> str | None:
        """What the run's workers should do at this step: None, "pause" or "cancel"."""
        run = self._runs.get(key)
        return None if run is None else run.stop

    def finished(self, key: str) -> bool:
        """Whether the run's `fit()` returned (its workers and placement group released)."""
        with self._lock:
            run = self._runs.get(key)
            return run is None or (run.thread is not None and not run.thread.is_alive())

    def forget(self, key: str) -> None:
        """Drop a finished run's events (the service has stored them)."""
        with self._lock:
            self._runs.pop(key, None)

    def hello(self, key: str, rank: int, pid: int) -> None:
        """A worker of the run (re)started: its process id, so faults can be found."""
        with self._lock:
            run = self._runs.get(key)
            if run is not None:
                run.pids[rank] = pid

    def worker_pids(self, key: str) -> dict[int, int]:
        """Rank -> process id of the run's current workers."""
        with self._lock:
            run = self._runs.get(key)
            return {} if run is None else dict(run.pids)

    def _fit(
        self,
        key: str,
        spec: dict[str, Any],
        resources: Resources,
        storage: str,
        max_failures: int,
    ) -> None:
        try:
            if self._pool.keep and warm_fits(resources):
                run_warm(self._pool, _Line(self, key), spec, resources, max_failures)
            else:
                self._warm.join()
                with self._pool.yielding():  # no idle warm worker holds CPUs it may need
                    _run_torch_trainer(key, spec, resources, storage, max_failures)
        except BaseException as exc:  # the job must end with a final event, whatever broke
            self.put(key, _failure(exc))
        else:
            with self._lock:
                run = self._runs.get(key)
                done = run is None or any(is_final(e) for e in run.events)
            if not done:
                self.put(key, {"event": "failed", "error": "training ended without a result"})


def _import_ray_train() -> None:
    import ray.train.torch  # noqa: F401  (the slow part of a run's start: torch)

    import trainer.distributed.loop  # noqa: F401


class _Line:
    """One run as `run_warm` sees it: its channel for the worker, its events, its stop."""

    def __init__(self, host: RunHost, key: str) -> None:
        self.channel = RunChannel(_this_actor(), key)
        self._host = host
        self._key = key

    def put(self, event: TrainEvent) -> None:
        self._host.put(self._key, event)

    def stop(self) -> str | None:
        return self._host.stop_requested(self._key)


def _this_actor() -> HostHandle:
    import ray

    return cast(HostHandle, ray.get_runtime_context().current_actor)


def _run_torch_trainer(
    key: str,
    spec: dict[str, Any],
    resources: Resources,
    storage: str,
    max_failures: int,
) -> None:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from trainer.distributed.loop import train_loop_per_worker

    gpus = resources.gpus_per_worker > 0
    per_worker: dict[str, float] = {**resources.custom, "CPU": resources.cpus_per_worker}
    if gpus:
        per_worker["GPU"] = resources.gpus_per_worker
    host = _this_actor()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"spec": spec, "channel": RunChannel(host, key)},
        # gloo between CPU processes, NCCL between GPUs: what DDP uses on each.
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=resources.workers, use_gpu=gpus, resources_per_worker=per_worker
        ),
        run_config=RunConfig(
            name=f"trainbot-{spec['job_id']}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    trainer.fit()


def _failure(exc: BaseException) -> Failed:
    # Ray wraps the worker's exception; its first line is what people can act on.
    text = str(exc).strip().splitlines()
    line = text[-1] if text else type(exc).__name__
    return {
        "event": "failed",
        "error": line[:300],
        "detail": "".join(traceback.format_exception(exc))[-4000:],
    }
