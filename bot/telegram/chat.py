"""The Telegram chat: updates in, coach events through `CoachService`, replies and effects out.

`TelegramCoach(service, sender_factory)` owns the handlers that `bot.telegram.app` registers; each
one only turns an update into an event, runs it through the service (one transaction), renders
the outcome and carries out its effects:

- commands -> `Command`; typed text -> `Text` (labels work as typed answers, the core matches
  them); stickers, photos, voice notes and anything else -> `Unsupported(kind)`; a shared
  location -> `SharedZone` (nearest time zone).
- a pressed button is checked against the question waiting in the database before anything
  happens: malformed, stale, replayed or double-tapped buttons only get a short answer.
- a running set is one live message per set, edited at each phase change (`LiveUpdate`), never
  more than one edit per chat every `EDIT_GAP` seconds (every edit of the chat goes through
  `EditGate`); its timer is one JobQueue job per chat, kept in a dict from chat to job, and
  rebuilt from the database at start-up.

`ChatLocks` keeps one user's updates in order while different users run concurrently: the
`PerChatUpdateProcessor` takes a chat's lock around each of its updates, and hold timers and
nudges take the same lock.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from telegram import Bot, BotCommand, InputFile, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes, JobQueue

from bot.health import TOUCH_EVERY_SECONDS, touch_liveness
from bot.nudges.tick import run_nudge_tick
from bot.pictures.book import PictureBook
from bot.reports.chart import progress_photo, warm_up_chart
from bot.reports.export import export_documents
from bot.reports.progress import progress_details
from bot.service import CoachService
from bot.store.picture_files import forget_file_id, known_file_id, remember_file_id
from bot.store.send_budget import SendBudget, SharedPacer
from bot.telegram.render import (
    goes_as_caption,
    input_kind,
    keyboard,
    parse_callback_data,
    zone_near,
)
from bot.telegram.send import PLATFORM, Sender, TelegramDelivery, is_not_modified
from conversations.events import (
    Command,
    Event,
    HoldTimeUp,
    SharedZone,
    Text,
    Unsupported,
)
from conversations.flow import Outcome
from conversations.replies import (
    Acknowledge,
    CancelHoldTimer,
    ExportData,
    ForgetUser,
    LiveUpdate,
    Reply,
    ShowProgress,
    WakeAt,
)

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Jobs = JobQueue[Any]
# Jobs may fire late (a busy loop, a suspended laptop): run them anyway, once (PTB #3642).
JOB_DEFAULTS = {"misfire_grace_time": 300, "coalesce": True, "max_instances": 1}


Edit = Callable[[], Awaitable[object]]
# Telegram counts edits against a chat's flood limit: at most one edit per chat in this many
# seconds (a little over 3, so that request arrivals stay 3 s apart too).
EDIT_GAP = 3.2


def settle_heap() -> None:
    """Move everything start-up built (libraries, the programme, matplotlib once warmed up) out
    of the garbage collector's sight: it lives as long as the process, and a full collection
    scanning its ~190,000 objects stalls every chat for about 0.1 s. Only for the bot process
    (`python -m bot`): in a process that builds many bots, such as the tests, frozen garbage
    would never be freed."""
    gc.collect()
    gc.freeze()


def hold_job_name(chat_id: int) -> str:
    return f"hold:{chat_id}"


class ChatLocks:
    """One asyncio lock per chat, dropped again when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        # Registering happens before the first await, so waiters queue in arrival order, and
        # asyncio.Lock wakes them first come, first served.
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:
                del self._users[chat_id], self._locks[chat_id]

    def __len__(self) -> int:
        return len(self._locks)


class EditGate:
    """Every edit of one chat, one at a time and `gap` seconds apart.

    Edits run in the background so that a reply never waits for the gap. A running set's live
    edits go first (they coalesce: only a live message's newest text is shown); marking pressed
    questions as answered is cosmetic and takes the slots in between."""

    def __init__(self, gap: float = EDIT_GAP) -> None:
        self.gap = gap
        self._last: dict[int, float] = {}
        self._live: dict[int, deque[Edit]] = {}
        self._other: dict[int, deque[Edit]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}

    def run(self, chat_id: int, edit: Edit, *, live: bool = False) -> None:
        queues = self._live if live else self._other
        queues.setdefault(chat_id, deque()).append(edit)
        if chat_id not in self._workers:
            worker = asyncio.get_running_loop().create_task(self._work(chat_id))
            self._workers[chat_id] = worker

    def _next(self, chat_id: int) -> Edit | None:
        for queues in (self._live, self._other):
            queue = queues.get(chat_id)
            if queue:
                edit = queue.popleft()
                if not queue:
                    del queues[chat_id]
                return edit
        return None

    async def _work(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                wait = self._last.get(chat_id, -self.gap) + self.gap - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                edit = self._next(chat_id)
                if edit is None:
                    return
                try:
                    await edit()
                except Exception as error:  # an edit is cosmetic: log it, never lose the chat
                    log.info("An edit was not made (%s)", type(error).__name__)
                finally:
                    now = self._last[chat_id] = loop.time()
                    if len(self._last) > 10_000:  # forget chats whose gap is long over
                        self._last = {c: t for c, t in self._last.items() if now - t < self.gap}
        finally:
            del self._workers[chat_id]


def chat_of(update: object) -> int | None:
    """The chat an update belongs to (the user's id for a private chat), if any."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Processes updates concurrently across chats, one at a time and in order within a chat."""

    def __init__(self, locks: ChatLocks, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = chat_of(update)
        if chat_id is None:
            await coroutine
            return
        async with self.locks.hold(chat_id):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


@dataclass
class WakeJob:
    """What a running set's timer carries: the question (step number) it belongs to."""

    step_no: int


@dataclass
class LiveMessage:
    """The live message of a chat's running set, and the newest text it should show."""

    message_id: int | None
    pending: LiveUpdate | None = None


class TelegramCoach:
    """The handlers and jobs of the Telegram adapter, around one `CoachService`."""

    def __init__(
        self,
        service: CoachService,
        *,
        locks: ChatLocks,
        retry_delays: Sequence[float],
        nudge_tick_seconds: float,
        nudge_grace: timedelta,
        budget: SendBudget,
        paid_broadcast: bool = False,
        liveness_file: Path | None = None,
        pictures: PictureBook | None = None,
        freeze_heap: bool = False,
    ) -> None:
        self.service = service
        self.freeze_heap = freeze_heap
        self.pictures = pictures
        self.liveness_file = liveness_file
        self.locks = locks
        self.retry_delays = tuple(retry_delays)
        self.nudge_tick_seconds = nudge_tick_seconds
        self.nudge_grace = nudge_grace
        self.paid_broadcast = paid_broadcast
        # One pacer for the life of the process, inside the bot's shared budget.
        self.budget = budget
        self.pacer: SharedPacer | None = None
        self.stale_text = service.programme.messages.say("stale_button")
        self.edits = EditGate()
        # One timer per chat, and one live message per chat's running set.
        self.timers: dict[int, Any] = {}
        self.live: dict[int, LiveMessage] = {}
        # Telegram's file id of each picture already sent, by (bot id, content hash): a file id
        # never changes, so after the first lookup no send asks the database again.
        self.file_ids: dict[tuple[int, str], str] = {}
        self.chart_warm_up: asyncio.Task[None] | None = None

    def sender(self, bot: Bot) -> Sender:
        return Sender(bot, retry_delays=self.retry_delays, paid_broadcast=self.paid_broadcast)

    # --- start-up -------------------------------------------------------------------------------

    async def post_init(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Start-up: the command menu, hold timers rebuilt from the database, the nudge tick."""
        bot = application.bot
        if self.pictures is not None:
            self.pictures.start()  # in the background: no chat waits for a picture
        menu = [
            BotCommand(name, about)
            for name, about in self.service.programme.messages.commands.items()
        ]
        await self.sender(bot).optional(bot.set_my_commands(menu), "setMyCommands")
        self.chart_warm_up = asyncio.create_task(self._warm_up_chart())
        job_queue: Jobs | None = application.job_queue
        if job_queue is None:
            raise RuntimeError("the Telegram adapter needs PTB's JobQueue (the job-queue extra)")
        pending = await self.service.call(self.service.pending_holds, PLATFORM)
        now = self.service.clock()
        for hold in pending:
            # A phase that ended while we were down wakes at once; the coach catches up.
            seconds = max(0.0, (hold.due_at - now).total_seconds())
            self._arm_wake(job_queue, int(hold.chat_id), seconds, hold.step_no)
        if pending:
            log.info("Rebuilt %d set timer(s) from the database", len(pending))
        job_queue.run_repeating(
            self.nudge_tick,
            interval=self.nudge_tick_seconds,
            first=2,
            name="nudge-tick",
            job_kwargs=JOB_DEFAULTS,
        )
        if self.liveness_file is not None:
            touch_liveness(self.liveness_file)
            job_queue.run_repeating(
                self.still_alive,
                interval=TOUCH_EVERY_SECONDS,
                first=0,
                name="liveness",
                job_kwargs=JOB_DEFAULTS,
            )

    async def _warm_up_chart(self) -> None:
        """matplotlib's import and first figure, in a worker thread while updates flow."""
        try:
            await asyncio.to_thread(warm_up_chart, self.service.programme)
        except Exception as error:  # the first /progress will just take longer
            log.warning("Warming up the progress chart failed (%s)", type(error).__name__)
        if self.freeze_heap:  # once, after start-up and the chart's imports, failed or not
            settle_heap()

    async def still_alive(self, context: Context) -> None:
        """Keep the liveness file fresh: the Docker health check reads its age."""
        if self.liveness_file is not None:
            touch_liveness(self.liveness_file)

    # --- handlers (the update processor holds the chat's lock) ---------------------------------

    async def on_command(self, update: Update, context: Context) -> None:
        """A slash command, known or not: the coach answers either."""
        message = update.effective_message
        if message is None or not message.text:
            return
        word, _, argument = message.text.strip().partition(" ")
        name = word.lstrip("/").split("@", 1)[0].lower()
        event = Command(name, argument.strip())
        await self.run(context, message.chat_id, event, update.update_id)

    async def on_text(self, update: Update, context: Context) -> None:
        """Typed text: an answer, a typed label, a time or a zone; the coach reads it."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        await self.run(context, message.chat_id, Text(message.text), update.update_id)

    async def on_other(self, update: Update, context: Context) -> None:
        """Anything but text: a shared location may set the time zone, the rest goes unread."""
        message = update.effective_message
        if message is None:
            return
        event: Event = Unsupported(input_kind(message))
        if message.location is not None:
            zone = zone_near(message.location.latitude, message.location.longitude)
            if zone is not None:
                event = SharedZone(zone)
        await self.run(context, message.chat_id, event, update.update_id)

    async def on_button(self, update: Update, context: Context) -> None:
        """A pressed button: one of the waiting question counts, any other changes nothing."""
        query = update.callback_query
        chat_id = chat_of(update)
        if query is None or chat_id is None:
            return
        sender = self.sender(context.bot)
        pressed = parse_callback_data(query.data)
        if pressed is None:
            log.info("A button with callback data that is not ours was pressed")
            await sender.optional(query.answer(self.stale_text), "answerCallbackQuery")
            return
        # Checked against the waiting question and handled in one transaction.
        handled = await self.service.call(
            self.service.press, PLATFORM, str(chat_id), pressed.choice_id, pressed.step_no
        )
        if handled is None:
            await sender.optional(query.answer(self.stale_text), "answerCallbackQuery")
            return
        choice, waiting, outcome = handled
        note = next((e.text for e in outcome.effects if isinstance(e, Acknowledge)), None)
        await sender.optional(query.answer(note), "answerCallbackQuery")
        message = query.message if isinstance(query.message, Message) else None
        if waiting.live:
            # A button of the running set's live message: the message stays, edited by the
            # set (after a restart, this is how we learn which message it is).
            if message is not None and chat_id not in self.live:
                self.live[chat_id] = LiveMessage(message.message_id)
        elif message is not None:
            mark = partial(self._mark_answered, sender, chat_id, message, choice.label)
            self.edits.run(chat_id, mark)
        await self.carry_out(context, chat_id, outcome)

    async def _mark_answered(
        self, sender: Sender, chat_id: int, message: Message, label: str
    ) -> None:
        try:
            await sender.mark_answered(message, label)
        except Forbidden:
            await self._blocked(None, chat_id)

    async def on_error(self, update: object, context: Context) -> None:
        """Log a failed update or job without user data: the error's type, and where it was."""
        error = context.error
        if error is None:
            return
        # Telegram's error texts come from the server; other messages may quote what a user wrote.
        detail = error.message if isinstance(error, TelegramError) else "(detail withheld)"
        where = "".join(traceback.format_tb(error.__traceback__)).rstrip()
        log.error("An update or job failed: %s: %s\n%s", type(error).__name__, detail, where)

    # --- jobs -----------------------------------------------------------------------------------

    async def hold_time_up(self, context: Context) -> None:
        """A running set's timer fell due: tell the coach, through the same per-chat path as
        updates; it says where the set stands now."""
        job = context.job
        if job is None or job.chat_id is None or not isinstance(job.data, WakeJob):
            return
        chat_id = job.chat_id
        if self.timers.get(chat_id) is job:
            del self.timers[chat_id]
        async with self.locks.hold(chat_id):
            outcome = await self._handle(chat_id, HoldTimeUp(job.data.step_no))
            await self.carry_out(context, chat_id, outcome)

    async def nudge_tick(self, context: Context) -> None:
        """The periodic nudge tick: claim what is due, then deliver the outbox."""
        delivery = TelegramDelivery(self.sender(context.bot), self.locks.hold)
        if self.pacer is None:  # made on the event loop that runs the ticks
            self.pacer = SharedPacer(self.budget, runner=self.service.call)
        await run_nudge_tick(
            self.service,
            delivery,
            now=self.service.clock(),
            grace=self.nudge_grace,
            pacer=self.pacer,
            wait_for_leases=True,
        )

    # --- the one path every event takes --------------------------------------------------------

    async def run(
        self, context: Context, chat_id: int, event: Event, update_id: int | None = None
    ) -> None:
        """Handle one event of one chat and show the outcome (the caller holds the chat's lock).
        `update_id` lets the service spot an update Telegram delivers again after a crash."""
        outcome = await self._handle(chat_id, event, update_id)
        await self.carry_out(context, chat_id, outcome)

    async def _handle(self, chat_id: int, event: Event, update_id: int | None = None) -> Outcome:
        # The service is synchronous (one database transaction); see CoachService.call.
        return await self.service.call(
            self.service.handle, PLATFORM, str(chat_id), event, update_id=update_id
        )

    async def carry_out(self, context: Context, chat_id: int, outcome: Outcome) -> None:
        """Arm or cancel the set's timer, send the replies in order, edit the live message,
        then photos and files."""
        for effect in outcome.effects:
            if isinstance(effect, WakeAt):
                seconds = (effect.at - self.service.clock()).total_seconds()
                self._arm_wake(context.job_queue, chat_id, seconds, effect.step_no)
            elif isinstance(effect, CancelHoldTimer | ForgetUser):
                self._cancel_wake(chat_id)
        sender = self.sender(context.bot)
        try:
            for effect in outcome.effects:
                if isinstance(effect, LiveUpdate):
                    self._edit_live(sender, chat_id, effect)
            for reply in outcome.replies:
                sent = None
                if reply.picture is not None:
                    sent = await self._send_picture(sender, chat_id, reply, reply.picture)
                if sent is None:  # no picture, or not with the text: the text on its own
                    sent = await sender.send_reply(chat_id, reply)
                if reply.live:
                    self.live[chat_id] = LiveMessage(sent.message_id)
            for effect in outcome.effects:
                if isinstance(effect, ShowProgress):
                    await self._send_progress_photo(sender, chat_id)
                elif isinstance(effect, ExportData):
                    await self._send_export(sender, chat_id)
        except Forbidden:
            await self._blocked(context, chat_id)

    def _edit_live(self, sender: Sender, chat_id: int, update: LiveUpdate) -> None:
        """Show a phase change on the set's live message, when the chat's edit gap allows. Only
        the newest text is shown; the set's last edit (no buttons) lets the message go."""
        live = self.live.get(chat_id)
        if live is None:
            if not update.choices:
                return  # a set we never showed is over: nothing to tidy
            live = self.live[chat_id] = LiveMessage(None)
        first = live.pending is None
        live.pending = update
        if not update.choices:
            del self.live[chat_id]  # the next set has a message of its own
        if first:
            self.edits.run(chat_id, partial(self._show_live, sender, chat_id, live), live=True)

    async def _show_live(self, sender: Sender, chat_id: int, live: LiveMessage) -> None:
        update, live.pending = live.pending, None
        if update is None:
            return
        reply = Reply(update.text, update.choices, update.step_no, update.columns, live=True)
        if live.message_id is not None:
            try:
                await sender.bot.edit_message_text(
                    update.text, chat_id, live.message_id, reply_markup=keyboard(reply)
                )
                return
            except BadRequest as error:
                if is_not_modified(error):
                    return
                # Deleted, or too old to edit: a running set gets a fresh message below.
                log.info("The live message could not be edited: %s", error.message)
            except Forbidden:
                await self._blocked(None, chat_id)
                return
        if update.choices:
            sent = await sender.send_reply(chat_id, reply)
            live.message_id = sent.message_id

    async def _blocked(self, context: Context | None, chat_id: int) -> None:
        """The user blocked the bot: no timers, no nudges, until they write again."""
        log.info("A user blocked the bot; marking them inactive")
        self._cancel_wake(chat_id)
        self.live.pop(chat_id, None)
        await self.service.call(self.service.mark_inactive, PLATFORM, str(chat_id))

    # --- effects --------------------------------------------------------------------------------

    def _arm_wake(
        self, job_queue: Jobs | None, chat_id: int, seconds: float, step_no: int
    ) -> None:
        """The chat's one timer: a new one replaces the old (a dict, not a scan of all jobs)."""
        if job_queue is None:
            return
        self._cancel_wake(chat_id)
        self.timers[chat_id] = job_queue.run_once(
            self.hold_time_up,
            when=max(0.0, seconds),
            data=WakeJob(step_no),
            name=hold_job_name(chat_id),
            chat_id=chat_id,
            job_kwargs=JOB_DEFAULTS,
        )

    def _cancel_wake(self, chat_id: int) -> None:
        job = self.timers.pop(chat_id, None)
        if job is not None:
            job.schedule_removal()

    async def _send_picture(
        self, sender: Sender, chat_id: int, reply: Reply, exercise_id: str
    ) -> Message | None:
        """The exercise's animation with the reply as its caption and the reply's buttons under
        it: one message, returned. By the file id Telegram gave this bot for it when there is
        one, else uploaded once and its file id kept.

        None when the reply's text still has to go: too long for a caption (or a running set's
        live message, which is edited as text), the animation goes just before it with the
        exercise's name as its caption; a picture not rendered yet, or any failure but a block,
        is left out, and the text carries the exercise."""
        picture = self.pictures.get(exercise_id) if self.pictures is not None else None
        if picture is None:
            return None
        together = goes_as_caption(reply)
        name = None if together else self._caption(exercise_id)

        async def send(animation: str | InputFile) -> Message:
            if together:
                return await sender.send_reply(chat_id, reply, animation=animation)
            return await sender.retrying(
                lambda: sender.bot.send_animation(chat_id, animation, caption=name)
            )

        engine, bot_id, sha = self.service.engine, sender.bot.id, picture.sha256
        try:
            file_id = self.file_ids.get((bot_id, sha))
            if file_id is None:
                file_id = await self.service.call(known_file_id, engine, bot_id, sha)
            sent = None
            if file_id is not None:
                try:
                    sent = await send(file_id)
                    self.file_ids[bot_id, sha] = file_id
                except BadRequest as error:  # Telegram no longer knows it: upload again
                    log.info("A stored picture file id was refused (%s); uploading", error.message)
                    self.file_ids.pop((bot_id, sha), None)
                    await self.service.call(forget_file_id, engine, bot_id, sha)
            if sent is None:
                sent = await send(InputFile(picture.data, filename=picture.filename))
                media = sent.animation or sent.document
                if media is not None:
                    await self._remember(bot_id, sha, media.file_id)
        except Forbidden:
            raise
        except Exception as error:  # the text goes on its own
            log.warning("An exercise picture was not sent (%s)", type(error).__name__)
            return None
        return sent if together else None

    async def _remember(self, bot_id: int, sha: str, file_id: str) -> None:
        """Keep an uploaded picture's file id. Failing that, it is only uploaded again next
        time: the message is out, so this must not make the reply's text go a second time."""
        try:
            await self.service.call(remember_file_id, self.service.engine, bot_id, sha, file_id)
        except Exception as error:
            log.warning("A picture's file id was not kept (%s)", type(error).__name__)

    def _caption(self, exercise_id: str) -> str | None:
        try:
            return self.service.programme.exercise(exercise_id).name
        except KeyError:
            return None

    async def _send_progress_photo(self, sender: Sender, chat_id: int) -> None:
        details = await asyncio.to_thread(progress_details, self.service, PLATFORM, str(chat_id))
        if details:
            await sender.send_reply(chat_id, Reply(details))
        try:
            photo = await asyncio.to_thread(progress_photo, self.service, PLATFORM, str(chat_id))
            if not photo:
                return
            await sender.optional(
                sender.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO), "sendChatAction"
            )
            await sender.retrying(lambda: sender.bot.send_photo(chat_id, photo))
        except Forbidden:
            raise
        except Exception as error:  # the progress text is already there; the chart is extra
            log.warning("The progress chart was not sent (%s)", type(error).__name__)

    async def _send_export(self, sender: Sender, chat_id: int) -> None:
        try:
            documents = await asyncio.to_thread(
                export_documents, self.service, PLATFORM, str(chat_id)
            )
            for filename, content in documents or ():
                await sender.optional(
                    sender.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT),
                    "sendChatAction",
                )
                send = partial(sender.bot.send_document, chat_id, content, filename=filename)
                await sender.retrying(send)
        except Forbidden:
            raise
        except Exception as error:  # the text said what follows; a failed file is only logged
            log.warning("The export files were not sent (%s)", type(error).__name__)
