"""`trainbot run` as a real process, driven over HTTP: crash recovery and graceful stop.

The headless service (matrix.enabled = false) is what API-only users run; these tests
SIGKILL and SIGTERM it mid-training and check that the job continues where it was.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.services import records

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-must-never-be-logged-7f3a"
# A checkpoint every 10 steps; the signal comes at the first one (step 10), so 20 steps
# are left to resume: at least ten times what the signal takes to arrive after the
# checkpoint event, and the resumed run stays short.
HP = {"max_steps": 30, "batch_size": 4, "block_size": 32, "eval_every": 10, "save_every": 10}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A `trainbot run` subprocess and an HTTP client for it."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f'[matrix]\nenabled = false\n[http]\nport = {self.port}\ntokens = ["{TOKEN}"]\n'
            f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
            '[trainer]\ndefault_base = "micro"\nstop_grace_s = 15\n[logging]\nlevel = "DEBUG"\n'
        )
        self.log = tmp_path / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    async def running(self) -> None:
        """Start the service unless an earlier test left it running."""
        if self.process is None or self.process.poll() is not None:
            await self.start()

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                await asyncio.sleep(0.1)
        raise AssertionError("the service did not answer /healthz within 30 s")

    def children(self) -> list[int]:
        """Pids of the service's child processes (its workers)."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(headers=self.headers) as session,
            session.request(method, self.url + path, **kwargs) as response,
        ):
            return response.status, await response.json()

    async def events(self, job_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Follow the job's SSE stream, resuming after event `after`."""
        headers = {**self.headers, "Accept": "text/event-stream", "Last-Event-ID": str(after)}
        timeout = aiohttp.ClientTimeout(total=240)
        async with (
            aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
            session.get(f"{self.url}/v1/jobs/{job_id}/events") as response,
        ):
            assert 200 == response.status
            event: dict[str, Any] = {}
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif not line and "id" in event:
                    yield event
                    event = {}


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def gone(pids: list[int], within_s: float) -> bool:
    """Whether every process in `pids` has ended within `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while any(map(running, pids)):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module: each test leaves it running (restarted), so the next
    test's job does not wait for a fresh process to import torch."""
    svc = Service(tmp_path_factory.mktemp("service"))
    yield svc
    if svc.process and svc.process.poll() is None:
        svc.process.kill()
        svc.process.wait()


async def start_job(service: Service, dataset: str) -> str:
    status, body = await service.call(
        "POST", "/v1/datasets", json={"name": dataset, "records": records(60)}
    )
    assert 201 == status, body
    status, job = await service.call(
        "POST", "/v1/jobs", json={"dataset": dataset, "hyperparameters": HP}
    )
    assert 201 == status, job
    return str(job["id"])


async def test_sigkill_mid_training_then_restart_resumes_from_the_checkpoint(
    service: Service,
) -> None:
    await service.running()
    job_id = await start_job(service, "poems")
    seen: list[dict[str, Any]] = []
    async for event in service.events(job_id):
        seen.append(event)
        if event["event"] == "checkpoint":
            break
    checkpoint = seen[-1]["data"]["step"]
    workers = service.children()
    assert service.process is not None
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()
    # An orphaned worker notices its parent is gone within a step: wait for that, not longer.
    assert await gone(workers, within_s=10), "training workers outlived the killed service"

    await service.start()
    after = seen[-1]["id"]
    rest = [e async for e in service.events(job_id, after=after)]
    history = seen + rest
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))  # no gap, no repeat
    states = [e["data"] for e in rest if e["event"] == "state"]
    assert states[0]["reason"] == "service restarted; resuming from its newest checkpoint"
    assert "succeeded" == states[-1]["status"]
    started = [e["data"] for e in rest if e["event"] == "started"]
    assert started[0]["resumed_from_step"] >= checkpoint > 0
    steps = [e["data"]["step"] for e in rest if e["event"] == "progress"]
    assert steps[0] == started[0]["resumed_from_step"] + 1 and HP["max_steps"] == steps[-1]

    status, models = await service.call("GET", "/v1/models")
    labels = [m["label"] for m in models["models"]]
    assert 200 == status and ["poems@v1"] == [x for x in labels if x.startswith("poems@")]
    status, generated = await service.call(
        "POST", "/v1/generate", json={"prompt": "the cat", "max_tokens": 5, "seed": 1}
    )
    assert 200 == status and generated["text"] and "poems@v1" == generated["model"]


async def test_sigterm_pauses_at_a_checkpoint_exits_0_and_resumes(service: Service) -> None:
    await service.running()
    job_id = await start_job(service, "verses")
    async for event in service.events(job_id):
        if event["event"] == "checkpoint":
            break
    assert service.process is not None
    service.process.send_signal(signal.SIGTERM)
    assert 0 == service.process.wait(timeout=60)
    log = service.log.read_text()
    assert TOKEN not in log  # DEBUG logging of a whole start-up and stop, and no secret
    assert "trainbot stopped" in log

    await service.start()
    events = [e async for e in service.events(job_id)]
    reasons = [e["data"].get("reason") for e in events if e["event"] == "state"]
    assert "service stopping" in reasons
    assert "succeeded" == events[-1]["data"]["status"]
    started = [e["data"]["resumed_from_step"] for e in events if e["event"] == "started"]
    assert 2 == len(started) and started[1] > 0
