"""A console Approver for `--step`: pause before each action and let the person decide.

Enter continues, `s` skips the action, anything else is guidance for the orchestrator. The
line is read without blocking the event loop (a reader callback on stdin where the loop
supports it, else a thread), so the browser and the trace keep running while we wait.
`magentic run --step` (or `[web] step_mode = true`) hands it to the run.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from magentic.agents.base import Approval

PROMPT = "[Enter] continue   [s] skip   or type guidance for the orchestrator: "


class ConsoleApprover:
    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._pending = b""

    async def review(self, agent: str, action: str, detail: str) -> Approval:
        self.stdout.write(f"\n{agent} is about to: {detail or action}\n{PROMPT}")
        self.stdout.flush()
        line = (await self._read_line()).strip()
        if not line:
            return Approval("continue")
        if line.lower() in ("s", "skip"):
            return Approval("skip")
        return Approval("guide", guidance=line)

    async def _read_line(self) -> str:
        """One line from stdin. Bytes are read from the descriptor ourselves: a buffered
        reader would swallow typed-ahead lines where the loop's readiness check cannot see
        them."""
        try:
            fd = self.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return await asyncio.to_thread(self.stdin.readline)
        loop = asyncio.get_running_loop()
        while b"\n" not in self._pending:
            ready: asyncio.Future[bytes] = loop.create_future()

            def on_readable(future: asyncio.Future[bytes] = ready) -> None:
                if not future.done():
                    future.set_result(os.read(fd, 4096))

            try:
                loop.add_reader(fd, on_readable)
            except (NotImplementedError, ValueError, OSError):
                return await asyncio.to_thread(self.stdin.readline)
            try:
                data = await ready
            finally:
                loop.remove_reader(fd)
            if not data:  # end of input: nobody is there to ask, so carry on
                line, self._pending = self._pending, b""
                return line.decode(errors="replace")
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace")
