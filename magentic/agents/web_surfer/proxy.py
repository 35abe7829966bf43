"""A small forward proxy that every request of one browser context goes through.

Why a proxy and not `page.route`: measured on Playwright 1.65, a route handler never sees
redirect hops (`302 -> http://127.0.0.1/...` sails through), a popup's first requests run
before a per-page CDP interceptor can attach, and any route disables the HTTP cache. A proxy
sees every connection the browser opens (documents, redirects, popups, iframes,
subresources, WebSockets), resolves the name itself and connects to the very address it
checked, so a name that resolves to a private address is caught as well.

Plain http is forwarded one request per connection (`Connection: close`), which keeps the
relay a byte pipe; https and WebSockets are CONNECT tunnels, checked by host and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from magentic.agents.web_surfer.url_policy import DEFAULT_PORTS, UrlPolicy, split_host_port

log = logging.getLogger(__name__)

_HEAD_LIMIT = 1 << 20
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}


@dataclass(frozen=True)
class ProxyEvent:
    """A request the proxy refused or could not carry."""

    target: str  # the URL, or host:port for a tunnel
    reason: str
    blocked: bool  # True: by the policy; False: the host could not be reached


class PolicyProxy:
    def __init__(self, policy: UrlPolicy, *, connect_timeout_s: float = 10.0) -> None:
        self.policy = policy
        self.connect_timeout_s = connect_timeout_s
        # The latest refusals and failures (background noise included, so bounded).
        self.events: deque[ProxyEvent] = deque(maxlen=200)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    # ------------------------------------------------------------------------------------
    def open_connections(self) -> int:
        """Browser connections being served now (a stuck one would stay counted)."""
        return len(self._writers)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
            if method.upper() == "CONNECT":
                await self._tunnel(target, reader, writer)
            else:
                await self._forward(method, target, version, header_lines, reader, writer)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            asyncio.TimeoutError,
            ValueError,
        ):
            pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses; OSError when the name does not resolve."""
        host = host.strip("[]")
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            return [host]
        except OSError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def _open(
        self, target: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | ProxyEvent:
        """A connection to the checked address of host:port, or why there is none."""
        try:
            ips = await self._resolve(host, port)
        except OSError:
            return ProxyEvent(target, f"the name {host} could not be resolved", blocked=False)
        reason = self.policy.check_address(host, port, ips)
        if reason:
            return ProxyEvent(target, reason, blocked=True)
        last = "no address"
        for ip in ips:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(ip, port, limit=_HEAD_LIMIT), self.connect_timeout_s
                )
            except (TimeoutError, asyncio.TimeoutError):
                last = f"connecting to {host}:{port} timed out"
            except OSError as error:
                last = f"connecting to {host}:{port} failed ({error.strerror or error})"
        return ProxyEvent(target, last, blocked=False)

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, port = split_host_port(target)
        port = port or 443
        reason = self.policy.check_host(host, port)
        opened = (
            ProxyEvent(target, reason, True) if reason else await self._open(target, host, port)
        )
        if isinstance(opened, ProxyEvent):
            self.events.append(opened)
            status = "403 Forbidden" if opened.blocked else "502 Bad Gateway"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            return
        up_reader, up_writer = opened
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await _splice(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        header_lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        if not parts.scheme or not parts.hostname:
            await _answer(writer, "400 Bad Request", "Bad request", "Not a proxy request.")
            return
        reason = self.policy.check_url(target)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        opened = (
            ProxyEvent(target, reason, True)
            if reason
            else await self._open(target, parts.hostname, port)
        )
        if isinstance(opened, ProxyEvent):
            self.events.append(opened)
            if opened.blocked:
                await _answer(writer, "403 Forbidden", "Blocked by the URL policy", opened.reason)
            else:
                await _answer(writer, "502 Bad Gateway", "Could not reach the site", opened.reason)
            return
        up_reader, up_writer = opened
        upgrade = any(line.lower().startswith("upgrade:") for line in header_lines)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [
            line
            for line in header_lines
            if line and line.split(":", 1)[0].strip().lower() not in _HOP_HEADERS
        ]
        kept.append("Connection: Upgrade" if upgrade else "Connection: close")
        up_writer.write(
            (f"{method} {path} {version}\r\n" + "\r\n".join(kept) + "\r\n\r\n").encode("latin-1")
        )
        await up_writer.drain()
        body = asyncio.ensure_future(_pipe(reader, up_writer, half_close=False))
        head = asyncio.ensure_future(up_reader.readuntil(b"\r\n\r\n"))
        try:
            # The browser ends its side only when it gives up (a timeout, a stopped load):
            # then stop waiting for a server that may never answer.
            await asyncio.wait({head, body}, return_when=asyncio.FIRST_COMPLETED)
            if not head.done():
                return
            response_head = head.result()
            if not upgrade:
                status_line, *lines = response_head.decode("latin-1").split("\r\n")
                lines = [
                    line
                    for line in lines
                    if line and line.split(":", 1)[0].strip().lower() not in _HOP_HEADERS
                ]
                lines.append("Connection: close")
                response_head = (status_line + "\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode(
                    "latin-1"
                )
            writer.write(response_head)
            await writer.drain()
            await _pipe(up_reader, writer, half_close=False)
        finally:
            head.cancel()
            body.cancel()
            up_writer.close()


async def _answer(writer: asyncio.StreamWriter, status: str, title: str, text: str) -> None:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    ).encode()
    writer.write(
        (
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, half_close: bool
) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass


async def _splice(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Both directions of a tunnel, until both ends have finished."""
    try:
        await asyncio.gather(
            _pipe(a_reader, b_writer, half_close=True), _pipe(b_reader, a_writer, half_close=True)
        )
    finally:
        b_writer.close()
