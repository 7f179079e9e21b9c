"""Configuration, from environment variables only (and an optional .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class Settings(BaseSettings):
    """Every setting the coach reads; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    database_url: str = "sqlite:///spine-coach.sqlite3"
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
    liveness_file: Path = Path("/tmp/spine-coach.alive")
    # Rendered exercise animations are kept here across restarts (unset: drawn at each start).
    pictures_dir: Path | None = None

    @model_validator(mode="after")
    def _paid_above_30(self) -> Self:
        if self.nudge_send_rate > 30 and not self.allow_paid_broadcast:
            raise ValueError(
                "NUDGE_SEND_RATE above 30 needs ALLOW_PAID_BROADCAST=true (paid broadcasts)"
            )
        return self
