"""Streamed text as coalesced ModelDelta events, and a streamed call equal to a plain one."""

from __future__ import annotations

from pathlib import Path

from magentic.events import Event, EventBus, ModelCalled, ModelDelta, RunStarted
from magentic.llm.cache import ModelCache
from magentic.llm.deltas import DeltaCoalescer
from magentic.llm.messages import ToolSpec, user
from magentic.testing import Reply, ScriptedLLMServer
from magentic.trace.writer import TraceWriter, read_trace

from .helpers import make_client

LONG = " ".join(f"word{i}" for i in range(250))  # ~2,000 characters, ~120 chunks
NOTE = ToolSpec(
    "note",
    "Write a note.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)


def _deltas(events: list[Event]) -> list[ModelDelta]:
    return [e for e in events if isinstance(e, ModelDelta)]


async def test_streamed_text_arrives_as_deltas_that_add_up_to_the_reply() -> None:
    async with ScriptedLLMServer([Reply.text(LONG)]) as server:
        client, events = make_client(server.base_url, stream=True)
        result = await client.chat([user("talk")])
    deltas = _deltas(events)
    assert server.requests[0].stream and result.text == LONG
    assert "".join(d.text for d in deltas) == LONG
    assert deltas[-1].chars == len(LONG) and all(d.role == "tester" for d in deltas)
    # the stream ends before the call is accounted: every delta precedes its ModelCalled
    called = next(i for i, e in enumerate(events) if isinstance(e, ModelCalled))
    assert all(events.index(d) < called for d in deltas)


async def test_a_plain_call_emits_no_deltas() -> None:
    async with ScriptedLLMServer([Reply.text(LONG)]) as server:
        client, events = make_client(server.base_url, stream=False)
        await client.chat([user("talk")])
    assert not server.requests[0].stream and not _deltas(events)


async def test_a_streamed_call_equals_a_plain_one_in_text_tools_usage_and_cache_key(
    tmp_path: Path,
) -> None:
    replies = [
        Reply.text(LONG, usage=(900, 500, 100)),
        Reply.tool_call("note", {"text": "x" * 300}, usage=(700, 40, 0)),
    ]
    results = {}
    for stream in (True, False):
        async with ScriptedLLMServer(list(replies)) as server:
            cache = ModelCache(tmp_path / f"cache-{stream}.sqlite", "read_write")
            client, _ = make_client(server.base_url, stream=stream)
            client.cache = cache
            text = await client.chat([user("talk")])
            tool = await client.chat([user("note it")], tools=[NOTE])
        assert server.requests[0].stream is stream
        results[stream] = (text, tool)
        cache.close()
    for a, b in zip(results[True], results[False], strict=True):
        assert (a.text, a.finish_reason) == (b.text, b.finish_reason)
        # the server names each call afresh; what was called, and with what, is the same
        assert [(c.name, c.arguments) for c in a.tool_calls] == [
            (c.name, c.arguments) for c in b.tool_calls
        ]
        assert (a.usage.prompt_tokens, a.usage.completion_tokens, a.usage.cached_tokens) == (
            b.usage.prompt_tokens,
            b.usage.completion_tokens,
            b.usage.cached_tokens,
        )
    # What the streamed client recorded, a plain client replays: the cache keys are the same.
    replay = ModelCache(tmp_path / "cache-True.sqlite", "replay")
    async with ScriptedLLMServer([]) as server:
        client, _ = make_client(server.base_url, stream=False)
        client.cache = replay
        again = await client.chat([user("talk")])
        tool_again = await client.chat([user("note it")], tools=[NOTE])
    replay.close()
    assert not server.requests
    assert again.text == LONG and tool_again.tool_calls == results[True][1].tool_calls


def test_coalescing_bounds_deltas_by_size_and_time() -> None:
    now = [0.0]
    events: list[Event] = []
    bus = EventBus("t")
    bus.subscribe(events.append)
    coalescer = DeltaCoalescer(bus, "coder", interval_s=0.1, clock=lambda: now[0])
    for _ in range(100):  # 1,000 characters in 10-character chunks, with no time passing
        coalescer.add("abcdefghij")
    coalescer.flush()
    assert [d.chars for d in _deltas(events)] == [200, 400, 600, 800, 1000]
    events.clear()
    coalescer.add("slow")  # held: neither 200 characters nor 100 ms yet
    assert not events
    now[0] += 0.15
    coalescer.add(" stream")  # the interval has passed: both pieces go at once
    assert [d.text for d in _deltas(events)] == ["slow stream"]


def test_deltas_take_no_sequence_number_and_stay_out_of_the_trace(tmp_path: Path) -> None:
    bus = EventBus("r1")
    writer = TraceWriter(tmp_path)
    bus.subscribe(writer)
    bus.emit(RunStarted(task="t"))
    bus.emit(ModelDelta(role="coder", text="partial", chars=7))
    bus.emit(ModelCalled(role="coder", model="m"))
    writer.close()
    kept = read_trace(tmp_path / "trace.jsonl")
    assert [e.kind for e in kept] == ["run_started", "model_called"]
    assert [e.seq for e in kept] == [1, 2]
