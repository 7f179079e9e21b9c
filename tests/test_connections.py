"""The Bot API connections (bot/telegram/connections.py): the cheap "still open?" check gives the
same answers as httpcore's own, so the pool reuses live connections and drops closed ones, over
plain HTTP and over TLS (as to api.telegram.org), where the server is verified as usual."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpcore
import httpcore._backends.anyio
import httpx
import pytest
import trustme
from telegram.error import NetworkError

from bot.telegram.connections import QuickCheckStream, bot_api_request, quick_check_transport


class TinyServer:
    """A loopback HTTP/1.1 server answering every request with a Bot API `ok`, keeping each
    connection open until told to close them."""

    def __init__(self) -> None:
        self.connections = 0
        self.tls_connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.dropped: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.tls_connections += writer.get_extra_info("ssl_object") is not None
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
        for writer in self.dropped:
            # A client that closes its socket with the TLS close_notify still unread resets it.
            with suppress(ConnectionResetError):
                await writer.wait_closed()
        self.writers.clear()
        self.dropped.clear()

    def drop_connections(self, *, abort: bool) -> None:
        """The server ends every open connection without waiting for the client's answer: over
        TLS, with a close_notify alert (`abort=False`, the client's socket stays open) or by
        closing its socket at once (`abort=True`)."""
        for writer in self.writers:
            if abort:
                writer.transport.abort()
            else:
                writer.close()
        self.dropped.extend(self.writers)
        self.writers.clear()


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[TinyServer]:
    tiny = TinyServer()
    tiny.server = await asyncio.start_server(
        tiny.serve,
        "127.0.0.1",
        0,
        ssl=ssl_context,
        # A TLS close waits this long at most for the client's close_notify (a failed test's
        # teardown), not asyncio's 30 s.
        ssl_shutdown_timeout=5.0 if ssl_context else None,
    )
    try:
        yield tiny
    finally:
        await tiny.close_connections()
        tiny.server.close()
        await tiny.server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[TinyServer]:
    async with serving() as tiny:
        yield tiny


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
    opened = recording_quick_check_streams(monkeypatch)
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


# Over TLS, as the coach reaches api.telegram.org: a loopback HTTPS server with a certificate
# from a throwaway CA (trustme); the client trusts that CA through the SSL context it is given.


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context like httpx's own (hostname checked, certificate required) that trusts
    only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[TinyServer]:
    async with serving(server_context(ca.issue_cert("127.0.0.1"))) as tiny:
        yield tiny


def recording_quick_check_streams(monkeypatch: pytest.MonkeyPatch) -> list[QuickCheckStream]:
    opened: list[QuickCheckStream] = []
    original = QuickCheckStream.__init__

    def noting(self: QuickCheckStream, stream: httpcore.AsyncNetworkStream) -> None:
        original(self, stream)
        opened.append(self)

    monkeypatch.setattr(QuickCheckStream, "__init__", noting)
    return opened


async def test_an_https_request_goes_through_a_quick_check_stream_around_the_tls_stream(
    tls_server: TinyServer, trusting: ssl.SSLContext
) -> None:
    url = f"https://127.0.0.1:{tls_server.port}/botTOKEN/getMe"
    async with httpx.AsyncClient(transport=quick_check_transport(2, trusting)) as client:
        response = await client.post(url)
        assert response.json() == {"ok": True, "result": True}
        stream = response.extensions["network_stream"]
        assert isinstance(stream, QuickCheckStream)
        ssl_object = stream.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
        # The connection was verified with the context the transport was built with.
        assert ssl_object.context is trusting
        # Its readability check polls the TCP socket under the TLS stream.
        assert stream.get_extra_info("socket").getpeername() == ("127.0.0.1", tls_server.port)
        assert stream.get_extra_info("is_readable") is False
    assert tls_server.tls_connections == 1


async def test_the_bot_api_request_opens_quick_check_tls_connections(
    tls_server: TinyServer, trusting: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = recording_quick_check_streams(monkeypatch)
    request = bot_api_request(2, connect_timeout=5, read_timeout=5, ssl_context=trusting)
    await request.initialize()
    assert await request.post(f"https://127.0.0.1:{tls_server.port}/botTOKEN/getMe") is True
    # The TCP stream, then the TLS stream its start_tls returned, on the same socket.
    assert len(opened) == 2
    tcp, tls = opened
    assert tcp.get_extra_info("ssl_object") is None
    assert tls.get_extra_info("ssl_object").context is trusting
    assert tls.get_extra_info("socket") is tcp.get_extra_info("socket")
    await request.shutdown()
    assert tls_server.tls_connections == 1


@pytest.mark.parametrize("abort", [False, True], ids=["close_notify", "socket_closed"])
async def test_the_pool_reuses_a_live_tls_connection_and_replaces_one_the_server_closed(
    tls_server: TinyServer,
    trusting: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
    abort: bool,
) -> None:
    # Who answers the pool's "still open?": the quick check, never httpcore's anyio stream.
    asked: list[str] = []
    reached: list[str] = []
    quick_info = QuickCheckStream.get_extra_info
    anyio_info = httpcore._backends.anyio.AnyIOStream.get_extra_info

    def quick(self: QuickCheckStream, info: str) -> Any:
        asked.append(info)
        return quick_info(self, info)

    def anyio(self: httpcore._backends.anyio.AnyIOStream, info: str) -> Any:
        reached.append(info)
        return anyio_info(self, info)

    monkeypatch.setattr(QuickCheckStream, "get_extra_info", quick)
    monkeypatch.setattr(httpcore._backends.anyio.AnyIOStream, "get_extra_info", anyio)

    url = f"https://127.0.0.1:{tls_server.port}/botTOKEN/getMe"
    async with httpx.AsyncClient(transport=quick_check_transport(4, trusting)) as client:
        streams = []
        for _ in range(3):
            response = await client.post(url)
            assert response.json() == {"ok": True, "result": True}
            streams.append(response.extensions["network_stream"])
        first = streams[0]
        assert streams == [first] * 3  # kept alive and reused
        assert tls_server.connections == 1
        assert first.get_extra_info("is_readable") is False  # idle and open
        tls_server.drop_connections(abort=abort)
        await _until(lambda: first.get_extra_info("is_readable"))
        # The closed connection is seen as such and a new one opened: no error reaches us.
        response = await client.post(url)
        assert response.json() == {"ok": True, "result": True}
        assert response.extensions["network_stream"] is not first
        assert tls_server.connections == tls_server.tls_connections == 2
    assert asked.count("is_readable") > 5  # the pool asked before and after each request
    assert "is_readable" not in reached


async def test_a_server_certificate_from_another_ca_is_refused(
    trusting: ssl.SSLContext,
) -> None:
    stranger = trustme.CA().issue_cert("127.0.0.1")
    async with serving(server_context(stranger)) as tiny:
        request = bot_api_request(2, connect_timeout=5, read_timeout=5, ssl_context=trusting)
        await request.initialize()
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await request.post(f"https://127.0.0.1:{tiny.port}/botTOKEN/getMe")
        await request.shutdown()
        assert tiny.connections == 0


async def test_a_certificate_for_another_name_is_refused(
    ca: trustme.CA, trusting: ssl.SSLContext
) -> None:
    async with serving(server_context(ca.issue_cert("bot-api.invalid"))) as tiny:
        transport = quick_check_transport(2, trusting)
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://127.0.0.1:{tiny.port}/botTOKEN/getMe")
        assert tiny.connections == 0


async def test_without_a_context_the_bot_api_request_trusts_only_the_usual_cas(
    tls_server: TinyServer,
) -> None:
    """The coach itself passes no context: httpx's default (certifi's CAs), which does not
    know the test CA."""
    request = bot_api_request(2, connect_timeout=5, read_timeout=5)
    await request.initialize()
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
        await request.post(f"https://127.0.0.1:{tls_server.port}/botTOKEN/getMe")
    await request.shutdown()
    assert tls_server.connections == 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_behind_a_proxy_https_is_verified_with_the_given_context(
    ca: trustme.CA, trusting: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy the request keeps httpx's own transport; a context given for it still
    decides whom the tunnelled TLS connection trusts."""
    async with serving(server_context(ca.issue_cert("bot-api.invalid"))) as target:
        tunnels: list[bytes] = []
        handlers: list[asyncio.Task[Any]] = []

        async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            """An HTTP CONNECT proxy that takes every tunnel to the target server."""
            task = asyncio.current_task()
            assert task is not None
            handlers.append(task)
            head = await reader.readuntil(b"\r\n\r\n")
            tunnels.append(head.split(b" ", 2)[1])
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target.port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
        proxy_url = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.setenv("https_proxy", proxy_url)
        url = "https://bot-api.invalid/botTOKEN/getMe"  # no such host: only the proxy knows it
        try:
            usual = bot_api_request(2, connect_timeout=5, read_timeout=5)
            await usual.initialize()
            with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
                await usual.post(url)
            await usual.shutdown()

            request = bot_api_request(2, connect_timeout=5, read_timeout=5, ssl_context=trusting)
            await request.initialize()
            assert await request.post(url) is True
            await request.shutdown()
            await asyncio.gather(*handlers)  # every tunnel closed with its client
        finally:
            proxy.close()
            await proxy.wait_closed()
    assert tunnels == [b"bot-api.invalid:443"] * 2
    assert target.tls_connections == 1
