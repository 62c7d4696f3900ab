"""Job routes: submit (idempotent with Idempotency-Key), list, show, control, delete, events."""

from __future__ import annotations

from aiohttp import web

from bot.core.errors import Invalid
from bot.core.jobs.request import JobRequest
from bot.http.responses import EventOut, EventPage, JobList, JobOut
from bot.http.routing import Call, Route, json_response
from bot.http.schemas import EventQuery, JobCreate, JobQuery
from bot.http.sse import stream_events, wants_stream
from bot.http.state import SCOPES

IDEMPOTENCY_HELP = "Retrying with the same key returns the same job instead of a new one."
LAST_EVENT_HELP = "SSE: resume after this event id (as browsers send it on reconnect)."


async def create_job(call: Call) -> web.StreamResponse:
    """Queue a training job; 201 when created, 200 when an Idempotency-Key replays one."""
    body = call.body_as(JobCreate)
    request = JobRequest(
        dataset=body.dataset,
        base=body.base,
        name=body.name,
        hyperparameters=body.hyperparameters,
        backend=body.backend or "",
        resources=body.resources,
        method=body.method.raw() if body.method else None,
    )
    key = call.request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 200:
        raise Invalid("Idempotency-Key must be at most 200 characters")
    jobs = call.services.jobs
    if key is None:
        job = await jobs.submit(request, requested_by=call.client)
        return json_response(JobOut.of(job), 201)
    async with call.state.submit_lock:
        seen = await call.services.store.idempotency.get(call.client, key)
        job = await jobs.submit(request, requested_by=call.client, idempotency_key=key)
    return json_response(JobOut.of(job), 200 if seen else 201)


async def list_jobs(call: Call) -> web.StreamResponse:
    """Jobs, newest first, optionally by status, paged with `after`."""
    q = call.query_as(JobQuery)
    rows = await call.services.jobs.find(status=q.status, limit=q.limit, after=q.after)
    next_after = rows[-1].id if len(rows) == q.limit else None
    return json_response(JobList(jobs=[JobOut.of(r) for r in rows], next_after=next_after))


async def get_job(call: Call) -> web.StreamResponse:
    """One job."""
    return json_response(JobOut.of(await call.services.jobs.get(call.param("id"))))


async def cancel_job(call: Call) -> web.StreamResponse:
    """Cancel a queued, paused or running job (running ones stop at the next step)."""
    job = await call.services.jobs.cancel(call.param("id"), by=call.client, admin=_admin(call))
    return json_response(JobOut.of(job))


async def pause_job(call: Call) -> web.StreamResponse:
    """Pause a running job at a checkpoint, or hold a queued one."""
    job = await call.services.jobs.pause(call.param("id"), by=call.client, admin=_admin(call))
    return json_response(JobOut.of(job))


async def resume_job(call: Call) -> web.StreamResponse:
    """Queue a paused job again; it continues from its checkpoint."""
    job = await call.services.jobs.resume(call.param("id"), by=call.client, admin=_admin(call))
    return json_response(JobOut.of(job))


def _admin(call: Call) -> bool:
    # A job's requester may control it, and so may a token with the admin scope.
    return "admin" in call.request.get(SCOPES, frozenset())


async def delete_job(call: Call) -> web.StreamResponse:
    """Delete a finished job and its files; 409 while it is active."""
    return json_response(JobOut.of(await call.services.jobs.delete(call.param("id"))))


async def job_events(call: Call) -> web.StreamResponse:
    """A page of events, or with Accept: text/event-stream a live stream to the end."""
    job = await call.services.jobs.get(call.param("id"))
    q = call.query_as(EventQuery)
    if wants_stream(call.request):
        return await stream_events(call, job, q.after)
    rows = await call.services.store.events.find(job.id, after=q.after, limit=q.limit)
    next_after = rows[-1].seq if rows else q.after
    return json_response(EventPage(events=[EventOut.of(r) for r in rows], next_after=next_after))


_CONTROL = (403, 404, 409, 422)
ROUTES = (
    Route(
        "POST",
        "/v1/jobs",
        create_job,
        "Submit a training job",
        "jobs",
        body=JobCreate,
        response=JobOut,
        status=201,
        extra_statuses=(200,),
        errors=(404, 409, 413, 422, 429),
        headers=(("Idempotency-Key", IDEMPOTENCY_HELP),),
    ),
    Route(
        "GET",
        "/v1/jobs",
        list_jobs,
        "List jobs",
        "jobs",
        query=JobQuery,
        response=JobList,
        errors=(422,),
    ),
    Route(
        "GET", "/v1/jobs/{id}", get_job, "Show a job", "jobs", response=JobOut, errors=(404, 422)
    ),
    Route(
        "POST",
        "/v1/jobs/{id}/cancel",
        cancel_job,
        "Cancel a job",
        "jobs",
        response=JobOut,
        errors=_CONTROL,
    ),
    Route(
        "POST",
        "/v1/jobs/{id}/pause",
        pause_job,
        "Pause a job",
        "jobs",
        response=JobOut,
        errors=_CONTROL,
    ),
    Route(
        "POST",
        "/v1/jobs/{id}/resume",
        resume_job,
        "Resume a paused job",
        "jobs",
        response=JobOut,
        errors=_CONTROL,
    ),
    Route(
        "DELETE",
        "/v1/jobs/{id}",
        delete_job,
        "Delete a finished job",
        "jobs",
        response=JobOut,
        errors=_CONTROL,
    ),
    Route(
        "GET",
        "/v1/jobs/{id}/events",
        job_events,
        "Job events (page or live SSE)",
        "jobs",
        query=EventQuery,
        response=EventPage,
        streams=True,
        errors=(404, 422),
        headers=(("Last-Event-ID", LAST_EVENT_HELP),),
    ),
)
