"""The client against servers that behave like llama.cpp's, Ollama's and vLLM's.

Each switch of ScriptedLLMServer imitates one behaviour of a local server; the real openai
client talks to it over HTTP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel

from magentic.errors import ContextOverflow, ModelError
from magentic.events import ContextTrimmed, ModelCalled, ModelCallFailed, ModelOutputRejected
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.messages import ImagePart, Message, ToolCall, ToolSpec, system, user
from magentic.orchestrator.ledger import progress_schema
from magentic.testing import Reply, ScriptedLLMServer, roles

from .helpers import make_client


class Answer(BaseModel):
    city: str
    population: int


SEARCH = ToolSpec(
    "search",
    "Search the web.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def failures(events: list) -> list[ModelCallFailed]:
    return [e for e in events if isinstance(e, ModelCallFailed)]


# 500 on json_schema ---------------------------------------------------------------------------


async def test_json_schema_500_steps_down_once_and_is_remembered(tmp_path: Path) -> None:
    memory_file = tmp_path / "endpoints.json"
    reply = Reply.json({"city": "Oslo", "population": 709000})
    async with ScriptedLLMServer([reply], supports_json_schema=False, refusal_status=500) as server:
        client, events = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        first = await client.structured([user("Where?")], Answer)
        second = await client.structured([user("And again?")], Answer)
        # A new run (a new memory object reading the same file) starts where this one ended.
        later, later_events = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        third = await later.structured([user("Once more?")], Answer)
    assert first == second == third == Answer(city="Oslo", population=709000)
    assert len(server.refused) == 1  # one refusal, no retries of it, never again
    assert server.refused[0][0] == 500
    assert [r.response_format["type"] for r in server.requests] == ["json_object"] * 3  # type: ignore[index]
    [failed] = failures(events)
    assert (failed.status, failed.next, failed.feature) == (500, "step_down", "json_schema")
    assert "Traceback" not in failed.reason and "\n" not in failed.reason
    assert not failures(later_events)
    assert '"structured": "json_object"' in memory_file.read_text()
    # An endpoint of no kind we know is asked in OpenAI's spelling first, and remembered so.
    assert server.refused[0][2]["response_format"]["type"] == "json_schema"
    assert '"server": "unknown"' in memory_file.read_text()


# llama.cpp's own schema spelling ---------------------------------------------------------


async def test_a_llama_cpp_server_is_asked_in_its_own_schema_form_from_the_first_call(
    tmp_path: Path,
) -> None:
    memory_file = tmp_path / "endpoints.json"
    replies = [Reply.json({"city": "Oslo", "population": 709000})]
    async with ScriptedLLMServer.llama_cpp_like(replies, token_delay_s=0) as server:
        client, events = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        first = await client.structured([user("Where?")], Answer)
        asked_first = list(server.info_requests)
        later, later_events = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        second = await later.structured([user("Again?")], Answer)
        asked_later = server.info_requests[len(asked_first) :]
    assert first == second == Answer(city="Oslo", population=709000)
    assert not server.refused and not failures(events) and not failures(later_events)
    schema = Answer.model_json_schema()
    assert [r.response_format for r in server.requests] == [
        {"type": "json_object", "schema": schema}
    ] * 2
    assert "/props" in asked_first and client.server_kind == "llama.cpp"
    # The kind and the context size are remembered: the next run asks nothing before its call.
    assert asked_later == [] and later.server_kind == "llama.cpp"
    assert '"server": "llama.cpp"' in memory_file.read_text()


async def test_a_refused_llama_cpp_schema_form_steps_down_through_json_mode() -> None:
    # A llama.cpp-like server that takes no response_format at all: the schema spelling is
    # refused, then plain JSON mode, and the schema goes in the prompt as text.
    replies = [Reply.json({"city": "Oslo", "population": 709000})]
    async with ScriptedLLMServer(
        replies, context_tokens=8192, supports_json_object=False, refusal_status=500
    ) as server:
        client, events = make_client(server.base_url)
        answer = await client.structured([user("Where?")], Answer)
    assert answer == Answer(city="Oslo", population=709000)
    assert [(f.feature, f.next) for f in failures(events)] == [
        ("json_schema", "step_down"),
        ("json_object", "step_down"),
    ]
    assert [body["response_format"] for *_, body in server.refused] == [
        {"type": "json_object", "schema": Answer.model_json_schema()},
        {"type": "json_object"},
    ]
    assert client.structured_mode == "text"


# 500 on list content --------------------------------------------------------------------------


async def test_text_goes_as_plain_strings_and_list_content_500_steps_down() -> None:
    text_parts = Message("user", ["first part", "second part"])
    with_image = Message("user", ["look", ImagePart(b"\x89PNG bytes")])
    async with ScriptedLLMServer(
        [Reply.text("ok")], supports_list_content=False, refusal_status=500
    ) as server:
        client, events = make_client(server.base_url)
        await client.chat([text_parts])  # no image: a plain string, never refused
        assert not server.refused
        result = await client.chat([with_image])
        again = await client.chat([with_image])
    assert result.text == again.text == "ok"
    assert len(server.refused) == 1 and server.refused[0][0] == 500
    sent = [r.messages[-1]["content"] for r in server.requests]
    assert sent[0] == "first part\nsecond part"
    assert all(isinstance(c, str) for c in sent)
    assert "image(s) omitted" in sent[1]
    [failed] = failures(events)
    assert failed.feature == "list_content" and failed.next == "step_down"
    assert failed.reason.endswith('can only concatenate str (not "list") to str)')


# Tools refused with a 500 ---------------------------------------------------------------------


async def test_tools_500_falls_back_to_json_actions_without_a_retry() -> None:
    async with ScriptedLLMServer(
        [Reply.text('Sure!\n```json\n{"tool": "Search", "arguments": {"query": "cats",},}\n```')],
        supports_tools=False,
        refusal_status=500,
    ) as server:
        client, events = make_client(server.base_url)
        call = await client.choose_tool([user("find cats")], [SEARCH])
    assert call == ToolCall("json_action", "search", {"query": "cats"})
    assert len(server.refused) == 1 and len(server.requests) == 1
    assert not [e for e in events if isinstance(e, ModelOutputRejected)]


# Errors that will not change ------------------------------------------------------------------


async def test_a_500_naming_a_type_error_is_tried_twice_at_most() -> None:
    trace = (
        'Traceback (most recent call last):\n  File "app.py", line 3, in run\n'
        "    x = a + b\nTypeError: unsupported operand type(s) for +: 'int' and 'str'"
    )
    async with ScriptedLLMServer([Reply.http_error(500, trace)]) as server:
        client, events = make_client(server.base_url, max_retries=4)
        with pytest.raises(ModelError) as caught:
            await client.chat([user("hi")])
    assert len(server.requests) == 2
    assert "\n" not in caught.value.reason and "Traceback" not in caught.value.reason
    assert "TypeError: unsupported operand" in caught.value.reason
    assert [f.next for f in failures(events)] == ["retry", "give_up"]


async def test_a_plain_400_is_not_retried() -> None:
    async with ScriptedLLMServer([Reply.http_error(400, "bad temperature value")]) as server:
        client, events = make_client(server.base_url, max_retries=4)
        with pytest.raises(ModelError, match="bad temperature"):
            await client.chat([user("hi")])
    assert len(server.requests) == 1
    assert [(f.status, f.next) for f in failures(events)] == [(400, "give_up")]


# One request at a time, slow tokens -----------------------------------------------------------


async def test_a_slow_stream_is_not_cut_off_by_the_time_out() -> None:
    long_reply = "word " * 60  # 300 characters: about 19 chunks, each after a pause
    async with ScriptedLLMServer(
        [Reply.text(long_reply)], serial=True, token_delay_s=0.02
    ) as server:
        # Each chunk comes within 0.08 s, the whole reply in well over the 0.5 s time-out.
        client, events = make_client(server.base_url, timeout_s=0.5)
        result = await client.chat([user("talk")])
    assert result.text == long_reply
    assert server.requests[0].stream
    assert not failures(events)
    assert [e.attempts for e in events if isinstance(e, ModelCalled)] == [1]


async def test_a_non_streaming_time_out_is_retried_once_only() -> None:
    async with ScriptedLLMServer([Reply.text("late").slow(2.0)], serial=True) as server:
        client, events = make_client(server.base_url, timeout_s=0.3, stream=False, max_retries=4)
        with pytest.raises(ModelError, match="did not answer within"):
            await client.chat([user("hi")])
    assert len(server.requests) == 2
    assert [f.next for f in failures(events)] == ["retry", "give_up"]


async def test_loopback_endpoints_get_one_call_at_a_time_by_default() -> None:
    replies = [Reply.text("a").slow(0.3)]
    async with ScriptedLLMServer(replies) as server:
        client, _ = make_client(server.base_url)
        await asyncio.gather(*(client.chat([user(f"q{i}")]) for i in range(3)))
    assert server.max_in_flight == 1
    async with ScriptedLLMServer(replies) as server:
        client, _ = make_client(server.base_url, max_concurrency=3)
        await asyncio.gather(*(client.chat([user(f"q{i}")]) for i in range(3)))
    assert server.max_in_flight > 1  # the limit, not the server, kept them apart above


# A small context ------------------------------------------------------------------------------


def long_conversation() -> list[Message]:
    messages = [system("You are terse."), user("The task: count the words.")]
    for i in range(30):
        messages.append(Message("assistant", f"(to Reader) read part {i}"))
        messages.append(user(f"[Reader] part {i}: " + "lorem ipsum dolor " * 40, name="Reader"))
    messages.append(user("What next?"))
    return messages


async def test_the_context_size_is_read_from_the_server_and_requests_fit_it() -> None:
    async with ScriptedLLMServer([Reply.text("next")], context_tokens=2048) as server:
        client, events = make_client(server.base_url)
        result = await client.chat(long_conversation())
    assert result.text == "next"
    assert client.context_tokens == 2048  # from llama.cpp's /props
    assert not server.refused
    sent = server.requests[0].messages
    assert sent[0]["content"] == "You are terse." and sent[-1]["content"] == "What next?"
    assert "left out to fit" in server.requests[0].all_text()
    [trimmed] = [e for e in events if isinstance(e, ContextTrimmed)]
    assert trimmed.dropped_messages > 0 and trimmed.tokens_after < trimmed.tokens_before


async def test_a_wrong_context_setting_meets_the_servers_400_and_shrinks() -> None:
    # Its informational routes hang (a busy server): asking costs one short deadline, the
    # setting stands, and the server's 400 corrects it.
    async with ScriptedLLMServer(
        [Reply.text("fits now")], context_tokens=2048, info_delay_s=60
    ) as server:
        client, events = make_client(server.base_url, context_tokens=16000, timeout_s=1.0)
        result = await client.chat(long_conversation())
    assert result.text == "fits now"
    assert server.info_requests and client.server_kind is None  # nothing concluded
    assert [status for status, _, _ in server.refused] == [400]
    assert [f.feature for f in failures(events)] == ["context"]


async def test_a_request_that_cannot_fit_is_never_sent() -> None:
    async with ScriptedLLMServer([Reply.text("x")]) as server:
        client, events = make_client(server.base_url, context_tokens=512)
        huge_system = system("Rules. " * 2000)
        with pytest.raises(ContextOverflow, match="context"):
            await client.chat([huge_system, user("hi")])
    assert not server.requests and not server.refused
    assert failures(events)[0].feature == "context"


async def test_a_server_refusing_stream_options_still_streams() -> None:
    async with ScriptedLLMServer([Reply.text("streamed")], supports_stream_options=False) as server:
        client, events = make_client(server.base_url)
        first = await client.chat([user("hi")])
        second = await client.chat([user("again")])
    assert first.text == second.text == "streamed"
    assert [f.feature for f in failures(events)] == ["stream_usage"]
    assert all(r.stream and "stream_options" not in r.body for r in server.requests)
    assert first.usage.prompt_tokens > 0  # estimated when the server reports none
    assert all(e.usage_estimated for e in events if isinstance(e, ModelCalled))


async def test_a_retry_after_a_time_out_waits_for_the_abandoned_request_too() -> None:
    # A one-slot server finishes the abandoned 2 s request before it starts the retry (0.5 s):
    # the retry needs about 1.5 s, more than the 1 s time-out, less than twice it.
    replies = [Reply.text("late").slow(2.0), Reply.text("on time").slow(0.5)]
    async with ScriptedLLMServer(replies, serial=True) as server:
        client, events = make_client(server.base_url, timeout_s=1.0, stream=False)
        result = await client.chat([user("hi")])
    assert result.text == "on time"
    assert [f.next for f in failures(events)] == ["retry"]
    assert "did not answer within 1s" in failures(events)[0].reason


@pytest.mark.parametrize(("mode", "constrained"), [("auto", True), ("json_object", False)])
async def test_only_replies_that_fit_a_constraining_schema_are_written(
    mode: str, constrained: bool
) -> None:
    # llama.cpp turns the schema into a grammar: its small model cannot write flat values,
    # prose or fences then. Without a schema (plain JSON mode) it writes them all.
    ledger = progress_schema(["Coder", "ComputerTerminal"])
    replies = [roles.progress("Coder", "Write the program.")] * 6
    async with ScriptedLLMServer.llama_cpp_like(replies, token_delay_s=0) as server:
        client, events = make_client(server.base_url, structured_mode=mode)
        for index in range(6):
            answer = await client.structured([user(f"round {index}")], ledger)
            assert answer.next_speaker.answer == "Coder"  # type: ignore[attr-defined]
    assert (server.styled_replies == 0) == constrained
    assert not failures(events)
    kinds = {(r.response_format or {}).get("type") for r in server.requests}
    assert kinds == {"json_object"}
    assert all(("schema" in (r.response_format or {})) == constrained for r in server.requests)
