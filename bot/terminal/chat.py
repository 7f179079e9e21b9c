"""The coach in a terminal, for one local user: `python -m bot` with no bot token.

Reads standard input line by line (so a piped script can drive it) and ends cleanly at the end of
input (Ctrl-D) or on Ctrl-C, with the same one-line goodbye: every event is saved as it happens.
Control characters are never printed as such (`printable`), so nothing typed and echoed back can
drive the terminal. Choices show as a numbered list; type the number or the label. Commands work
as in Telegram (/start, /session, /help, ...). A set runs by itself after Start, one line per
phase (hold, rest, set done); its buttons (Shaky, It hurts, Pause, Done) stay typeable while it
runs.
Daily nudges arrive in the running chat: the nudge tick runs at start-up (catching a nudge that
fell due while the chat was closed, within the grace window) and every `tick_seconds` after.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import unicodedata
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.delivery import DeliveryResult
from bot.nudges.tick import NoPacing, run_nudge_tick
from bot.pictures.book import PictureBook
from bot.reports.chart import PROGRESS_PHOTO_NAME, progress_photo
from bot.reports.export import EXPORT_CSV_NAME, EXPORT_JSON_NAME, export_documents
from bot.reports.history import say
from bot.reports.progress import progress_details
from bot.service import CoachService
from conversations.events import Choose, Event, HoldTimeUp, Text
from conversations.flow import Outcome
from conversations.replies import (
    Acknowledge,
    CancelHoldTimer,
    Effect,
    ExportData,
    ForgetUser,
    LiveUpdate,
    Reply,
    ShowProgress,
    WakeAt,
)

PLATFORM = "terminal"
PICTURES_FOLDER = "spine-coach-pictures"
_END = object()
_TICK = object()

log = logging.getLogger(__name__)


def printable(text: str) -> str:
    """`text` with every control character but the newline shown escaped (ESC as `\\x1b`), so
    nothing the user typed, echoed back by the coach, can move the cursor or recolour the
    terminal."""
    return "".join(
        char if char == "\n" or unicodedata.category(char) != "Cc" else ascii(char)[1:-1]
        for char in text
    )


def render(reply: Reply) -> str:
    """A reply as terminal text: the message, then its choices numbered (or inline for scores)."""
    lines = [f"Coach: {reply.text}"]
    if reply.choices:
        labels = [c.label for c in reply.choices]
        if all(label.isdigit() for label in labels):
            lines.append("   Type one of: " + " ".join(labels))
        else:
            lines.append("   " + "   ".join(f"[{i}] {label}" for i, label in enumerate(labels, 1)))
    return "\n".join(lines)


def render_live(update: Reply, *, with_choices: bool = False) -> str:
    """One line per phase of a running set (its choices again only when they changed)."""
    line = "Coach: " + update.text.splitlines()[-1]
    if with_choices:
        return render(Reply(line.removeprefix("Coach: "), update.choices))
    return line


class TerminalChat:
    """One local user chatting with the coach through stdin and stdout."""

    def __init__(
        self,
        service: CoachService,
        chat_id: str,
        *,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        tick_seconds: float | None = None,
        grace: timedelta | None = None,
        pictures: PictureBook | None = None,
        pictures_folder: Path | None = None,
    ) -> None:
        if tick_seconds is None or grace is None:
            from bot.settings import Settings

            settings = Settings()
            if tick_seconds is None:
                tick_seconds = settings.nudge_tick_seconds
            if grace is None:
                grace = timedelta(minutes=settings.nudge_grace_minutes)
        self.service = service
        self.chat_id = chat_id
        self.stdin = stdin
        self.stdout = stdout
        self.tick_seconds = tick_seconds
        self.grace = grace
        self.question: Reply | None = None
        self.pictures = pictures
        self.pictures_folder = pictures_folder or Path.cwd() / PICTURES_FOLDER
        self._pictures_written: set[str] = set()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None

    def _print(self, text: str) -> None:
        self.stdout.write(printable(text) + "\n")
        self.stdout.flush()

    def _read_lines(self, loop: asyncio.AbstractEventLoop) -> None:
        for line in self.stdin:
            loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(self._queue.put_nowait, _END)

    def to_event(self, line: str) -> Event:
        """Typed numbers pick from the numbered choices; everything else goes to the coach."""
        question = self.question
        stripped = line.strip()
        if question and question.choices and stripped.isdigit():
            labels = [c.label for c in question.choices]
            index = int(stripped)
            if not any(label.isdigit() for label in labels) and 1 <= index <= len(labels):
                return Choose(question.choices[index - 1].id, question.step_no)
        return Text(line)

    def _start_timer(self, seconds: float, step_no: int) -> None:
        # One timer for the chat: a new one replaces the old.
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(
            max(0.0, seconds), self._queue.put_nowait, HoldTimeUp(step_no)
        )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def show_replies(self, replies: Sequence[Reply]) -> None:
        """Print replies; the newest one with choices is what a typed number answers."""
        for reply in replies:
            if reply.picture is not None:
                self._show_picture(reply.picture)
            self._print(render(reply))
            if reply.choices:
                self.question = reply

    def _show_picture(self, exercise_id: str) -> None:
        """Write the exercise's animation into the pictures folder; say where, the first time.
        A picture still being drawn is left out: the chat never waits for one."""
        picture = self.pictures.get(exercise_id) if self.pictures is not None else None
        if picture is None or exercise_id in self._pictures_written:
            return
        try:
            self.pictures_folder.mkdir(parents=True, exist_ok=True)
            path = self.pictures_folder / picture.filename
            path.write_bytes(picture.data)
        except OSError as error:
            log.warning("An exercise picture was not written (%s)", error.strerror)
            return
        self._pictures_written.add(exercise_id)
        self._print(f"   (Picture of this exercise: {path})")

    def _show(self, outcome: Outcome) -> None:
        # The running set's line first: "Set done" comes before the question that follows it.
        for effect in outcome.effects:
            if isinstance(effect, LiveUpdate):
                live = Reply(effect.text, effect.choices, effect.step_no, effect.columns, True)
                changed = bool(effect.choices) and (
                    self.question is None or self.question.choices != effect.choices
                )
                self._print(render_live(live, with_choices=changed))
                if effect.choices:
                    self.question = live
            elif isinstance(effect, Acknowledge):
                self._print(f"Coach: {effect.text}")
        self.show_replies(outcome.replies)
        for effect in outcome.effects:
            if isinstance(effect, WakeAt):
                seconds = (effect.at - self.service.clock()).total_seconds()
                self._start_timer(seconds, effect.step_no)
            elif isinstance(effect, CancelHoldTimer | ForgetUser):
                self._cancel_timer()
            # The chart and the export go into files in the current folder; their paths are said.
            for line in carry_out_in_terminal(self.service, self.chat_id, effect, Path.cwd()):
                self._print(line)

    def _rebuild_timers(self) -> None:
        now = self.service.clock()
        for hold in self.service.pending_holds(PLATFORM):
            if hold.chat_id == self.chat_id:
                self._start_timer((hold.due_at - now).total_seconds(), hold.step_no)

    async def nudge_tick(self) -> None:
        """Send this chat's due nudge, if any, into the running chat."""
        try:
            await run_nudge_tick(
                self.service,
                TerminalDelivery(self),
                now=self.service.clock(),
                grace=self.grace,
                pacer=NoPacing(),
                chat_ids=(self.chat_id,),
            )
        except Exception:  # a failed tick must not end the chat; the next one tries again
            log.exception("nudge tick failed")

    def _arm_ticker(self) -> None:
        loop = asyncio.get_running_loop()
        self._ticker = loop.call_later(self.tick_seconds, self._queue.put_nowait, _TICK)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = threading.Thread(target=self._read_lines, args=(loop,), daemon=True)
        if self.pictures is not None:
            self.pictures.start()
        self._print("Spine Coach in your terminal. Type /start to begin, /help for commands.")
        waiting = self.service.waiting_question(PLATFORM, self.chat_id)
        if waiting is not None:
            self.question = waiting
            self._print(render(waiting))
        self._rebuild_timers()
        await self.nudge_tick()
        reader.start()
        self._arm_ticker()
        try:
            await self._chat()
        finally:
            # The end of input, or Ctrl-C (asyncio cancels this task): every event was saved
            # in its own transaction, so there is nothing to lose.
            self._cancel_timer()
            if self._ticker is not None:
                self._ticker.cancel()
            self._print("Bye for now. Everything is saved; run me again to carry on.")
            await self.service.close()  # the nudge tick's connections (PostgreSQL)

    async def _chat(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if item is _TICK:
                await self.nudge_tick()
                self._arm_ticker()
                continue
            event = item if isinstance(item, HoldTimeUp) else self.to_event(str(item))
            if isinstance(event, Text) and not event.text.strip():
                continue
            self._show(self.service.handle(PLATFORM, self.chat_id, event))


class TerminalDelivery:
    """The nudge tick's delivery for the terminal: the nudge appears in the running chat."""

    platform = PLATFORM

    def __init__(self, chat: TerminalChat) -> None:
        self.chat = chat

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
        if chat_id != self.chat.chat_id:
            return DeliveryResult.FAILED  # another terminal user's nudge waits for their chat
        self.chat.show_replies(replies)
        return DeliveryResult.SENT


# --- /progress and /export in the terminal -------------------------------------------------------


def _write(path: Path, data: bytes, key: str = "terminal_saved") -> str:
    try:
        path.write_bytes(data)
    except OSError as error:
        return say("terminal_not_written", path=path, why=error.strerror or error)
    return say(key, path=path)


def carry_out_in_terminal(
    service: CoachService, chat_id: str, effect: Effect, folder: Path
) -> list[str]:
    """What the terminal chat does for ShowProgress, ExportData and ForgetUser: writes the
    files into `folder` and returns the lines to print (each already starting "Coach: ").
    Any other effect: nothing, so the caller can pass every effect through."""
    lines: list[str] = []
    if isinstance(effect, ShowProgress):
        try:
            png = progress_photo(service, PLATFORM, chat_id)
        except Exception:  # the facts still come as text below
            log.exception("the progress chart could not be drawn")
            png = None
        if png is not None:
            lines.append(_write(folder / PROGRESS_PHOTO_NAME, png, "terminal_chart"))
        details = progress_details(service, PLATFORM, chat_id)
        if details:
            lines.append(details)
    elif isinstance(effect, ExportData):
        for name, data in export_documents(service, PLATFORM, chat_id):
            lines.append(_write(folder / name, data))
    elif isinstance(effect, ForgetUser):
        # The rows are gone; the files this chat wrote about the user go too.
        for name in (PROGRESS_PHOTO_NAME, EXPORT_JSON_NAME, EXPORT_CSV_NAME):
            path = folder / name
            if path.exists():
                path.unlink()
                lines.append(say("terminal_forgotten_files", path=path))
    return [f"Coach: {line}" for line in lines]
