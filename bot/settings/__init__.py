"""Typed settings: a TOML file, overridden by `TRAINBOT_<SECTION>__<KEY>` environment variables.

Every key is declared once here, with a type, a default and a one-line description;
`config.example.toml` is rendered from these declarations (see `bot.settings.doc`), and a
test fails when the two drift apart.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("config.toml")


class Section(BaseModel):
    """A settings section: unknown keys are errors, so typos are caught at start."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        # `foo_file = "/run/secrets/foo"` fills the secret `foo`, so secrets need not sit
        # in the TOML. Setting both is ambiguous and refused.
        if not isinstance(data, dict):
            return data
        for key in list(data):
            if not key.endswith("_file") or data[key] in (None, ""):
                continue
            target = key.removesuffix("_file")
            if target not in cls.model_fields:
                continue
            if data.get(target) not in (None, "", []):
                raise ValueError(f"set either {target} or {key}, not both")
            data[target] = _read_secret_file(Path(data[key]), target)
        return data


def _read_secret_file(path: Path, target: str) -> str | list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {target}_file {path}: {exc.strerror}") from None
    if target == "tokens":  # one token per line
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text.strip()


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
    e2ee: bool = Field(False, description="Work in encrypted rooms (needs the e2e extra).")
    leave_when_alone: bool = Field(False, description="Leave a room when the bot is alone.")


class HookSettings(Section):
    """[[http.hooks]]: one webhook, `POST /v1/hooks/<name>`, checked with its own secret."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
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


class HttpSettings(Section):
    """[http]: the aiohttp API."""

    enabled: bool = Field(True, description="Serve the HTTP API.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port).")
    tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens accepted by the API (empty: API closed)."
    )
    tokens_file: Path | None = Field(None, description="Read tokens from a file, one per line.")
    max_body_mb: float = Field(50.0, gt=0, description="Largest request body, in MiB (413 above).")
    max_concurrent_generations: int = Field(
        4, ge=1, description="Generations served at once (429 above)."
    )
    hooks: list[HookSettings] = Field(
        default_factory=list,
        description="Webhooks, one [[http.hooks]] table each (none by default).",
    )

    @model_validator(mode="after")
    def _unique_hook_names(self) -> HttpSettings:
        names = [hook.name for hook in self.hooks]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"hook names must be unique: {', '.join(twice)} appear twice")
        return self


class StorageSettings(Section):
    """[storage]: where the database and artifacts live."""

    data_dir: Path = Field(
        Path("data"), description="Database, datasets, models and checkpoints are kept here."
    )


class TrainerSettings(Section):
    """[trainer]: local training and generation."""

    max_concurrent_jobs: int = Field(1, ge=1, description="Training jobs run at once.")
    max_queue_length: int = Field(100, ge=1, description="Queued jobs accepted (429 above).")
    stop_grace_s: float = Field(
        30.0, gt=0, description="Seconds a job gets to checkpoint on cancel/pause/stop."
    )
    min_examples: int = Field(10, ge=1, description="Fewest valid examples a dataset needs.")
    default_base: str = Field("tiny", description="Base model: tiny, small, a folder or hub id.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    report_to: str = Field(
        "none", description="Experiment tracking: none, tensorboard, wandb, mlflow."
    )
    cached_models: int = Field(2, ge=1, description="Models the generation worker keeps loaded.")
    max_new_tokens: int = Field(256, ge=1, description="Cap on generated tokens per request.")
    generation_timeout_s: float = Field(60.0, gt=0, description="Seconds before generation fails.")


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


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` in seconds; a ValueError names the accepted forms."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration: use e.g. 90s, 15m, 2h or 1d")
        seconds = float(match[1]) * DURATION_UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0 seconds")
    return seconds


def check_cron(expression: str) -> str:
    """A five-field crontab expression, checked by apscheduler itself."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression)
    except ValueError as exc:
        raise ValueError(f"cron {expression!r} is not a crontab expression: {exc}") from None
    return expression


def _resolve_reference(reference: str, what: str) -> str:
    """`env:NAME` or `file:/path` to the secret it names (never the reference itself)."""
    kind, _, target = reference.partition(":")
    if kind == "env" and target:
        value = os.environ.get(target)
        if not value:
            raise ValueError(f"{what}: environment variable {target} is not set")
        return value
    if kind == "file" and target:
        text = _read_secret_file(Path(target), what)
        assert isinstance(text, str)
        return text
    raise ValueError(f"{what}: use env:VARIABLE or file:/path, not a literal secret")


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

    @model_validator(mode="before")
    @classmethod
    def _resolve_secret_headers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("secret_headers"), dict):
            where = f"source {data.get('name', '?')!r} secret_headers"
            data = {
                **data,
                "secret_headers": {
                    key: _resolve_reference(str(value), f"{where}.{key}")
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


class SchedulerSettings(Section):
    """[scheduler]: data sources and retraining policies."""

    enabled: bool = Field(True, description="Run data sources and retraining schedules.")
    timezone: str = Field("UTC", description="Time zone for cron expressions.")


class LoggingSettings(Section):
    """[logging]: structlog output."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["console", "json"] = Field("console", description="console or json lines.")


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
        secrets.extend(self.http.tokens)
        secrets.extend(hook.secret for hook in self.http.hooks)
        for source in self.sources:
            secrets.extend(source.secret_headers.values())
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


class SettingsError(Exception):
    """Settings could not be loaded; the message names the offending keys."""


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read the TOML file (if present, or required), apply env overrides, validate."""
    path = path or DEFAULT_CONFIG_PATH
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    elif required:
        raise SettingsError(f"{path}: no such config file")
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc, path)) from None


def format_validation_error(exc: ValidationError, path: Path) -> str:
    """One line per bad key: `http.port: Input should be a valid integer (got 'abc')`."""
    lines = [f"invalid settings in {path} or TRAINBOT_* environment:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        got = error.get("input")
        shown = "" if isinstance(got, dict) or error["type"] == "missing" else f" (got {got!r})"
        if "secret" in key or "password" in key or "token" in key or "api_key" in key:
            shown = ""  # never echo a secret back, even a malformed one
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)
