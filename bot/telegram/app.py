"""The coach on Telegram: `python -m bot` with TELEGRAM_BOT_TOKEN set ends up in `run_telegram`.

    settings = Settings()                       # TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL, ...
    run_telegram(settings, CoachService(make_engine(settings.database_url), load_programme()))

Long polling by default; with WEBHOOK_URL set, a webhook server (WEBHOOK_LISTEN, WEBHOOK_PORT)
that checks WEBHOOK_SECRET on every request. TELEGRAM_API_BASE_URL points the bot at any
Bot API-compatible server (a self-hosted one, or a fake in tests).

`build_application(settings, service)` wires a python-telegram-bot `Application`: the handlers
of `bot.telegram.chat.TelegramCoach`, per-chat ordering with concurrency across chats, PTB's
`AIORateLimiter` for flood control, JobQueue defaults that run late jobs instead of dropping
them, and the start-up work (command menu, hold timers from the database, the nudge tick).
Tests build it against a fake server and drive it with `async with app:`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.logs import RedactTokens
from bot.pictures.book import PictureBook, picture_book
from bot.service import CoachService
from bot.settings import Settings
from bot.store.send_budget import SendBudget
from bot.telegram.chat import JOB_DEFAULTS, ChatLocks, PerChatUpdateProcessor, TelegramCoach
from bot.telegram.connections import bot_api_request
from bot.telegram.send import DEFAULT_RETRY_DELAYS, PLATFORM, SharedRateLimiter
from conversations.coach import COMMANDS

log = logging.getLogger(__name__)

CoachApplication = Application[Any, Any, Any, Any, Any, Any]
# Only what the coach reads; edits, channel posts and the like are not asked for.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
LONG_POLL_SECONDS = 10
# Telegram accepts 1-256 of these characters as a webhook secret token.
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramSettingsError(ValueError):
    """The settings cannot run the Telegram adapter; the message says what to fix."""


@dataclass(frozen=True)
class WebhookOptions:
    """Everything `Application.run_webhook` needs, from the settings."""

    listen: str
    port: int
    url_path: str
    webhook_url: str
    secret_token: str


def webhook_options(settings: Settings) -> WebhookOptions | None:
    """Webhook mode when WEBHOOK_URL is set (it then needs WEBHOOK_SECRET); else None: polling."""
    if not settings.webhook_url:
        return None
    if settings.webhook_secret is None:
        raise TelegramSettingsError(
            "WEBHOOK_URL is set but WEBHOOK_SECRET is not: webhook mode needs a secret token "
            "(1-256 characters: letters, digits, _ and -) to check every request."
        )
    secret = settings.webhook_secret.get_secret_value()
    if not _SECRET.fullmatch(secret):
        raise TelegramSettingsError(
            "WEBHOOK_SECRET must be 1-256 characters: letters, digits, _ and - only."
        )
    url = urlsplit(settings.webhook_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise TelegramSettingsError(
            "WEBHOOK_URL must be a full URL, like https://example.org/coach"
        )
    return WebhookOptions(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=url.path.strip("/"),
        webhook_url=settings.webhook_url,
        secret_token=secret,
    )


# Connections kept open to the Bot API. Telegram takes about 30 messages a second from a bot, so
# a few dozen requests in flight are plenty; httpcore checks every idle connection before each
# request (bot/telegram/connections.py makes each check cheap, but not free), so PTB's 256 cost
# more than the coach's own work under load.
CONNECTIONS = 32


def file_url_for(base_url: str) -> str:
    """The file download URL that goes with a Bot API URL (…/bot -> …/file/bot)."""
    at = base_url.rfind("/bot")
    return base_url if at < 0 else f"{base_url[:at]}/file{base_url[at:]}"


def build_application(
    settings: Settings,
    service: CoachService,
    *,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    rate_limit_retries: int = 3,
    pictures: PictureBook | None = None,
    freeze_heap: bool = False,
) -> CoachApplication:
    """The PTB application running the coach for `service`, configured from `settings`."""
    if settings.telegram_bot_token is None:
        raise TelegramSettingsError("TELEGRAM_BOT_TOKEN is not set")
    locks = ChatLocks()
    # One budget per bot token, in the database every process of this bot shares.
    budget = SendBudget(service.engine, PLATFORM, settings.nudge_send_rate)
    coach = TelegramCoach(
        service,
        locks=locks,
        retry_delays=retry_delays,
        nudge_tick_seconds=settings.nudge_tick_seconds,
        nudge_grace=timedelta(minutes=settings.nudge_grace_minutes),
        budget=budget,
        paid_broadcast=settings.allow_paid_broadcast,
        liveness_file=settings.liveness_file,
        pictures=pictures,
        freeze_heap=freeze_heap,
    )
    limiter = SharedRateLimiter(
        AIORateLimiter(max_retries=rate_limit_retries), budget, service.call
    )
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url_for(settings.telegram_api_base_url))
        .rate_limiter(limiter)
        .concurrent_updates(PerChatUpdateProcessor(locks))
        .request(
            bot_api_request(
                CONNECTIONS,
                connect_timeout=10,
                read_timeout=15,
                write_timeout=30,
                pool_timeout=10,
            )  # fmt: skip
        )
        # PTB adds the long-poll time on top of the read timeout.
        .get_updates_request(bot_api_request(1, connect_timeout=10, read_timeout=15))
        .post_init(coach.post_init)
        .post_shutdown(lambda _application: service.close())
        .build()
    )
    job_queue = application.job_queue
    if job_queue is None:
        raise TelegramSettingsError("PTB's JobQueue is missing: install the job-queue extra")
    # configure() replaces the whole configuration, so PTB's own part goes in again.
    job_queue.scheduler.configure(
        job_defaults=dict(JOB_DEFAULTS), **job_queue.scheduler_configuration
    )
    only_messages = filters.UpdateType.MESSAGE
    application.add_handlers(
        [
            CommandHandler(list(COMMANDS), coach.on_command, filters=only_messages),
            MessageHandler(only_messages & filters.COMMAND, coach.on_command),
            MessageHandler(only_messages & filters.TEXT, coach.on_text),
            MessageHandler(only_messages, coach.on_other),
            CallbackQueryHandler(coach.on_button),
        ]
    )
    application.add_error_handler(coach.on_error)
    return application


class _RedactingFormatter(logging.Formatter):
    """Masks tokens in the whole formatted line, tracebacks included: the filter of `bot.logs`
    cleans only the message, and an exception's text may quote a request URL or the token."""

    def __init__(self, inner: logging.Formatter, redact: RedactTokens) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = logging.LogRecord("", record.levelno, "", 0, self.inner.format(record), None, None)
        self.redact.filter(line)
        return line.getMessage()


def guard_logs(token: str) -> None:
    """No token and no user data from the libraries in any log line, whatever LOG_LEVEL says."""
    # PTB logs whole updates and request parameters (what users wrote) at DEBUG.
    library = logging.getLogger("telegram")
    library.setLevel(max(library.getEffectiveLevel(), logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs carry the token
    redact = RedactTokens(token)
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, _RedactingFormatter):
            inner = handler.formatter or logging.Formatter()
            handler.setFormatter(_RedactingFormatter(inner, redact))


def run_telegram(settings: Settings, service: CoachService) -> None:
    """Run the coach on Telegram until stopped (Ctrl-C or SIGTERM)."""
    if settings.telegram_bot_token is None:
        raise SystemExit("TELEGRAM_BOT_TOKEN is not set")
    guard_logs(settings.telegram_bot_token.get_secret_value())
    try:
        webhook = webhook_options(settings)
        application = build_application(
            settings,
            service,
            pictures=picture_book(settings, service.programme),
            freeze_heap=True,
        )
    except TelegramSettingsError as error:
        raise SystemExit(f"Cannot start on Telegram: {error}") from None
    try:
        if webhook is None:
            log.info("Starting on Telegram with long polling")
            application.run_polling(
                timeout=LONG_POLL_SECONDS, allowed_updates=ALLOWED_UPDATES, poll_interval=0
            )
        else:
            log.info("Starting on Telegram with a webhook on port %d", webhook.port)
            application.run_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.url_path,
                webhook_url=webhook.webhook_url,
                secret_token=webhook.secret_token,
                allowed_updates=ALLOWED_UPDATES,
            )
    except InvalidToken:
        # PTB's message quotes the token; say what happened without it.
        log.error("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN")
        raise SystemExit(2) from None
    except Exception:
        log.exception("The Telegram adapter stopped on an error")
        raise SystemExit(1) from None
