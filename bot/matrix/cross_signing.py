"""Cross-signing: the bot's account vouches for the bot's device, so clients trust it.

At first start (with e2ee) the bot creates its master, self-signing and user-signing keys,
uploads them (`/keys/device_signing/upload`, with the account's password when the
homeserver asks) and signs its device with the self-signing key (`/keys/signatures/upload`).
The seeds stay in `<store_dir>/cross_signing.json` (0600) and are reused after restarts:
nothing is uploaded again while the server holds the same keys. matrix-nio has no API for
any of this, so these are plain client-server API calls with the bot's access token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bot.logs import get_logger
from bot.matrix.signing import SigningKey, b64decode, unpadded_b64

log = get_logger(__name__)
Outcome = Literal["off", "unchanged", "signed", "created", "foreign", "waiting", "failed"]
KEY_FILE = "cross_signing.json"


@dataclass(frozen=True)
class CrossSigningKeys:
    """The account's three cross-signing key pairs."""

    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    def upload_body(self, user_id: str) -> dict[str, Any]:
        """The keys as `/keys/device_signing/upload` wants them: the sub-keys signed by
        the master key."""
        master = self.master.cross_signing_key(user_id, "master")
        return {
            "master_key": master,
            "self_signing_key": self.master.sign_json(
                user_id, self.self_signing.cross_signing_key(user_id, "self_signing")
            ),
            "user_signing_key": self.master.sign_json(
                user_id, self.user_signing.cross_signing_key(user_id, "user_signing")
            ),
        }


class KeyFile:
    """`cross_signing.json` under the store dir: the private seeds, owner-readable only."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir / KEY_FILE

    def load(self, user_id: str) -> CrossSigningKeys | None:
        """The saved keys of `user_id`, or None (missing, unreadable, another account)."""
        try:
            data = json.loads(self.path.read_text())
            if data["user_id"] != user_id:
                return None
            return CrossSigningKeys(
                *(SigningKey(b64decode(data[name])) for name in ("master", "self", "user"))
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, user_id: str, keys: CrossSigningKeys) -> None:
        """Write atomically, created 0600 (the seeds are the account's identity)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "user_id": user_id,
            "master": unpadded_b64(keys.master.seed),
            "self": unpadded_b64(keys.self_signing.seed),
            "user": unpadded_b64(keys.user_signing.seed),
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
        tmp.replace(self.path)


class CrossSigningError(RuntimeError):
    """The homeserver refused a cross-signing request for good."""


@dataclass(frozen=True)
class Account:
    """What the cross-signing calls need to know about the bot's login."""

    homeserver: str
    user_id: str
    device_id: str
    access_token: str
    password: str | None


class KeysApi:
    """The three client-server endpoints cross-signing uses."""

    def __init__(self, account: Account) -> None:
        self._account = account

    async def query(self) -> dict[str, Any]:
        """`/keys/query` for the bot's own account (its devices and cross-signing keys)."""
        return await self._post("keys/query", {"device_keys": {self._account.user_id: []}})

    async def upload_keys(self, body: dict[str, Any]) -> None:
        """Upload cross-signing keys, answering user-interactive auth with the password."""
        status, answer = await self._request("keys/device_signing/upload", body)
        if status == 401 and "session" in answer:
            if not self._account.password:
                raise CrossSigningError(
                    "the homeserver wants the account's password to upload cross-signing "
                    "keys; set matrix.password"
                )
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self._account.user_id},
                "password": self._account.password,
                "session": answer["session"],
            }
            status, answer = await self._request(
                "keys/device_signing/upload", {**body, "auth": auth}
            )
        if status != 200:
            raise CrossSigningError(f"uploading cross-signing keys failed: {status} {answer}")

    async def upload_signatures(self, body: dict[str, Any]) -> None:
        """Upload signatures of keys; the server checks each one."""
        answer = await self._post("keys/signatures/upload", body)
        if answer.get("failures"):
            raise CrossSigningError(f"signature refused: {answer['failures']}")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = await self._request(path, body)
        if status != 200:
            raise CrossSigningError(f"{path} failed: {status} {answer}")
        return answer

    async def _request(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = f"{self._account.homeserver.rstrip('/')}/_matrix/client/v3/{path}"
        headers = {"Authorization": f"Bearer {self._account.access_token}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.post(url, json=body, headers=headers) as response,
        ):
            answer = await response.json(content_type=None)
            return response.status, answer if isinstance(answer, dict) else {}


async def ensure_cross_signed(
    account: Account, store_dir: Path, mode: Literal["auto", "replace", "off"]
) -> Outcome:
    """Make the server hold the bot's cross-signing keys and its device their signature.

    "auto" never replaces cross-signing keys the bot does not hold (someone set them up
    elsewhere, or the store dir was lost): it logs how to reset instead. "replace" does.
    Raises CrossSigningError or aiohttp errors; "waiting" means the device keys are not
    on the server yet (try again after the next key upload).
    """
    if mode == "off":
        return "off"
    api, user_id = KeysApi(account), account.user_id
    server = await api.query()
    device = server.get("device_keys", {}).get(user_id, {}).get(account.device_id)
    if device is None:
        return "waiting"
    key_file = KeyFile(store_dir)
    keys = key_file.load(user_id)
    on_server = (
        _public_key(server, "master_keys", user_id),
        _public_key(server, "self_signing_keys", user_id),
    )
    ours = (keys.master.public, keys.self_signing.public) if keys else None
    outcome: Outcome = "unchanged"
    if on_server != ours:
        if on_server != (None, None) and mode != "replace":
            log.warning(
                "matrix_cross_signing_foreign",
                hint="the account has cross-signing keys this bot does not hold; set "
                "matrix.cross_signing = 'replace' to replace them with the bot's own",
            )
            return "foreign"
        keys = keys or CrossSigningKeys.generate()
        key_file.save(user_id, keys)  # before the upload: uploaded keys are never lost
        await api.upload_keys(keys.upload_body(user_id))
        log.info("matrix_cross_signing_uploaded", master=keys.master.public)
        outcome = "created"
    if keys is None:  # unreachable: equal key sets mean the bot holds them
        return "failed"
    if keys.self_signing.key_id not in device.get("signatures", {}).get(user_id, {}):
        bare = {k: v for k, v in device.items() if k not in ("signatures", "unsigned")}
        signed = keys.self_signing.sign_json(user_id, bare)
        await api.upload_signatures({user_id: {account.device_id: signed}})
        log.info("matrix_device_cross_signed", device_id=account.device_id)
        outcome = "signed" if outcome == "unchanged" else outcome
    return outcome


def _public_key(query: dict[str, Any], field: str, user_id: str) -> str | None:
    keys = query.get(field, {}).get(user_id, {}).get("keys", {})
    return str(next(iter(keys.values()))) if keys else None
