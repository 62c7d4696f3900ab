"""`RayCluster`: the one place the Trainbot process talks to Ray (imported lazily).

It joins the cluster (`ray.init`, in a thread: it blocks), finds or creates the
cluster's `RunHost` actor by name in the configured namespace (each job's run on it by
key), and reads the cluster's nodes
and resources for `!status`. Before joining a `host:port` address it tries a plain TCP
connection, because `ray.init` against a dead address blocks for minutes in retries.
Ray itself is imported only here, and only when the `[ray]` section is configured; the
actor code (`trainer.distributed`) never imports torch in this process.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from bot.logs import get_logger
from trainer.distributed.resources import Resources

log = get_logger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
FINISH_WAIT_S = 120.0


class ClusterUnreachable(Exception):
    """The cluster does not answer; the message says so in words."""


class RunLost(Exception):
    """The job's actor is gone (its node was lost, or the cluster restarted)."""


class RemoteMethod(Protocol):
    """A method of an actor handle: `.remote(...)` gives an awaitable result."""

    def remote(self, *args: object) -> Awaitable[Any]: ...


class HostHandle(Protocol):
    """What the service calls on the cluster's `RunHost` actor (each with a run's key)."""

    start: RemoteMethod
    exists: RemoteMethod
    finished: RemoteMethod
    forget: RemoteMethod
    events: RemoteMethod
    request_stop: RemoteMethod
    worker_pids: RemoteMethod
    configure: RemoteMethod
    warm_workers: RemoteMethod


class RunHandle:
    """One run on the cluster: the `RunHost` actor and the run's key."""

    def __init__(self, host: HostHandle, key: str) -> None:
        self.host = host
        self.key = key

    def start(self, *args: object) -> Awaitable[bool]:
        """Start the run (False: it was running already, so this is a re-attach)."""
        return self.host.start.remote(self.key, *args)

    def events(self, since: int) -> Awaitable[list[Any] | None]:
        """The run's events after the first `since`; None when the host lost the run."""
        return self.host.events.remote(self.key, since)

    def exists(self) -> Awaitable[bool]:
        """Whether the host knows the run (a restarted cluster has a new, empty host)."""
        return self.host.exists.remote(self.key)

    def request_stop(self, reason: str) -> Awaitable[bool]:
        """Ask the run to pause or cancel at its next step."""
        return self.host.request_stop.remote(self.key, reason)


@dataclass(frozen=True)
class ClusterSettings:
    """The `[ray]` values the cluster connection needs."""

    address: str
    namespace: str = "trainbot"
    warm_workers: int = 0  # idle warm workers the cluster keeps (trainer.distributed.warm)
    defaults: Resources = field(default_factory=Resources)  # the one started at joining


class RayCluster:
    """The joined cluster: job actors by name, calls with a timeout, its resources."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._joined = False
        self._join_lock = threading.Lock()

    @property
    def joined(self) -> bool:
        """Whether this process is connected to the cluster now."""
        return self._joined

    async def join(self) -> None:
        """Join the cluster if not yet joined; `ClusterUnreachable` when it does not answer."""
        if self._joined:
            return
        await self._probe()
        await asyncio.to_thread(self._join_blocking)

    async def reachable(self) -> bool:
        """Whether the cluster's head answers at all (a plain TCP connection)."""
        try:
            await self._probe()
        except ClusterUnreachable:
            return False
        return True

    async def leave(self) -> None:
        """Disconnect from a cluster whose head went away, so that the next `join` connects
        to it afresh once it is back (a head restarted is a new cluster to Ray; calls on
        the old connection would block until Ray gives up on it)."""
        if self._joined:
            self._joined = False
            log.warning("left the unreachable ray cluster", address=self.settings.address)
            await asyncio.to_thread(_shutdown)

    async def run(self, key: str) -> RunHandle:
        """The run with this key on the cluster's `RunHost` actor (created if not there)."""
        await self.join()
        return RunHandle(await asyncio.to_thread(self._host_blocking), key)

    async def call(self, pending: Awaitable[T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        """Await an actor call; a cluster gone quiet becomes `ClusterUnreachable`."""
        import ray.exceptions

        try:
            return await asyncio.wait_for(pending, timeout_s)
        except ray.exceptions.RayActorError as exc:
            raise RunLost(f"its Ray actor is gone ({one_line(exc)})") from None
        except TimeoutError:
            raise ClusterUnreachable(f"no answer from the Ray cluster in {timeout_s:g} s") from None
        except (ray.exceptions.RaySystemError, ray.exceptions.ActorUnavailableError) as exc:
            raise ClusterUnreachable(f"the Ray cluster is unreachable ({one_line(exc)})") from None

    async def finish(self, run: RunHandle) -> None:
        """Forget a finished run once it let go of its workers (at most `FINISH_WAIT_S`).

        Its `fit()` may still be winding down: releasing the placement group that holds
        its CPUs and GPUs.
        """
        deadline = asyncio.get_running_loop().time() + FINISH_WAIT_S
        while not await self.call(run.host.finished.remote(run.key)):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("a finished ray run did not wind down", run=run.key)
                break
            await asyncio.sleep(0.25)
        await self.call(run.host.forget.remote(run.key))

    async def overview(self) -> dict[str, Any]:
        """Nodes, CPUs and GPUs (total and free) and idle warm workers of the cluster."""
        await self.join()
        nodes, total, free = await asyncio.to_thread(_resources)
        alive = [n for n in nodes if n.get("Alive")]
        host = await asyncio.to_thread(self._host_blocking)
        return {
            # Idle warm workers hold CPUs: the count says why they are not free.
            "warm_workers": await self.call(host.warm_workers.remote()),
            "address": self.settings.address,
            "nodes": len(alive),
            "cpus": total.get("CPU", 0.0),
            "cpus_free": free.get("CPU", 0.0),
            "gpus": total.get("GPU", 0.0),
            "gpus_free": free.get("GPU", 0.0),
        }

    async def _probe(self) -> None:
        host, _, port = self.settings.address.rpartition(":")
        if not host or not port.isdigit():
            return  # "auto": ray.init finds the local cluster or fails at once
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 3.0)
        except (OSError, TimeoutError) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else one_line(exc)
            raise ClusterUnreachable(
                f"the Ray cluster at {self.settings.address} is unreachable ({why})"
            ) from None
        writer.close()

    def _join_blocking(self) -> None:
        # Ray starts a private local cluster on any call made while not connected ("auto
        # connect"); Trainbot must only run jobs on the configured cluster, so a stray call
        # fails instead. Ray reads this when it is first imported.
        os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
        import ray

        with self._join_lock:
            if self._joined:
                return
            if ray.is_initialized() and not _connected_to(self.settings.address):
                # This process is connected elsewhere (e.g. a private local cluster that Ray
                # starts by itself on a call made while not connected): ray.init would keep
                # that connection and ignore the configured address.
                log.warning("leaving a ray connection to another cluster")
                ray.shutdown()
            try:
                ray.init(
                    address=self.settings.address,
                    namespace=self.settings.namespace,
                    log_to_driver=False,  # the job's events are the log people read
                    configure_logging=False,
                    ignore_reinit_error=True,
                )
            except (ConnectionError, RuntimeError) as exc:
                raise ClusterUnreachable(f"cannot join the Ray cluster ({one_line(exc)})") from None
            self._joined = True
            log.info("joined the ray cluster", address=self.settings.address)
            host = self._host_blocking()  # created now, it imports torch before a run needs it
            warm = host.configure.remote(
                self.settings.warm_workers, self.settings.defaults.to_dict()
            )
            try:  # before the first run starts, so that it can use a warm worker
                ray.get(warm, timeout=CALL_TIMEOUT_S)  # type: ignore[call-overload]
            except ray.exceptions.GetTimeoutError:  # a slow start: it applies when it runs
                log.warning("the ray run host is slow to start")

    def _host_blocking(self) -> HostHandle:
        import ray

        from trainer.distributed.driver import HOST_NAME, RunHost

        actor = ray.remote(RunHost).options(
            name=HOST_NAME,
            namespace=self.settings.namespace,
            lifetime="detached",  # outlives this process: a restart finds it by name
            get_if_exists=True,  # created once, however often a restart asks
            num_cpus=0,  # it only schedules; the workers hold the CPUs and GPUs
            # On the head node: a lost worker node then costs only its own workers.
            resources={"node:__internal_head__": 0.001},
            max_concurrency=64,  # each fit() blocks one thread; events and stops use others
            max_restarts=0,
        )
        return cast(HostHandle, actor.remote())


def _connected_to(address: str) -> bool:
    """Whether this process's Ray connection is to the cluster at `address` (a `host:port`;
    "auto" and `ray://` addresses are taken as matching)."""
    import ray

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or address.startswith("ray://"):
        return True
    return bool(ray.get_runtime_context().gcs_address == address)


def _shutdown() -> None:
    import ray

    ray.shutdown()


def _resources() -> tuple[list[dict[str, Any]], dict[str, float], dict[str, float]]:
    import ray

    return (
        ray.nodes(),  # type: ignore[no-untyped-call]
        ray.cluster_resources(),  # type: ignore[no-untyped-call]
        ray.available_resources(),  # type: ignore[no-untyped-call]
    )


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text, short enough for a chat line."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
