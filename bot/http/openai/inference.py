"""`/chat/completions` and `/completions`: generation with a registered model.

A chat goes to the worker as its messages (rendered there with the model's chat
template, or the plain one chat datasets are trained with). `stream=true` answers
server-sent events in OpenAI's chunk format, ending with `data: [DONE]`; a client that
leaves mid-stream stops its generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import web

from bot.core.errors import TrainbotError
from bot.http.openai import ids
from bot.http.openai.answer import Asked, Usage, answer, stream
from bot.http.openai.chunks import DONE, Frame, piece, sse, usage_chunk, whole
from bot.http.openai.errors import OpenAIError
from bot.http.openai.model_ref import usable
from bot.http.openai.schemas import (
    OpenAIChatBody,
    OpenAICompletionBody,
    OpenAIMessage,
    OpenAISampling,
)
from bot.http.routing import Call, json_response
from bot.logs import get_logger
from trainer.spec import ChatMessage, GenerateParams, Piece

log = get_logger(__name__)
Item = Piece | Usage

MAX_STOPS = 4
LEFT_CHECK_S = 0.2  # how often a stream looks whether its client is still there
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


async def openai_chat_completions(call: Call) -> web.StreamResponse:
    """Answer a conversation."""
    body = call.body_as(OpenAIChatBody)
    messages = tuple(_message(m, i) for i, m in enumerate(body.messages))
    model = await usable(call, body.model)
    params = sampling(body, call.services.generation.max_new_tokens)
    asked = Asked(model, "", params, body.n, messages)
    return await _respond(call, body, Frame.new("chat", ids.model_id(model)), asked)


async def openai_completions(call: Call) -> web.StreamResponse:
    """Continue a prompt."""
    body = call.body_as(OpenAICompletionBody)
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise OpenAIError("send one prompt per request", param="prompt")
        prompt = prompt[0]
    model = await usable(call, body.model)
    params = sampling(body, call.services.generation.max_new_tokens)
    asked = Asked(model, prompt, params, body.n)
    return await _respond(call, body, Frame.new("text", ids.model_id(model)), asked)


def sampling(body: OpenAISampling, cap: int) -> GenerateParams:
    """OpenAI's sampling fields as Trainbot's parameters (OpenAI's defaults where absent)."""
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS:
        raise OpenAIError(f"stop takes at most {MAX_STOPS} strings", param="stop")
    limit = body.max_completion_tokens or body.max_tokens or min(cap, GenerateParams.max_tokens)
    return GenerateParams(
        max_tokens=limit,
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        top_k=0,
        repetition_penalty=1.0,
        seed=body.seed,
        stop=tuple(s for s in stops if s),
    )


async def _respond(
    call: Call, body: OpenAISampling, frame: Frame, asked: Asked
) -> web.StreamResponse:
    if not body.stream:
        return json_response(whole(frame, await answer(call, asked)))
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    with call.state.stream_slots.hold(call.client):  # the same caps as every event stream
        items = stream(call, asked)
        try:
            # The first piece before any byte: a refusal (busy, worker down) is still an
            # ordinary error answer with its status.
            first = await anext(items)
        except BaseException:
            await items.aclose()
            raise
        return await _stream(call, frame, first, items, include_usage)


async def _stream(
    call: Call, frame: Frame, first: Item, items: AsyncGenerator[Item], include_usage: bool
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    task = asyncio.current_task()
    assert task is not None
    call.state.streams.add(task)  # a server stop ends the stream instead of waiting for it
    writer = asyncio.create_task(_write(frame, first, items, include_usage, response))
    try:
        await response.prepare(call.request)
        await _until_done_or_gone(call.request, writer)
        if writer.cancelled():
            return response  # the client left; the generation stopped with the writer
        failure = writer.exception()
        if isinstance(failure, ConnectionResetError):
            return response
        if failure is not None:
            await response.write(sse(_error_event(failure)))
        await response.write(DONE)
        await response.write_eof()
    except ConnectionResetError:
        pass
    finally:
        call.state.streams.discard(task)
        writer.cancel()
        await asyncio.wait({writer})
    return response


async def _until_done_or_gone(request: web.Request, writer: asyncio.Task[None]) -> None:
    # aiohttp does not cancel a handler whose client left: look every LEFT_CHECK_S and
    # cancel the writer, which leaves the generation's iterator and so stops the
    # generation in the worker.
    while not writer.done():
        await asyncio.wait({writer}, timeout=LEFT_CHECK_S)
        transport = request.transport
        if not writer.done() and (transport is None or transport.is_closing()):
            writer.cancel()
            await asyncio.wait({writer})


async def _write(
    frame: Frame,
    first: Item,
    items: AsyncGenerator[Item],
    include_usage: bool,
    response: web.StreamResponse,
) -> None:
    started: set[int] = set()
    try:
        await _write_item(frame, first, started, include_usage, response)
        async for item in items:
            await _write_item(frame, item, started, include_usage, response)
    finally:
        await items.aclose()


async def _write_item(
    frame: Frame, item: Item, started: set[int], include_usage: bool, response: web.StreamResponse
) -> None:
    if isinstance(item, Usage):
        if include_usage:
            await response.write(sse(usage_chunk(frame, item)))
        return
    if frame.kind == "chat" and item.index not in started:
        await response.write(sse(piece(frame, item.index, "", None, role=True)))
    started.add(item.index)
    if item.text:
        await response.write(sse(piece(frame, item.index, item.text, None)))
    if item.finish_reason is not None:
        await response.write(sse(piece(frame, item.index, None, item.finish_reason)))


def _error_event(failure: BaseException) -> dict[str, Any]:
    # Mid-stream the status is sent already: OpenAI then sends the error as a data line.
    if isinstance(failure, TrainbotError):
        message, code = failure.message, failure.code
    else:
        log.error("stream failed", error=repr(failure))
        message, code = "internal error while generating", "internal"
    return {"error": {"message": message, "type": "server_error", "param": None, "code": code}}


def _message(message: OpenAIMessage, index: int) -> ChatMessage:
    role = ROLES.get(message.role)
    if role is None:
        raise OpenAIError(
            f"messages[{index}]: role {message.role!r} is not supported (use system, user "
            "or assistant)",
            param=f"messages.{index}.role",
        )
    return {"role": role, "content": _text(message.content)}


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = [p.get("text") for p in content if p.get("type") == "text"]
    return "".join(p for p in parts if isinstance(p, str))
