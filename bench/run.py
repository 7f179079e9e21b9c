"""The whole-bot bench: `python -m bench` (see README.md, "Running at scale").

Figures, not assertions. Every bot runs as its own process against a fake Bot API server on
loopback (bench/fake_api.py, in this process); times are on the machine-wide monotonic clock.

1. cost: bot-side cost per update over a whole scripted session (onboarding typed, /session,
   then every hold, feeling and check-in to the summary), from the moment the fake server hands
   the update over (getUpdates) to the last API call it causes, one user at a time after one
   unmeasured session (the first session uploads the exercise pictures once per bot). Twice:
   with the answers typed, against a minimal PTB echo bot; and with the answers tapped on the
   buttons, as users do, against the echo bot answering taps as any bot with buttons must
   (answerCallbackQuery, the pressed message marked, a reply). API calls per update are shown
   beside each figure.
2. throughput: users in sessions at once, each sending its next update when the bot's new
   messages for the last one have arrived; updates handled per second and CPU per update under
   that load, and the echo bot's on the same script, typed and tapped as in 1.
3. fan-out: users due in the same minute, against a server enforcing 30 messages a second
   with 429 above it; the real `python -m bot` with its production settings (tick every 20 s,
   the shared send budget). Then two and three processes on one PostgreSQL database, the one
   sending at the time killed (SIGKILL) half-way and started again.
5. the first /progress after a start-up: a user with one session stored asks for /progress the
   moment a restarted bot takes its first update; seconds until the chart (sendPhoto) arrives.

Seeded users have no quiet hours and every simulated hold lasts an hour (BENCH_LONG_HOLDS, the
users tap "Done"), so no figure depends on the hour the bench runs or on a hold timer firing.
4. start-up time (process start to its first getUpdates) and resident memory with 0, 100,000
   and 1,000,000 users stored, and the nudge tick's due-query time at the largest size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, make_url, text
from sqlmodel import Session, col, select

from bench.fake_api import TOKEN, FakeBotApi
from bench.seed import ONBOARDING, seed_users, spread_over_a_day
from bot.store.db import User, make_engine
from bot.store.outbox import outbox
from bot.store.send_budget import send_budget
from conversations.coach import transition
from conversations.events import Command, Event, Text
from conversations.state import Step, new_coachee
from data.programme import default_programme

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = {
    Step.SCREEN_URGENT: "No",
    Step.SCREEN_CLINICIAN: "No",
    Step.SESSION_INTRO: "Let's go",
    Step.HOLD_READY: "Start",
    Step.HOLDING: "Done",
    Step.ASK_FEEL: "Working",
    Step.ASK_CHECKIN: "Yes",
}
ALLOWED_RATE = 30.0
PRODUCTION_TICK = "20"
# What the coach process gets in figures 1 and 2 (see bench/bots.py).
COACH_ENV = {"BENCH_UNLIMITED": "1", "BENCH_LONG_HOLDS": "1", "NUDGE_TICK_SECONDS": "20"}
TAP = "tap:"  # a script line starting with this is a button press on that label


def say(line: str = "") -> None:
    print(line, flush=True)


# --- the script ---------------------------------------------------------------------------


def session_script() -> tuple[list[str], int]:
    """What one user types: onboarding, /session, and every answer to the summary; and where
    the session part begins. Played on the pure coach, so it matches what the bot will ask."""
    programme = default_programme()
    state = new_coachee()
    now = datetime.now(UTC)
    lines: list[str] = []

    def play(line: str) -> None:
        nonlocal state, now
        now += timedelta(seconds=2)
        event: Event = Command(line[1:]) if line.startswith("/") else Text(line)
        state = transition(state, event, now=now, programme=programme).state
        lines.append(line)

    for line in ONBOARDING:
        play(line)
    session_starts = len(lines)
    play("/session")
    while state.flow.step in ANSWERS:
        play(ANSWERS[state.flow.step])
        lines[-1] = TAP + lines[-1]
    assert state.flow.step is Step.IDLE, state.flow.step
    return lines, session_starts


def push(fake: FakeBotApi, chat_id: int, line: str, *, taps: bool, echo: bool) -> int:
    """Send one script line: a button press for a tap line (with `taps`), else the text. The
    echo bot has no buttons of its own: its presses carry the label as their data."""
    if line.startswith(TAP):
        label = line.removeprefix(TAP)
        if taps:
            return fake.push_tap(chat_id, label, any_button=echo)
        return fake.push_text(chat_id, label)
    return fake.push_text(chat_id, line)


# --- machine and statistics ---------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory} memory, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


# --- processes ----------------------------------------------------------------------------


@dataclass
class BotProcess:
    kind: str  # coach (bench.bots), echo, or bot (plain `python -m bot`)
    fake: FakeBotApi
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_ns: int = 0
    log: Path | None = None

    def start(self, folder: Path) -> None:
        self.log = folder / f"{self.kind}-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "bot"] if self.kind == "bot" else None
        command = command or [sys.executable, "-m", "bench.bots", self.kind]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": self.fake.base_url,
            "DATABASE_URL": self.database_url,
            "LOG_LEVEL": "WARNING",
            "LIVENESS_FILE": str(folder / f"alive-{time.monotonic_ns()}"),
            **self.env,
        }
        self.started_ns = time.monotonic_ns()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def ready(self, limit_seconds: float = 120) -> float:
        """Seconds from process start to its first getUpdates."""
        before = len(self.fake.get_updates_times)
        deadline = time.monotonic() + limit_seconds
        while len(self.fake.get_updates_times) == before:
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text()[-2000:] if self.log else ""
                raise RuntimeError(f"{self.kind} did not start:\n{tail}")
            await asyncio.sleep(0.005)
        return (self.fake.get_updates_times[before] - self.started_ns) / 1e9

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    async def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for _ in range(300):
            if self.process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.process.kill()
        self.process.wait()


# --- databases ----------------------------------------------------------------------------


class Databases:
    """Fresh databases: SQLite files in a folder, PostgreSQL databases on TEST_POSTGRES_URL (or
    on a throwaway cluster that scripts/postgres.sh starts for the bench)."""

    def __init__(self, folder: Path, with_postgres: bool) -> None:
        self.folder = folder
        self.cluster: str | None = None
        self.server: str | None = os.environ.get("TEST_POSTGRES_URL")
        if with_postgres and not self.server:
            exports = subprocess.run(
                ["bash", str(ROOT / "scripts/postgres.sh"), "start"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            values = dict(
                line.removeprefix("export ").replace("'", "").split("=", 1)
                for line in exports.splitlines()
            )
            self.server = values["TEST_POSTGRES_URL"]
            self.cluster = values.get("SPINE_TEST_PGDATA")
        self.admin: Engine | None = None
        if with_postgres and self.server:
            self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        self.count = 0

    def new(self, kind: str) -> str:
        self.count += 1
        if kind == "sqlite":
            return f"sqlite:///{self.folder / f'bench{self.count}.sqlite3'}"
        assert self.admin is not None
        assert self.server is not None
        name = f"bench_{os.getpid()}_{self.count}"
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as connection:
                for number in range(1, self.count + 1):
                    name = f"bench_{os.getpid()}_{number}"
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.admin.dispose()
        if self.cluster:
            subprocess.run(["bash", str(ROOT / "scripts/postgres.sh"), "stop", self.cluster])


# --- 1. cost per update -------------------------------------------------------------------


async def wait_quiet(
    fake: FakeBotApi, chat_id: int, update_id: int, quiet: float
) -> tuple[int, int]:
    """Wait until the update was handed over and its chat has had no call for `quiet` seconds
    after at least one; return (receipt time, last call time, calls) in ns."""
    deadline = time.monotonic() + 30
    log = fake.chats[chat_id]
    while time.monotonic() < deadline:
        receipt = fake.receipts.get(update_id)
        if receipt is not None and log.last_ns > receipt:
            if time.monotonic_ns() - log.last_ns > quiet * 1e9:
                return receipt, log.last_ns
        await asyncio.sleep(0.001)
    raise TimeoutError(f"chat {chat_id}: no answer to update {update_id}")


@dataclass
class Cost:
    latencies: list[float]  # ns from receipt to the last API call, one per update
    calls: list[int]  # API calls each update of the script caused (the first user's)
    messages: list[int]  # new messages each update of the script caused (the first user's)
    cpu: float  # CPU seconds of the bot process per update (idle waiting included)
    methods: dict[str, int]  # API calls by method over the first user's whole script

    def line(self, label: str, echo: Cost | None = None) -> str:
        latency = statistics.median(self.latencies)
        calls = sum(self.methods.values()) / len(self.calls)
        text = (
            f"   {label:<22} median {ms(latency)}  p99 {ms(p99(self.latencies))}  "
            f"CPU {self.cpu * 1e3:.2f} ms/update  API calls/update {calls:.2f}"
            f"\n   {'':<22} calls: "
            + ", ".join(f"{m} {n}" for m, n in sorted(self.methods.items()))
        )
        if echo is not None:
            ratio = latency / statistics.median(echo.latencies)
            text += f"\n   {'':<22} ratio to echo: latency {ratio:.2f}, CPU "
            text += f"{self.cpu / echo.cpu:.2f} (target <= 1.3)"
        return text


async def settle(bot: BotProcess, quiet_seconds: float = 1.0, limit_seconds: float = 60) -> None:
    """Wait until the process has used no CPU for `quiet_seconds`: what it does once after
    start-up (the chart warmed up in a thread, the first nudge tick) is not per update."""
    deadline = time.monotonic() + limit_seconds
    last = bot.cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_seconds)
        now = bot.cpu_seconds()
        if now == last:
            return
        last = now


async def session_cost(
    kind: str,
    fake: FakeBotApi,
    url: str,
    script: list[str],
    users: int,
    folder: Path,
    *,
    taps: bool,
    first_chat: int,
) -> Cost:
    """Per-update costs over `users` whole sessions, one user after another, after one whole
    session that is not measured: a bot's first session pays once for what later ones reuse
    (the exercise pictures uploaded once per bot, then sent by file id; code run for the first
    time)."""
    bot = BotProcess(kind, fake, url, COACH_ENV)
    bot.start(folder)
    await bot.ready()
    for line in script:
        update_id = push(fake, first_chat - 1, line, taps=taps, echo=kind == "echo")
        await wait_quiet(fake, first_chat - 1, update_id, quiet=0.15)
    await settle(bot)
    costs: list[float] = []
    calls: list[int] = []
    messages: list[int] = []
    profiling = bool(os.environ.get("BENCH_PROFILE"))  # bench/bots.py profiles until told
    if profiling:
        bot.signal(signal.SIGUSR1)
    cpu_before = bot.cpu_seconds()
    try:
        for user in range(users):
            chat_id = first_chat + user
            log = fake.chats[chat_id]
            for line in script:
                before, sent = log.calls, log.messages
                update_id = push(fake, chat_id, line, taps=taps, echo=kind == "echo")
                receipt, last = await wait_quiet(fake, chat_id, update_id, quiet=0.15)
                costs.append(last - receipt)
                if user == 0:
                    calls.append(log.calls - before)
                    messages.append(log.messages - sent)
        cpu = (bot.cpu_seconds() - cpu_before) / len(costs)
        if profiling:
            bot.signal(signal.SIGUSR1)
            await asyncio.sleep(1)
        methods = dict(fake.chats[first_chat].methods)
    finally:
        await bot.stop()
    return Cost(costs, calls, messages, cpu, methods)


# --- 2. throughput ------------------------------------------------------------------------


@dataclass
class Throughput:
    rate: float  # updates handled per second
    timeouts: int  # updates whose answer did not come within a minute
    bot_cpu: float  # the bot process's CPU use, in cores
    bench_cpu: float  # this process's (fake server and simulated users), in cores

    def line(self, label: str, echo: Throughput | None = None) -> str:
        text = f"   {label:<22} {self.rate:7.0f} updates/s"
        if echo is not None:
            text += f"  ratio to echo {self.rate / echo.rate:.2f} (target >= 0.8)"
        text += f"\n   {'':<22} CPU {self.bot_cpu / self.rate * 1e3:.2f} ms/update"
        if echo is not None:
            ratio = (self.bot_cpu / self.rate) / (echo.bot_cpu / echo.rate)
            text += f" (ratio to echo {ratio:.2f})"
        return text + (
            f"  [bot CPU {self.bot_cpu:.2f} cores, fake server {self.bench_cpu:.2f}; "
            f"timeouts {self.timeouts}]"
        )


async def throughput(
    kind: str,
    fake: FakeBotApi,
    url: str,
    script: list[str],
    expected_messages: list[int],
    users: int,
    folder: Path,
    *,
    taps: bool,
    first_chat: int,
) -> Throughput:
    """Updates per second with `users` in their sessions at once. Each user sends its next
    update once the bot's new messages for the last one have arrived (edits the bot puts off,
    such as answer marks, are not waited for, as a user would not wait for them)."""
    waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}

    def on_call(chat_id: int, method: str) -> None:
        waiter = waiters.get(chat_id)
        if waiter and fake.chats[chat_id].messages >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(None)

    fake.on_call = on_call
    bot = BotProcess(kind, fake, url, COACH_ENV)
    bot.start(folder)
    await bot.ready()
    await settle(bot)
    timeouts = 0
    loop = asyncio.get_running_loop()

    async def user(chat_id: int) -> None:
        nonlocal timeouts
        for line, count in zip(script, expected_messages, strict=True):
            target = fake.chats[chat_id].messages + count
            future: asyncio.Future[None] = loop.create_future()
            waiters[chat_id] = (target, future)
            push(fake, chat_id, line, taps=taps, echo=kind == "echo")
            if fake.chats[chat_id].messages >= target:
                continue
            try:
                await asyncio.wait_for(future, timeout=60)
            except TimeoutError:
                timeouts += 1

    started = time.monotonic()
    bot_cpu, own_cpu = bot.cpu_seconds(), time.process_time()
    try:
        await asyncio.gather(*(user(first_chat + number) for number in range(users)))
        elapsed = time.monotonic() - started
        bot_cpu = (bot.cpu_seconds() - bot_cpu) / elapsed
        own_cpu = (time.process_time() - own_cpu) / elapsed
    finally:
        fake.on_call = None
        await bot.stop()
    return Throughput(users * len(script) / elapsed, timeouts, bot_cpu, own_cpu)


# --- the first /progress after start-up ------------------------------------------------------


async def wait_for_call(
    fake: FakeBotApi, chat_id: int, method: str, count: int, limit_seconds: float = 60
) -> int:
    """When (ns) the chat's `count`-th call of `method` came in."""
    deadline = time.monotonic() + limit_seconds
    log = fake.chats[chat_id]
    while log.methods.get(method, 0) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"chat {chat_id}: no {method} number {count}")
        await asyncio.sleep(0.001)
    return log.last_ns


async def first_progress(
    fake: FakeBotApi, url: str, script: list[str], folder: Path, first_chat: int
) -> tuple[float, float]:
    """Seconds from /progress to its chart (sendPhoto): asked the moment a restarted bot takes
    its first update, then asked again. The user has one whole session stored."""
    coach = BotProcess("coach", fake, url, COACH_ENV)
    coach.start(folder)
    await coach.ready()
    for line in script:
        update_id = push(fake, first_chat, line, taps=True, echo=False)
        await wait_quiet(fake, first_chat, update_id, quiet=0.15)
    await coach.stop()
    restarted = BotProcess("coach", fake, url, COACH_ENV)
    restarted.start(folder)
    seconds: list[float] = []
    try:
        await restarted.ready()
        for _ in range(2):
            photos = fake.chats[first_chat].methods.get("sendphoto", 0)
            asked = time.monotonic_ns()
            push(fake, first_chat, "/progress", taps=True, echo=False)
            answered = await wait_for_call(fake, first_chat, "sendphoto", photos + 1)
            seconds.append((answered - asked) / 1e9)
    finally:
        await restarted.stop()
    return seconds[0], seconds[1]


# --- 3. fan-out -----------------------------------------------------------------------------


@dataclass
class FanOut:
    users: int
    seconds: float
    sends: int
    rate: float
    too_many: int
    duplicates: int
    misses: int
    most_in_a_second: int


def sending_process(url: str, bots: list[BotProcess]) -> int:
    """Which of `bots` is the bot's nudge sender now (bot/store/send_budget.py); the first
    when none is."""
    engine = make_engine(url, create=False)
    try:
        with engine.connect() as db:
            sender = db.execute(select(send_budget.c.sender)).scalar()
    finally:
        engine.dispose()
    pid = str(sender or "").split(":")[-2:-1]
    for number, bot in enumerate(bots):
        if bot.process is not None and [str(bot.process.pid)] == pid:
            return number
    return 0


async def kill_between_sends(bot: BotProcess, fake: FakeBotApi, url: str) -> None:
    """SIGKILL `bot` at a moment when every send the server got is marked sent in the database.
    A kill between a send and its mark sends that one nudge twice: the window no outbox closes
    without the platform's help (bot/nudges/tick.py), which this figure does not measure (as in
    tests/test_fan_out_processes.py). The process is frozen (SIGSTOP) while the counts are
    compared; after 50 tries it is killed whatever the counts, and the bench says so."""
    assert bot.process is not None
    engine = make_engine(url, create=False)
    try:
        for _ in range(50):
            bot.process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.2)  # requests already on the wire reach the server
            with engine.connect() as db:
                settled = db.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_not(None))
                ).scalar_one()
            # Chats that got a nudge (a duplicate from earlier would never let sends match).
            if settled == sum(1 for chat in fake.chats.values() if chat.sends):
                break
            bot.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.02)
        else:
            say("   (the sender was killed with sends not yet marked: a duplicate may follow)")
    finally:
        engine.dispose()
    await bot.stop(kill=True)


async def fan_out(
    url: str, users: int, folder: Path, *, processes: int = 1, kill_half_way: bool = False
) -> FanOut:
    fake = FakeBotApi(rate_limit=ALLOWED_RATE)
    await fake.start()
    engine = make_engine(url)
    now = datetime.now(UTC)
    first_chat = 20_000_000
    seed_users(engine, users, first_chat_id=first_chat, next_nudge_at=lambda n: now, now=now)
    engine.dispose()
    env = {"NUDGE_TICK_SECONDS": PRODUCTION_TICK}
    bots = [BotProcess("bot", fake, url, env) for _ in range(processes)]
    for bot in bots:
        bot.start(folder)
    for bot in bots:
        await bot.ready()
    started = time.monotonic()
    killed = False
    last_progress, last_sends = time.monotonic(), 0
    deadline = started + users / 20 + 600
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        sends = fake.sends
        if sends != last_sends:
            last_progress, last_sends = time.monotonic(), sends
        if kill_half_way and not killed and sends >= users // 2:
            # The process sending at that moment (the hard case: the others take over).
            victim = sending_process(url, bots)
            await kill_between_sends(bots[victim], fake, url)
            bots[victim] = BotProcess("bot", fake, url, env)
            bots[victim].start(folder)
            killed = True
        seeded = [fake.chats[first_chat + n].sends for n in range(users)]
        if all(seeded) and time.monotonic() - last_progress > 5:
            break
        if time.monotonic() - last_progress > 200:  # past any lease a killed process left
            break
    for bot in bots:
        await bot.stop()
    await fake.stop()
    seeded = [fake.chats[first_chat + n].sends for n in range(users)]
    seconds = (fake.last_send_ns - fake.first_send_ns) / 1e9
    return FanOut(
        users=users,
        seconds=seconds,
        sends=fake.sends,
        rate=(fake.sends - 1) / seconds if seconds > 0 else 0.0,
        too_many=fake.too_many,
        duplicates=sum(count - 1 for count in seeded if count > 1),
        misses=sum(1 for count in seeded if count == 0),
        most_in_a_second=fake.most_in_a_second,
    )


# --- 4. start-up, memory, due query ---------------------------------------------------------


async def start_up(url: str, users: int, folder: Path) -> tuple[float, float, float]:
    """(seconds to seed, seconds to start, MiB resident) with `users` stored."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    seeded = (
        seed_users(engine, users, next_nudge_at=spread_over_a_day(now), now=now) if users else 0.0
    )
    engine.dispose()
    fake = FakeBotApi()
    await fake.start()
    bot = BotProcess("bot", fake, url, {"NUDGE_TICK_SECONDS": "1"})
    bot.start(folder)
    try:
        seconds = await bot.ready()
        await asyncio.sleep(3)  # the first nudge ticks have run
        rss = bot.rss_mib()
    finally:
        await bot.stop()
        await fake.stop()
    return seeded, seconds, rss


def due_query_ms(url: str, at: datetime, runs: int = 30) -> tuple[float, float]:
    """The tick's claim query (as bot/nudges/tick.py builds it), median and p99 in ms."""
    engine = make_engine(url, create=False)
    query = (
        select(User)
        .where(
            User.platform == "telegram", col(User.active).is_(True), col(User.next_nudge_at) <= at
        )
        .order_by(col(User.next_nudge_at), col(User.id))
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter_ns()
            session.exec(query).all()
            times.append(time.perf_counter_ns() - started)
            session.rollback()
    engine.dispose()
    return statistics.median(times) / 1e6, p99(times) / 1e6


# --- the command ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="spine-bench-"))
    kinds = ["sqlite"] + (["postgresql"] if not args.sqlite_only else [])
    databases = Databases(folder, with_postgres="postgresql" in kinds)
    script, session_starts = session_script()
    say(f"machine: {machine()}")
    say(f"script: {len(script)} updates per user ({len(script) - session_starts} in the session)")
    try:
        fake = FakeBotApi()
        await fake.start()
        chats = iter(range(1_000_000, 10**9, 1_000_000))  # a fresh block of chats per run
        modes = [(mode, mode == "tapped") for mode in args.answers]
        expected: dict[bool, list[int]] = {}
        if "cost" in args.only:
            say("\n1. bot-side cost per update, whole scripted session, one user at a time")
            for mode, taps in modes:
                say(f"  answers {mode}" + (" (the echo bot's presses carry the label)" * taps))
                echo = await session_cost(
                    "echo", fake, "", script, args.cost_users, folder,
                    taps=taps, first_chat=next(chats),
                )  # fmt: skip
                say(echo.line("echo bot"))
                for kind in kinds:
                    cost = await session_cost(
                        "coach", fake, databases.new(kind), script, args.cost_users, folder,
                        taps=taps, first_chat=next(chats),
                    )  # fmt: skip
                    expected.setdefault(taps, cost.messages)
                    say(cost.line(f"coach, {kind}", echo))
        if "throughput" in args.only:
            say(
                f"\n2. throughput, {args.users} users in sessions at once "
                f"({args.session_updates} session updates each)"
            )
            session = script[session_starts:][: args.session_updates]
            for mode, taps in modes:
                if taps not in expected:
                    calibration = await session_cost(
                        "coach", fake, databases.new("sqlite"), script, 1, folder,
                        taps=taps, first_chat=next(chats),
                    )  # fmt: skip
                    expected[taps] = calibration.messages
                messages = expected[taps][session_starts:][: args.session_updates]
                say(f"  answers {mode}")
                echo = await throughput(
                    "echo", fake, "", session, [1] * len(session), args.users, folder,
                    taps=taps, first_chat=next(chats),
                )  # fmt: skip
                say(echo.line("echo bot"))
                for kind in kinds:
                    url = databases.new(kind)
                    engine = make_engine(url)
                    first_chat = next(chats)
                    seed_users(
                        engine, args.users, first_chat_id=first_chat, next_nudge_at=lambda n: None
                    )
                    engine.dispose()
                    result = await throughput(
                        "coach", fake, url, session, messages, args.users, folder,
                        taps=taps, first_chat=first_chat,
                    )  # fmt: skip
                    say(result.line(f"coach, {kind}", echo))
        if "progress" in args.only:
            say("\n5. the first /progress chart after a start-up (asked at the first getUpdates)")
            for kind in kinds:
                first, again = await first_progress(
                    fake, databases.new(kind), script, folder, next(chats)
                )
                say(f"   {kind:<10} first {first:.2f} s (target < 1 s), asked again {again:.2f} s")
        await fake.stop()
        if "fanout" in args.only:
            say(
                f"\n3. nudge fan-out: {args.fanout_users} users due at once, server allows "
                f"{ALLOWED_RATE:.0f} msg/s (429 above)"
            )
            runs: list[tuple[str, str, int, bool]] = [("sqlite", "1 process", 1, False)]
            if "postgresql" in kinds:
                runs.append(("postgresql", "1 process", 1, False))
                runs.append(("postgresql", "2 processes, sender killed half-way", 2, True))
                runs.append(("postgresql", "3 processes, sender killed half-way", 3, True))
            for kind, label, processes, kill in runs:
                result = await fan_out(
                    databases.new(kind), args.fanout_users, folder,
                    processes=processes, kill_half_way=kill,
                )  # fmt: skip
                say(
                    f"   {kind:<10} {label:<35} {result.rate:5.1f} msg/s = "
                    f"{result.rate / ALLOWED_RATE:.2f} of allowed (target >= 0.95); "
                    f"429s {result.too_many}; duplicates {result.duplicates}; "
                    f"misses {result.misses}; most in any second {result.most_in_a_second}; "
                    f"{result.sends} sends in {result.seconds:.0f} s"
                )
        if "startup" in args.only:
            say("\n4. start-up (to first getUpdates) and resident memory, by users stored")
            for kind in kinds:
                empty_rss = 0.0
                for users in args.stored:
                    url = databases.new(kind)
                    seeded, seconds, rss = await start_up(url, users, folder)
                    empty_rss = empty_rss or rss
                    say(
                        f"   {kind:<10} {users:>9,} users: start-up {seconds:5.2f} s, "
                        f"RSS {rss:6.1f} MiB ({rss / empty_rss:.2f} of empty; target <= 1.2)"
                        + (f"  [seeded in {seeded:.0f} s]" if users else "")
                    )
                now = datetime.now(UTC)
                quiet = due_query_ms(url, now)
                busy = due_query_ms(url, now + timedelta(hours=1))
                say(
                    f"   {kind:<10} due query at {args.stored[-1]:,} users: nothing due "
                    f"median {quiet[0]:.2f} ms p99 {quiet[1]:.2f} ms; an hour's users due "
                    f"(batch 500) median {busy[0]:.2f} ms p99 {busy[1]:.2f} ms"
                )
    finally:
        databases.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        default=["cost", "throughput", "progress", "fanout", "startup"],
        choices=["cost", "throughput", "progress", "fanout", "startup"],
    )
    parser.add_argument("--cost-users", type=int, default=3, help="sessions measured for 1")
    parser.add_argument("--users", type=int, default=1000, help="users at once for 2")
    parser.add_argument(
        "--session-updates", type=int, default=20, help="updates of the session each user sends"
    )
    parser.add_argument("--fanout-users", type=int, default=3000, help="users due for 3")
    parser.add_argument(
        "--stored", type=int, nargs="+", default=[0, 100_000, 1_000_000], help="users for 4"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--answers",
        nargs="+",
        default=["typed", "tapped"],
        choices=["typed", "tapped"],
        help="how the users of 1 and 2 answer the coach's questions",
    )
    asyncio.run(run(parser.parse_args(argv)))
    return 0
