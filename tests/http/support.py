"""Helpers for HTTP tests: settings with hooks, a small client, an SSE reader."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App
from bot.core.types import JobStatus
from bot.settings import Settings
from storage.jobs import JobRow
from tests.support.services import records

__all__ = ["records"]  # re-exported: the HTTP tests upload the same learnable sentences

TOKEN = "test-token-0123456789"
HOOK_SECRET = "hook-secret-abcdef"
FAST = {"max_steps": 20, "batch_size": 4, "block_size": 32, "eval_every": 10, "save_every": 10}


def http_settings(data_dir: Path, openai: dict[str, Any] | None = None, **http: Any) -> Settings:
    """HTTP on a free port with one token and three hooks; training with the micro preset."""
    hooks = [
        {
            "name": "note",
            "kind": "notify",
            "auth": "token",
            "secret": HOOK_SECRET,
            "room_id": "!room:test",
        },
        {
            "name": "signed-note",
            "kind": "notify",
            "auth": "hmac",
            "secret": HOOK_SECRET,
            "room_id": "!room:test",
        },
        {
            "name": "retrain",
            "kind": "train",
            "auth": "hmac",
            "secret": HOOK_SECRET,
            "dataset": "hooked",
            "room_id": "!room:test",
            "hyperparameters": FAST,
        },
    ]
    return Settings(
        storage={"data_dir": str(data_dir)},
        http={
            "enabled": True,
            "port": 0,
            "tokens": [TOKEN],
            "max_body_mb": 1,
            "hooks": hooks,
            **http,
        },
        matrix={"enabled": False},
        trainer={"default_base": "micro", "stop_grace_s": 10, "max_concurrent_jobs": 1},
        openai=openai or {},
    )


def sign(body: bytes, secret: str = HOOK_SECRET, stamp: int | None = None) -> str:
    """The X-Trainbot-Signature header value for a body, signed now (or at `stamp`)."""
    t = str(int(time.time()) if stamp is None else stamp)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},sha256={digest}"


@dataclass
class Reply:
    """A fully read response."""

    status: int
    headers: Any
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error(self) -> dict[str, Any]:
        """The error object of a JSON error answer (fails on any other shape)."""
        body = self.json
        assert set(body) == {"error"}, body
        assert {"code", "message"} <= set(body["error"]), body
        return dict(body["error"])


class Api:
    """Requests with the bearer token (or another, or none)."""

    def __init__(self, session: aiohttp.ClientSession, token: str | None) -> None:
        self.session = session
        self.token = token

    def headers(self, token: str | None = "", **extra: str) -> dict[str, str]:
        token = self.token if token == "" else token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return {**auth, **extra}

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Reply:
        all_headers = {**self.headers(token), **(headers or {})}
        async with self.session.request(method, path, headers=all_headers, **kwargs) as r:
            return Reply(r.status, r.headers, await r.text())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("POST", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)

    async def wait_status(
        self, job_id: str, *statuses: str, within_s: float = 120
    ) -> dict[str, Any]:
        """Poll a job until it is in one of `statuses`."""
        deadline = time.monotonic() + within_s
        while True:
            job = (await self.get(f"/v1/jobs/{job_id}")).json
            if job["status"] in statuses:
                return dict(job)
            assert time.monotonic() < deadline, f"job {job_id} stuck in {job['status']}"
            await asyncio.sleep(0.1)


@dataclass
class SseEvent:
    """One parsed server-sent event (or a comment, with `comment` set)."""

    id: int | None = None
    event: str = "message"
    data: Any = None
    comment: str | None = None


async def read_sse(
    response: aiohttp.ClientResponse, *, stop_at_comment: bool = False
) -> list[SseEvent]:
    """Parse the stream until it ends (or the first comment, when asked)."""
    events: list[SseEvent] = []
    current = SseEvent()
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith(":"):
            events.append(SseEvent(comment=line[1:].strip()))
            if stop_at_comment:
                break
        elif line.startswith("id: "):
            current.id = int(line[4:])
        elif line.startswith("event: "):
            current.event = line[7:]
        elif line.startswith("data: "):
            current.data = json.loads(line[6:])
        elif line == "" and current.id is not None:
            events.append(current)
            current = SseEvent()
    return events


async def held_job(app: App, requested_by: str) -> JobRow:
    """A paused job nobody runs: its event stream stays open until the client leaves."""
    now = time.time()
    job = JobRow(
        id=f"held{int(now * 1e6) % 10**9:09d}",
        name="held",
        status=JobStatus.PAUSED,
        backend="local",
        dataset_id="none",
        base="micro",
        spec={},
        requested_by=requested_by,
        room_id=None,
        result=None,
        error=None,
        model_id=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
        remote_id=None,
    )
    await app.services.store.jobs.insert(job)
    return job


async def until(check: Callable[[], bool], within_s: float = 10) -> None:
    """Wait until `check()` holds (an invariant reached, not a timing), failing after `within_s`."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
