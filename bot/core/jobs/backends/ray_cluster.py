"""`RayCluster`: the one place the Trainbot process talks to Ray (imported lazily).

It joins the cluster (`ray.init`, in a thread: it blocks), finds or creates each job's
`JobDriver` actor by name in the configured namespace, and reads the cluster's nodes
and resources for `!status`. Before joining a `host:port` address it tries a plain TCP
connection, because `ray.init` against a dead address blocks for minutes in retries.
Ray itself is imported only here, and only when the `[ray]` section is configured; the
actor code (`trainer.distributed`) never imports torch in this process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from bot.logs import get_logger

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


class DriverHandle(Protocol):
    """What the service calls on a job's `JobDriver` actor."""

    start: RemoteMethod
    finished: RemoteMethod
    events: RemoteMethod
    request_stop: RemoteMethod
    worker_pids: RemoteMethod


@dataclass(frozen=True)
class ClusterSettings:
    """The `[ray]` values the cluster connection needs."""

    address: str
    namespace: str = "trainbot"


class RayCluster:
    """The joined cluster: job actors by name, calls with a timeout, its resources."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._joined = False
        self._join_lock = threading.Lock()

    async def join(self) -> None:
        """Join the cluster if not yet joined; `ClusterUnreachable` when it does not answer."""
        if self._joined:
            return
        await self._probe()
        await asyncio.to_thread(self._join_blocking)

    async def driver(self, name: str) -> DriverHandle:
        """The job's actor with this name, created (detached, zero CPUs) if it is not there."""
        await self.join()
        return await asyncio.to_thread(self._driver_blocking, name)

    async def existing(self, name: str) -> DriverHandle | None:
        """The job's actor if the cluster still has it (after a restart of the service)."""
        await self.join()
        return await asyncio.to_thread(self._existing_blocking, name)

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

    async def kill(self, name: str) -> None:
        """End a job's actor once its run let go of its workers (at most `FINISH_WAIT_S`).

        Ending it while `fit()` still winds down would leave the run's placement group
        holding its CPUs and GPUs.
        """
        import ray

        handle = await self.existing(name)
        if handle is not None:
            deadline = asyncio.get_running_loop().time() + FINISH_WAIT_S
            while not await self.call(handle.finished.remote()):
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("a finished ray run did not wind down; ending it", actor=name)
                    break
                await asyncio.sleep(0.5)
            await asyncio.to_thread(ray.kill, cast("ray.actor.ActorHandle[object]", handle))

    async def overview(self) -> dict[str, Any]:
        """Nodes, CPUs and GPUs (total and free) of the joined cluster."""
        await self.join()
        nodes, total, free = await asyncio.to_thread(_resources)
        alive = [n for n in nodes if n.get("Alive")]
        return {
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
        import ray

        with self._join_lock:
            if self._joined:
                return
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

    def _driver_blocking(self, name: str) -> DriverHandle:
        import ray

        from trainer.distributed.driver import JobDriver

        actor = ray.remote(JobDriver).options(
            name=name,
            namespace=self.settings.namespace,
            lifetime="detached",  # outlives this process: a restart finds it by name
            get_if_exists=True,  # created once, however often a restart asks
            num_cpus=0,  # it only schedules; the workers hold the CPUs and GPUs
            max_concurrency=16,  # fit() blocks one thread; events and stops use others
            max_restarts=0,
        )
        return cast(DriverHandle, actor.remote())

    def _existing_blocking(self, name: str) -> DriverHandle | None:
        import ray

        try:
            return cast(DriverHandle, ray.get_actor(name, namespace=self.settings.namespace))
        except ValueError:
            return None


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
