"""`magentic run` as a person runs it, with one more agent whose step never returns.

    python -m tests.stuck_child thread|loop MARKER -- ARGS...

The `Stuck` agent stands for a library call that hangs: with `thread` it waits forever in a
worker thread (a thread cannot be cancelled, and Python waits for it at exit); with `loop` it
blocks the event loop itself. It writes MARKER first, so the test knows when to send its
signal. Everything else (the CLI, the orchestrator, the trace, the signals) is the real one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

from magentic import cli, team
from magentic.agents.base import AgentReply, BaseAgent, StepContext


class Stuck(BaseAgent):
    name = "Stuck"
    description = "Reads a tape drive that never answers."

    def __init__(self, how: str, marker: Path) -> None:
        self.how, self.marker = how, marker

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        self.marker.write_text("stuck\n")
        if self.how == "loop":
            time.sleep(3600)  # noqa: ASYNC251 - on purpose: the event loop is blocked
        else:
            await asyncio.to_thread(threading.Event().wait)  # a thread that never ends
        return AgentReply("never reached")


def main() -> int:
    how, marker = sys.argv[1], Path(sys.argv[2])
    team.FACTORIES["Stuck"] = lambda parts: Stuck(how, marker)
    return cli.main(sys.argv[4:])


if __name__ == "__main__":
    raise SystemExit(main())
