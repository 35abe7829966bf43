"""The WebSurfer on a llama.cpp-like endpoint: it refuses tools and list content with 500s.

The surfer itself is unchanged; the model client sends plain strings whenever no image goes,
steps down from images and native tools after one refusal each, and the surfer's actions
come back as JSON replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.events import Event, EventBus, ModelCallFailed
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from tests.web.conftest import web_settings

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def script(request: ChatRequest) -> Reply:
    """A small model: a JSON action first, then the answer in words."""
    if "Local Search" in request.all_text():  # the results page is open
        return Reply.text('{"answer": "The search shows Alpha Peak."}')
    return Reply.text('```json\n{"tool": "web_search", "arguments": {"query": "alpha peak"}}\n```')


@pytest.mark.parametrize("text_only", [False, True], ids=["screenshots", "text-only"])
async def test_the_surfer_works_on_a_llama_cpp_like_server(
    pool: BrowserPool, site_host: str, tmp_path: Path, text_only: bool
) -> None:
    events: list[Event] = []
    bus = EventBus("test")
    bus.subscribe(events.append)
    with ScriptedLLMServer.llama_cpp_like(script, token_delay_s=0) as server:
        client = ModelClient(
            ModelSettings(model="small", base_url=server.base_url, api_key="t"),
            role="web_surfer",
            events=bus,
        )
        surfer = WebSurfer(client, web_settings(site_host, text_only=text_only), pool=pool)
        ctx = StepContext(task="Find Alpha Peak.", conversation=[], workspace=tmp_path, events=bus)
        try:
            first = await surfer.step("Search for Alpha Peak.", ctx)
            second = await surfer.step("What did the search show?", ctx)
        finally:
            await surfer.close()
            await client.close()
    assert "Searched the web for 'alpha peak'." in first.text
    assert "Alpha Peak" in second.text
    refused = [e.feature for e in events if isinstance(e, ModelCallFailed)]
    # Screenshots need list content: refused once; tools: refused once; never again.
    assert refused == (["tools"] if text_only else ["list_content", "tools"])
    assert len(server.refused) == len(refused)
    sent = [m["content"] for r in server.requests for m in r.messages]
    assert all(isinstance(content, str) for content in sent)
    assert all(not r.tools for r in server.requests)
