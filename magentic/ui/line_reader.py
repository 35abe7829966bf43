"""Reading a person's lines from stdin without blocking the event loop.

Used by the console face (`console_face.ConsoleFace`): the browser, the model calls and the
trace keep running while a person thinks.
"""

from __future__ import annotations

import asyncio
import os
from typing import TextIO


class LineReader:
    """Lines from one text stream. Where the loop can watch the descriptor, bytes are read
    from it directly (a buffered reader would swallow typed-ahead lines where the loop's
    readiness check cannot see them); elsewhere a thread reads a line.

    A read cancelled half-way loses nothing: bytes already read stay for the next line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = b""
        self.closed = False  # end of input seen

    async def read_line(self) -> str | None:
        """The next line without its newline, or None at the end of input."""
        if self.closed and b"\n" not in self._pending:
            return self._rest()
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return await self._threaded()
        loop = asyncio.get_running_loop()
        while b"\n" not in self._pending:
            ready: asyncio.Future[bytes] = loop.create_future()

            def on_readable(future: asyncio.Future[bytes] = ready) -> None:
                if not future.done():
                    try:
                        future.set_result(os.read(fd, 4096))
                    except OSError:  # a terminal that went away reads as the end
                        future.set_result(b"")

            try:
                loop.add_reader(fd, on_readable)
            except (NotImplementedError, ValueError, OSError):
                return await self._threaded()
            try:
                data = await ready
            finally:
                loop.remove_reader(fd)
            if not data:
                self.closed = True
                return self._rest()
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def _rest(self) -> str | None:
        """At the end of input: an unfinished last line, else None."""
        line, self._pending = self._pending, b""
        return line.decode(errors="replace") if line else None

    async def _threaded(self) -> str | None:
        line = await asyncio.to_thread(self.stream.readline)
        if not line:
            self.closed = True
            return None
        return line.rstrip("\r\n")
