"""`/fine_tuning/jobs`: create, list, get, cancel/pause/resume, events, checkpoints.

A job created here goes through the same `JobService.submit` as `!train` and
`POST /v1/jobs`, so the room, `!status` and `/v1/jobs` show it like any other.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot.core.errors import NotFound
from bot.core.jobs.backends.unconfigured import Unconfigured
from bot.core.jobs.request import JobRequest
from bot.http.openai import ids
from bot.http.openai.errors import OpenAIError
from bot.http.openai.files import dataset_of
from bot.http.openai.job_view import checkpoint_objects, event_object, job_object
from bot.http.openai.pages import listing, page_of
from bot.http.openai.records import JobExtras, Records
from bot.http.openai.schemas import (
    OpenAIHyperparameters,
    OpenAIJobCreate,
    OpenAIJobPage,
    OpenAIMethod,
    OpenAIPage,
)
from bot.http.openai.training import to_hyperparameters, to_method
from bot.http.routing import Call, json_response
from bot.http.state import SCOPES
from storage.datasets import DatasetRow
from storage.jobs import EventRow, JobRow

# "!opaque:server", or "!opaque" alone: room version 12 ids name no server (MSC4291).
ROOM_ID = re.compile(r"![^:\s]{1,255}(:[^\s]{1,255})?")
ALL_EVENTS = 1_000_000
SCAN = 100  # jobs read per query while filtering by metadata


async def openai_create_job(call: Call) -> web.StreamResponse:
    """Queue a fine-tuning job on an uploaded file."""
    body = call.body_as(OpenAIJobCreate)
    dataset = await _training_file(call, body.training_file)
    validation = await _validation_file(call, body, dataset)
    room = _room(call, body.metadata or {})
    hyper = _asked_hyperparameters(body.hyperparameters, body.method)
    request = JobRequest(
        dataset=dataset.id,
        base=await _base(call, body.model),
        name=body.suffix or dataset.name,
        hyperparameters=to_hyperparameters(hyper, body.seed),
        method=to_method(body.method),
        backend=_backend(call, body.backend),
        validation_dataset=validation,
    )
    key = call.request.headers.get("Idempotency-Key") or None
    job = await call.services.jobs.submit(
        request,
        requested_by=call.client,
        room_id=room,
        idempotency_key=key[:200] if key else None,
    )
    extras = JobExtras(
        suffix=body.suffix,
        metadata=body.metadata or {},
        seed=body.seed,
        hyperparameters=hyper.model_dump(exclude_none=True) if hyper else {},
        method=body.method.model_dump(exclude_none=True) if body.method else None,
        model=body.model,
        validation_file=body.validation_file,
    )
    records = Records(call.services.store)
    await records.put_job(job.id, extras)
    return json_response(await view(call, job))


async def openai_list_jobs(call: Call) -> web.StreamResponse:
    """Jobs newest first, paged with `after`, filtered by `metadata[key]=value`."""
    q = call.query_as(OpenAIJobPage)
    wanted = _metadata_filter(q)
    records = Records(call.services.store)
    after = ids.trainbot_ref(q.after, ids.JOB) if q.after else None
    chosen: list[JobRow] = []
    while len(chosen) <= q.limit:
        batch = await call.services.jobs.find(limit=SCAN, after=after)
        for job in batch:
            if wanted.items() <= (await records.job(job.id)).metadata.items():
                chosen.append(job)
        if len(batch) < SCAN:
            break
        after = batch[-1].id
    items = [await view(call, job) for job in chosen[: q.limit]]
    return json_response(listing(items, has_more=len(chosen) > q.limit))


async def openai_get_job(call: Call) -> web.StreamResponse:
    """One job."""
    return json_response(await view(call, await job_of(call)))


async def openai_cancel_job(call: Call) -> web.StreamResponse:
    """Cancel a queued, paused or running job."""
    job = await job_of(call)
    done = await call.services.jobs.cancel(job.id, by=call.client, admin=_admin(call))
    return json_response(await view(call, done))


async def openai_pause_job(call: Call) -> web.StreamResponse:
    """Pause a running job at a checkpoint (or hold a queued one)."""
    job = await job_of(call)
    done = await call.services.jobs.pause(job.id, by=call.client, admin=_admin(call))
    return json_response(await view(call, done))


async def openai_resume_job(call: Call) -> web.StreamResponse:
    """Resume a paused job from its checkpoint."""
    job = await job_of(call)
    done = await call.services.jobs.resume(job.id, by=call.client, admin=_admin(call))
    return json_response(await view(call, done))


async def openai_list_events(call: Call) -> web.StreamResponse:
    """A job's events, newest first, paged with `after`."""
    q = call.query_as(OpenAIPage)
    job = await job_of(call)
    events = await _events(call, job)
    items = [event_object(job.id, e) for e in reversed(events)]
    return json_response(page_of(items, q.limit, q.after))


async def openai_list_checkpoints(call: Call) -> web.StreamResponse:
    """A job's checkpoints, newest first, with the losses at their step."""
    q = call.query_as(OpenAIPage)
    job = await job_of(call)
    items = checkpoint_objects(job, await _events(call, job), await _fine_tuned(call, job))
    return json_response(page_of(items, q.limit, q.after))


async def job_of(call: Call) -> JobRow:
    """The job the path names (`ftjob-<id>` or a Trainbot id)."""
    given = call.param("job_id")
    job = await call.services.store.jobs.get(ids.trainbot_ref(given, ids.JOB))
    if job is None:
        raise NotFound(f"No such fine-tuning job: {given}")
    return job


async def view(call: Call, job: JobRow) -> dict[str, Any]:
    """The OpenAI job object of a stored job."""
    extras = await Records(call.services.store).job(job.id)
    events = await _events(call, job) if job.status == "running" else []
    return job_object(job, extras, events, await _fine_tuned(call, job))


async def _events(call: Call, job: JobRow) -> list[EventRow]:
    return await call.services.store.events.find(job.id, limit=ALL_EVENTS)


async def _fine_tuned(call: Call, job: JobRow) -> str | None:
    if job.model_id is None:
        return None
    model = await call.services.store.models.get(job.model_id)
    return ids.model_id(model) if model else None


async def _training_file(call: Call, given: str) -> DatasetRow:
    try:
        return await dataset_of(call, given)
    except NotFound:
        raise OpenAIError(f"invalid training_file: {given}", param="training_file") from None


async def _validation_file(call: Call, body: OpenAIJobCreate, training: DatasetRow) -> str | None:
    """The dataset id to validate on (None: a held-out share of the training file)."""
    given = body.validation_file
    if given is None:
        return None
    try:
        held = await dataset_of(call, given)
    except NotFound:
        raise OpenAIError(f"invalid validation_file: {given}", param="validation_file") from None
    if held.format != training.format:
        raise OpenAIError(
            f"validation_file {given} is in the {held.format} format and training_file "
            f"{body.training_file} in the {training.format} format: they must match",
            param="validation_file",
        )
    backend = body.backend or call.state.settings.trainer.default_backend
    if backend not in ("local", "ray"):
        raise OpenAIError(
            f"validation_file is used by local and Ray jobs only: backend {backend} validates on a "
            "held-out share of the training file",
            param="validation_file",
        )
    return held.id


async def _base(call: Call, model: str) -> str:
    # A fine-tuned model named the OpenAI way trains further from its registry version.
    job_id = ids.job_of_model(model)
    if job_id is None:
        return model
    job = await call.services.store.jobs.get(job_id)
    if job is None or job.model_id is None:
        raise OpenAIError(f"The model {model!r} does not exist", param="model", status=404)
    return job.model_id


def _backend(call: Call, name: str | None) -> str:
    # A backend known by name but not configured (ray without [ray] address) says what
    # to configure; it is named as the parameter at fault, as OpenAI names its own.
    backend = call.services.jobs.backends.get(name) if name else None
    if isinstance(backend, Unconfigured):
        raise OpenAIError(backend.reason, param="backend")
    return name or ""


def _asked_hyperparameters(
    top: OpenAIHyperparameters | None, method: OpenAIMethod | None
) -> OpenAIHyperparameters | None:
    if method is not None and method.supervised and method.supervised.hyperparameters:
        return method.supervised.hyperparameters
    if method is not None and method.dpo and method.dpo.hyperparameters:
        return method.dpo.hyperparameters
    return top


def _metadata_filter(q: OpenAIJobPage) -> dict[str, str]:
    extra = q.model_extra or {}
    found = {}
    for key, value in extra.items():
        if key.startswith("metadata[") and key.endswith("]"):
            found[key[len("metadata[") : -1]] = str(value)
    return found


def _room(call: Call, metadata: dict[str, str]) -> str | None:
    # metadata["room_id"] names the Matrix room that follows the job (progress message,
    # final notice), as a job started there would be; nothing else in metadata matters.
    room = metadata.get("room_id")
    if room is None:
        return None
    if not ROOM_ID.fullmatch(room):
        raise OpenAIError(
            f"metadata.room_id {room!r} is not a Matrix room id (like !abc:example.org)",
            param="metadata",
        )
    # Trainbot's own API never lets a token choose a room (a hook's room is configured),
    # so posting into one is the operator's call: an admin token may name any room, a
    # train token only one the operator listed in matrix.allowed_rooms.
    if not _admin(call) and room not in call.state.settings.matrix.allowed_rooms:
        raise OpenAIError(
            f"metadata.room_id {room!r} is not a room this token may post to: a token "
            "without the 'admin' scope may only name a room listed in the bot's "
            "matrix.allowed_rooms setting",
            param="metadata",
            status=403,
            code="room_not_allowed",
        )
    return room


def _admin(call: Call) -> bool:
    return "admin" in call.request.get(SCOPES, frozenset())
