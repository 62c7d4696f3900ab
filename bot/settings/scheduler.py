"""[scheduler]: whether data sources and retraining schedules run, and in which time zone."""

from __future__ import annotations

from pydantic import Field

from bot.settings.section import Section


class SchedulerSettings(Section):
    """[scheduler]: data sources and retraining policies."""

    enabled: bool = Field(True, description="Run data sources and retraining schedules.")
    timezone: str = Field("UTC", description="Time zone for cron expressions.")
