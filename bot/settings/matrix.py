"""[matrix]: the homeserver account, the command prefix, who may command the bot."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bot.settings.section import Section


class MatrixSettings(Section):
    """[matrix]: the homeserver account and who may command the bot."""

    enabled: bool = Field(True, description="Connect to Matrix; false runs the HTTP API alone.")
    homeserver: str = Field("http://127.0.0.1:8008", description="Homeserver base URL.")
    user_id: str = Field("", description="The bot's Matrix user id, e.g. @trainbot:example.org.")
    password: SecretStr | None = Field(None, description="Password login (if no access_token).")
    password_file: Path | None = Field(None, description="Read the password from this file.")
    access_token: SecretStr | None = Field(None, description="Access token (preferred login).")
    access_token_file: Path | None = Field(None, description="Read the access token from a file.")
    device_name: str = Field("trainbot", description="Device display name at password login.")
    store_dir: Path = Field(
        Path("data/matrix"), description="Device id, login and E2EE keys are kept here."
    )
    command_prefix: str = Field("!", min_length=1, description="Prefix of bot commands.")
    allowed_users: list[str] = Field(
        default_factory=list, description="MXID globs allowed to use the bot (empty: nobody)."
    )
    admin_users: list[str] = Field(
        default_factory=list, description="MXID globs allowed to activate, delete, schedule."
    )
    allowed_rooms: list[str] = Field(
        default_factory=list, description="Room ids the bot answers in (empty: any it is in)."
    )
    progress_interval_s: float = Field(
        10.0, gt=0, description="Minimum seconds between edits of a progress message."
    )
    e2ee: bool | Literal["auto"] = Field(
        "auto",
        description='Work in encrypted rooms: "auto" when the e2e extra is installed, '
        "true requires it, false never encrypts.",
    )
    cross_signing: Literal["auto", "replace", "off"] = Field(
        "auto",
        description="With e2ee, sign the bot's device with its account's cross-signing keys "
        '(kept in store_dir); "replace" replaces keys the bot does not hold (a reset).',
    )
    leave_when_alone: bool = Field(False, description="Leave a room when the bot is alone.")

    @model_validator(mode="after")
    def _e2ee_needs_its_library(self) -> MatrixSettings:
        # Refused at load (and by `trainbot check-config`), not after the login: matrix-nio
        # encrypts with vodozemac, installed by the e2e extra.
        if self.enabled and self.e2ee is True and find_spec("vodozemac") is None:
            raise ValueError(
                "e2ee = true needs the e2e extra (pip install 'trainbot[e2e]'); install it, "
                'or set e2ee = "auto" to run unencrypted where it is missing'
            )
        return self
