"""Configuration, from environment variables only (and an optional .env file).

`load_settings()` is what the entry point uses: a bad value becomes one `SettingsError` line that
names the variable and says what it accepts (never echoing a secret), instead of a traceback.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite:///spine-coach.sqlite3"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_FORMS = "sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user:password@host/db"

# What each setting accepts, for the one-line error; the rest fall back to pydantic's words.
ACCEPTED = {
    "database_url": DATABASE_FORMS,
    "log_level": "one of " + ", ".join(LOG_LEVELS),
    "webhook_port": "a whole number from 1 to 65535",
    "nudge_tick_seconds": "a number of seconds above 0",
    "nudge_grace_minutes": "a whole number of minutes, 0 or more",
    "nudge_send_rate": "messages a second above 0: at most 30, or 1000 with ALLOW_PAID_BROADCAST",
}
SECRETS = {"telegram_bot_token", "webhook_secret", "database_url"}


class SettingsError(Exception):
    """A setting the coach cannot use; the message is one line for the operator."""


def default_liveness_file(database_url: str) -> Path:
    """The liveness file of the bot on `database_url`: one per database, so `health` never
    reports another bot on the same host alive. A relative SQLite path counts from here."""
    key = database_url
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            key = url.set(database=str(Path(url.database).resolve())).render_as_string(False)
    except ArgumentError:
        pass
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"spine-coach-{digest}.alive"


class Settings(BaseSettings):
    """Every setting the coach reads; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    terminal_user: str = "local"
    log_level: str = "INFO"
    nudge_tick_seconds: float = Field(default=20.0, gt=0)
    nudge_grace_minutes: int = Field(default=120, ge=0)
    # The bot's send budget, in messages a second, shared by every process and by replies and
    # nudges alike (replies first). Telegram allows about 30 a second per bot token; up to 1000
    # with paid broadcasts, which ALLOW_PAID_BROADCAST opts into (Telegram charges for them).
    nudge_send_rate: float = Field(default=29.5, gt=0, le=1000)
    allow_paid_broadcast: bool = False
    # Default: per database (see default_liveness_file), in the system's temporary folder.
    liveness_file: Path = Field(
        default_factory=lambda data: default_liveness_file(
            data.get("database_url", DEFAULT_DATABASE_URL)
        )
    )
    # On PostgreSQL, each update's transaction runs in a worker thread; true: it awaits
    # psycopg's async connection on the event loop instead (SQLite always runs on the loop).
    database_on_loop: bool = False
    # Rendered exercise animations are kept here across restarts (unset: drawn at each start).
    pictures_dir: Path | None = None

    @model_validator(mode="after")
    def _paid_above_30(self) -> Self:
        if self.nudge_send_rate > 30 and not self.allow_paid_broadcast:
            raise ValueError(
                "NUDGE_SEND_RATE above 30 needs ALLOW_PAID_BROADCAST=true (paid broadcasts)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _a_database_the_coach_knows(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError("not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("not an SQLite or PostgreSQL URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _a_logging_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError("not a logging level")
        return value.strip().upper()


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = field.upper() or "a setting"
    accepted = ACCEPTED.get(field)
    value: Any = first.get("input")
    shown = "" if field in SECRETS or isinstance(value, dict) else f"={value}"
    if accepted is None:
        return f"Bad setting {name}{shown}: {first['msg']}"
    return f"Bad setting {name}{shown}: it takes {accepted}"


def load_settings() -> Settings:
    """The settings from the environment and .env; SettingsError names the first bad one."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
