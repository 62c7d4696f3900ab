"""The chat model as data preparation uses it: one call per item, at most
`max_concurrency` at once, its tokens tallied and priced with the configured prices."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.dataprep.estimate import Estimate
from bot.core.dataprep.tasks import TaskFailed
from bot.core.openai.remote import ChatAnswer, ChatFailed

if TYPE_CHECKING:
    from bot.settings import OpenAISettings


class ChatModel(Protocol):
    """What data preparation calls on the OpenAI client."""

    @property
    def chat_model(self) -> str:
        """The model every call goes to (named in estimates)."""
        ...

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_object: bool = False,
    ) -> ChatAnswer:
        """One completion; `ChatFailed` when it fails after the client's retries."""
        ...


@dataclass
class Tally:
    """Tokens a task has sent and received so far."""

    sent: int = 0
    received: int = 0


@dataclass(frozen=True)
class PricedChat:
    """The chat client with the prices and concurrency of `[openai]`."""

    client: ChatModel
    settings: OpenAISettings

    @property
    def concurrency(self) -> int:
        """Calls a task makes at once."""
        return self.settings.max_concurrency

    async def ask(
        self,
        messages: list[dict[str, str]],
        where: str,
        tally: Tally,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_object: bool = False,
    ) -> ChatAnswer:
        """One chat call; its tokens are added to `tally`, a failure names the item."""
        try:
            answer = await self.client.chat(
                messages, max_tokens=max_tokens, temperature=temperature, json_object=json_object
            )
        except ChatFailed as exc:
            raise TaskFailed(f"the chat model failed on {where}: {exc}") from None
        tally.sent += answer.prompt_tokens
        tally.received += answer.completion_tokens
        return answer

    def estimate(
        self,
        kind: str,
        target: str,
        items: int,
        tokens: Tally,
        is_limit: bool,
        notes: tuple[str, ...] = (),
    ) -> Estimate:
        """One call per item; `is_limit`: the received tokens are the max_tokens bound."""
        cost = self.cost(tokens)
        model = self.client.chat_model
        return Estimate(
            kind, target, items, items, tokens.sent, tokens.received, is_limit, cost, model, notes
        )

    def cost(self, tokens: Tally) -> float:
        """In USD."""
        s = self.settings
        return (
            tokens.sent * s.input_price_per_mtok + tokens.received * s.output_price_per_mtok
        ) / 1e6

    def usage(self, tokens: Tally) -> dict[str, Any]:
        """As a task report shows it."""
        return {
            "input_tokens": tokens.sent,
            "output_tokens": tokens.received,
            "cost_usd": round(self.cost(tokens), 6),
        }


async def run_bounded(count: int, work: Callable[[int], Awaitable[None]], concurrency: int) -> None:
    """`work(i)` for every i < count, at most `concurrency` at once.

    A fixed set of workers pulls indexes, so a huge dataset never becomes a huge number of
    tasks. The first error stops the other workers and is raised as is.
    """
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:  # shared: each index is taken by exactly one worker
            await work(index)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, count)):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
