"""End-to-end encryption chores around each sync (only used with `e2ee=True`)."""

from __future__ import annotations

from typing import Literal

from nio import AsyncClient, MegolmEvent
from nio.crypto import ENCRYPTION_ENABLED

from bot.logs import get_logger
from bot.matrix import format as fmt
from bot.matrix.cross_signing import Account, CrossSigningError, ensure_cross_signed
from bot.matrix.outbox import TRANSIENT_ERRORS, Outbox
from bot.matrix.rooms import is_allowed
from bot.matrix.types import MatrixConfig

log = get_logger(__name__)
EXTRA_MISSING = (
    "matrix.e2ee = true needs the e2e extra (pip install 'trainbot[e2e]'); "
    'install it, or set matrix.e2ee = "auto" to run without encryption where it is missing'
)


def undecryptable_text(sender: str) -> str:
    """What the sender of a message the bot could not decrypt reads (unencrypted)."""
    return (
        f"{sender}: I could not decrypt your message (my device has no key for it), so I "
        "did not act on it. I asked your device for the key; please send the message "
        "again. If this keeps happening, verify my device or leave and rejoin the room."
    )


class E2eeUnavailableError(RuntimeError):
    """E2EE was required but the crypto library is not installed."""


def e2ee_enabled(setting: bool | Literal["auto"], *, available: bool = ENCRYPTION_ENABLED) -> bool:
    """Whether the bot encrypts: "auto" means whenever the e2e extra is installed."""
    if setting == "auto":
        if not available:
            log.warning("matrix_e2ee_unavailable", hint="install the e2e extra to enable E2EE")
        return available
    if setting and not available:
        raise E2eeUnavailableError(EXTRA_MISSING)
    return bool(setting)


class Encryption:
    """Keeps keys flowing, trusts allowed users' devices, reports undecryptable messages.

    Keys live in nio's store under the connection's store dir. Devices of allowed users
    are marked verified, so their room-key requests are answered. A message that cannot
    be decrypted gets one notice per (sender, megolm session), not one per message.
    """

    def __init__(self, client: AsyncClient, outbox: Outbox, config: MatrixConfig) -> None:
        self._client = client
        self._outbox = outbox
        self._config = config
        self._allowed_users = config.allowed_users
        self._reported: set[tuple[str, str]] = set()
        # Cross-signing is checked until it is settled (done, or refused for good).
        self._cross_signing_settled = config.cross_signing == "off"
        self.cross_signing: str = "off" if self._cross_signing_settled else "pending"

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
        if not self._cross_signing_settled:
            await self._cross_sign()

    async def _cross_sign(self) -> None:
        """Sign the bot's device with its account's keys (see bot.matrix.cross_signing)."""
        config = self._config
        account = Account(
            config.homeserver,
            config.user_id,
            str(self._client.device_id),
            self._client.access_token,
            config.password,
        )
        try:
            outcome = await ensure_cross_signed(account, config.store_dir, config.cross_signing)
        except TRANSIENT_ERRORS as exc:
            log.info("matrix_cross_signing_retry", error=repr(exc))
            return
        except CrossSigningError as exc:
            log.error("matrix_cross_signing_failed", error=str(exc))
            outcome = "failed"
        self.cross_signing = outcome
        self._cross_signing_settled = outcome != "waiting"

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
        # Plaintext: when keys are broken between two devices, an encrypted notice
        # might be unreadable too.
        self._outbox.send(
            room_id,
            fmt.notice(undecryptable_text(event.sender), mentions=[event.sender]),
            plaintext=True,
        )
