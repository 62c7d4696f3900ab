"""The worker pool: real training processes (forked from the forkserver) driven from asyncio."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trainer.throughput import read_measurements
from trainer.workers.pool import TrainingPool, death_event


async def first_progress(run: Any) -> dict[str, Any]:
    """Wait for the run's first progress event."""
    async for event in run.events():
        if event["event"] == "progress":
            return dict(event)
    raise AssertionError(f"no progress before {run.final_event}")


def test_the_pool_module_does_not_import_torch() -> None:
    code = (
        "import sys, trainer.workers.pool, trainer.workers.generation, trainer.workers.eval;"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.split() == ["False", "False"]


def test_a_signal_death_is_described_with_its_name_and_a_hint() -> None:
    event = death_event(-signal.SIGKILL)

    assert event["event"] == "failed"
    assert event["signal"] == "SIGKILL"
    assert event["error"] == "training worker killed, possibly out of memory (SIGKILL)"


@pytest.mark.slow
async def test_pause_then_resume_continues_the_step_count_and_finishes(
    tmp_path: Path, text_corpus: Path, micro_spec: Any
) -> None:
    pool = TrainingPool(max_concurrent=1, throughput_path=str(tmp_path / "speed.json"))
    spec = micro_spec(tmp_path, text_corpus, max_steps=120, eval_every=40, save_every=40)

    run = await pool.start(spec)
    await first_progress(run)
    run.pause()
    paused = await run.wait()

    assert paused["event"] == "stopped" and paused["reason"] == "pause"
    assert Path(paused["checkpoint"]).is_dir()
    assert not Path(spec.output_dir).exists()

    resumed = await pool.start(spec.__class__(**{**spec.__dict__, "resume": True}))
    final = await resumed.wait()
    events = [e async for e in resumed.events() if e["event"] != "log"]

    assert events[0]["event"] == "started"
    assert events[0]["resumed_from_step"] == paused["step"]
    progress_steps = [e["step"] for e in events if e["event"] == "progress"]
    assert progress_steps[0] == paused["step"] + 1
    assert final["event"] == "completed" and final["metrics"]["steps"] == 120
    assert final["metrics"]["initial_perplexity"] is not None  # from the first session
    assert (Path(spec.output_dir) / "model.safetensors").is_file()
    assert read_measurements(tmp_path / "speed.json")["micro|cpu"]["tokens_per_s"] > 0
    await pool.shutdown()


@pytest.mark.slow
async def test_a_sigkilled_worker_is_reported_with_its_signal_within_seconds(
    tmp_path: Path, text_corpus: Path, micro_spec: Any
) -> None:
    pool = TrainingPool(max_concurrent=1)
    run = await pool.start(micro_spec(tmp_path, text_corpus, max_steps=2000))
    await first_progress(run)

    os.kill(run.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    final = await asyncio.wait_for(run.wait(), timeout=10)

    assert time.monotonic() - killed_at < 3
    assert final["event"] == "failed"
    assert final["signal"] == "SIGKILL"
    assert "possibly out of memory" in final["error"]
    assert run.exitcode == -signal.SIGKILL
    assert pool.running == 0


@pytest.mark.slow
async def test_cancel_through_the_pool_stops_soon_and_writes_no_model(
    tmp_path: Path, text_corpus: Path, micro_spec: Any
) -> None:
    pool = TrainingPool(max_concurrent=1)
    spec = micro_spec(tmp_path, text_corpus, max_steps=2000)
    run = await pool.start(spec)
    seen = await first_progress(run)

    run.cancel()
    final = await asyncio.wait_for(run.wait(), timeout=30)

    assert final["event"] == "stopped" and final["reason"] == "cancel"
    assert final["step"] < seen["step"] + 20
    assert not Path(spec.output_dir).exists()
    assert run.exitcode == 0


async def test_a_worker_that_ignores_a_stop_request_is_killed_after_the_grace_period(
    tmp_path: Path, text_corpus: Path, micro_spec: Any
) -> None:
    pool = TrainingPool(max_concurrent=1, stop_grace_s=0.5)
    run = await pool.start(micro_spec(tmp_path, text_corpus))
    assert run.pid is not None
    os.kill(run.pid, signal.SIGSTOP)  # a worker stuck somewhere: it cannot see the request

    run.cancel()
    final = await asyncio.wait_for(run.wait(), timeout=10)

    assert final == {
        "event": "stopped",
        "reason": "cancel",
        "step": 0,
        "checkpoint": None,
        "killed": True,
    }


async def test_the_pool_starts_each_run_at_once_the_dispatcher_limits_how_many(
    tmp_path: Path, text_corpus: Path, micro_spec: Any
) -> None:
    pool = TrainingPool(max_concurrent=1)
    first = await pool.start(micro_spec(tmp_path, text_corpus, name="one"))
    second = await asyncio.wait_for(
        pool.start(micro_spec(tmp_path, text_corpus, name="two")), timeout=10
    )

    assert 2 == pool.running
    for run in (first, second):
        run.kill()
        assert "SIGKILL" == (await run.wait())["signal"]
    assert 0 == pool.running
