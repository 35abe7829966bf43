"""A WebSurfer driven by a ScriptedLLMServer, one model call per step, for tests that go
through the real agent (hostile pages, downloads)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from magentic.agents.base import AgentReply, StepContext
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer, sequence
from tests.web.conftest import web_settings

DEADLINE_S = 8.0
NAVIGATION_S = 3.0


class Surfer:
    """A WebSurfer whose scripted model makes the given calls, one per step."""

    def __init__(self, surfer: WebSurfer, ctx: StepContext) -> None:
        self.surfer, self.ctx = surfer, ctx

    async def step(self) -> tuple[AgentReply, float]:
        started = time.monotonic()
        reply = await self.surfer.step("Open the page and report.", self.ctx)
        return reply, time.monotonic() - started


MakeSurfer = Callable[..., Any]


@contextlib.asynccontextmanager
async def surfers(pool: BrowserPool, site_host: str, workspace: Path) -> AsyncIterator[MakeSurfer]:
    """Makes scripted WebSurfers (closed at the end) on `pool`, allowed only the test site."""
    opened: list[tuple[WebSurfer, ModelClient, ScriptedLLMServer]] = []

    async def make(*replies: Any, **settings: Any) -> Surfer:
        """Replies in order, or one script (a function of the request)."""
        script = replies[0] if len(replies) == 1 and callable(replies[0]) else sequence(*replies)
        server = ScriptedLLMServer(script).start()
        bus = EventBus("test")
        client = ModelClient(
            ModelSettings(model="scripted", base_url=server.base_url, api_key="t", vision=False),
            role="web_surfer",
            events=bus,
        )
        fields: dict[str, Any] = {
            "action_deadline_s": DEADLINE_S,
            "navigation_timeout_s": NAVIGATION_S,
        }
        fields.update(settings)
        web = WebSurfer(client, web_settings(site_host, **fields), pool=pool)
        ctx = StepContext(task="Read the page.", conversation=[], workspace=workspace, events=bus)
        opened.append((web, client, server))
        return Surfer(web, ctx)

    try:
        yield make
    finally:
        for web, client, server in opened:
            await web.close()
            await client.close()
            server.stop()


def visit(url: str) -> Reply:
    return Reply.tool_call("visit_url", {"url": url})
