"""[[schedules]]: when a model is retrained, decided by a policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.settings.section import NAME_PATTERN, Section
from bot.settings.timing import check_cron, parse_duration


class ScheduleSettings(Section):
    """[[schedules]]: when a model is retrained, decided by a policy."""

    model: str = Field(
        pattern=NAME_PATTERN,
        description="Model name the schedule retrains.",
        examples=["stories"],
    )
    dataset: str = Field(
        pattern=NAME_PATTERN,
        description="Dataset name; a retrain uses its newest version.",
        examples=["stories"],
    )
    policy: Literal["cron", "new_data", "metric", "llm"] = Field(
        description="cron: retrain at the cron times; new_data: when the dataset gained "
        "min_new_records; metric: when eval loss on the newest data is metric_threshold_pct "
        "worse; llm: the chat model decides (new_data without an API key).",
        examples=["new_data"],
    )
    cron: str | None = Field(
        None, description="cron: when to retrain; other policies: when to check (or every)."
    )
    every: str = Field("1h", description="How often the non-cron policies check: 15m, 1h, 1d.")
    min_new_records: int = Field(
        100, ge=1, description="new_data (and llm without a key): records gained to retrain."
    )
    metric_threshold_pct: float = Field(
        10.0, gt=0, description="metric: retrain when eval loss is this many % worse."
    )
    room_id: str | None = Field(
        None, description="Room decisions are posted to (default: the model's last job room)."
    )
    base: str | None = Field(
        None, description="Base model of a retrain (default: trainer.default_base)."
    )
    backend: Literal["local", "openai"] = Field("local", description="Where a retrain runs.")
    hyperparameters: dict[str, float] = Field(
        default_factory=dict, description="Hyperparameters of a retrain, e.g. {max_steps = 200}."
    )

    @model_validator(mode="after")
    def _when(self) -> ScheduleSettings:
        if self.policy == "cron" and self.cron is None:
            raise ValueError(f"schedule for {self.model!r}: policy cron needs a cron line")
        if self.cron is not None:
            check_cron(self.cron)
        parse_duration(self.every)
        return self

    @property
    def interval_s(self) -> float:
        """`every` in seconds."""
        return parse_duration(self.every)
