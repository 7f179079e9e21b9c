"""The Bot API connections (bot/telegram/connections.py): the cheap "still open?" check gives the
same answers as httpcore's own, so the pool reuses live connections and drops closed ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx
import pytest

from bot.telegram.connections import QuickCheckStream, bot_api_request, quick_check_transport


class TinyServer:
    """A loopback HTTP/1.1 server answering every request with a Bot API `ok`, keeping each
    connection open until told to close them."""

    def __init__(self) -> None:
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                body = json.dumps({"ok": True, "result": True}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close_connections(self) -> None:
        """The server ends every open connection, as a server does with idle keep-alives."""
        for writer in self.writers:
            writer.close()
            await writer.wait_closed()
        self.writers.clear()


@pytest.fixture
async def server() -> AsyncIterator[TinyServer]:
    tiny = TinyServer()
    tiny.server = await asyncio.start_server(tiny.serve, "127.0.0.1", 0)
    yield tiny
    await tiny.close_connections()
    tiny.server.close()
    await tiny.server.wait_closed()


class CountingStream(httpcore.AsyncNetworkStream):
    """Wraps a stream and counts the extra-info lookups that reach it."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self.stream = stream
        self.lookups: list[str] = []

    async def aclose(self) -> None:
        await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        self.lookups.append(info)
        return self.stream.get_extra_info(info)


async def _until(condition: Any) -> None:
    """Let the event loop run until `condition()` holds (the close reaches the socket)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_an_idle_open_connection_is_not_readable_and_a_closed_one_is(
    server: TinyServer,
) -> None:
    raw = await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", server.port)
    counting = CountingStream(raw)
    stream = QuickCheckStream(counting)
    await _until(lambda: server.connections == 1)
    assert stream.get_extra_info("is_readable") is False
    assert stream.get_extra_info("is_readable") is False  # asked again: the same answer
    await server.close_connections()
    await _until(lambda: stream.get_extra_info("is_readable"))
    # The socket was looked up once, at the start, however often the pool asks.
    assert counting.lookups == ["socket"]
    await stream.aclose()
    assert stream.get_extra_info("is_readable") is True  # closed here: readable, as httpcore's


async def test_other_extra_info_is_answered_by_the_stream_itself(server: TinyServer) -> None:
    raw = await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", server.port)
    stream = QuickCheckStream(raw)
    assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
    assert stream.get_extra_info("socket") is raw.get_extra_info("socket")
    await stream.aclose()


async def test_the_pool_reuses_a_live_connection_and_replaces_one_the_server_closed(
    server: TinyServer,
) -> None:
    transport = quick_check_transport(4)
    url = f"http://127.0.0.1:{server.port}/botTOKEN/getMe"
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):
            assert (await client.post(url)).json() == {"ok": True, "result": True}
        assert server.connections == 1  # kept alive and reused
        await server.close_connections()  # on loopback the close has reached our socket now
        # The closed connection is seen as such and a new one opened: no error reaches us.
        assert (await client.post(url)).json() == {"ok": True, "result": True}
        assert server.connections == 2


async def test_ptb_requests_work_again_after_a_shutdown(server: TinyServer) -> None:
    """PTB closes its HTTP client at shutdown and builds a new one on the same transport when
    the application is started again (the tests and a restart in-process do that)."""
    request = bot_api_request(2, connect_timeout=5, read_timeout=5)
    url = f"http://127.0.0.1:{server.port}/botTOKEN/getMe"
    await request.initialize()
    assert await request.post(url) is True
    await request.shutdown()
    await request.initialize()
    assert await request.post(url) is True
    await request.shutdown()


async def test_the_bot_api_request_opens_quick_check_connections(
    server: TinyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QuickCheckStream] = []
    original = QuickCheckStream.__init__

    def noting(self: QuickCheckStream, stream: httpcore.AsyncNetworkStream) -> None:
        original(self, stream)
        opened.append(self)

    monkeypatch.setattr(QuickCheckStream, "__init__", noting)
    request = bot_api_request(2, connect_timeout=5, read_timeout=5)
    await request.initialize()
    assert await request.post(f"http://127.0.0.1:{server.port}/botTOKEN/getMe") is True
    await request.shutdown()
    assert len(opened) == 1


async def test_a_proxy_named_in_the_environment_is_still_used(
    server: TinyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy (HTTP_PROXY and friends), requests go through it, as with PTB's own."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.port}")
    request = bot_api_request(2, connect_timeout=5, read_timeout=5)
    await request.initialize()
    # No such host: only the proxy (our tiny server) can answer.
    assert await request.post("http://bot-api.invalid/botTOKEN/getMe") is True
    await request.shutdown()
    assert server.connections == 1
