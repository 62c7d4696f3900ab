"""Reactions in encrypted rooms: sent through megolm (nio leaves them cleartext), and found
again on the server when the bot must take one back after a restart.

nio's `room_send` encrypts everything in an encrypted room except `m.reaction` (written
before encrypted reactions were specified). Clients such as Element send and read
encrypted reactions; a cleartext ⏳ in an encrypted room tells the server what the room
does. This does what `room_send` does for other types: make sure the room's members
and their devices are known, share the megolm session if needed, encrypt, send.
"""

from __future__ import annotations

from typing import Any

from nio import Api, AsyncClient, RoomSendError, RoomSendResponse
from nio.api import RelationshipType

from bot.logs import get_logger

log = get_logger(__name__)


def should_encrypt(client: AsyncClient, room_id: str) -> bool:
    """Whether a send to `room_id` must be encrypted (E2EE on and the room encrypted)."""
    room = client.rooms.get(room_id)
    return bool(client.olm is not None and room is not None and room.encrypted)


async def send_encrypted(
    client: AsyncClient, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
) -> RoomSendResponse | RoomSendError:
    """Encrypt and send one event; `m.relates_to` stays readable (nio copies it out), so
    the server still aggregates the reaction under its target."""
    room = client.rooms[room_id]
    if not room.members_synced:
        await client.joined_members(room_id)
        if client.should_query_keys:
            await client.keys_query()
    if client.olm is not None and client.olm.should_share_group_session(room_id):
        sharing = client.sharing_session.get(room_id)
        if sharing is not None:
            await sharing.wait()
        else:
            # Like the outbox's other sends: members' unverified devices still get keys.
            await client.share_group_session(room_id, ignore_unverified_devices=True)
    encrypted_type, encrypted = client.encrypt(room_id, event_type, content)
    return await send_plain(client, room_id, encrypted_type, encrypted, txn_id)


async def send_plain(
    client: AsyncClient, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
) -> RoomSendResponse | RoomSendError:
    """Send one event exactly as given: no encryption, even in an encrypted room."""
    method, path, data = Api.room_send(client.access_token, room_id, event_type, content, txn_id)
    response: RoomSendResponse | RoomSendError = await client._send(
        RoomSendResponse, method, path, data, (room_id,)
    )
    return response


async def find_own_reaction(
    client: AsyncClient, room_id: str, event_id: str, key: str
) -> str | None:
    """The id of the bot's reaction `key` on `event_id`, asked of the server (after a
    restart the outbox no longer knows it). The relation, key included, is readable even
    on an encrypted reaction. Best effort: None when not found or the server can't say."""
    try:
        async for event in client.room_get_event_relations(
            room_id, event_id, RelationshipType.annotation
        ):
            source = event.source
            relates_to = source.get("content", {}).get("m.relates_to", {})
            if source.get("sender") == client.user_id and relates_to.get("key") == key:
                return str(source["event_id"])
    except Exception as exc:  # nio raises AttributeError on an error response, too
        log.info("matrix_reaction_lookup_failed", room_id=room_id, error=repr(exc))
    return None
