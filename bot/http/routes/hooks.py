"""Webhooks declared in `[[http.hooks]]`: each checks its own secret, then trains or notifies."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from bot.core.errors import Forbidden, Invalid
from bot.core.jobs.request import JobRequest
from bot.http.responses import DatasetOut, JobOut
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import HookBody
from bot.settings import HookSettings


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


async def call_hook(call: Call) -> web.StreamResponse:
    """Run a hook: train on posted data (or a dataset), or queue a notice for its room."""
    hook = call.state.hook(call.param("name"))
    assert hook is not None  # bot.http.auth.verify_hook let the request in
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
    assert hook.dataset is not None  # settings require it for train hooks
    if body.data is not None:
        upload = await services.datasets.upload_records(
            hook.dataset, body.data, created_by=call.client, room_id=hook.room_id
        )
        dataset = upload.dataset
    else:
        dataset = await services.datasets.resolve(body.dataset or "")
        # The secret opens this hook's dataset only: naming another one is no way around it.
        if dataset.name != hook.dataset:
            raise Forbidden(
                f"train hook {hook.name!r} trains only versions of dataset {hook.dataset!r}, "
                f"not {dataset.label}"
            )
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
        errors=(403, 404, 409, 413, 422, 429),
    ),
)
