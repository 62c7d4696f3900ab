"""A run's line from its workers to the `RunHost` actor (light: no torch, no transformers).

The Ray Train workers and the warm workers send their events and read the stop request
through it; the `RunHost` builds one per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from trainer.events import TrainEvent

if TYPE_CHECKING:
    from ray import ObjectRef


class RemoteMethod(Protocol):
    """A method of a Ray actor handle: `.remote(...)` gives an object ref."""

    def remote(self, *args: object) -> ObjectRef[Any]: ...


class HostHandle(Protocol):
    """The `RunHost` actor as a worker sees it."""

    put: RemoteMethod
    stop_requested: RemoteMethod
    hello: RemoteMethod


class RunChannel:
    """One run's line to the `RunHost` actor: its handle and the run's key (picklable)."""

    def __init__(self, host: HostHandle, key: str) -> None:
        self.host = host
        self.key = key

    def put(self, event: TrainEvent) -> ObjectRef[Any]:
        """Send an event of the run."""
        return self.host.put.remote(self.key, event)

    def stop_requested(self) -> ObjectRef[Any]:
        """The run's stop request: None, "pause" or "cancel"."""
        return self.host.stop_requested.remote(self.key)

    def hello(self, rank: int, pid: int) -> ObjectRef[Any]:
        """Say which process trains this rank."""
        return self.host.hello.remote(self.key, rank, pid)
