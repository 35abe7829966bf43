"""A console Approver for `--step`: pause before each action and let the person decide.

Enter continues, `s` skips the action, anything else is guidance for the orchestrator. The
line is read without blocking the event loop (`line_reader.LineReader`), so the browser and
the trace keep running while we wait.
`magentic run --step` (or `[web] step_mode = true`) hands it to the run.
"""

from __future__ import annotations

import sys
from typing import TextIO

from magentic.agents.base import Approval
from magentic.ui.line_reader import LineReader

PROMPT = "[Enter] continue   [s] skip   or type guidance for the orchestrator: "


class ConsoleApprover:
    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        *,
        reader: LineReader | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        # The console face's reader when there is one: two readers of one stdin would each
        # keep part of what was typed.
        self._reader = reader or LineReader(self.stdin)

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
        """One line from stdin; at the end of input, nobody is there to ask: carry on."""
        return (await self._reader.read_line()) or ""
