"""Webhooks declared in `[[http.hooks]]`: each checks its own secret, then trains or notifies."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import BaseModel

from bot.core.errors import Invalid
from bot.core.jobs.service import JobRequest
from bot.http.errors import Unauthorized
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import HookBody
from bot.http.views import DatasetOut, JobOut
from bot.settings import HookSettings

if TYPE_CHECKING:
    from bot.http.state import ServerState

TOKEN_HEADER = "X-Trainbot-Token"
SIGNATURE_HEADER = "X-Trainbot-Signature"


class NoticeOut(BaseModel):
    """A notice queued for delivery into a room."""

    id: str
    room_id: str


class HookAccepted(BaseModel):
    """What a hook call set in motion."""

    hook: str
    kind: str
    dataset: DatasetOut | None = None
    job: JobOut | None = None
    notice: NoticeOut | None = None


async def verify_hook(state: ServerState, request: web.Request) -> str:
    """The caller's identity (`hook:<name>`) when the hook's secret checks out, else 401."""
    hook = state.hook(request.match_info.get("name", ""))
    # The same answer for an unknown hook and a wrong secret: names are not disclosed.
    refused = Unauthorized(
        f"send the hook's secret in {TOKEN_HEADER} or sign the body in {SIGNATURE_HEADER}"
    )
    if hook is None or hook.secret is None:
        raise refused
    secret = hook.secret.get_secret_value().encode()
    if hook.auth == "token":
        offered = request.headers.get(TOKEN_HEADER, "").encode()
        ok = hmac.compare_digest(offered, secret)
    else:
        scheme, _, signature = request.headers.get(SIGNATURE_HEADER, "").partition("=")
        expected = hmac.new(secret, await request.read(), hashlib.sha256).hexdigest()
        ok = scheme == "sha256" and hmac.compare_digest(signature.encode(), expected.encode())
    if not ok:
        raise refused
    return f"hook:{hook.name}"


async def call_hook(call: Call) -> web.StreamResponse:
    """Run a hook: train on posted data (or a dataset), or queue a notice for its room."""
    hook = call.state.hook(call.param("name"))
    assert hook is not None  # verify_hook let the request in
    body = call.body_as(HookBody)
    if hook.kind == "notify":
        out = await _notify(call, hook, body)
    else:
        out = await _train(call, hook, body)
    return json_response(out, 202)


async def _notify(call: Call, hook: HookSettings, body: HookBody) -> HookAccepted:
    if not body.text or body.data is not None or body.dataset is not None:
        raise Invalid(f"notify hook {hook.name!r} takes {{'text': '...'}} and nothing else")
    assert hook.room_id is not None  # settings require it for notify hooks
    notice = await call.services.notifications.enqueue(hook.room_id, body.text, source=call.client)
    return HookAccepted(
        hook=hook.name, kind=hook.kind, notice=NoticeOut(id=notice.id, room_id=notice.room_id)
    )


async def _train(call: Call, hook: HookSettings, body: HookBody) -> HookAccepted:
    if (body.data is None) == (body.dataset is None) or body.text is not None:
        raise Invalid(f"train hook {hook.name!r} takes {{'data': [...]}} or {{'dataset': ...}}")
    services = call.services
    if body.data is not None:
        assert hook.dataset is not None  # settings require it for train hooks
        upload = await services.datasets.upload_records(
            hook.dataset, body.data, created_by=call.client, room_id=hook.room_id
        )
        dataset = upload.dataset
    else:
        dataset = await services.datasets.resolve(body.dataset or "")
    request = JobRequest(
        dataset=dataset.id, base=hook.base, hyperparameters=dict(hook.hyperparameters) or None
    )
    job = await services.jobs.submit(request, requested_by=call.client, room_id=hook.room_id)
    return HookAccepted(
        hook=hook.name, kind=hook.kind, dataset=DatasetOut.of(dataset), job=JobOut.of(job)
    )


ROUTES = (
    Route(
        "POST",
        "/v1/hooks/{name}",
        call_hook,
        "Call a webhook",
        "hooks",
        body=HookBody,
        response=HookAccepted,
        status=202,
        auth="hook",
        errors=(404, 413, 422, 429),
    ),
)
