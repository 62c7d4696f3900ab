"""Typed settings: a TOML file, overridden by `TRAINBOT_<SECTION>__<KEY>` environment variables.

Every key is declared once, with a type, a default and a one-line description, in the
module of its section (`matrix.py`, `http.py`, … `sources.py`, `schedules.py`);
`root.py` gathers the sections into `Settings`, `load.py` reads and validates the file.
`config.example.toml` is rendered from these declarations (see `bot.settings.doc`), and a
test fails when the two drift apart.
"""

from bot.settings.http import HookSettings, HttpSettings, Scope, TokenSettings
from bot.settings.load import (
    DEFAULT_CONFIG_PATH,
    SettingsError,
    format_validation_error,
    load_settings,
)
from bot.settings.logging import LoggingSettings
from bot.settings.matrix import MatrixSettings
from bot.settings.openai import OpenAISettings
from bot.settings.ray import RaySettings
from bot.settings.root import Settings
from bot.settings.scheduler import SchedulerSettings
from bot.settings.schedules import ScheduleSettings
from bot.settings.section import NAME_PATTERN, Section
from bot.settings.sources import SourceSettings
from bot.settings.storage import StorageSettings
from bot.settings.timing import check_cron, parse_duration
from bot.settings.trainer import TrainerSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "NAME_PATTERN",
    "HookSettings",
    "HttpSettings",
    "LoggingSettings",
    "MatrixSettings",
    "OpenAISettings",
    "RaySettings",
    "ScheduleSettings",
    "SchedulerSettings",
    "Scope",
    "Section",
    "Settings",
    "SettingsError",
    "SourceSettings",
    "StorageSettings",
    "TokenSettings",
    "TrainerSettings",
    "check_cron",
    "format_validation_error",
    "load_settings",
    "parse_duration",
]
