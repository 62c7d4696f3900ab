"""Ed25519 signing keys and Matrix's signed-JSON rules (canonical JSON, `signatures`).

nio signs with the device's own key only; cross-signing needs three more key pairs that
the bot keeps itself. pycryptodome (a dependency of nio) does the Ed25519 arithmetic.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa


def unpadded_b64(data: bytes) -> str:
    """Matrix's base64: standard alphabet, no `=` padding."""
    return base64.b64encode(data).decode().rstrip("=")


def b64decode(value: str) -> bytes:
    """Decode Matrix's unpadded base64."""
    return base64.b64decode(value + "=" * (-len(value) % 4))


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """The bytes a Matrix signature covers: sorted keys, no spaces, UTF-8, without the
    `signatures` and `unsigned` members."""
    stripped = {k: v for k, v in value.items() if k not in ("signatures", "unsigned")}
    return json.dumps(stripped, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class SigningKey:
    """One Ed25519 key pair, kept as its 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = seed
        self._key: ECC.EccKey = eddsa.import_private_key(seed)
        self.public = unpadded_b64(self._key.public_key().export_key(format="raw"))

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key."""
        return cls(os.urandom(32))

    @property
    def key_id(self) -> str:
        """`ed25519:<public key>`, the id cross-signing keys go by."""
        return f"ed25519:{self.public}"

    def sign(self, data: bytes) -> str:
        """The unpadded-base64 signature of `data`."""
        return unpadded_b64(eddsa.new(self._key, "rfc8032").sign(data))

    def sign_json(self, user_id: str, value: dict[str, Any]) -> dict[str, Any]:
        """`value` with this key's signature added under `signatures[user_id]`."""
        signature = self.sign(canonical_json(value))
        signatures = {user: dict(sigs) for user, sigs in value.get("signatures", {}).items()}
        signatures.setdefault(user_id, {})[self.key_id] = signature
        return {**value, "signatures": signatures}

    def cross_signing_key(self, user_id: str, usage: str) -> dict[str, Any]:
        """The unsigned public key object for `/keys/device_signing/upload`."""
        return {"user_id": user_id, "usage": [usage], "keys": {self.key_id: self.public}}
