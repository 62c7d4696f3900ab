"""[logging]: structlog output."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.settings.section import Section


class LoggingSettings(Section):
    """[logging]: structlog output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["console", "json"] = Field("console", description="console or json lines.")
