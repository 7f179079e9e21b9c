"""Entry point: `python -m bot`.

With TELEGRAM_BOT_TOKEN set it runs the coach on Telegram; without, it opens a chat in the
terminal. The database is DATABASE_URL (an SQLite file by default).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.logs import configure_logging
from bot.service import CoachService
from bot.settings import Settings
from bot.store.db import make_engine
from data.poses import load_poses
from data.programme import ProgrammeError, load_programme

log = logging.getLogger("bot")


def main(argv: list[str]) -> int:
    if argv[:1] == ["health"]:
        from bot import health

        return health.main(Settings().liveness_file)
    if argv[:1] == ["migrate"]:
        from bot.store.migrations import main as migrate

        return migrate(Settings().database_url)
    if argv[:1] == ["stats"]:
        from bot.stats import main as stats

        return stats(Settings())
    if argv[:1] == ["pictures"]:
        return _pictures(argv[1:])
    settings = Settings()
    configure_logging(settings)
    try:
        programme = load_programme()
        load_poses(programme)  # every exercise needs its picture data, checked now
    except ProgrammeError as error:
        print(f"The programme files are broken: {error}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    service = CoachService(engine, programme)
    if settings.telegram_bot_token is None:
        from bot.pictures.book import PictureBook
        from bot.terminal.chat import TerminalChat

        # One local user: a drawing thread is plenty, and it never holds up the exit.
        pictures = PictureBook(load_poses(programme), folder=settings.pictures_dir)
        asyncio.run(TerminalChat(service, settings.terminal_user, pictures=pictures).run())
        return 0
    from bot.telegram.app import run_telegram

    run_telegram(settings, service)
    return 0


def _pictures(argv: list[str]) -> int:
    """`python -m bot pictures OUT.png`: the contact sheet of every exercise, for review."""
    if len(argv) != 1:
        print("usage: python -m bot pictures OUT.png", file=sys.stderr)
        return 2
    from pathlib import Path

    from bot.pictures.book import write_contact_sheet

    try:
        path = write_contact_sheet(Path(argv[0]), load_programme())
    except ProgrammeError as error:
        print(f"The programme files are broken: {error}", file=sys.stderr)
        return 2
    print(f"Contact sheet written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
