"""Accounts and the room of the demo: register (or reuse) users, create (or find) the room."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nio import (
    AsyncClient,
    AsyncClientConfig,
    EnableEncryptionBuilder,
    JoinedMembersResponse,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomResolveAliasResponse,
)
from nio.crypto import ENCRYPTION_ENABLED

from bot.dev.demo.state import DemoSetupError
from bot.dev.homeserver import SynapseServer

ROOM_ALIAS_LOCALPART = "trainbot-demo"


async def ensure_user(synapse: SynapseServer, localpart: str, password: str) -> str:
    """Register `localpart`, or accept that an earlier run in this work dir did; its id."""
    try:
        user_id, _ = await synapse.register_user(localpart, password)
    except RuntimeError as exc:
        if "M_USER_IN_USE" not in str(exc):
            raise
        user_id = f"@{localpart}:{synapse.server_name}"
    return user_id


async def log_in(
    base_url: str, user_id: str, password: str, store_dir: Path | None = None
) -> AsyncClient:
    """A nio client logged in as `user_id` (the demo user's terminal side); with
    `store_dir` and the e2e extra installed it encrypts, as Element does by default."""
    encrypted = ENCRYPTION_ENABLED and store_dir is not None
    if store_dir is not None and encrypted:
        store_dir.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        base_url,
        user_id,
        store_path=str(store_dir) if store_dir is not None and encrypted else "",
        config=AsyncClientConfig(encryption_enabled=encrypted),
    )
    response = await client.login(password, device_name="trainbot demo terminal")
    if not isinstance(response, LoginResponse):
        await client.close()
        raise DemoSetupError(
            f"cannot log in as {user_id}: {response.message} (the work dir's demo.json does "
            "not match its homeserver; remove the work dir to start fresh)"
        )
    if client.should_upload_keys:
        await client.keys_upload()
    return client


async def ensure_room(client: AsyncClient, server_name: str, bot_id: str) -> str:
    """The demo room (`#trainbot-demo`), created on the first run; the bot is invited."""
    alias = f"#{ROOM_ALIAS_LOCALPART}:{server_name}"
    found = await client.room_resolve_alias(alias)
    if isinstance(found, RoomResolveAliasResponse):
        room_id = str(found.room_id)
        joined = await client.join(room_id)
        if not isinstance(joined, JoinResponse):
            raise DemoSetupError(f"cannot join {alias}: {joined}")
    else:
        # Encrypted when this client can encrypt: the room a person gets from Element.
        encryption = [EnableEncryptionBuilder().as_dict()] if client.olm is not None else []
        created = await client.room_create(
            alias=ROOM_ALIAS_LOCALPART,
            name="Trainbot demo",
            topic="Type !help to see what Trainbot can do.",
            invite=[bot_id],
            initial_state=encryption,
        )
        if not isinstance(created, RoomCreateResponse):
            raise DemoSetupError(f"cannot create the demo room: {created}")
        room_id = str(created.room_id)
    if bot_id not in await _members(client, room_id):
        # A no-op error when the invite is still pending; the bot answers it on its sync.
        response = await client.room_invite(room_id, bot_id)
        if not isinstance(response, RoomInviteResponse) and "already" not in str(response):
            raise DemoSetupError(f"cannot invite {bot_id}: {response}")
    return room_id


async def wait_until_member(
    client: AsyncClient, room_id: str, user_id: str, within_s: float
) -> None:
    """Return once `user_id` has joined `room_id`; DemoSetupError after `within_s`."""
    deadline = time.monotonic() + within_s
    while user_id not in await _members(client, room_id):
        if time.monotonic() > deadline:
            raise DemoSetupError(f"{user_id} did not join {room_id} within {within_s:.0f}s")
        await asyncio.sleep(0.3)


async def _members(client: AsyncClient, room_id: str) -> set[str]:
    response = await client.joined_members(room_id)
    if not isinstance(response, JoinedMembersResponse):
        return set()
    return {member.user_id for member in response.members}
