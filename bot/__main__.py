"""Entry point: `python -m bot` (`python -m bot --help` says everything below).

With TELEGRAM_BOT_TOKEN set it runs the coach on Telegram (long polling, or a webhook with
WEBHOOK_URL); without, it opens a chat in the terminal. The database is DATABASE_URL (an SQLite
file by default). A setting or a database the coach cannot use ends it with one line that names
the setting and what it takes, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import NoReturn

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from bot.settings import DATABASE_FORMS, LOG_LEVELS, Settings, SettingsError, load_settings

log = logging.getLogger("bot")

DESCRIPTION = """\
Spine Coach: a chat-bot coach for the small, deep muscles that keep the spine steady.

With no subcommand the coach runs, in one of three modes chosen by the settings:
  terminal  no TELEGRAM_BOT_TOKEN: a chat in this terminal for one local user
            (type /start; quit with Ctrl-D or Ctrl-C, everything is saved)
  polling   TELEGRAM_BOT_TOKEN set, no WEBHOOK_URL: Telegram, by long polling (one process)
  webhook   TELEGRAM_BOT_TOKEN, WEBHOOK_URL and WEBHOOK_SECRET set: Telegram posts updates to
            WEBHOOK_LISTEN:WEBHOOK_PORT (several processes may share one PostgreSQL database)

subcommands:
  migrate   upgrade the database schema to the newest revision, then exit
  stats     print anonymised totals (users, sessions, pain, stages), then exit
  health    exit 0 if the running bot touched its liveness file lately, else 1
  pictures OUT.png
            write a contact sheet of every exercise's picture to OUT.png, for review
"""

EPILOG = f"""\
main settings (environment variables, or a .env file in the current folder):
  TELEGRAM_BOT_TOKEN   the bot's token from BotFather; unset: the terminal chat
  DATABASE_URL         {DATABASE_FORMS.replace(" or ", chr(10) + " " * 23 + "or ")}
                       (default: sqlite:///spine-coach.sqlite3, in the current folder)
  WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_LISTEN, WEBHOOK_PORT   webhook mode
  LOG_LEVEL            {", ".join(LOG_LEVELS)} (default INFO)
  LIVENESS_FILE        the file `health` checks (default: one per database, in /tmp)
  PICTURES_DIR         where drawn exercise pictures are kept (default: drawn at each start)
Every setting: README.md, "Configuration".
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """A wrong argument: the whole usage, then what was wrong, and exit status 2."""
        self.print_help(sys.stderr)
        self.exit(2, f"\n{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    parse = _Parser(
        prog="python -m bot",
        usage="%(prog)s [-h] [migrate | stats | health | pictures OUT.png]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument(
        "command",
        nargs="?",
        choices=("migrate", "stats", "health", "pictures"),
        metavar="subcommand",
        help=argparse.SUPPRESS,
    )
    parse.add_argument("arguments", nargs="*", help=argparse.SUPPRESS)
    return parse


def database_error(settings: Settings, error: DBAPIError) -> str:
    """One line for a database that refused or failed: where, why, what DATABASE_URL takes."""
    try:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
    except ArgumentError:
        where = "?"
    reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
    return (
        f"Cannot use the database in DATABASE_URL ({where}): {reason}. "
        f"DATABASE_URL takes {DATABASE_FORMS}, with the server running."
    )


def main(argv: list[str]) -> int:
    parse = parser()
    try:
        args = parse.parse_args(argv)
        if len(args.arguments) != (1 if args.command == "pictures" else 0):
            parse.error(f"{args.command or 'the coach'}: wrong number of arguments")
    except SystemExit as done:  # --help (0), or an unknown subcommand (2, usage printed)
        return int(done.code or 0)
    if args.command == "pictures":
        return _pictures(args.arguments)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        return run(args.command, settings)
    except DBAPIError as error:
        print(database_error(settings, error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the chat started, or during migrate
        print("Stopped.", file=sys.stderr)
        return 130


def run(command: str | None, settings: Settings) -> int:
    if command == "health":
        from bot import health

        return health.main(settings.liveness_file)
    if command == "migrate":
        from bot.store.migrations import main as migrate

        return migrate(settings.database_url)
    if command == "stats":
        from bot.stats import main as stats

        return stats(settings)

    from bot.logs import configure_logging
    from bot.service import CoachService
    from bot.store.db import make_engine
    from data.poses import load_poses
    from data.programme import ProgrammeError, load_programme

    configure_logging(settings)
    try:
        programme = load_programme()
        load_poses(programme)  # every exercise needs its picture data, checked now
    except ProgrammeError as error:
        print(f"The programme files are broken: {error}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    service = CoachService(engine, programme, on_loop=settings.database_on_loop)
    if settings.telegram_bot_token is None:
        from datetime import timedelta

        from bot.pictures.book import PictureBook
        from bot.terminal.chat import TerminalChat

        # One local user: a drawing thread is plenty, and it never holds up the exit.
        pictures = PictureBook(load_poses(programme), folder=settings.pictures_dir)
        chat = TerminalChat(
            service,
            settings.terminal_user,
            tick_seconds=settings.nudge_tick_seconds,
            grace=timedelta(minutes=settings.nudge_grace_minutes),
            pictures=pictures,
        )
        try:
            asyncio.run(chat.run())
        except KeyboardInterrupt:  # Ctrl-C: the chat has said goodbye; every answer is saved
            pass
        return 0
    from bot.telegram.app import run_telegram

    run_telegram(settings, service)
    return 0


def _pictures(argv: list[str]) -> int:
    """`python -m bot pictures OUT.png`: the contact sheet of every exercise, for review."""
    from pathlib import Path

    from bot.pictures.book import write_contact_sheet
    from data.programme import ProgrammeError, load_programme

    try:
        path = write_contact_sheet(Path(argv[0]), load_programme())
    except ProgrammeError as error:
        print(f"The programme files are broken: {error}", file=sys.stderr)
        return 2
    print(f"Contact sheet written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
