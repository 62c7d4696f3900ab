"""Room conversations with a model (`!chat`): one per thread, kept in memory.

A conversation is the thread's messages (the people's turns and the model's answers) and
the model it talks to. They live in this process only: a restart forgets them, and a
reply in a forgotten thread starts over with that reply. The thread's own history is
not re-read from the homeserver, because the bot's answers there are edited streams and
a long thread would cost a request per message. The oldest turns that no longer fit in
the model's context are dropped (by the generation worker, which counts tokens), and
the conversation forgets them too.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from trainer.spec import ChatMessage

MAX_CONVERSATIONS = 500  # threads remembered; the least recently used is forgotten


@dataclass
class Conversation:
    """The turns of one thread and the model (a reference as people give it) they go to."""

    model: str | None  # None: the active model at each turn
    messages: list[ChatMessage] = field(default_factory=list)
    told_dropped: bool = False  # "older turns were dropped" is said once per thread

    def forget_oldest(self, count: int) -> None:
        """Drop the `count` oldest turns the model no longer saw (system messages stay)."""
        for _ in range(count):
            turns = [i for i, m in enumerate(self.messages) if m["role"] != "system"]
            if len(turns) <= 1:
                return
            del self.messages[turns[0]]


class Conversations:
    """Conversations by (room, thread root), least recently used forgotten first."""

    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self._limit = limit
        self._threads: OrderedDict[tuple[str, str], Conversation] = OrderedDict()

    def get(self, room_id: str, root: str) -> Conversation | None:
        """The conversation of a thread, if one is remembered."""
        found = self._threads.get((room_id, root))
        if found is not None:
            self._threads.move_to_end((room_id, root))
        return found

    def start(self, room_id: str, root: str, model: str | None) -> Conversation:
        """A new conversation in a thread (replacing a remembered one)."""
        conversation = self._threads[(room_id, root)] = Conversation(model)
        self._threads.move_to_end((room_id, root))
        while len(self._threads) > self._limit:
            self._threads.popitem(last=False)
        return conversation

    def __len__(self) -> int:
        return len(self._threads)
