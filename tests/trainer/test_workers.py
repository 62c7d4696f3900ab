"""The shared worker helper and the eval worker built on it: real forked processes."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from trainer.workers.eval import EvalWorker
from trainer.workers.process import exit_reason


@dataclass(frozen=True)
class File:
    """What the eval worker reads of a registry or dataset row."""

    path: str
    format: str = "text"


def test_an_exit_code_is_told_as_a_signal_name_or_a_code() -> None:
    assert "signal SIGKILL" == exit_reason(-signal.SIGKILL)
    assert "code 1" == exit_reason(1)


@pytest.mark.slow
async def test_the_eval_worker_measures_and_a_killed_one_is_replaced(
    trained_model_dir: str, text_corpus: Path
) -> None:
    worker = EvalWorker(max_examples=20)
    model, data = File(trained_model_dir), File(str(text_corpus))
    try:
        first = await worker.measure(model, data, None)
        assert 0 < first.loss < 10 and first.examples == 20 and not first.new_only

        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # frozen: the measurement stays in flight
        pending = asyncio.ensure_future(worker.measure(model, data, None))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RuntimeError) as died:
            await asyncio.wait_for(pending, timeout=10)
        assert "the evaluation worker died (signal SIGKILL) during the request" == str(died.value)

        again = await worker.measure(model, data, None)  # a fresh worker takes over
        assert first == again
    finally:
        worker.stop()


@pytest.mark.slow
async def test_an_eval_error_comes_back_as_one_readable_line(tmp_path: Path) -> None:
    worker = EvalWorker()
    try:
        with pytest.raises(RuntimeError) as failed:
            await worker.measure(File(str(tmp_path / "none")), File(str(tmp_path / "x.txt")), None)
        assert "\n" not in str(failed.value) and str(failed.value)
    finally:
        worker.stop()
