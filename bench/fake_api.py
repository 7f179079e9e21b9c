"""A lean fake Bot API server for the bench: asyncio, HTTP/1.1 keep-alive, loopback only.

It answers every method a bot here calls with a plausible result, hands out updates by long
polling (getUpdates), and records, per chat, every call and its time on the machine-wide
monotonic clock (`time.monotonic_ns`), so the bench can tell when the calls an update caused
have ended. With `rate_limit` set it enforces that many messages a second overall (sends and
edits, over a sliding second) and answers 429 with `retry_after` above it, as Telegram does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.fake_bot_api import parse_multipart

TOKEN = "123456:BENCH-token"
_SENDS = frozenset(
    {
        "sendmessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
        "sendphoto",
        "sendanimation",
    }
)
# What carries a message's words as a caption rather than as text (as Telegram answers them).
_CAPTIONED = frozenset({"sendphoto", "sendanimation", "senddocument", "editmessagecaption"})
_BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}


_NEW_MESSAGES = frozenset({"sendmessage", "sendphoto", "sendanimation", "senddocument"})


@dataclass
class ChatLog:
    calls: int = 0  # every API call about this chat, answerCallbackQuery included
    sends: int = 0  # the calls Telegram's 30-a-second limit counts (messages and edits)
    messages: int = 0  # new messages in the chat
    methods: dict[str, int] = field(default_factory=dict)  # calls by method
    last_ns: int = 0
    texts: list[str] = field(default_factory=list)


class FakeBotApi:
    """Start with `await fake.start()`; `fake.base_url` is what the bot's base URL must be."""

    def __init__(self, *, rate_limit: float | None = None, keep_texts: bool = False) -> None:
        self.rate_limit = rate_limit
        self.keep_texts = keep_texts
        self.chats: dict[int, ChatLog] = defaultdict(ChatLog)
        self.updates: deque[dict[str, Any]] = deque()
        self._update_id = 0
        self._message_id = 0
        self._new_updates = asyncio.Event()
        self._window: deque[int] = deque()  # send times in the last second (rate limit)
        self.too_many = 0  # 429 answers given
        self.most_in_a_second = 0  # the most sends in any sliding second (with rate_limit)
        self.sends = 0
        self.first_send_ns = 0
        self.last_send_ns = 0
        self.on_call: Callable[[int, str], None] | None = None
        self.receipts: dict[int, int] = {}  # update id -> when getUpdates handed it over
        self.get_updates_times: list[int] = []  # when each getUpdates call came in
        self.keyboards: dict[int, dict[str, Any]] = {}  # chat -> last message with buttons
        self._query_id = 0
        self._query_chats: dict[str, int] = {}  # callback query id -> its chat, until answered
        self._last_message: dict[int, dict[str, Any]] = {}  # chat -> the bot's last message
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._new_updates.set()

    # --- what the bench does ---------------------------------------------------------------

    def push_text(self, chat_id: int, text: str) -> int:
        """Queue a private text message from user `chat_id`; returns the update's receipt key."""
        self._update_id += 1
        self._message_id += 1
        message: dict[str, Any] = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "U"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "U"},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.updates.append({"update_id": self._update_id, "message": message})
        self._new_updates.set()
        return self._update_id

    def push_tap(self, chat_id: int, label: str, *, any_button: bool = False) -> int:
        """Queue a press on the button labelled `label` under the chat's last question, as a
        user taps it; typed as text when no such button is there. With `any_button` (a bot
        that sends no buttons, such as the echo bot), a press on a button with `label` as its
        data under the bot's last message. Returns the receipt key."""
        message = self.keyboards.get(chat_id)
        rows = (message or {}).get("reply_markup", {}).get("inline_keyboard", [])
        button = next((b for row in rows for b in row if b.get("text") == label), None)
        if (message is None or button is None) and any_button:
            message = self._last_message.get(chat_id)
            button = {"text": label, "callback_data": label}
        if message is None or button is None:
            return self.push_text(chat_id, label)
        self._update_id += 1
        self._query_id += 1
        self._query_chats[str(self._query_id)] = chat_id
        user = {"id": chat_id, "is_bot": False, "first_name": "U"}
        self.updates.append(
            {
                "update_id": self._update_id,
                "callback_query": {
                    "id": str(self._query_id),
                    "from": user,
                    "chat_instance": str(chat_id),
                    "data": button["callback_data"],
                    "message": message,
                },
            }
        )
        self._new_updates.set()
        return self._update_id

    # --- HTTP -------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self._call(path, headers.get("content-type", ""), body)
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _call(self, path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        method = path.rsplit("/", 1)[-1].lower()
        params: dict[str, Any] = {}
        if body:
            if content_type.startswith("application/json"):
                params = json.loads(body)
            elif content_type.startswith("multipart/form-data"):
                params = parse_multipart(body, content_type)  # uploads as UploadedFile
            else:
                params = dict(parse_qsl(body.decode()))
        if method == "getupdates":
            return 200, {"ok": True, "result": await self._get_updates(params)}
        chat_id = params.get("chat_id")
        if method == "answercallbackquery":
            chat_id = self._query_chats.pop(str(params.get("callback_query_id")), None)
        now = time.monotonic_ns()
        if method in _SENDS and self.rate_limit is not None:
            while self._window and now - self._window[0] >= 1_000_000_000:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.too_many += 1
                retry = {"retry_after": 1}
                description = "Too Many Requests: retry after 1"
                return 429, {"ok": False, "error_code": 429, "description": description,
                             "parameters": retry}  # fmt: skip
            self._window.append(now)
            self.most_in_a_second = max(self.most_in_a_second, len(self._window))
        if chat_id is not None:
            log = self.chats[int(chat_id)]
            log.calls += 1
            log.last_ns = now
            log.methods[method] = log.methods.get(method, 0) + 1
            if method in _NEW_MESSAGES:
                log.messages += 1
            if method in _SENDS:
                log.sends += 1
                self.sends += 1
                self.first_send_ns = self.first_send_ns or now
                self.last_send_ns = now
                if self.keep_texts:
                    words = "caption" if method in _CAPTIONED else "text"
                    log.texts.append(str(params.get(words, "")))
            if self.on_call is not None:
                self.on_call(int(chat_id), method)
        return 200, {"ok": True, "result": self._result(method, params, chat_id)}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.get_updates_times.append(time.monotonic_ns())
        offset = int(params.get("offset", 0) or 0)
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()
        if not self.updates:
            self._new_updates.clear()
            timeout = float(params.get("timeout", 0) or 0)
            try:
                await asyncio.wait_for(self._new_updates.wait(), timeout=min(timeout, 5))
            except TimeoutError:
                return []
        limit = int(params.get("limit", 100) or 100)
        batch = [self.updates[i] for i in range(min(limit, len(self.updates)))]
        now = time.monotonic_ns()
        for update in batch:
            self.receipts.setdefault(update["update_id"], now)
        return batch

    def _result(self, method: str, params: dict[str, Any], chat_id: Any) -> Any:
        if method == "getme":
            return _BOT_USER
        if method == "getwebhookinfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if method in _SENDS and chat_id is not None:
            self._message_id += 1
            message: dict[str, Any] = {
                "message_id": int(params.get("message_id", self._message_id)),
                "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private", "first_name": "U"},
                "from": _BOT_USER,
            }
            if method in _CAPTIONED:
                message["caption"] = str(params.get("caption", ""))
            else:
                message["text"] = str(params.get("text", ""))
            if method == "sendanimation":
                file_id = params.get("animation")
                if not isinstance(file_id, str):  # uploaded: Telegram gives it a file id
                    file_id = f"bench-animation-{self._message_id}"
                message["animation"] = {
                    "file_id": file_id,
                    "file_unique_id": file_id + "-u",
                    "width": 480,
                    "height": 360,
                    "duration": 3,
                }
            markup = params.get("reply_markup")
            if isinstance(markup, str) and markup:
                markup = json.loads(markup)
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                message["reply_markup"] = markup
                if method in _NEW_MESSAGES:  # a question: a text, or an animation's caption
                    self.keyboards[int(chat_id)] = message
            if method in _NEW_MESSAGES:
                self._last_message[int(chat_id)] = message
            return message
        return True
