"""A fake Telegram Bot API server for tests.

It speaks enough of the Bot API over plain HTTP on loopback for a real
python-telegram-bot ``Bot``/``Application`` (``base_url=fake.base_url``) to run against
it, long polling included, and lets tests act as a user and inspect what the bot sent.

The server is a ``ThreadingHTTPServer`` running in a background thread (one thread per
keep-alive connection), so it works the same from a plain synchronous pytest test that
drives a ``python -m bot`` subprocess and from an asyncio test using ``telegram.Bot``
in-process::

    with FakeBotApi() as fake:             # or: async with FakeBotApi() as fake:
        env = {"BOT_TOKEN": fake.token, "TELEGRAM_BASE_URL": fake.base_url}
        ...start the bot...
        fake.send_command(42, "/start")
        msg = fake.wait_for_message(42, contains="welcome")   # async: await_message
        fake.press_button(42, "Yes")

All state lives behind one re-entrant lock + condition; every method is thread safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import itertools
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "BotMessage",
    "Button",
    "Call",
    "CallbackAnswer",
    "FakeBotApi",
    "FakeApiTimeout",
    "UploadedFile",
]

T = TypeVar("T")

DEFAULT_TOKEN = "123456:TEST-token"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# Form/multipart values are strings; PTB json-dumps everything that is not already a str.
# These parameters are taken verbatim, everything else is json-decoded when possible.
_RAW_STRING_PARAMS = frozenset(
    """text caption parse_mode callback_query_id url secret_token ip_address action title
    description short_description name emoji query question address first_name last_name
    phone_number message_effect_id business_connection_id inline_message_id language_code
    photo document sticker video audio voice animation video_note thumbnail file_id
    custom_emoji_id explanation payload currency provider_token start_parameter result_id
    next_offset switch_pm_text button_text""".split()
)
_SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendanimation",
        "editmessagetext",
        "editmessagereplymarkup",
        "editmessagecaption",
    }
)
_HTML_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji".split()
)
_MDV2_ALWAYS_RESERVED = frozenset(".!-+={}#|")


class FakeApiTimeout(AssertionError):
    """Raised by the ``wait_*``/``await_*`` helpers when nothing matched in time."""


class _ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


class Call(NamedTuple):
    """One request the bot made: ``method`` as sent (e.g. ``"sendMessage"``), decoded params."""

    method: str
    params: dict[str, Any]
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (sendPhoto/sendDocument uploads)."""

    field: str
    filename: str | None
    content: bytes
    content_type: str | None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    params: dict[str, Any]


@dataclass
class BotMessage:
    """A message the bot sent, kept up to date with later edits/deletion."""

    message_id: int
    chat_id: int
    index: int  # position in ``messages(chat_id, include_deleted=True)``
    kind: str  # "text" | "photo" | "document" | "animation"
    date: int
    params: dict[str, Any]
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    file_id: str | None = None
    file_name: str | None = None
    file_size: int = 0
    edit_date: int | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # states *before* each edit
    deleted: bool = False

    @property
    def body(self) -> str:
        """``text`` for text messages, ``caption`` (or "") for media."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[list[Button]]:
        """The inline keyboard as rows of buttons (empty if none)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            [Button(b.get("text", ""), b.get("callback_data"), b.get("url")) for b in row]
            for row in rows
        ]

    @property
    def button_labels(self) -> list[str]:
        return [b.text for row in self.buttons for b in row]

    def find_button(self, label: str, *, substring: bool = False) -> Button | None:
        wanted = label.strip().casefold()
        for row in self.buttons:
            for button in row:
                have = button.text.strip().casefold()
                if have == wanted or (substring and wanted in have):
                    return button
        return None


@dataclass
class _Fault:
    kind: str  # "fail" | "drop"
    remaining: int
    code: int = 0
    description: str = ""
    retry_after: int | None = None


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for a
    # delayed ACK (about 40 ms a request on Linux loopback).
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        self.server.fake._handle_http(self)

    do_GET = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every connection thread
    block_on_close = True

    def __init__(self, address: tuple[str, int], fake: FakeBotApi):
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        """Unblock connection threads idling on keep-alive sockets."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away, connection aborted on stop, ...
            return
        self.fake._server_errors.append(traceback.format_exc())


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _decode_value(name: str, value: str) -> Any:
    if name in _RAW_STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """A multipart request's fields (the bench's fake server reads uploads with it too)."""
    header = email.parser.HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise _ApiError(400, "Bad Request: multipart boundary is missing")
    params: dict[str, Any] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = email.parser.BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_filename()
        if filename is not None:
            params[name] = UploadedFile(name, filename, content, headers.get_content_type())
        else:
            params[name] = _decode_value(name, content.decode("utf-8"))
    return params


def _parse_params(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = {
        k: _decode_value(k, v)
        for k, v in parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
    }
    content_type = handler.headers.get("Content-Type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise _ApiError(400, "Bad Request: can't parse JSON") from exc
        if isinstance(decoded, dict):
            params.update(decoded)
    elif media_type == "multipart/form-data":
        params.update(parse_multipart(body, content_type))
    else:  # application/x-www-form-urlencoded (what PTB sends without files)
        for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[k] = _decode_value(k, v)
    return params


# ------------------------------------------------------------------ entity validation


class _HtmlChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None
        self.text_length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error is None and tag not in _HTML_TAGS:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error is None:
            self.error = f'Unsupported start tag "{tag}"'

    def handle_endtag(self, tag: str) -> None:
        if self.error is None and (not self.stack or self.stack[-1] != tag):
            self.error = f'Unmatched end tag "{tag}"'
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text_length += len(data)


def _check_entities(text: str, parse_mode: Any) -> int:
    """Validate like Telegram (roughly); return the length of the visible text."""
    mode = str(parse_mode or "").lower()
    prefix = "Bad Request: can't parse entities: "
    if mode == "html":
        checker = _HtmlChecker()
        checker.feed(text)
        checker.close()
        if checker.error is None and checker.stack:
            checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
        if checker.error:
            raise _ApiError(400, prefix + checker.error)
        return checker.text_length
    if mode == "markdownv2":
        stripped = re.sub(r"```.*?```|`[^`]*`|\]\([^)]*\)|\\.", "", text, flags=re.S)
        for char in stripped:
            if char in _MDV2_ALWAYS_RESERVED:
                raise _ApiError(
                    400,
                    prefix + f"Character '{char}' is reserved and must be escaped with the "
                    "preceding '\\'",
                )
    return len(text)


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is not None:
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _ApiError(400, "Bad Request: text buttons are unallowed")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _inline_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The inline keyboard as Telegram echoes/compares it (None when there is none)."""
    if markup and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


# ---------------------------------------------------------------------------- the fake


class FakeBotApi:
    """In-process fake of https://api.telegram.org for one bot token."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        bot_username: str = "spine_coach_test_bot",
        bot_first_name: str = "Spine Coach",
        strict_entities: bool = True,
    ):
        self.token = token
        self.host = host
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_entities = strict_entities
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123456
        self._cond = threading.Condition(threading.RLock())
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._server_errors: list[str] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._faulted_calls: set[int] = set()  # indices of calls answered by an injected fault
        self._pending: list[dict[str, Any]] = []
        self._all_updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_001)
        self._query_ids = itertools.count(7_000_000_001)
        self._file_ids = itertools.count(1)
        self._issued_file_ids: set[str] = set()
        self._rejected_file_ids: set[str] = set()
        self._next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self._messages: dict[int, list[BotMessage]] = defaultdict(list)
        self._marks: dict[int, int] = {}
        self._log: dict[int, list[str]] = defaultdict(list)
        self._users: dict[int, dict[str, Any]] = {}
        self._queries: dict[str, dict[str, Any]] = {}
        self._answers: list[CallbackAnswer] = []
        self._chat_actions: dict[int, list[str]] = defaultdict(list)
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._webhook: dict[str, Any] | None = None
        self._allowed_updates: list[str] | None = None
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._blocked: set[int] = set()
        self._rate: tuple[int, int] | None = None
        self._sent_times: deque[tuple[float, int | None]] = deque()
        self._sending_times: list[float] = []  # every send/edit let through (monotonic)
        self.too_many = 0  # 429 answers given
        self._poll_generation = 0
        self._pollers = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotApi:
        if self._server is not None:
            raise RuntimeError("FakeBotApi already started")
        self._stopping = False
        self._server = _HttpServer((self.host, 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeBotApi:{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()  # release long polls
        server.shutdown()
        thread.join()
        server.abort_connections()
        server.server_close()  # closes the socket, joins all connection threads
        self._server = self._thread = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeBotApi:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBotApi is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Pass as ``telegram.Bot(base_url=...)``; PTB appends the token."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions inside the fake (should stay empty)."""
        return list(self._server_errors)

    # --------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Params of every call of ``method`` (case-insensitive), failed ones included."""
        wanted = method.lower()
        with self._cond:
            return [c.params for c in self._calls if c.method.lower() == wanted]

    def edit_gaps(self, chat_id: int) -> list[float]:
        """Seconds between consecutive edit requests to one chat, as they arrived here (a
        request refused by an injected fault, such as a 429, made no edit)."""
        edits = ("editmessagetext", "editmessagereplymarkup", "editmessagecaption")
        with self._cond:
            times = [
                c.at
                for index, c in enumerate(self._calls)
                if c.method.lower() in edits
                and str(c.params.get("chat_id")) == str(chat_id)
                and index not in self._faulted_calls
            ]
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]

    @property
    def unknown_methods(self) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method.lower() not in self._methods]

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[BotMessage]:
        with self._cond:
            return [m for m in self._messages[chat_id] if include_deleted or not m.deleted]

    def last_message(self, chat_id: int) -> BotMessage | None:
        found = self.messages(chat_id)
        return found[-1] if found else None

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        with self._cond:
            for m in self._messages[chat_id]:
                if m.message_id == message_id:
                    return m
        raise LookupError(f"bot message {message_id} not found in chat {chat_id}")

    def mark(self, chat_id: int) -> int:
        """Current transcript length; pass as ``after=`` to wait only for newer messages."""
        with self._cond:
            return len(self._messages[chat_id])

    def chats(self) -> list[int]:
        with self._cond:
            return [c for c, msgs in self._messages.items() if msgs]

    def transcript(self, chat_id: int) -> str:
        """Human-readable log of the chat (user actions, bot messages, edits)."""
        with self._cond:
            return "\n".join(self._log[chat_id]) or "(empty)"

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._cond:
            return list(self._answers)

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        with self._cond:
            return next((a for a in self._answers if a.callback_query_id == query_id), None)

    def chat_actions(self, chat_id: int) -> list[str]:
        with self._cond:
            return list(self._chat_actions[chat_id])

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        """Commands set via setMyCommands for that scope/language (None if never set)."""
        with self._cond:
            return self._commands.get(self._commands_key(scope, language_code))

    @property
    def webhook(self) -> dict[str, Any] | None:
        with self._cond:
            return dict(self._webhook) if self._webhook else None

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued but not yet confirmed by a later getUpdates offset."""
        with self._cond:
            return list(self._pending)

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every update ever queued."""
        with self._cond:
            return list(self._all_updates)

    @property
    def polling(self) -> bool:
        """True while a getUpdates long poll is waiting."""
        with self._cond:
            return self._pollers > 0

    # --------------------------------------------------------------- user side

    def set_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "username": username or f"user{user_id}",
        }
        if last_name:
            user["last_name"] = last_name
        if language_code:
            user["language_code"] = language_code
        with self._cond:
            self._users[user_id] = user

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sends/edits to the chat answer 403 until unblock()."""
        with self._cond:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.discard(chat_id)

    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is added); returns the update."""
        with self._cond:
            update = {"update_id": next(self._update_ids), **payload}
            self._pending.append(update)
            self._all_updates.append(update)
            self._cond.notify_all()
            return update

    def send_text(self, chat_id: int, text: str, user_id: int | None = None) -> dict[str, Any]:
        return self._user_message(chat_id, user_id, f"user: {text}", text=text)

    def send_command(
        self, chat_id: int, command: str, user_id: int | None = None
    ) -> dict[str, Any]:
        """``send_command(1, "/start payload")`` with a bot_command entity."""
        if not command.startswith("/"):
            command = "/" + command
        word = command.split(maxsplit=1)[0]
        entity = {"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}
        return self._user_message(
            chat_id, user_id, f"user: {command}", text=command, entities=[entity]
        )

    def send_sticker(
        self, chat_id: int, user_id: int | None = None, emoji: str = "\N{THUMBS UP SIGN}"
    ) -> dict[str, Any]:
        file_id = self._new_file_id("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": file_id + "-u",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._user_message(chat_id, user_id, f"user: [sticker {emoji}]", sticker=sticker)

    def send_photo(
        self, chat_id: int, caption: str | None = None, user_id: int | None = None
    ) -> dict[str, Any]:
        file_id = self._new_file_id("photo")
        sizes = [
            {"file_id": f"{file_id}-{w}", "file_unique_id": f"{file_id}-{w}-u", "width": w,
             "height": w * 3 // 4, "file_size": w * 100}
            for w in (90, 320, 800)
        ]  # fmt: skip
        extra: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            extra["caption"] = caption
        return self._user_message(chat_id, user_id, f"user: [photo] {caption or ''}", **extra)

    def send_location(
        self, chat_id: int, lat: float, lon: float, user_id: int | None = None
    ) -> dict[str, Any]:
        location = {"latitude": lat, "longitude": lon}
        return self._user_message(
            chat_id, user_id, f"user: [location {lat},{lon}]", location=location
        )

    def press(
        self, chat_id: int, message_id: int, callback_data: str, user_id: int | None = None
    ) -> dict[str, Any]:
        """The user presses a callback button; returns the update.

        The query id is ``update["callback_query"]["id"]``."""
        with self._cond:
            msg = self.message(chat_id, message_id)
            if msg.deleted:
                raise LookupError(f"bot message {message_id} in chat {chat_id} was deleted")
            query_id = str(next(self._query_ids))
            self._queries[query_id] = {"chat_id": chat_id, "message_id": message_id}
            query = {
                "id": query_id,
                "from": self._user_json(user_id if user_id is not None else chat_id),
                "chat_instance": f"ci{chat_id}",
                "data": callback_data,
                "message": self._bot_message_json(msg),
            }
            self._user_action(chat_id, f"user: [press #{message_id} {callback_data!r}]")
            return self.push_update({"callback_query": query})

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """The user deletes a bot message in their chat: edits to it fail from now on."""
        with self._cond:
            for msg in self._messages[chat_id]:
                if msg.message_id == message_id:
                    msg.deleted = True
                    self._user_action(chat_id, f"user: [deleted #{message_id}]")
                    self._cond.notify_all()
                    return
        raise LookupError(f"bot message {message_id} not found in chat {chat_id}")

    def press_button(self, chat_id: int, label: str, user_id: int | None = None) -> dict[str, Any]:
        """Press the button labelled ``label`` (case-insensitive) on the newest bot message
        having it (exact label first, then substring)."""
        with self._cond:
            candidates = list(reversed(self.messages(chat_id)))
            for substring in (False, True):
                for msg in candidates:
                    button = msg.find_button(label, substring=substring)
                    if button is None:
                        continue
                    if button.callback_data is None:
                        raise LookupError(f"button {button.text!r} has no callback_data")
                    return self.press(chat_id, msg.message_id, button.callback_data, user_id)
            labels = [m.button_labels for m in candidates if m.button_labels]
            raise LookupError(
                f"no button {label!r} in chat {chat_id}; keyboards (newest first): {labels}"
            )

    # --------------------------------------------------------------- waiting

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, description: str = "condition"
    ) -> T:
        """Block until ``predicate()`` (evaluated under the fake's lock) is truthy; return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FakeApiTimeout(f"timed out after {timeout}s waiting for {description}")
                self._cond.wait(min(remaining, 0.5))

    async def await_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 10.0,  # noqa: ASYNC109 (mirrors the sync API)
        description: str = "condition",
    ) -> T:
        """Async twin of :meth:`wait_for` (polls, never blocks the event loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise FakeApiTimeout(f"timed out after {timeout}s waiting for {description}")
            await asyncio.sleep(0.01)

    def _message_matcher(
        self, chat_id: int, contains: str | None, after: int | None
    ) -> Callable[[], BotMessage | None]:
        with self._cond:
            start = self._marks.get(chat_id, 0) if after is None else after
        needle = contains.casefold() if contains is not None else None

        def find() -> BotMessage | None:
            for msg in self._messages[chat_id][start:]:
                if msg.deleted:
                    continue
                if needle is None or needle in msg.body.casefold():
                    return msg
            return None

        return find

    def _describe(self, chat_id: int, contains: str | None) -> str:
        return (
            f"a bot message in chat {chat_id}"
            + (f" containing {contains!r}" if contains is not None else "")
            + f"; transcript:\n{self.transcript(chat_id)}"
        )

    def wait_for_message(
        self,
        chat_id: int,
        contains: str | None = None,
        timeout: float = 10.0,
        after: int | None = None,
    ) -> BotMessage:
        """Wait for a bot message in ``chat_id`` whose text/caption contains ``contains``
        (case-insensitive). Only messages at transcript index >= ``after`` count; by default
        that is the transcript length at the chat's latest user action (send_*/press*)."""
        find = self._message_matcher(chat_id, contains, after)
        try:
            return self.wait_for(find, timeout)
        except FakeApiTimeout:
            raise FakeApiTimeout(
                f"timed out after {timeout}s waiting for {self._describe(chat_id, contains)}"
            ) from None

    async def await_message(
        self,
        chat_id: int,
        contains: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 (mirrors the sync API)
        after: int | None = None,
    ) -> BotMessage:
        find = self._message_matcher(chat_id, contains, after)
        try:
            return await self.await_for(find, timeout)
        except FakeApiTimeout:
            raise FakeApiTimeout(
                f"timed out after {timeout}s waiting for {self._describe(chat_id, contains)}"
            ) from None

    def _call_matcher(
        self, method: str, after: int, predicate: Callable[[dict[str, Any]], Any] | None
    ) -> Callable[[], Call | None]:
        wanted = method.lower()

        def find() -> Call | None:
            for call in self._calls[after:]:
                if call.method.lower() == wanted and (predicate is None or predicate(call.params)):
                    return call
            return None

        return find

    def wait_for_call(
        self,
        method: str,
        timeout: float = 10.0,
        after: int = 0,
        predicate: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Call:
        """Wait until the bot calls ``method`` (index in ``calls`` >= ``after``)."""
        return self.wait_for(self._call_matcher(method, after, predicate), timeout, method)

    async def await_call(
        self,
        method: str,
        timeout: float = 10.0,  # noqa: ASYNC109 (mirrors the sync API)
        after: int = 0,
        predicate: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Call:
        return await self.await_for(self._call_matcher(method, after, predicate), timeout, method)

    def wait_for_polling(self, timeout: float = 10.0) -> None:
        """Wait until the bot sits in a getUpdates long poll (i.e. it has started up)."""
        self.wait_for(lambda: self._pollers > 0, timeout, "the bot to poll getUpdates")

    async def await_polling(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.await_for(lambda: self._pollers > 0, timeout, "the bot to poll getUpdates")

    # --------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` ("*" = any) answer this error, without
        side effects. 429 defaults to retry_after=1."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
            )
        with self._cond:
            self._faults[method.lower()].append(
                _Fault("fail", times, error_code, description, retry_after)
            )

    def drop_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` ("*" = any) get the connection closed
        without an answer (httpx RemoteProtocolError -> telegram.error.NetworkError)."""
        with self._cond:
            self._faults[method.lower()].append(_Fault("drop", times))

    def most_sends_in_a_second(self) -> int:
        """The most send/edit calls this server saw in any one-second window (as Telegram
        would count them for its per-bot limit), 429 answers not included."""
        with self._cond:
            times = sorted(self._sending_times)
        most, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    def enforce_rate(
        self, per_second: int | None = 30, per_chat_per_second: int | None = 1
    ) -> None:
        """Answer 429 (retry_after=1) to send/edit calls beyond these rates (1 s window).
        ``enforce_rate(None, None)`` switches it off."""
        with self._cond:
            if per_second is None and per_chat_per_second is None:
                self._rate = None
            else:
                self._rate = (per_second or 10**9, per_chat_per_second or 10**9)
            self._sent_times.clear()

    # --------------------------------------------------------------- internals

    def _new_file_id(self, kind: str) -> str:
        file_id = f"fake-{kind}-{next(self._file_ids)}"
        self._issued_file_ids.add(file_id)
        return file_id

    def reject_file_id(self, file_id: str) -> None:
        """From now on, sending this file id fails as Telegram fails a stale or foreign one."""
        with self._cond:
            self._rejected_file_ids.add(file_id)

    def uploads(self, method: str | None = None) -> list[Call]:
        """Sends that carried a file's bytes (not a file id), optionally of one method."""
        with self._cond:
            return [
                call
                for call in self._calls
                if (method is None or call.method.lower() == method.lower())
                and any(isinstance(value, UploadedFile) for value in call.params.values())
            ]

    def _user_json(self, user_id: int) -> dict[str, Any]:
        if user_id not in self._users:
            self.set_user(user_id)
        return dict(self._users[user_id])

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self._user_json(chat_id)
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
            return chat
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Test group {chat_id}"}

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _user_action(self, chat_id: int, line: str) -> None:
        self._marks[chat_id] = len(self._messages[chat_id])
        self._log[chat_id].append(line)

    def _user_message(
        self, chat_id: int, user_id: int | None, line: str, **content: Any
    ) -> dict[str, Any]:
        with self._cond:
            message_id = self._next_message_id[chat_id]
            self._next_message_id[chat_id] += 1
            message = {
                "message_id": message_id,
                "from": self._user_json(user_id if user_id is not None else chat_id),
                "chat": self._chat_json(chat_id),
                "date": int(time.time()),
                **content,
            }
            self._user_action(chat_id, line)
            return self.push_update({"message": message})

    def _bot_message_json(self, msg: BotMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": self._bot_user(),
            "chat": self._chat_json(msg.chat_id),
            "date": msg.date,
        }
        if msg.edit_date is not None:
            data["edit_date"] = msg.edit_date
        if msg.kind == "text":
            data["text"] = msg.text
        elif msg.kind == "photo":
            data["photo"] = [
                {"file_id": msg.file_id, "file_unique_id": f"{msg.file_id}-u", "width": 800,
                 "height": 600, "file_size": msg.file_size}
            ]  # fmt: skip
        elif msg.kind == "animation":
            # Telegram returns a GIF as an animation, with a document alongside.
            media = {
                "file_id": msg.file_id,
                "file_unique_id": f"{msg.file_id}-u",
                "width": 480,
                "height": 300,
                "duration": 3,
                "file_name": msg.file_name,
                "file_size": msg.file_size,
            }
            data["animation"] = media
            data["document"] = {
                k: v for k, v in media.items() if k not in ("width", "height", "duration")
            }
        elif msg.kind == "document":
            data["document"] = {
                "file_id": msg.file_id,
                "file_unique_id": f"{msg.file_id}-u",
                "file_name": msg.file_name,
                "file_size": msg.file_size,
            }
        if msg.caption is not None:
            data["caption"] = msg.caption
        markup = _inline_markup(msg.reply_markup)
        if markup:
            data["reply_markup"] = markup
        return data

    def _log_bot(self, msg: BotMessage, verb: str) -> None:
        labels = msg.button_labels
        keyboard = f" [{' | '.join(labels)}]" if labels else ""
        what = msg.body if msg.kind == "text" else f"[{msg.kind} {msg.file_name}] {msg.body}"
        self._log[msg.chat_id].append(f"bot {verb} #{msg.message_id}: {what}{keyboard}")

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        return json.dumps([scope or {"type": "default"}, language_code or ""], sort_keys=True)

    # ---- HTTP entry point (runs in a connection thread)

    def _handle_http(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)", urlsplit(handler.path).path)
        if match is None:
            self._respond(
                handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            )
            return
        token, method = match.groups()
        try:
            params = _parse_params(handler, body)
        except _ApiError as exc:
            self._respond_error(handler, exc)
            return
        except (ValueError, UnicodeDecodeError):
            self._respond_error(handler, _ApiError(400, "Bad Request: can't parse request"))
            return
        with self._cond:
            self._calls.append(Call(method, params, time.monotonic()))
            self._cond.notify_all()
            fault = self._take_fault(method.lower()) if token == self.token else None
            if fault is not None:
                self._faulted_calls.add(len(self._calls) - 1)
        if token != self.token:
            self._respond_error(handler, _ApiError(401, "Unauthorized"))
            return
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            if fault is not None:
                raise _ApiError(fault.code, fault.description, fault.retry_after)
            impl = self._methods.get(method.lower())
            if impl is None:
                raise _ApiError(404, "Not Found: method not found")
            result = impl(self, params)
        except _ApiError as exc:
            self._respond_error(handler, exc)
            return
        self._respond(handler, 200, {"ok": True, "result": result})

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        return None

    def _respond_error(self, handler: BaseHTTPRequestHandler, exc: _ApiError) -> None:
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": exc.code,
            "description": exc.description,
        }
        if exc.retry_after is not None:
            payload["parameters"] = {"retry_after": exc.retry_after}
        self._respond(handler, exc.code, payload)

    @staticmethod
    def _respond(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    # ---- parameter helpers

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: chat not found") from None

    def _check_delivery(self, method: str, chat_id: int) -> None:
        """Blocked users and the optional rate limit (caller holds the lock)."""
        if chat_id in self._blocked:
            raise _ApiError(403, BLOCKED)
        if method not in _SENDING_METHODS:
            return
        now = time.monotonic()
        if self._rate is None:
            self._sending_times.append(now)
            return
        while self._sent_times and now - self._sent_times[0][0] >= 1.0:
            self._sent_times.popleft()
        per_second, per_chat = self._rate
        in_chat = sum(1 for _, c in self._sent_times if c == chat_id)
        if len(self._sent_times) >= per_second or in_chat >= per_chat:
            self.too_many += 1
            raise _ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._sent_times.append((now, chat_id))
        self._sending_times.append(now)

    def _check_text(self, text: Any, parse_mode: Any, limit: int, what: str) -> str:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if what == "text" and not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        length = _check_entities(text, parse_mode) if self.strict_entities else len(text)
        if length > limit:
            raise _ApiError(
                400,
                "Bad Request: message is too long"
                if what == "text"
                else "Bad Request: message caption is too long",
            )
        return text

    def _store(self, chat_id: int, kind: str, params: dict[str, Any], **fields: Any) -> BotMessage:
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] += 1
        msg = BotMessage(
            message_id=message_id,
            chat_id=chat_id,
            index=len(self._messages[chat_id]),
            kind=kind,
            date=int(time.time()),
            params=params,
            parse_mode=params.get("parse_mode"),
            reply_markup=_check_markup(params.get("reply_markup")),
            **fields,
        )
        self._messages[chat_id].append(msg)
        self._log_bot(msg, "sent")
        self._cond.notify_all()
        return msg

    def _editable(self, params: dict[str, Any], method: str) -> BotMessage:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._chat_id(params)
        self._check_delivery(method, chat_id)
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            message_id = 0
        for msg in self._messages[chat_id]:
            if msg.message_id == message_id and not msg.deleted:
                return msg
        raise _ApiError(400, "Bad Request: message to edit not found")

    def _apply_edit(self, msg: BotMessage, **changes: Any) -> dict[str, Any]:
        msg.edits.append(
            {
                "text": msg.text,
                "caption": msg.caption,
                "reply_markup": msg.reply_markup,
                "edit_date": msg.edit_date,
            }
        )
        for key, value in changes.items():
            setattr(msg, key, value)
        msg.edit_date = int(time.time())
        self._log_bot(msg, "edited")
        self._cond.notify_all()
        return self._bot_message_json(msg)

    # ---- Bot API methods (name -> implementation; names are case-insensitive)

    def _get_me(self, params: dict[str, Any]) -> Any:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _ok(self, params: dict[str, Any]) -> Any:
        return True

    def _get_updates(self, params: dict[str, Any]) -> Any:
        try:
            offset = int(params.get("offset") or 0)
            limit = max(1, min(100, int(params.get("limit") or 100)))
            timeout = max(0.0, float(params.get("timeout") or 0))
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: wrong parameter") from None
        allowed = params.get("allowed_updates")
        with self._cond:
            if self._webhook:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(allowed, list):
                self._allowed_updates = allowed or None
            if offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            elif offset < 0:
                self._pending = self._pending[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            self._pollers += 1
            self._cond.notify_all()
            try:
                while True:
                    ready = [u for u in self._pending if self._allowed(u)][:limit]
                    if ready or self._stopping:
                        return ready
                    if generation != self._poll_generation:
                        raise _ApiError(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure "
                            "that only one bot instance is running",
                        )
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    self._cond.wait(remaining)
            finally:
                self._pollers -= 1
                self._cond.notify_all()

    def _allowed(self, update: dict[str, Any]) -> bool:
        if self._allowed_updates is None:
            return True
        return any(key in self._allowed_updates for key in update if key != "update_id")

    def _delete_webhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self._webhook = None
            if params.get("drop_pending_updates") in (True, "true", "True", 1):
                self._pending.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            url = params.get("url") or ""
            self._webhook = {**params, "url": url} if url else None
            if params.get("drop_pending_updates") in (True, "true", "True", 1):
                self._pending.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> Any:
        with self._cond:
            info: dict[str, Any] = {
                "url": (self._webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }
            if self._webhook:
                for key in ("max_connections", "allowed_updates", "ip_address"):
                    if key in self._webhook:
                        info[key] = self._webhook[key]
            return info

    def _send_message(self, params: dict[str, Any]) -> Any:
        with self._cond:
            chat_id = self._chat_id(params)
            self._check_delivery("sendmessage", chat_id)
            text = self._check_text(params.get("text"), params.get("parse_mode"), 4096, "text")
            msg = self._store(chat_id, "text", params, text=text)
            return self._bot_message_json(msg)

    def _send_file(self, params: dict[str, Any], kind: str) -> Any:
        with self._cond:
            chat_id = self._chat_id(params)
            self._check_delivery("send" + kind, chat_id)
            caption = params.get("caption")
            if caption is not None:
                caption = self._check_text(caption, params.get("parse_mode"), 1024, "caption")
            value = params.get(kind)
            if isinstance(value, UploadedFile):
                file_id, name, size = self._new_file_id(kind), value.filename, value.size
            elif isinstance(value, str) and value.startswith(("http://", "https://")):
                file_id, name, size = value, value.rsplit("/", 1)[-1], 0
            elif isinstance(value, str) and value:
                # Like Telegram: only ids this bot was given, and not one made stale.
                if value not in self._issued_file_ids or value in self._rejected_file_ids:
                    raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
                file_id, name, size = value, None, 0
            else:
                raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
            msg = self._store(
                chat_id,
                kind,
                params,
                caption=caption,
                file_id=file_id,
                file_name=name,
                file_size=size,
            )
            return self._bot_message_json(msg)

    def _send_photo(self, params: dict[str, Any]) -> Any:
        return self._send_file(params, "photo")

    def _send_document(self, params: dict[str, Any]) -> Any:
        return self._send_file(params, "document")

    def _send_animation(self, params: dict[str, Any]) -> Any:
        return self._send_file(params, "animation")

    def _edit_message_text(self, params: dict[str, Any]) -> Any:
        with self._cond:
            msg = self._editable(params, "editmessagetext")
            if msg.kind != "text":
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            text = self._check_text(params.get("text"), params.get("parse_mode"), 4096, "text")
            markup = _check_markup(params.get("reply_markup"))
            # Like Telegram: omitting reply_markup removes the inline keyboard.
            if text == msg.text and _inline_markup(markup) == _inline_markup(msg.reply_markup):
                raise _ApiError(400, NOT_MODIFIED)
            return self._apply_edit(
                msg, text=text, reply_markup=markup, parse_mode=params.get("parse_mode")
            )

    def _edit_message_caption(self, params: dict[str, Any]) -> Any:
        with self._cond:
            msg = self._editable(params, "editmessagecaption")
            if msg.kind == "text":
                raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
            caption = params.get("caption")
            if caption is not None:
                caption = self._check_text(caption, params.get("parse_mode"), 1024, "caption")
            markup = _check_markup(params.get("reply_markup"))
            if caption == msg.caption and _inline_markup(markup) == _inline_markup(
                msg.reply_markup
            ):
                raise _ApiError(400, NOT_MODIFIED)
            return self._apply_edit(msg, caption=caption, reply_markup=markup)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        with self._cond:
            msg = self._editable(params, "editmessagereplymarkup")
            markup = _check_markup(params.get("reply_markup"))
            if _inline_markup(markup) == _inline_markup(msg.reply_markup):
                raise _ApiError(400, NOT_MODIFIED)
            return self._apply_edit(msg, reply_markup=markup)

    def _delete_message(self, params: dict[str, Any]) -> Any:
        with self._cond:
            chat_id = self._chat_id(params)
            try:
                message_id = int(params.get("message_id") or 0)
            except (TypeError, ValueError):
                message_id = 0
            for msg in self._messages[chat_id]:
                if msg.message_id == message_id and not msg.deleted:
                    msg.deleted = True
                    self._log[chat_id].append(f"bot deleted #{message_id}")
                    self._cond.notify_all()
                    return True
            raise _ApiError(400, "Bad Request: message to delete not found")

    def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        with self._cond:
            query_id = str(params.get("callback_query_id") or "")
            query = self._queries.get(query_id)
            if query is None or query.get("answered"):
                raise _ApiError(400, QUERY_INVALID)
            query["answered"] = True
            answer = CallbackAnswer(
                callback_query_id=query_id,
                text=params.get("text"),
                show_alert=bool(params.get("show_alert")),
                url=params.get("url"),
                params=params,
            )
            self._answers.append(answer)
            self._log[query["chat_id"]].append(
                f"bot answered query {query_id}: {answer.text or ''}".rstrip()
            )
            self._cond.notify_all()
            return True

    def _send_chat_action(self, params: dict[str, Any]) -> Any:
        with self._cond:
            chat_id = self._chat_id(params)
            if chat_id in self._blocked:
                raise _ApiError(403, BLOCKED)
            self._chat_actions[chat_id].append(str(params.get("action")))
            self._cond.notify_all()
            return True

    def _set_my_commands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _ApiError(400, "Bad Request: command description is empty")
        with self._cond:
            key = self._commands_key(params.get("scope"), params.get("language_code"))
            self._commands[key] = commands
            self._cond.notify_all()
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> Any:
        with self._cond:
            key = self._commands_key(params.get("scope"), params.get("language_code"))
            self._commands.pop(key, None)
            self._cond.notify_all()
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> Any:
        with self._cond:
            key = self._commands_key(params.get("scope"), params.get("language_code"))
            return list(self._commands.get(key, []))

    _methods: dict[str, Callable[[FakeBotApi, dict[str, Any]], Any]] = {
        "getme": _get_me,
        "getupdates": _get_updates,
        "sendmessage": _send_message,
        "sendphoto": _send_photo,
        "senddocument": _send_document,
        "sendanimation": _send_animation,
        "editmessagetext": _edit_message_text,
        "editmessagecaption": _edit_message_caption,
        "editmessagereplymarkup": _edit_message_reply_markup,
        "deletemessage": _delete_message,
        "answercallbackquery": _answer_callback_query,
        "sendchataction": _send_chat_action,
        "setmycommands": _set_my_commands,
        "deletemycommands": _delete_my_commands,
        "getmycommands": _get_my_commands,
        "deletewebhook": _delete_webhook,
        "setwebhook": _set_webhook,
        "getwebhookinfo": _get_webhook_info,
        "close": _ok,
        "logout": _ok,
    }
