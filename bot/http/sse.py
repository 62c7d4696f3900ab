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
LEFT_CHECK_S = 1.0  # how often a quiet stream checks that its client is still there
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
    with call.state.stream_slots.hold(call.client):  # 503/429 over the caps, before a byte
        return await _stream(call, job, start_after(call.request, after))


async def _stream(call: Call, job: JobRow, after: int) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies must not buffer a live stream
        }
    )
    task = asyncio.current_task()
    assert task is not None
    call.state.streams.add(task)  # so a server stop ends the stream instead of waiting
    pump: asyncio.Task[None] | None = None
    try:
        await response.prepare(call.request)  # the client may have left already
        if await _already_told(call, job, after):
            await response.write_eof()
            return response
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=256)
        pump = asyncio.create_task(_pump(call.services.bus.follow(job.id, after, is_final), queue))
        await _relay(call, queue, response)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; its subscription is closed below
    finally:
        call.state.streams.discard(task)
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)  # the stream is over either way
    return response


async def _relay(call: Call, queue: asyncio.Queue[object], response: web.StreamResponse) -> None:
    # Wakes at least every second to see whether the client left, so its stream slot is
    # free within a second rather than at the next keep-alive write.
    quiet_s = 0.0
    while True:
        wait_s = min(LEFT_CHECK_S, call.state.keepalive_s)
        try:
            item = await asyncio.wait_for(queue.get(), wait_s)
        except TimeoutError:
            if _client_left(call.request):
                return
            quiet_s += wait_s
            if quiet_s >= call.state.keepalive_s:
                await response.write(b": keep-alive\n\n")
                quiet_s = 0.0
            continue
        if item is END:
            return
        assert isinstance(item, EventRow)
        await response.write(format_event(item))
        quiet_s = 0.0


def _client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


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
