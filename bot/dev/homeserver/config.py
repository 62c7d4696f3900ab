"""The homeserver.yaml of the throwaway Synapse: local only, fast, permissive by default."""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Generous enough that tests and the demo never meet a limit unless they ask for one.
_LAX = {"per_second": 1000, "burst_count": 1000}

RELAXED_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _LAX,
    "rc_registration": _LAX,
    "rc_registration_token_validity": _LAX,
    "rc_login": {"address": _LAX, "account": _LAX, "failed_attempts": _LAX},
    "rc_admin_redaction": _LAX,
    "rc_joins": {"local": _LAX, "remote": _LAX},
    "rc_joins_per_room": _LAX,
    "rc_3pid_validation": _LAX,
    "rc_invites": {"per_room": _LAX, "per_user": _LAX, "per_issuer": _LAX},
    "rc_third_party_invite": _LAX,
    "rc_media_create": _LAX,
    "rc_federation": {"window_size": 1000, "sleep_limit": 1000, "reject_limit": 1000},
}


def build_config(
    work_dir: Path, *, server_name: str, port: int, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the homeserver config; top-level keys in `overrides` replace the defaults."""
    config: dict[str, Any] = {
        "server_name": server_name,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(work_dir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                # No "federation" resource: this server never talks to another.
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(work_dir / "homeserver.db")}},
        "log_config": str(work_dir / "log.config"),
        "media_store_path": str(work_dir / "media"),
        "signing_key_path": str(work_dir / "signing.key"),
        "registration_shared_secret": _secret(work_dir, "registration_shared_secret"),
        "macaroon_secret_key": _secret(work_dir, "macaroon_secret_key"),
        "form_secret": _secret(work_dir, "form_secret"),
        "enable_registration": False,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "use_presence": False,
        "url_preview_enabled": False,
        "enable_metrics": False,
        # Password hashing at bcrypt's minimum cost: every registration, login and
        # password re-auth (cross-signing uploads) of this local-only server is a hash,
        # and at the default 12 rounds tests spent most of a login hashing.
        "bcrypt_rounds": 4,
        **RELAXED_RATE_LIMITS,
    }
    config.update(overrides or {})
    return config


def write_files(work_dir: Path, config: Mapping[str, Any]) -> Path:
    """Write homeserver.yaml, its log config and a signing key; return the config path."""
    (work_dir / "media").mkdir(parents=True, exist_ok=True)
    key_path = work_dir / "signing.key"
    if not key_path.exists():
        key_path.write_text(_new_signing_key())
    # JSON is valid YAML, which spares the bot a YAML dependency.
    (work_dir / "log.config").write_text(json.dumps(_log_config(work_dir), indent=2))
    config_path = work_dir / "homeserver.yaml"
    config_path.write_text(json.dumps(config, indent=2))
    return config_path


def _secret(work_dir: Path, name: str) -> str:
    """A random secret, kept in the work dir so a reused dir keeps its tokens valid."""
    path = work_dir / f".{name}"
    if not path.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text()


def _new_signing_key() -> str:
    # Synapse's key file format: "<algorithm> <version> <unpadded base64 of the seed>".
    # Writing it here saves a second Synapse start with --generate-keys.
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


def _log_config(work_dir: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {"precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(work_dir / "homeserver.log"),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }
