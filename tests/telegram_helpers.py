"""Playing a Telegram user against the coach, over HTTP through the fake Bot API server.

In-process (adapter tests)::

    async with FakeBotApi() as fake, running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake, 4242)
        user.command("/start")
        question = await user.next_question()
        await user.tap("No")                      # press the newest "No" the bot sent

Against a real process (end-to-end tests) the same user works synchronously: `user.wait_*`.
Both read only what the bot actually sent: message texts and the buttons on them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr
from sqlalchemy import Engine

from bot.pictures.book import PictureBook
from bot.service import CoachService
from bot.settings import Settings
from bot.store.db import StoredUser, find_user, make_engine, unit_of_work
from bot.telegram.app import CoachApplication, build_application
from data.programme import default_programme
from tests.clocks import SteadyClock, nudge_time_far_from_now
from tests.fake_bot_api import BotMessage, FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
# Shaped like a real token, so the log redaction's pattern would catch it too.
TOKEN = "7312345678:AAFakeSecretPart_ForTests-0123456789abc"
CHAT = 4242
TIMEOUT = 10.0


def coach_settings(fake: FakeBotApi, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": SecretStr(fake.token),
        "telegram_api_base_url": fake.base_url,
        "database_url": f"sqlite:///{tmp_path / 'coach.sqlite3'}",
        "nudge_tick_seconds": 3600,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningCoach:
    """A started application and the service behind it."""

    app: CoachApplication
    service: CoachService

    def hold_jobs(self, chat_id: int = CHAT) -> tuple[Any, ...]:
        assert self.app.job_queue is not None
        return self.app.job_queue.get_jobs_by_name(f"hold:{chat_id}")

    def user_row(self, chat_id: int = CHAT) -> StoredUser:
        """The stored user row (active flag, next nudge time)."""
        with unit_of_work(self.service.engine) as session:
            user = find_user(session, "telegram", str(chat_id))
            assert user is not None
            return user


@asynccontextmanager
async def running_coach(
    fake: FakeBotApi,
    tmp_path: Path,
    *,
    clock: Callable[[], Any] | None = None,
    service_for: Callable[[Engine], CoachService] | None = None,
    retry_delays: Sequence[float] = (0.05, 0.1, 0.2),
    rate_limit_retries: int = 3,
    pictures: PictureBook | None = None,
    **settings: Any,
) -> AsyncIterator[RunningCoach]:
    """The coach's application, started as `run_polling` would, polling the fake.

    `service_for(engine)` swaps in another service (one that records or fails, say). The service's
    clock is `clock`, by default a `SteadyClock` from noon on a fixed day, never the wall clock."""
    config = coach_settings(fake, tmp_path, **settings)
    engine = make_engine(config.database_url)
    service = (
        service_for(engine)
        if service_for is not None
        else CoachService(engine, default_programme(), clock or SteadyClock())
    )
    app = build_application(
        config,
        service,
        retry_delays=retry_delays,
        rate_limit_retries=rate_limit_retries,
        pictures=pictures,
    )
    async with app:
        assert app.post_init is not None
        assert app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            yield RunningCoach(app, service)
        finally:
            await app.updater.stop()
            await app.stop()
    service.engine.dispose()


class TelegramUser:
    """One user in one private chat with the bot, acting through the fake server."""

    def __init__(self, fake: FakeBotApi, chat_id: int = CHAT) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.since = 0  # transcript length at the user's last action

    def _acting(self) -> None:
        self.since = self.fake.mark(self.chat_id)

    # --- acting ---------------------------------------------------------------------------------

    def command(self, text: str) -> dict[str, Any]:
        self._acting()
        return self.fake.send_command(self.chat_id, text)

    def send(self, text: str) -> dict[str, Any]:
        self._acting()
        return self.fake.send_text(self.chat_id, text)

    def press(self, label: str) -> dict[str, Any]:
        """Press the newest button with this label the bot sent; returns the update."""
        self._acting()
        return self.fake.press_button(self.chat_id, label)

    def press_data(self, message_id: int, data: str) -> dict[str, Any]:
        """Press a button on a given message with any callback data (forged ones too)."""
        self._acting()
        return self.fake.press(self.chat_id, message_id, data)

    def push(self, message: dict[str, Any]) -> dict[str, Any]:
        """A raw message from the user (fields beyond the usual ones)."""
        self._acting()
        return self.fake.push_update({"message": message})

    # --- reading --------------------------------------------------------------------------------

    def _new(self, contains: str | None, with_buttons: bool) -> Callable[[], BotMessage | None]:
        start = self.since
        needle = contains.casefold() if contains else None

        def find() -> BotMessage | None:
            for message in self.fake.messages(self.chat_id, include_deleted=True)[start:]:
                if message.deleted or (with_buttons and not message.buttons):
                    continue
                if needle is None or needle in message.body.casefold():
                    return message
            return None

        return find

    async def next_message(
        self, contains: str | None = None, *, buttons: bool = False, seconds: float = TIMEOUT
    ) -> BotMessage:
        """The first bot message since the user's last action (with buttons, if asked)."""
        what = f"a bot message containing {contains!r}" if contains else "a bot message"
        try:
            return await self.fake.await_for(self._new(contains, buttons), seconds, what)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.fake.transcript(self.chat_id)}") from None

    async def next_question(self, contains: str | None = None, **kwargs: Any) -> BotMessage:
        return await self.next_message(contains, buttons=True, **kwargs)

    async def tap(self, label: str, expect: str | None = None) -> BotMessage:
        """Press a button and return the next question the bot asks."""
        self.press(label)
        return await self.next_question(expect)

    def wait_message(
        self, contains: str | None = None, *, buttons: bool = False, seconds: float = TIMEOUT
    ) -> BotMessage:
        """Blocking twin of `next_message`, for driving a separate bot process."""
        what = f"a bot message containing {contains!r}" if contains else "a bot message"
        try:
            return self.fake.wait_for(self._new(contains, buttons), seconds, what)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.fake.transcript(self.chat_id)}") from None

    def wait_question(self, contains: str | None = None, **kwargs: Any) -> BotMessage:
        return self.wait_message(contains, buttons=True, **kwargs)

    def wait_tap(self, label: str, expect: str | None = None) -> BotMessage:
        self.press(label)
        return self.wait_question(expect)


def onboard_answers() -> list[tuple[str, str]]:
    """How the e2e user onboards: (action, label or text), pressing what the bot shows."""
    return [
        ("press", "No"),  # urgent red flags
        ("press", "No"),  # see a clinician first
        ("press", "2"),  # pain now
        ("press", "A little"),
        ("press", "Every day"),
        ("send", nudge_time_far_from_now()),  # no nudge falls due while the test runs
        ("press", "UTC"),
    ]


async def until(predicate: Callable[[], Any], seconds: float = TIMEOUT, what: str = "it") -> Any:
    """Poll `predicate` until it is truthy, or fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# --- the real process -----------------------------------------------------------------------


class BotProcess:
    """`python -m bot` on Telegram against the fake, its output appended to one log file."""

    def __init__(self, fake: FakeBotApi, tmp_path: Path, log_file: Path, **env: str) -> None:
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "WEBHOOK_", "NUDGE_"))
        }
        environment.update(
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.base_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'coach.sqlite3'}",
            PYTHONPATH=str(ROOT),
            LOG_LEVEL="DEBUG",
            NUDGE_TICK_SECONDS="3600",
        )
        environment.update(env)
        self.log: TextIO = log_file.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=tmp_path,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code
