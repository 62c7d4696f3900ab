"""[openai]: remote fine-tuning and data preparation at an OpenAI-compatible API."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from bot.settings.section import Section


class OpenAISettings(Section):
    """[openai]: optional remote fine-tuning and data preparation."""

    api_key: SecretStr | None = Field(None, description="API key; features needing it say so.")
    api_key_file: Path | None = Field(None, description="Read the API key from this file.")
    base_url: str | None = Field(None, description="Any OpenAI-compatible server's base URL.")
    organization: str | None = Field(None, description="OpenAI organization id.")
    chat_model: str = Field("gpt-4o-mini", description="Model for cleaning, generating, deciding.")
    fine_tune_model: str = Field(
        "gpt-4o-mini-2024-07-18", description="Default base for remote fine-tuning."
    )
    max_concurrency: int = Field(4, ge=1, description="Concurrent API requests.")
    request_timeout_s: float = Field(60.0, gt=0, description="Seconds per API request.")
    max_retries: int = Field(
        3, ge=0, description="Retries of a request answered 429 or 5xx (with backoff)."
    )
    poll_interval_s: float = Field(
        30.0, gt=0, description="Seconds between status checks of a remote fine-tuning job."
    )
    input_price_per_mtok: float = Field(
        0.15, ge=0, description="USD per million input tokens of chat_model (for estimates)."
    )
    output_price_per_mtok: float = Field(
        0.60, ge=0, description="USD per million output tokens of chat_model (for estimates)."
    )
