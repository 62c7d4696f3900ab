"""Warm workers: training processes kept started on the cluster between one-worker jobs.

A Ray Train run starts its controller and its workers (and Ray Train's helper actors)
as fresh processes, and each imports torch and transformers: about 15 s on two cores
before the first step, against about a second for the local backend, whose forkserver
has them loaded. A one-worker CPU job needs nothing of Ray Train's data-parallel setup,
so it runs in a `WarmWorker` instead: a Ray actor that loaded torch, transformers and
the training code when it started and trains one job after another. The `RunHost`
keeps up to `ray.warm_workers` of them idle (`WarmPool`); jobs with more workers or
with GPUs go through `TorchTrainer` as before.

Ray still does the work it is made for: it places each warm worker on a node that has
its resources (the job's CPUs and `worker_resources`, held by the actor), and when the
process or its node is lost it restarts the actor (`max_restarts`), waiting for a node
that has them. `run_warm` then calls the job again in it, which resumes from the newest
checkpoint, up to `ray.max_failures` times (not Ray's `max_task_retries`: its retries
come while the actor is still restarting and are all spent in a moment).

An idle warm worker holds its CPUs. A job of another shape, or a Ray Train run, first
lets the idle ones go; while something may wait for CPUs (a Ray Train run on, a worker
not yet placed or restarting) a worker that comes back goes to a job waiting for its
shape or is let go, never kept idle: warm workers never keep a job from being placed.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from trainer.distributed.channel import RemoteMethod, RunChannel
from trainer.distributed.resources import Resources
from trainer.events import TrainEvent


class WarmWorker:
    """One training process, torch loaded, that trains the jobs it is given in turn."""

    def __init__(self) -> None:
        # What a run would otherwise import at its start (seconds on a small machine).
        import trainer.train  # noqa: F401

    def ready(self) -> bool:
        """True once the imports are done (the call waits for `__init__`)."""
        return True

    def train(self, spec: dict[str, Any], channel: RunChannel) -> None:
        """Train the job as the only worker; events and stop requests go through `channel`."""
        from trainer.distributed.loop import train_rank

        try:
            train_rank(spec, channel, 0, 1, "warm worker")
        finally:
            gc.collect()  # the job's model and data go before the next job comes


class ActorHandle(Protocol):
    """A `WarmWorker` actor as the pool sees it (`ray.kill` takes it)."""

    ready: RemoteMethod
    train: RemoteMethod


def shape(resources: Resources) -> tuple[float, tuple[tuple[str, float], ...]]:
    """What a warm worker holds: a job may use an idle one of the same shape."""
    return resources.cpus_per_worker, tuple(sorted(resources.custom.items()))


def warm_fits(resources: Resources) -> bool:
    """Whether a job runs in a warm worker: one worker, no GPU (DDP and GPUs: Ray Train)."""
    return resources.workers == 1 and resources.gpus_per_worker == 0


@dataclass
class Wait:
    """A run waiting for a new warm worker to be placed; a worker of its shape that comes
    back meanwhile is handed to it (the new one may wait for exactly those CPUs)."""

    shape: tuple[Any, ...]
    handed: ActorHandle | None = None


class WarmPool:
    """The idle warm workers of the cluster (kept by the `RunHost`), at most `keep`.

    An idle worker holds its CPUs, so none is kept while anything may need them: while a
    run waits for a new worker to be placed, or a Ray Train run is on (`yielding`), a
    worker that comes back goes to a waiting run of its shape or is let go.
    """

    def __init__(self) -> None:
        self.keep = 0
        self._default: Resources | None = None
        self._idle: list[tuple[tuple[Any, ...], ActorHandle]] = []
        self._waits: list[Wait] = []
        self._ray_train = 0  # Ray Train runs on now
        self._lock = threading.Lock()

    def configure(self, keep: int, resources: Resources) -> None:
        """Keep up to `keep` idle; start one of the default shape now if none is idle."""
        with self._lock:
            self.keep = keep
            self._default = resources
            extra, self._idle = self._idle[keep:], self._idle[:keep]
        _kill(actor for _, actor in extra)
        self.refill()

    def refill(self) -> None:
        """Start one warm worker of the default shape when none is idle and nothing needs
        the CPUs (at the start, after a Ray Train run)."""
        with self._lock:
            default = self._default
            if default is None or not self.keep or not warm_fits(default):
                return
            if self._idle or self._waits or self._ray_train:
                return
            self._idle.append((shape(default), self.start(default)))

    def take(self, resources: Resources) -> tuple[ActorHandle, Wait]:
        """An idle warm worker of the job's shape, or a new one (the idle others let go
        first: their CPUs may be the ones the new one needs), and the job's `Wait` until
        it is placed (an idle one may not be placed yet either)."""
        wanted = shape(resources)
        wait = Wait(wanted)
        with self._lock:
            self._waits.append(wait)
            for n, (held, actor) in enumerate(self._idle):
                if held == wanted:
                    del self._idle[n]
                    return actor, wait
            others, self._idle = self._idle, []
        _kill(actor for _, actor in others)
        return self.start(resources), wait

    def waiting(self, resources: Resources) -> Wait:
        """A run waits for its worker to be placed again (Ray restarts it)."""
        wait = Wait(shape(resources))
        with self._lock:
            self._waits.append(wait)
        return wait

    def placed(self, wait: Wait) -> ActorHandle | None:
        """The run stops waiting; the worker handed to it meanwhile, if any."""
        with self._lock:
            self._waits.remove(wait)
            return wait.handed

    def handed(self, wait: Wait) -> ActorHandle | None:
        """The worker handed to a waiting run so far, if any."""
        with self._lock:
            return wait.handed

    def give_back(self, actor: ActorHandle, resources: Resources) -> None:
        """A warm worker done with its job: to a run waiting for its shape, idle again
        (newest first, at most `keep`), or let go."""
        held = shape(resources)
        with self._lock:
            wait = next((w for w in self._waits if w.shape == held and w.handed is None), None)
            if wait is not None:
                wait.handed = actor
                return
            extra = [actor]
            if not self._waits and not self._ray_train and self.keep:
                self._idle.insert(0, (held, actor))
                extra = [a for _, a in self._idle[self.keep :]]
                del self._idle[self.keep :]
        _kill(extra)

    @contextlib.contextmanager
    def yielding(self) -> Iterator[None]:
        """Around a Ray Train run: no idle warm worker holds CPUs it may need."""
        with self._lock:
            self._ray_train += 1
            idle, self._idle = self._idle, []
        _kill(actor for _, actor in idle)
        try:
            yield
        finally:
            with self._lock:
                self._ray_train -= 1
            self.refill()

    def idle(self) -> int:
        """How many warm workers wait for a job."""
        with self._lock:
            return len(self._idle)

    @staticmethod
    def start(resources: Resources) -> ActorHandle:
        """A new warm worker; Ray places it on a node that has `resources`."""
        import ray

        actor = ray.remote(WarmWorker).options(
            num_cpus=resources.cpus_per_worker,
            resources=dict(resources.custom),
            max_restarts=-1,  # a pool member: Ray starts it again wherever it fits
            max_task_retries=0,  # `run_warm` starts a lost run again, counting
        )
        return cast(ActorHandle, actor.remote())


def run_warm(
    pool: WarmPool,
    run: RunLine,
    spec: dict[str, Any],
    resources: Resources,
    max_failures: int,
) -> None:
    """Train one run in a warm worker. A lost process or node costs one of `max_failures`:
    Ray restarts the actor where its resources are (waiting for a node that has them),
    and the run starts again there from its newest checkpoint; after that many, the
    error reaches the run. A pause or cancel while it waits for a worker ends the run."""
    import ray

    actor: ActorHandle | None = _ready(pool, *pool.take(resources), resources, run, spec)
    failures = 0
    while actor is not None:
        try:
            ray.get(actor.train.remote(spec, run.channel))
        except ray.exceptions.RayActorError as exc:
            failures += 1
            if failures > max_failures:
                _kill([actor])
                raise RuntimeError(
                    f"the training worker was lost {failures} time{'s' * (failures != 1)} "
                    f"(ray.max_failures = {max_failures}); last: {_first_line(exc)}"
                ) from None
            run.put(_lost(exc, failures, max_failures))
            # Ray restarts it; a worker of its shape that comes back meanwhile may take over.
            actor = _ready(pool, actor, pool.waiting(resources), resources, run, spec)
            continue
        except BaseException:
            pool.give_back(actor, resources)
            raise
        pool.give_back(actor, resources)
        return


class RunLine(Protocol):
    """What `run_warm` needs of its run on the `RunHost`."""

    channel: RunChannel

    def put(self, event: TrainEvent) -> None: ...

    def stop(self) -> str | None: ...


def _ready(
    pool: WarmPool,
    actor: ActorHandle,
    wait: Wait | None,
    resources: Resources,
    run: RunLine,
    spec: dict[str, Any],
) -> ActorHandle | None:
    """`actor` once Ray has placed and started it (or a worker of the same shape handed
    over meanwhile; a new one if it died for good); None when the run was paused or
    cancelled while it waited (its "stopped" event sent)."""
    import ray

    chosen: ActorHandle | None = None
    try:
        pending = actor.ready.remote()
        while chosen is None:
            reason = run.stop()
            if reason is not None:
                _kill([actor])
                run.put(_stopped(reason, spec))
                return None
            if wait is not None and (handed := pool.handed(wait)) is not None:
                _kill([actor])
                chosen = handed
                break
            done, _ = ray.wait([pending], timeout=0.5)
            if not done:
                continue
            try:
                ray.get(pending)
            except ray.exceptions.ActorDiedError:  # gone for good: a new one
                if wait is not None and (late := pool.placed(wait)) is not None:
                    wait, chosen = None, late
                    break
                actor, wait = pool.take(resources)
            except ray.exceptions.RayActorError:  # still restarting
                time.sleep(0.5)
            else:
                chosen = actor
                break
            pending = actor.ready.remote()
        return chosen
    finally:
        if wait is not None:
            late = pool.placed(wait)
            if late is not None and late is not chosen:
                pool.give_back(late, resources)


def _lost(exc: BaseException, failures: int, max_failures: int) -> TrainEvent:
    message = (
        f"the training worker was lost ({_first_line(exc)}); Ray starts it again and the "
        f"run resumes from its newest checkpoint (restart {failures} of {max_failures})"
    )
    return {"event": "log", "level": "warning", "message": message}


def _stopped(reason: str, spec: dict[str, Any]) -> TrainEvent:
    """The run stopped while its worker was away: at its newest checkpoint, if any."""
    folder = Path(spec["checkpoint_dir"])
    steps = sorted(
        int(p.name.removeprefix("checkpoint-"))
        for p in (folder.iterdir() if folder.is_dir() else [])
        if p.name.removeprefix("checkpoint-").isdigit()
    )
    step = steps[-1] if steps else 0
    checkpoint = str(folder / f"checkpoint-{step}") if steps else None
    return {"event": "stopped", "reason": reason, "step": step, "checkpoint": checkpoint}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def _kill(actors: Iterable[ActorHandle]) -> None:
    import ray

    for actor in actors:
        with contextlib.suppress(Exception):  # already gone with its node
            ray.kill(actor, no_restart=True)  # type: ignore[arg-type]
