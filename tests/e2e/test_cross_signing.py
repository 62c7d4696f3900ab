"""The bot's device is cross-signed by its own account, as another user sees it.

The check is done the way a client does it: /keys/query as someone else, then the
Ed25519 signatures verified with vodozemac (not the library the bot signs with), over
canonical JSON written out here: device ← self-signing key ← master key.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import aiohttp
import vodozemac
from nio import AsyncClientConfig, KeysUploadResponse

from bot.dev.homeserver import SynapseServer
from bot.matrix.cross_signing import Account, ensure_cross_signed

from .conftest import E2E, PASSWORD, BotFactory, MakePerson, unique
from .helpers import login

pytestmark = E2E


def canonical(value: dict[str, Any]) -> bytes:
    signed = {k: v for k, v in value.items() if k not in ("signatures", "unsigned")}
    return json.dumps(signed, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def verified(
    value: dict[str, Any], user_id: str, public_key: str, key_name: str | None = None
) -> bool:
    """Whether `value` carries a valid signature by ed25519 key `public_key` of `user_id`
    (named by the key itself, as cross-signing keys are, or by `key_name`: a device id)."""
    key_id = f"ed25519:{key_name or public_key}"
    signature = value.get("signatures", {}).get(user_id, {}).get(key_id)
    if signature is None:
        return False
    key = vodozemac.Ed25519PublicKey.from_base64(public_key)
    try:
        key.verify_signature(canonical(value), vodozemac.Ed25519Signature.from_base64(signature))
    except vodozemac.SignatureException:
        return False
    return True


def only_key(key_object: dict[str, Any]) -> str:
    (public,) = key_object["keys"].values()
    return str(public)


async def query_keys(synapse: SynapseServer, token: str, user_id: str) -> dict[str, Any]:
    url = f"{synapse.base_url}/_matrix/client/v3/keys/query"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(url, json={"device_keys": {user_id: []}}) as response,
    ):
        assert 200 == response.status, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def chain(
    synapse: SynapseServer, token: str, user_id: str, device_id: str
) -> tuple[str, bool, bool, bool]:
    """(master key, self-signing key signed by master, device signed by self-signing key,
    device signed by its own device key) as another user sees them."""
    keys = await query_keys(synapse, token, user_id)
    master = only_key(keys["master_keys"][user_id])
    self_signing = keys["self_signing_keys"][user_id]
    device = keys["device_keys"][user_id][device_id]
    device_key = device["keys"][f"ed25519:{device_id}"]
    return (
        master,
        verified(self_signing, user_id, master),
        verified(device, user_id, only_key(self_signing)),
        verified(device, user_id, device_key, device_id),
    )


async def device_with_keys(synapse: SynapseServer, user_id: str, store: Path) -> Account:
    """A new E2EE device of `user_id` whose device keys are on the server."""
    store.mkdir()
    config = AsyncClientConfig(encryption_enabled=True)
    client = await login(synapse.base_url, user_id, PASSWORD, store_path=str(store), config=config)
    try:
        assert isinstance(await client.keys_upload(), KeysUploadResponse)
        return Account(synapse.base_url, user_id, client.device_id, client.access_token, PASSWORD)
    finally:
        await client.close()


async def test_device_is_cross_signed_at_first_start_and_keys_are_reused(
    synapse: SynapseServer, make_person: MakePerson, bots: BotFactory
) -> None:
    bob = await make_person("bob")
    bot = await bots.new(e2ee=True)

    token, device_id = bob.client.access_token, bot.connection.device_id
    master, sub_key_signed, device_signed, self_signed = await chain(
        synapse, token, bot.user_id, device_id
    )

    assert bot.connection.crypto is not None
    assert "created" == bot.connection.crypto.cross_signing
    assert (True, True, True) == (sub_key_signed, device_signed, self_signed)
    key_file = bot.config.store_dir / "cross_signing.json"
    assert 0o600 == stat.S_IMODE(key_file.stat().st_mode)
    assert master not in key_file.read_text()  # the file holds seeds, not public keys

    again = await bots.restart(bot)

    assert again.connection.crypto is not None
    assert "unchanged" == again.connection.crypto.cross_signing
    assert device_id == again.connection.device_id
    assert (master, True, True, True) == await chain(synapse, token, bot.user_id, device_id)


async def test_keys_the_bot_does_not_hold_are_left_alone_unless_replace_is_set(
    synapse: SynapseServer, make_person: MakePerson, tmp_path: Path
) -> None:
    bob = await make_person("bob")
    user_id, _ = await synapse.register_user(unique("trainbot"), PASSWORD)
    first = await device_with_keys(synapse, user_id, tmp_path / "first")
    assert "created" == await ensure_cross_signed(first, tmp_path / "first", "auto")
    master = (await chain(synapse, bob.client.access_token, user_id, first.device_id))[0]

    # The store dir is lost: a new device of the same account, without the seeds.
    lost = await device_with_keys(synapse, user_id, tmp_path / "lost")
    outcome = await ensure_cross_signed(lost, tmp_path / "lost", "auto")

    keys = await query_keys(synapse, bob.client.access_token, user_id)
    device = keys["device_keys"][user_id][lost.device_id]
    assert ("foreign", master) == (outcome, only_key(keys["master_keys"][user_id]))
    assert not verified(device, user_id, only_key(keys["self_signing_keys"][user_id]))

    # The reset: replace asks for the password (the account has keys) and re-signs.
    outcome = await ensure_cross_signed(lost, tmp_path / "lost", "replace")

    new_master, *signed = await chain(synapse, bob.client.access_token, user_id, lost.device_id)
    assert ("created", [True, True, True]) == (outcome, signed)
    assert master != new_master
    assert "unchanged" == await ensure_cross_signed(lost, tmp_path / "lost", "replace")
