"""`JobDriver`: one detached Ray actor per training job, named after the job.

It starts Ray Train's `TorchTrainer` (in a thread, so its methods stay callable while
`fit()` blocks), keeps every event the rank-0 worker sends, in order and numbered, and
holds the stop request the workers read at each step. The Trainbot service polls
`events(since)`; a restarted service finds the actor again by name and continues from
the last event it stored. Nothing here imports torch: the actor only schedules.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from trainer.events import Failed, TrainEvent, is_final


@dataclass(frozen=True)
class Resources:
    """Where a job trains: data-parallel workers and what each of them holds."""

    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (stored with the job)."""
        return {
            "workers": self.workers,
            "gpus_per_worker": self.gpus_per_worker,
            "cpus_per_worker": self.cpus_per_worker,
        }


class JobDriver:
    """Runs one job's `TorchTrainer` and keeps its events and stop request (a Ray actor)."""

    def __init__(self) -> None:
        self._events: list[TrainEvent] = []
        self._stop: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pids: dict[int, int] = {}  # rank -> pid of the worker process, latest attempt

    def start(
        self, spec: dict[str, Any], resources: dict[str, Any], storage: str, max_failures: int
    ) -> bool:
        """Start training in a thread (once: a second call is a no-op and says False)."""
        with self._lock:
            if self._thread is not None:
                return False
            args = (spec, Resources(**resources), storage, max_failures)
            self._thread = threading.Thread(target=self._fit, args=args, daemon=True)
            self._thread.start()
            return True

    def put(self, event: TrainEvent) -> None:
        """An event from the rank-0 worker (ordered: one caller, one actor)."""
        with self._lock:
            if not any(is_final(e) for e in self._events):
                self._events.append(event)

    def events(self, since: int) -> list[TrainEvent]:
        """Every event after the first `since`."""
        with self._lock:
            return self._events[since:]

    def request_stop(self, reason: str) -> None:
        """Ask the workers to stop at their next step ("cancel" wins over "pause")."""
        with self._lock:
            if self._stop != "cancel":
                self._stop = reason

    def stop_requested(self) -> str | None:
        """What the workers should do at this step: None, "pause" or "cancel"."""
        return self._stop

    def finished(self) -> bool:
        """Whether `fit()` has returned (Ray Train released its workers and placement group)."""
        with self._lock:
            return self._thread is not None and not self._thread.is_alive()

    def hello(self, rank: int, pid: int) -> None:
        """A worker (re)started: its process id, so faults can be found and reported."""
        with self._lock:
            self._pids[rank] = pid

    def worker_pids(self) -> dict[int, int]:
        """Rank -> process id of the current attempt's workers."""
        with self._lock:
            return dict(self._pids)

    def _fit(
        self, spec: dict[str, Any], resources: Resources, storage: str, max_failures: int
    ) -> None:
        try:
            _run_torch_trainer(self, spec, resources, storage, max_failures)
        except BaseException as exc:  # the job must end with a final event, whatever broke
            self.put(_failure(exc))
        else:
            with self._lock:
                done = any(is_final(e) for e in self._events)
            if not done:
                self.put({"event": "failed", "error": "training ended without a result"})


def _run_torch_trainer(
    driver: JobDriver,
    spec: dict[str, Any],
    resources: Resources,
    storage: str,
    max_failures: int,
) -> None:
    # The controller's state reconciliation polls the dashboard's state API, which a minimal
    # Ray install lacks: it would only log "Failed to query ..." every few seconds.
    os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION", "0")
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from trainer.distributed.loop import train_loop_per_worker

    gpus = resources.gpus_per_worker > 0
    per_worker: dict[str, float] = {"CPU": resources.cpus_per_worker}
    if gpus:
        per_worker["GPU"] = resources.gpus_per_worker
    me = ray.get_runtime_context().current_actor
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"spec": spec, "driver": me},
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
