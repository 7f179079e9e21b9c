"""The coach's connections to the Bot API: PTB's `HTTPXRequest`, on connections that answer
httpcore's "is this idle connection still open?" cheaply.

Before every request and after every response, httpcore's pool asks each idle connection
whether the server has closed it (`get_extra_info("is_readable")`). Through anyio, each answer
builds the socket's whole attribute table (a `getpeername` system call among it) only to take the
socket out of it, then polls it (encode/httpcore#928 is the open fix). Under load that was a fifth
of the coach's CPU. Here each connection looks its socket up once and keeps one poll object for it:
the same answer, from one system call.
"""

# httpcore's stream and backend interfaces take their timeouts as parameters.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from telegram.request import HTTPXRequest


class QuickCheckStream(httpcore.AsyncNetworkStream):
    """A network stream whose readability check reuses its socket and poll object."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")
        self._poll: Any = None
        if self._socket is not None and hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(self._socket.fileno(), select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        secured = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return QuickCheckStream(secured)

    def get_extra_info(self, info: str) -> Any:
        if info == "socket" and self._socket is not None:
            return self._socket
        if info == "is_readable" and self._poll is not None:
            assert self._socket is not None
            # A closed socket reads as readable: its next read returns the end (as httpcore's).
            return self._socket.fileno() < 0 or bool(self._poll.poll(0))
        return self._stream.get_extra_info(info)


class QuickCheckBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, with every stream it opens a `QuickCheckStream`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, timeout, local_address, socket_options
        )
        return QuickCheckStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return QuickCheckStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def quick_check_transport(
    connections: int, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with at most `connections` connections, each a `QuickCheckStream`.

    httpx takes no network backend, so its connection pool is replaced by the same pool (same
    limits as PTB's: `connections` at most, every idle one kept for httpx's 5 s) built with one.
    HTTPS connections verify the server with `ssl_context` (httpx's default: certifi's CAs)."""
    # One SSL context for both pools: loading the CA certificates takes ~30 ms at start-up.
    context = ssl_context or httpx.create_ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=context)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=connections,
        max_keepalive_connections=None,
        keepalive_expiry=5.0,
        network_backend=QuickCheckBackend(),
    )
    return transport


def bot_api_request(
    connections: int,
    *,
    connect_timeout: float,
    read_timeout: float,
    write_timeout: float = 5.0,
    pool_timeout: float = 1.0,
    ssl_context: ssl.SSLContext | None = None,
) -> HTTPXRequest:
    """PTB's request object for the Bot API, on `connections` quick-check connections.

    httpx uses the proxy that `HTTPS_PROXY` and friends name only with its own transport, so
    while one is set the request keeps httpx's transport (and its slower check). Either way
    HTTPS servers are verified with `ssl_context` when one is given (the tests' own CA)."""
    proxied = any(scheme != "no" for scheme in urllib.request.getproxies())
    transport = None if proxied else quick_check_transport(connections, ssl_context)
    httpx_kwargs: dict[str, Any] = {"transport": transport}
    if ssl_context is not None:
        httpx_kwargs["verify"] = ssl_context
    return HTTPXRequest(
        connection_pool_size=connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        pool_timeout=pool_timeout,
        httpx_kwargs=httpx_kwargs,
    )
