"""End-to-end encryption chores around each sync (only used with `e2ee=True`)."""

from __future__ import annotations

from collections.abc import Sequence

from nio import AsyncClient, MegolmEvent

from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.outbox import Outbox
from bot.matrix.rooms import is_allowed

log = get_logger(__name__)


class Encryption:
    """Keeps keys flowing, trusts allowed users' devices, reports undecryptable messages.

    Keys live in nio's store under the connection's store dir. Devices of allowed users
    are marked verified, so their room-key requests are answered. A message that cannot
    be decrypted gets one notice per (sender, megolm session), not one per message.
    """

    def __init__(self, client: AsyncClient, outbox: Outbox, allowed_users: Sequence[str]) -> None:
        self._client = client
        self._outbox = outbox
        self._allowed_users = allowed_users
        self._reported: set[tuple[str, str]] = set()

    async def after_sync(self) -> None:
        """What nio's sync_forever would do: to-device messages and key upload/query/claim."""
        client = self._client
        if client.outgoing_to_device_messages:
            await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        self._trust_allowed_devices()

    def _trust_allowed_devices(self) -> None:
        store = self._client.device_store
        for user_id in list(store.users):
            if user_id == self._client.user_id or not is_allowed(user_id, self._allowed_users):
                continue
            for device in store.active_user_devices(user_id):
                if not device.verified:
                    self._client.verify_device(device)
                    log.info("matrix_device_trusted", user_id=user_id, device=device.id)

    async def undecryptable(self, room_id: str, event: MegolmEvent) -> None:
        """Ask for the missing key and tell the sender once that their message was lost."""
        key = (event.sender, event.session_id)
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning(
            "matrix_undecryptable", room_id=room_id, sender=event.sender, session=event.session_id
        )
        try:
            await self._client.request_room_key(event)
        except Exception as exc:  # a key request is a courtesy; failing it changes nothing
            log.info("matrix_key_request_failed", error=str(exc))
        self._outbox.send(
            room_id,
            fmt.notice(
                f"{event.sender}: I could not decrypt your message; please send it again "
                "(I asked your device for the key).",
                mentions=[event.sender],
            ),
        )
