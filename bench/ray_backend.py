"""Ray backend against the local backend: training throughput and submit → first progress.

One App (fresh data dir, HTTP and Matrix off) with both backends; a local single-node
Ray head started here on 127.0.0.1 (its own process group, stopped by its id). Each
round trains the same job once on each backend, alternating which goes first; the
ray worker gets as many CPUs as the local worker uses threads, and both train at nice 10
(the local worker sets it, and so does the Ray worker since this session), so neither is
favoured by the scheduler. The first Ray job of a run warms the cluster (its `RunHost`
actor imports torch once) and is not counted, like the local pool's first start.
Printed: tokens/s ray ÷ local (goal ≥ 0.9) and submit → first progress event ray ÷
local (goal ≤ 3), the median of the rounds with their spread.

    .venv/bin/python bench/ray_backend.py [--rounds 3] [--steps 40] [--base tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


async def one_job(services: object, backend: str, steps: int, base: str) -> tuple[float, float]:
    """(tokens/s of the finished job, seconds from submit to its first progress event)."""
    from bot.core.jobs.request import JobRequest
    from bot.core.services import Services

    assert isinstance(services, Services)
    hp = {"max_steps": steps, "batch_size": 8, "block_size": 64, "eval_every": steps}
    hp["save_every"] = steps
    resources = {"cpus_per_worker": os.cpu_count() or 1} if backend == "ray" else None
    request = JobRequest(
        "poems", base=base, hyperparameters=hp, backend=backend, resources=resources
    )
    began = time.perf_counter()
    job = await services.jobs.submit(request, requested_by="bench")
    first = None
    async for row in services.bus.follow(job.id, 0, _final):
        if row.event == "progress" and first is None:
            first = time.perf_counter() - began
    done = await services.jobs.get(job.id)
    assert done.status == "succeeded" and done.result, (done.status, done.error)
    return float(done.result["tokens_per_s"]), float(first or 0.0)


def _final(row: object) -> bool:
    return getattr(row, "event", "") == "state" and getattr(row, "data", {})["status"] in (
        "succeeded",
        "failed",
        "cancelled",
    )


async def main(rounds: int, steps: int, base: str) -> None:
    from bot.app import App
    from bot.logs import configure_logging
    from bot.settings import Settings
    from tests.ray.conftest import RayHead
    from tests.support.services import records

    configure_logging("WARNING")
    head = RayHead()
    head.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    settings = Settings(
        storage={"data_dir": str(tmp / "data")},
        http={"enabled": False},
        matrix={"enabled": False},
        ray={"address": head.address, "storage_path": str(tmp / "shared"), "poll_interval_s": 0.1},
    )
    app = App(settings)
    await app.start()
    try:
        await app.services.datasets.upload_records("poems", records(400))
        for backend in ("local", "ray"):  # warm-up, not counted: both start warm after it
            await one_job(app.services, backend, 2, base)
        results: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
        for n in range(rounds):
            order = ("local", "ray") if n % 2 == 0 else ("ray", "local")
            for backend in order:
                results[backend].append(await one_job(app.services, backend, steps, base))
                print(
                    f"round {n + 1} {backend}: tokens/s {results[backend][-1][0]:.0f}, "
                    f"first progress {results[backend][-1][1]:.1f} s",
                    flush=True,
                )
    finally:
        await app.stop()
        import ray

        ray.shutdown()
        head.stop()
    report(results)


def report(results: dict[str, list[tuple[float, float]]]) -> None:
    pairs = list(zip(results["ray"], results["local"], strict=True))
    throughput = [r[0] / local[0] for r, local in pairs]
    latency = [r[1] / local[1] for r, local in pairs]
    for name, ratios, goal in (
        ("tokens/s ray ÷ local", throughput, "≥ 0.9"),
        ("submit → first progress ray ÷ local", latency, "≤ 3"),
    ):
        print(
            f"{name}: median {statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} rounds; goal {goal})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--base", default="tiny")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.steps, args.base))
