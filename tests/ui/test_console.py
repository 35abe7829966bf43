"""The plain console: what a person watching sees while the model client retries."""

from __future__ import annotations

import io

from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.messages import user
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer
from magentic.ui.console import ConsolePrinter


async def test_a_failed_attempt_and_its_retry_are_shown_not_silent() -> None:
    stream = io.StringIO()
    bus = EventBus("console-test")
    bus.subscribe(ConsolePrinter(stream))
    replies = [Reply.server_error(503), Reply.text("fine")]
    async with ScriptedLLMServer(replies) as server:
        settings = ModelSettings(
            model="gpt-4o", base_url=server.base_url, api_key="k", retry_backoff_s=0.01
        )
        client = ModelClient(settings, role="orchestrator", events=bus)
        try:
            result = await client.chat([user("hi")])
        finally:
            await client.close()
    assert result.text == "fine"
    [line] = [ln for ln in stream.getvalue().splitlines() if "attempt" in ln]
    assert line.startswith("  (orchestrator model, attempt 1:") and line.endswith("retrying)")
    assert "answered 503: internal error (scripted)" in line
