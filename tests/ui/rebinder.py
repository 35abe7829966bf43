"""A hostile host name for the web view's tests, as DNS rebinding makes one.

After rebinding, a page the attacker served as `http://attacker.test:PORT/` is still that
origin, but its later requests reach the victim at the same port: the browser believes it
talks to attacker.test, so they carry `Host: attacker.test:PORT` and read their answers as
same-origin. `Rebinder` plays the attacker's side for real: it listens on another loopback
address at the web view's own port (Chromium maps `attacker.test` there with
`--host-resolver-rules`), serves its page once, and from then on passes every connection's
bytes through to the view unchanged, as the rebound address would.
"""

from __future__ import annotations

import asyncio
import contextlib

ATTACKER_HOST = "attacker.test"
ATTACKER_IP = "127.0.0.2"
PAGE_PATH = "/evil"


class Rebinder:
    def __init__(self, view_port: int, page: str) -> None:
        self.view_port = view_port
        self.page = page.encode()
        self.passed: list[bytes] = []  # the request lines passed through to the view
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{ATTACKER_HOST}:{self.view_port}{PAGE_PATH}"

    async def __aenter__(self) -> Rebinder:
        self._server = await asyncio.start_server(self._serve, ATTACKER_IP, self.view_port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        if head.startswith(f"GET {PAGE_PATH} ".encode()):
            body = self.page
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Cache-Control: no-store\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            writer.close()
            return
        self.passed.append(head.split(b"\r\n", 1)[0])
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.view_port)
        except OSError:
            writer.close()
            return
        up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
