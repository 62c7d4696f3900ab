"""The root settings object: every section, environment overrides on top of the TOML file."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.settings.http import HttpSettings
from bot.settings.logging import LoggingSettings
from bot.settings.matrix import MatrixSettings
from bot.settings.openai import OpenAISettings
from bot.settings.ray import RaySettings
from bot.settings.scheduler import SchedulerSettings
from bot.settings.schedules import ScheduleSettings
from bot.settings.sources import SourceSettings
from bot.settings.storage import StorageSettings
from bot.settings.trainer import TrainerSettings


class Settings(BaseSettings):
    """All settings; build with `load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="TRAINBOT_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    matrix: MatrixSettings = Field(default_factory=MatrixSettings)  # type: ignore[arg-type]
    http: HttpSettings = Field(default_factory=HttpSettings)  # type: ignore[arg-type]
    storage: StorageSettings = Field(default_factory=StorageSettings)  # type: ignore[arg-type]
    trainer: TrainerSettings = Field(default_factory=TrainerSettings)  # type: ignore[arg-type]
    openai: OpenAISettings = Field(default_factory=OpenAISettings)  # type: ignore[arg-type]
    ray: RaySettings = Field(default_factory=RaySettings)  # type: ignore[arg-type]
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)  # type: ignore[arg-type]
    logging: LoggingSettings = Field(default_factory=LoggingSettings)  # type: ignore[arg-type]
    sources: list[SourceSettings] = Field(
        default_factory=list,
        description="Data sources, one [[sources]] table each (none by default).",
    )
    schedules: list[ScheduleSettings] = Field(
        default_factory=list,
        description="Retraining schedules, one [[schedules]] table each (none by default).",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for what, names in (
            ("source", [s.name for s in self.sources]),
            ("schedule model", [s.model for s in self.schedules]),
        ):
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"{what} names must be unique: {', '.join(twice)} appear twice")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; environment variables override it.
        return env_settings, init_settings

    def secret_values(self) -> list[str]:
        """Every configured secret in clear text, so log output can be scrubbed of them."""
        secrets = [self.matrix.password, self.matrix.access_token, self.openai.api_key]
        secrets.extend(token.token for token in self.http.tokens)
        secrets.extend(hook.secret for hook in self.http.hooks)
        for source in self.sources:
            secrets.extend(source.secret_headers.values())
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
