"""Server-sent events: replay a job's stored events, then follow live ones to the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from bot.core.types import FINAL
from storage.jobs import EventRow, JobRow

if TYPE_CHECKING:
    from bot.http.routing import Call

END = object()  # the pump's "no more events"
SEQ = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit an SQLite integer


def wants_stream(request: web.Request) -> bool:
    """Whether the client asked for a live stream rather than a JSON page."""
    return "text/event-stream" in request.headers.get("Accept", "")


def is_final(row: EventRow) -> bool:
    """The event that ends a stream: the job reached succeeded, failed or cancelled."""
    return row.event == "state" and row.data.get("status") in FINAL


def start_after(request: web.Request, after: int) -> int:
    """Last-Event-ID (a reconnecting client) wins over ?after; bad values mean the start."""
    header = request.headers.get("Last-Event-ID", "").strip()
    return int(header) if SEQ.fullmatch(header) else after


def format_event(row: EventRow) -> bytes:
    """One SSE message: id is the event's seq, data one line of JSON."""
    data = json.dumps(row.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {row.seq}\nevent: {row.event}\ndata: {data}\n\n".encode()


async def stream_events(call: Call, job: JobRow, after: int) -> web.StreamResponse:
    """Stream until the job's final state event; comments keep idle proxies from closing."""
    request = call.request
    after = start_after(request, after)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies must not buffer a live stream
        }
    )
    await response.prepare(request)
    if await _already_told(call, job, after):
        await response.write_eof()
        return response
    task = asyncio.current_task()
    assert task is not None
    call.state.streams.add(task)  # so a server stop ends the stream instead of waiting
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=256)
    pump = asyncio.create_task(_pump(call.services.bus.follow(job.id, after, is_final), queue))
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), call.state.keepalive_s)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if item is END:
                break
            assert isinstance(item, EventRow)
            await response.write(format_event(item))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; its subscription is closed below
    finally:
        call.state.streams.discard(task)
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)  # the stream is over either way
    return response


async def _already_told(call: Call, job: JobRow, after: int) -> bool:
    # A finished job whose final event the client has already seen: nothing will follow.
    if job.status not in FINAL:
        return False
    last = await call.services.store.events.last(job.id, "state")
    return last is not None and is_final(last) and last.seq <= after


async def _pump(events: AsyncIterator[EventRow], queue: asyncio.Queue[object]) -> None:
    # Reading in its own task lets the writer time out for keep-alives without cancelling
    # the event iterator (a cancelled async generator cannot be resumed).
    try:
        async for row in events:
            await queue.put(row)
    except BaseException:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(END)  # never block here: the writer may be gone
        raise
    await queue.put(END)
