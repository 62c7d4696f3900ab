"""A fake of the OpenAI endpoints Trainbot uses, for tests that drive the real `openai` client.

aiohttp on 127.0.0.1 and a free port, answering only what Trainbot calls: file upload,
fine-tuning jobs (create, retrieve, events, cancel, pause, resume) and chat completions.

A job follows a script of `Stage`s and moves one stage further at each retrieve, so a
poller sees it go validating_files → running (with metrics events) → succeeded over a
few polls. `hold_at` stops jobs at a stage (to cancel, pause, or restart mid-run) until
`release()`. `next_script` scripts the next created job (e.g. `failing_script`), and
`rate_limit_next` answers the next matching request with a 429 and `Retry-After`
(`fail_next` with any status, e.g. a 500). Chat completions of a fine-tuned model answer
`answer(prompt)`; those of any other model (the chat model Trainbot cleans, generates and
decides with) answer `chat_reply(messages)`, which tests replace to script the answers;
while `chat_gate` is set to an unset asyncio.Event those answers wait for it (so a test can
see a task mid-run without timing).
Every request is recorded in `requests`, so tests can read what was uploaded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ORGANIZATION = "trainbot"


@dataclass(frozen=True)
class Stage:
    """One step of a scripted job: its status once there, and the events it emits."""

    status: str
    events: tuple[dict[str, Any], ...] = ()
    error: str | None = None


def message(text: str, level: str = "info") -> dict[str, Any]:
    """A message event."""
    return {"type": "message", "level": level, "message": text, "data": {}}


def metrics(step: int, total: int, loss: float) -> dict[str, Any]:
    """A metrics event, shaped like the API's."""
    data = {
        "step": step,
        "total_steps": total,
        "train_loss": loss,
        "train_mean_token_accuracy": 0.5,
    }
    return {
        "type": "metrics",
        "level": "info",
        "data": data,
        "message": f"Step {step}/{total}: training loss={loss}",
    }


def success_script(losses: tuple[float, ...] = (1.9, 1.4, 1.1)) -> list[Stage]:
    """Validate, start, one metrics event per poll, succeed."""
    total = len(losses)
    return [
        Stage("validating_files", (message("Validating training file"),)),
        Stage("running", (message("Fine-tuning job started"),)),
        *(Stage("running", (metrics(i, total, loss),)) for i, loss in enumerate(losses, 1)),
        Stage("succeeded", (message("The job has successfully completed"),)),
    ]


def failing_script(reason: str) -> list[Stage]:
    """Validate, start, one metrics event, fail with `reason` as error.message."""
    return [
        Stage("validating_files", (message("Validating training file"),)),
        Stage("running", (metrics(1, 10, 2.5),)),
        Stage("failed", (message(reason, "error"),), error=reason),
    ]


@dataclass
class FakeJob:
    """A fine-tuning job as the fake keeps it."""

    id: str
    body: dict[str, Any]
    script: list[Stage]
    stage: int = 0
    status: str = "validating_files"
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fine_tuned_model(self) -> str | None:
        if self.status != "succeeded":
            return None
        suffix = self.body.get("suffix") or ""
        return f"ft:{self.body['model']}:{ORGANIZATION}:{suffix}:{self.id}"

    def to_json(self) -> dict[str, Any]:
        error = {"code": "job_failed", "message": self.error, "param": None} if self.error else None
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": 1_700_000_000,
            "model": self.body["model"],
            "training_file": self.body["training_file"],
            "status": self.status,
            "fine_tuned_model": self.fine_tuned_model,
            "error": error,
            "finished_at": None,
            "hyperparameters": {"n_epochs": "auto"},
            "organization_id": "org-fake",
            "result_files": [],
            "seed": self.body.get("seed") or 0,
            "trained_tokens": 1234 if self.status == "succeeded" else None,
            "validation_file": None,
            "method": self.body.get("method"),
            "metadata": self.body.get("metadata"),
        }


@dataclass(frozen=True)
class Recorded:
    """A request the fake received, and the status it answered."""

    method: str
    path: str
    status: int
    json: Any = None
    file: bytes | None = None
    form: dict[str, str] = field(default_factory=dict)

    def jsonl(self) -> list[Any]:
        """The uploaded file's rows."""
        assert self.file is not None
        return [json.loads(line) for line in self.file.decode().splitlines()]


class FakeOpenAI:
    """The fake server; `base_url` is what `[openai].base_url` should be."""

    def __init__(self, api_key: str = "sk-test") -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, bytes] = {}
        self.next_script: list[Stage] | None = None
        self.hold_at: int | None = None
        self._failing: list[tuple[str, int]] = []
        self.chat_reply: Callable[[list[dict[str, Any]]], str] = default_chat_reply
        self.chat_gate: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        """Listen on 127.0.0.1 and a free port."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(
            [
                web.post("/v1/files", self._upload),
                web.post("/v1/fine_tuning/jobs", self._create),
                web.get("/v1/fine_tuning/jobs", self._list),
                web.get("/v1/fine_tuning/jobs/{id}", self._retrieve),
                web.get("/v1/fine_tuning/jobs/{id}/events", self._events),
                web.post("/v1/fine_tuning/jobs/{id}/{action}", self._control),
                web.post("/v1/chat/completions", self._chat),
            ]
        )
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner:
            await self._runner.cleanup()

    def rate_limit_next(self, request: str) -> None:
        """Answer the next request `"METHOD /path-prefix"` with 429 and Retry-After."""
        self._failing.append((request, 429))

    def fail_next(self, request: str, status: int = 500) -> None:
        """Answer the next request `"METHOD /path-prefix"` with `status` (e.g. 500, 503)."""
        self._failing.append((request, status))

    @property
    def chat_requests(self) -> list[Recorded]:
        """Chat completion requests that were answered 200, oldest first."""
        return [r for r in self.seen("POST", "/v1/chat/completions") if r.status == 200]

    def release(self) -> None:
        """Let held jobs move on."""
        self.hold_at = None

    def seen(self, method: str, path: str = "") -> list[Recorded]:
        """Recorded requests of one method whose path starts with `path`."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    @property
    def uploads(self) -> list[Recorded]:
        """Successful file uploads, oldest first."""
        return [r for r in self.seen("POST", "/v1/files") if r.status == 200]

    # -- handlers -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        for index, (wanted, status) in enumerate(self._failing):
            method, _, prefix = wanted.partition(" ")
            if request.method == method and request.path.startswith(prefix):
                del self._failing[index]
                self.requests.append(Recorded(request.method, request.path, status))
                if status == 429:
                    response = _error(429, "Rate limit reached, slow down", "rate_limit_exceeded")
                    response.headers.update({"Retry-After": "1", "retry-after-ms": "50"})
                    return response
                response = _error(status, "The server had an error", "server_error")
                response.headers["retry-after-ms"] = "50"
                return response
        return await handler(request)

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        data = upload.file.read()
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        fields = {k: str(v) for k, v in form.items() if k != "file"}
        self.requests.append(Recorded("POST", request.path, 200, file=data, form=fields))
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": fields.get("purpose"),
                "status": "processed",
            }
        )

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Recorded("POST", request.path, 200, json=body))
        if body.get("training_file") not in self.files:
            return _error(400, f"File {body.get('training_file')} not found", "invalid_file")
        job = FakeJob(f"ftjob-{len(self.jobs) + 1}", body, self.next_script or success_script())
        self.next_script = None
        self.jobs[job.id] = job
        self._enter(job, 0)
        return web.json_response(job.to_json())

    async def _list(self, request: web.Request) -> web.Response:
        # Newest first; `metadata[key]=value` query parameters filter, as at the API.
        self.requests.append(Recorded("GET", request.path, 200, json=dict(request.query)))
        wanted = {
            key[9:-1]: value
            for key, value in request.query.items()
            if key.startswith("metadata[") and key.endswith("]")
        }
        found = [
            job.to_json()
            for job in reversed(self.jobs.values())
            if all((job.body.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        limit = int(request.query.get("limit", "20"))
        return web.json_response(
            {"object": "list", "data": found[:limit], "has_more": len(found) > limit}
        )

    async def _retrieve(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded("GET", request.path, 200))
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "Job not found", "not_found")
        moving = job.status not in ("paused", "cancelled", "succeeded", "failed")
        held = self.hold_at is not None and job.stage >= self.hold_at
        if moving and not held and job.stage + 1 < len(job.script):
            self._enter(job, job.stage + 1)
        return web.json_response(job.to_json())

    async def _events(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded("GET", request.path, 200))
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "Job not found", "not_found")
        newest_first = job.events[::-1]
        after = request.query.get("after")
        if after:  # a cursor: the events older than `after`
            ids = [event["id"] for event in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :]
        limit = int(request.query.get("limit", "20"))
        page = newest_first[:limit]
        return web.json_response(
            {"object": "list", "data": page, "has_more": len(newest_first) > limit}
        )

    async def _control(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded("POST", request.path, 200))
        job = self.jobs.get(request.match_info["id"])
        action = request.match_info["action"]
        if job is None:
            return _error(404, "Job not found", "not_found")
        allowed = {
            "cancel": ("validating_files", "queued", "running", "paused"),
            "pause": ("running",),
            "resume": ("paused",),
        }
        if action not in allowed:
            return _error(404, "Unknown action", "not_found")
        if job.status not in allowed[action]:
            return _error(400, f"Job is {job.status}; cannot {action}", "invalid_state")
        job.status = {"cancel": "cancelled", "pause": "paused", "resume": "running"}[action]
        self._event(job, message(f"Job {job.status}"))
        return web.json_response(job.to_json())

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Recorded("POST", request.path, 200, json=body))
        known = {job.fine_tuned_model for job in self.jobs.values()}
        prompt = body["messages"][-1]["content"]
        if body["model"] in known:
            text = answer(prompt)
        elif body["model"].startswith("ft:"):
            return _error(404, f"The model {body['model']} does not exist", "model_not_found")
        else:
            if self.chat_gate is not None:
                await self.chat_gate.wait()
            text = self.chat_reply(body["messages"])
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": len(text.split()),
                    "total_tokens": len(prompt.split()) + len(text.split()),
                },
            }
        )

    # -- helpers ------------------------------------------------------------------------

    def _enter(self, job: FakeJob, stage: int) -> None:
        job.stage = stage
        job.status = job.script[stage].status
        job.error = job.script[stage].error
        for event in job.script[stage].events:
            self._event(job, event)

    def _event(self, job: FakeJob, event: dict[str, Any]) -> None:
        number = len(job.events) + 1
        extra = {"object": "fine_tuning.job.event", "created_at": 1_700_000_000}
        job.events.append({**event, **extra, "id": f"ftevent-{job.id}-{number}"})


def default_chat_reply(messages: list[dict[str, Any]]) -> str:
    """The chat model's default answer: the last user message, unchanged."""
    return str(messages[-1]["content"])


def answer(prompt: str) -> str:
    """The fake's deterministic chat answer to a user message."""
    return f"Answer to: {prompt}"


def _error(status: int, text: str, code: str) -> web.Response:
    body = {
        "error": {"message": text, "type": "invalid_request_error", "param": None, "code": code}
    }
    return web.json_response(body, status=status)
