"""Record/replay: a recorded run answers offline, deterministically; a miss is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.errors import ReplayMissError
from magentic.llm.cache import ModelCache
from magentic.llm.client import ModelClient
from magentic.llm.messages import user
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer

from .helpers import OPEN_CLIENTS


def _client(url: str, cache: ModelCache) -> ModelClient:
    settings = ModelSettings(model="m", base_url=url, api_key="k", max_retries=0, timeout_s=2)
    client = ModelClient(settings, role="r", cache=cache)
    OPEN_CLIENTS.append(client)
    return client


async def test_recorded_calls_replay_with_the_server_gone(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    async with ScriptedLLMServer([Reply.text("first"), Reply.text("second")]) as server:
        url = server.base_url
        recorder = ModelCache(path, "read_write")
        client = _client(url, recorder)
        # The same request twice: each occurrence is kept, in order.
        assert (await client.chat([user("q")])).text == "first"
        assert (await client.chat([user("q")])).text == "second"
        recorder.close()
    replayer = ModelCache(path, "replay")
    client = _client(url, replayer)  # the URL now refuses connections
    first = await client.chat([user("q")])
    second = await client.chat([user("q")])
    assert (first.text, second.text) == ("first", "second")
    assert first.cache_hit and client.meter.total.cost == 0
    with pytest.raises(ReplayMissError, match="never recorded"):
        await client.chat([user("a question never asked")])
    replayer.close()


async def test_read_write_serves_hits_without_calling(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "c.sqlite", "read_write")
    async with ScriptedLLMServer([Reply.text("live")]) as server:
        await _client(server.base_url, cache).chat([user("x")])
        again = ModelCache(tmp_path / "c.sqlite", "read_write")
        hit = await _client(server.base_url, again).chat([user("x")])
    assert hit.text == "live" and hit.cache_hit
    assert len(server.requests) == 1
