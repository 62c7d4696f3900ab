"""What workers print goes to the file the demo names, never to its terminal."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from trainer.workers.process import OUTPUT_ENV, WorkerProcess, send_worker_output_to


def chatty_worker(conn: Connection) -> None:
    """Prints the way a library retrying the hub does, then says it is done."""
    from trainer.workers.process import _redirect_output

    _redirect_output(os.environ.get(OUTPUT_ENV))  # the output part of `prepare_child`
    print("retrying https://huggingface.co in 1s", flush=True)
    print("UserWarning: something", file=sys.stderr, flush=True)
    conn.send("done")


async def test_a_workers_stdout_and_stderr_go_to_the_named_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "trainbot.log"
    monkeypatch.delenv(OUTPUT_ENV, raising=False)
    send_worker_output_to(log)  # monkeypatch restores the environment afterwards
    monkeypatch.setenv(OUTPUT_ENV, str(log))
    context = multiprocessing.get_context("spawn")  # the environment of now, like a new forkserver
    worker = await WorkerProcess.start(context, chatty_worker, (), name="chatty", duplex=False)
    said: list[object] = []
    ended = asyncio.Event()
    worker.watch(said.append, lambda _: ended.set())
    await asyncio.wait_for(ended.wait(), 60)

    assert ["done"] == said
    written = log.read_text()
    assert "retrying https://huggingface.co in 1s\n" in written
    assert "UserWarning: something\n" in written
    printed = capfd.readouterr()
    assert "huggingface" not in printed.out + printed.err
