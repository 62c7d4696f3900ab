"""Pick the events of a sync that the bot should act on."""

from __future__ import annotations

from collections.abc import Sequence

from nio import Event, RoomMemberEvent

from bot.matrix.history import History


async def fresh_events(
    room_id: str, events: Sequence[Event], history: History, own_user_id: str
) -> list[Event]:
    """Events after the bot's join, not sent by the bot, and never handled before.

    A room joined in this sync may show history from before the join (when its history
    visibility allows it); that history is skipped, and the join time is remembered so
    an older event arriving later is skipped too.
    """
    start = 0
    for index, event in enumerate(events):
        if (
            isinstance(event, RoomMemberEvent)
            and event.state_key == own_user_id
            and event.membership == "join"
            and event.prev_membership != "join"  # not a display-name change
        ):
            start = index + 1
            await history.set_joined_at(room_id, event.server_timestamp)
    joined_at = history.joined_at(room_id) or 0
    return [
        event
        for event in events[start:]
        if event.sender != own_user_id
        and event.server_timestamp >= joined_at
        and not history.is_handled(event.event_id)
    ]
