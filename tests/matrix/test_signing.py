"""Signed JSON as the Matrix spec defines it (its appendix's test vectors)."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.matrix.cross_signing import CrossSigningKeys, KeyFile
from bot.matrix.signing import SigningKey, b64decode, canonical_json

# The key of the spec's "Signing details" examples.
SPEC_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"


def test_signatures_match_the_spec_examples() -> None:
    key = SigningKey(b64decode(SPEC_SEED))

    assert "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI" == key.public
    assert (
        "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        == key.sign(canonical_json({}))
    )
    assert (
        "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        == key.sign(canonical_json({"two": "Two", "one": 1}))
    )


def test_signing_ignores_and_keeps_earlier_signatures_and_unsigned() -> None:
    key = SigningKey(b64decode(SPEC_SEED))
    value = {
        "one": 1,
        "two": "Two",
        "signatures": {"@a:hs": {"ed25519:DEV": "old"}},
        "unsigned": {"age_ts": 5},
    }

    signed = key.sign_json("@a:hs", value)

    assert {
        "ed25519:DEV": "old",
        f"ed25519:{key.public}": key.sign(canonical_json({"one": 1, "two": "Two"})),
    } == signed["signatures"]["@a:hs"]
    assert {"ed25519:DEV": "old"} == value["signatures"]["@a:hs"]  # the input is untouched


def test_key_file_round_trips_for_its_own_account_only(tmp_path: Path) -> None:
    keys = CrossSigningKeys.generate()
    key_file = KeyFile(tmp_path / "store")

    key_file.save("@bot:hs", keys)
    loaded = key_file.load("@bot:hs")

    assert loaded is not None
    assert [keys.master.public, keys.self_signing.public, keys.user_signing.public] == [
        loaded.master.public,
        loaded.self_signing.public,
        loaded.user_signing.public,
    ]
    assert 0o600 == stat.S_IMODE(key_file.path.stat().st_mode)
    assert key_file.load("@other:hs") is None


def test_sub_keys_are_signed_by_the_master_key() -> None:
    keys = CrossSigningKeys.generate()

    body = keys.upload_body("@bot:hs")

    ssk = body["self_signing_key"]
    assert ["self_signing"] == ssk["usage"]
    assert {keys.master.key_id: keys.master.sign(canonical_json(ssk))} == ssk["signatures"][
        "@bot:hs"
    ]
    assert {keys.master.key_id: keys.master.public} == body["master_key"]["keys"]
