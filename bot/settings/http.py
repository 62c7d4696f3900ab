"""[http]: the aiohttp API and its webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.settings.section import NAME_PATTERN, Section


class HookSettings(Section):
    """[[http.hooks]]: one webhook, `POST /v1/hooks/<name>`, checked with its own secret."""

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Name in the URL: POST /v1/hooks/<name>.",
        examples=["retrain"],
    )
    kind: Literal["train", "notify"] = Field(
        description="train: store the posted data as a dataset version and train on it; "
        "notify: post the text into room_id.",
        examples=["train"],
    )
    auth: Literal["token", "hmac"] = Field(
        "hmac",
        description="token: X-Trainbot-Token header equals the secret; hmac: "
        "X-Trainbot-Signature is sha256=<hex HMAC-SHA256 of the raw body with the secret>.",
    )
    secret: SecretStr | None = Field(None, description="The hook's own secret.")
    secret_file: Path | None = Field(
        None,
        description="Read the secret from this file.",
        examples=["/run/secrets/trainbot-hook"],
    )
    dataset: str | None = Field(
        None, description="train: the dataset name new data is stored under.", examples=["news"]
    )
    room_id: str | None = Field(
        None,
        description="notify: the room to post into; train: the room that gets the job's reports.",
        examples=["!abc:example.org"],
    )
    base: str | None = Field(None, description="train: base model (default: trainer.default_base).")
    hyperparameters: dict[str, float] = Field(
        default_factory=dict, description="train: hyperparameters, e.g. {max_steps = 200}."
    )

    @model_validator(mode="after")
    def _complete(self) -> HookSettings:
        if self.secret is None or not self.secret.get_secret_value():
            raise ValueError(f"hook {self.name!r} needs a secret (or secret_file)")
        if self.kind == "train" and not self.dataset:
            raise ValueError(f"train hook {self.name!r} needs a dataset name")
        if self.kind == "notify" and not self.room_id:
            raise ValueError(f"notify hook {self.name!r} needs a room_id")
        return self


Scope = Literal["read", "train", "admin"]


class TokenSettings(Section):
    """[[http.tokens]]: one API token, optionally named and limited to scopes."""

    token: SecretStr = Field(
        description="The bearer token (Authorization: Bearer <token>).", examples=["change-me"]
    )
    name: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="Who holds it: jobs it submits are recorded as api:<name>.",
        examples=["ci"],
    )
    scopes: list[Scope] | None = Field(
        None,
        min_length=1,
        description="What it may do: read (GET), train (submit, control, generate), admin "
        "(delete, activate; includes train and read). Left out: everything.",
        examples=[["read", "train"]],
    )


class HttpSettings(Section):
    """[http]: the aiohttp API."""

    enabled: bool = Field(True, description="Serve the HTTP API.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port).")
    tokens: list[TokenSettings] = Field(
        default_factory=list,
        description='Bearer tokens accepted by the API (empty: API closed): plain "secret" '
        "strings (full access) or tables with token, name and scopes.",
    )
    tokens_file: Path | None = Field(None, description="Read tokens from a file, one per line.")
    max_body_mb: float = Field(50.0, gt=0, description="Largest request body, in MiB (413 above).")
    max_concurrent_generations: int = Field(
        4, ge=1, description="Generations served at once (429 above)."
    )
    max_connections: int = Field(
        512,
        ge=1,
        description="Open connections at most; more get 503 with Retry-After (lowered at "
        "start to fit the process's open-file limit).",
    )
    max_streams: int = Field(
        256, ge=1, description="Open event streams (SSE) at most, all clients (503 above)."
    )
    max_streams_per_token: int = Field(
        16, ge=1, description="Open event streams (SSE) at most per API token (429 above)."
    )
    hooks: list[HookSettings] = Field(
        default_factory=list,
        description="Webhooks, one [[http.hooks]] table each (none by default).",
    )
    hook_tolerance_s: int = Field(
        300, ge=1, description="How old a webhook's signed timestamp may be (replays refused)."
    )
    ui: bool = Field(True, description="Serve the web dashboard under /ui (/ redirects there).")

    @field_validator("tokens", mode="before")
    @classmethod
    def _plain_tokens(cls, value: object) -> object:
        # A bare string is a token with full access, as before scopes existed.
        if isinstance(value, list):
            return [{"token": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> HttpSettings:
        for what, names in (
            ("hook", [hook.name for hook in self.hooks]),
            ("token", [token.name for token in self.tokens if token.name]),
        ):
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"{what} names must be unique: {', '.join(twice)} appear twice")
        return self
