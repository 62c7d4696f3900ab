"""What every Ray Train worker runs: `trainer.train.run_training` under DDP.

Ray Train has set up the process group (gloo or NCCL) and the environment the Hugging
Face Trainer reads (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR), so the Trainer wraps the
model in DDP and shards the batches itself. What changes against a local run:

- the job's `batch_size` is the global batch: each of N workers takes batch_size / N;
- only rank 0 reports events (to the `RunHost` actor, under the run's key) and writes
  the model;
- the stop request is read by rank 0 and broadcast, so every rank stops at the same step
  (a rank leaving the loop alone would hang the others in their next all-reduce);
- a restarted attempt (a worker or node was lost) resumes from the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from trainer.callbacks import Control
from trainer.distributed.channel import RunChannel
from trainer.events import TrainEvent
from trainer.spec import TrainSpec

STOP_CODES = (None, "pause", "cancel")
NICENESS = 10  # the local training worker's (trainer.workers.training)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Train the job in `config["spec"]` as one rank of Ray Train's data-parallel group."""
    import ray.train

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    train_rank(config["spec"], config["channel"], rank, world, "Ray Train worker")


def train_rank(
    raw_spec: dict[str, Any], channel: RunChannel, rank: int, world: int, where: str
) -> None:
    """Train the job as rank `rank` of `world` (a Ray Train worker, or a warm worker alone)."""
    import ray

    # Batch work, as in a local worker (trainer.workers.training): where the node also runs
    # the bot, the homeserver or generation, they get the CPU first.
    os.nice(max(0, NICENESS - os.nice(0)))
    ray.get(channel.hello(rank, os.getpid()))
    spec = worker_spec(TrainSpec.from_dict(raw_spec), rank, world)
    from trainer.train import run_training

    sink = RankZeroSink(channel, world) if rank == 0 else _drop
    sink(how_it_runs(rank, world, where))
    run_training(spec, sink, BroadcastControl(channel, rank, world))
    if rank == 0:
        ray.get(channel.put({"event": "log", "level": "debug", "message": "worker done"}))


def how_it_runs(rank: int, world: int, where: str) -> TrainEvent:
    """A debug line: what this worker computes with (throughput depends on it).

    Ray starts its workers at nice 15 (its `worker_niceness`; a process cannot lower its
    own) and sets OMP_NUM_THREADS, hence torch's threads, to the worker's CPUs.
    """
    import torch

    message = (
        f"rank {rank} of {world} ({where}): pid {os.getpid()}, "
        f"torch threads {torch.get_num_threads()}, nice {os.nice(0)}"
    )
    return {"event": "log", "level": "debug", "message": message}


def worker_spec(spec: TrainSpec, rank: int, world: int) -> TrainSpec:
    """The spec one rank trains: its share of the batch, resumed if a checkpoint exists."""
    hp = spec.hyperparameters
    if hp.batch_size % world:
        raise ValueError(f"batch_size {hp.batch_size} does not split over {world} workers")
    folder = Path(spec.checkpoint_dir)
    resume = folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())
    output_dir = spec.output_dir
    if rank > 0:  # only rank 0 writes the model; the others' (empty) folders go nowhere
        output_dir = tempfile.mkdtemp(prefix=f"trainbot-rank{rank}-")
    return dataclasses.replace(
        spec,
        hyperparameters=hp.replace(batch_size=hp.batch_size // world),
        resume=resume,
        output_dir=output_dir,
    )


class RankZeroSink:
    """Sends rank 0's events to the host actor, token counts scaled to the whole group."""

    def __init__(self, channel: RunChannel, world: int) -> None:
        self._channel = channel
        self._world = world

    def __call__(self, event: TrainEvent) -> None:
        import ray

        ref = self._channel.put(scale_tokens(event, self._world))
        if event["event"] in ("completed", "failed", "stopped"):
            ray.get(ref)  # the final event must arrive before this process may end


def scale_tokens(event: TrainEvent, world: int) -> TrainEvent:
    """Rank 0 counts its own tokens; the job trained `world` times as many."""
    if world == 1:
        return event
    raw: dict[str, Any] = dict(event)
    for key in ("tokens_seen", "tokens_per_s", "total_tokens"):
        if isinstance(raw.get(key), int | float):
            raw[key] = raw[key] * world
    metrics = raw.get("metrics")
    if isinstance(metrics, dict):
        raw["metrics"] = scale_tokens_metrics(metrics, world)
    return raw  # type: ignore[return-value]


def scale_tokens_metrics(metrics: dict[str, Any], world: int) -> dict[str, Any]:
    """Final metrics with the group's token counts."""
    scaled = dict(metrics)
    for key in ("tokens_seen", "tokens_per_s"):
        if isinstance(scaled.get(key), int | float):
            scaled[key] = scaled[key] * world
    return scaled


def _drop(event: TrainEvent) -> None:
    """Ranks above 0 say nothing: rank 0 speaks for the group."""


class BroadcastControl(Control):
    """Rank 0 reads the stop request from the host; every rank gets rank 0's answer."""

    def __init__(self, channel: RunChannel, rank: int, world: int) -> None:
        # No flags to share between processes: the host actor holds the request.
        self._channel = channel
        self._rank = rank
        self._world = world

    def requested(self) -> str | None:
        """ "cancel", "pause" or None, the same on every rank at the same call."""
        import ray

        reason: str | None = None
        if self._rank == 0:
            reason = ray.get(self._channel.stop_requested())
        if self._world == 1:
            return reason
        import torch
        import torch.distributed as dist

        # NCCL moves CUDA tensors only; gloo CPU ones.
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        code = torch.tensor([STOP_CODES.index(reason)], dtype=torch.long, device=device)
        dist.broadcast(code, src=0)
        return STOP_CODES[int(code.item())]
