"""[[sources]]: HTTP endpoints whose JSON answers feed datasets on a schedule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.settings.section import NAME_PATTERN, Section, resolve_secret_reference
from bot.settings.timing import check_cron, parse_duration


class SourceSettings(Section):
    """[[sources]]: an HTTP endpoint whose JSON answer feeds a dataset on a schedule."""

    name: str = Field(
        pattern=NAME_PATTERN, description="Name shown by !sources.", examples=["news"]
    )
    url: str = Field(
        pattern=r"^https?://",
        description="URL to fetch.",
        examples=["https://example.org/api/articles"],
    )
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method.")
    body: str | None = Field(None, description="POST: the request body, sent as JSON text.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='Plain request headers, e.g. {Accept = "application/json"}.',
    )
    secret_headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret headers: each value is env:VARIABLE or file:/path, read at start.",
        examples=[{"Authorization": "env:NEWS_API_TOKEN"}],
    )
    select: str = Field(
        "",
        description="Where the items are in the JSON answer: a dotted path with [*] for "
        "lists, e.g. data.items[*].text (empty: the answer is the list of items).",
        examples=["data.items[*].text"],
    )
    dataset: str = Field(
        pattern=NAME_PATTERN,
        description="Dataset name new items are added to.",
        examples=["news"],
    )
    every: str | None = Field(
        None, description="Fetch interval: 90s, 15m, 2h, 1d (or set cron).", examples=["1h"]
    )
    cron: str | None = Field(None, description="Fetch times as a crontab line (or set every).")
    room_id: str | None = Field(
        None, description="Room for fetch failures (default: the dataset's room, if any)."
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds before a fetch fails.")
    follow_redirects: Literal["same-origin", "never"] = Field(
        "same-origin", description="Redirects followed: to the same origin only, or never."
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_headers(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("secret_headers"), dict):
            where = f"source {data.get('name', '?')!r} secret_headers"
            data = {
                **data,
                "secret_headers": {
                    key: resolve_secret_reference(str(value), f"{where}.{key}")
                    for key, value in data["secret_headers"].items()
                },
            }
        return data

    @field_validator("select")
    @classmethod
    def _check_select(cls, value: str) -> str:
        from bot.core.sources.selector import parse_select

        parse_select(value)  # a SelectError (ValueError) names the bad part
        return value

    @model_validator(mode="after")
    def _when(self) -> SourceSettings:
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"source {self.name!r} needs exactly one of every or cron")
        if self.every is not None:
            parse_duration(self.every)
        if self.cron is not None:
            check_cron(self.cron)
        return self

    @property
    def interval_s(self) -> float | None:
        """`every` in seconds (None when the source runs on cron)."""
        return parse_duration(self.every) if self.every is not None else None
