"""Configuration, from environment variables only (and an optional .env file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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
    # Telegram allows about 30 messages a second per bot token, shared by every process.
    nudge_send_rate: float = Field(default=25.0, gt=0, le=30)
    liveness_file: Path = Path("/tmp/spine-coach.alive")
    # Rendered exercise animations are kept here across restarts (unset: drawn at each start).
    pictures_dir: Path | None = None
