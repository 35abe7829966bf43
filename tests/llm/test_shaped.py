"""Structured replies and tool choice: fallbacks for weak endpoints and bounded re-asks."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from magentic.errors import ModelOutputError
from magentic.events import ModelOutputRejected
from magentic.llm.messages import ToolCall, ToolSpec, user
from magentic.testing import Reply, ScriptedLLMServer

from .helpers import make_client


class Answer(BaseModel):
    city: str
    population: int


SEARCH = ToolSpec(
    "search",
    "Search the web.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


async def test_structured_uses_json_schema_when_supported() -> None:
    async with ScriptedLLMServer([Reply.json({"city": "Oslo", "population": 709000})]) as server:
        client, _ = make_client(server.base_url)
        answer = await client.structured([user("Where?")], Answer)
    assert answer == Answer(city="Oslo", population=709000)
    sent = server.requests[0].response_format
    assert sent is not None and sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["required"] == ["city", "population"]


async def test_structured_steps_down_to_json_object_then_text() -> None:
    fenced = 'Sure, here it is:\n```json\n{"city": "Lima", "population": 10000000,}\n```'
    async with ScriptedLLMServer(
        [Reply.text(fenced)], supports_json_schema=False, supports_json_object=False
    ) as server:
        client, _ = make_client(server.base_url)
        answer = await client.structured([user("Where?")], Answer)
    assert answer.city == "Lima"
    assert client.structured_mode == "text"
    # The refused requests never reached the script; the one answered carries the schema.
    assert len(server.requests) == 1
    assert server.requests[0].response_format is None
    assert '"population"' in server.requests[0].last_user_text()


async def test_structured_reasks_with_the_validation_error() -> None:
    replies = [
        Reply.text("I think it is Paris."),  # prose instead of JSON
        Reply.json({"city": "Paris"}),  # a missing field
        Reply.json({"city": "Paris", "population": 2100000}),
    ]
    async with ScriptedLLMServer(replies) as server:
        client, events = make_client(server.base_url)
        answer = await client.structured([user("Where?")], Answer)
    assert answer.population == 2100000
    rejected = [e for e in events if isinstance(e, ModelOutputRejected)]
    assert [e.attempt for e in rejected] == [1, 2]
    assert "population" in rejected[1].error
    # The re-ask shows the model its own reply and the reason.
    assert "I think it is Paris." in server.requests[1].all_text()
    assert "population" in server.requests[2].last_user_text()


@pytest.mark.parametrize(
    "bad",
    [Reply.text(""), Reply.refuse("I cannot do that."), Reply.text("no json here")],
    ids=["empty", "refusal", "prose"],
)
async def test_structured_gives_up_after_bounded_reasks(bad: Reply) -> None:
    async with ScriptedLLMServer([bad]) as server:
        client, _ = make_client(server.base_url, max_repairs=2)
        with pytest.raises(ModelOutputError, match="after 3 tries"):
            await client.structured([user("Where?")], Answer)
    assert len(server.requests) == 3


async def test_choose_tool_native_validates_and_reasks() -> None:
    replies = [
        Reply.tool_call("browse", {"url": "x"}),  # no such tool
        Reply.tool_call("search", {"q": "cats"}),  # wrong arguments
        Reply.tool_call("search", {"query": "cats"}),
    ]
    async with ScriptedLLMServer(replies) as server:
        client, _ = make_client(server.base_url)
        call = await client.choose_tool([user("find cats")], [SEARCH])
    assert isinstance(call, ToolCall) and call.arguments == {"query": "cats"}
    # Errors go back as tool results tied to the faulty call.
    second = server.requests[1].messages
    assert second[-1]["role"] == "tool" and "no tool named 'browse'" in second[-1]["content"]
    third = server.requests[2].messages
    assert "'query' is a required property" in third[-1]["content"]


async def test_choose_tool_falls_back_to_json_actions_without_tool_support() -> None:
    replies = [
        Reply.text('{"tool": "search", "arguments": {"query": "dogs"}}'),
        Reply.text('{"answer": "Dogs are mammals."}'),
    ]
    async with ScriptedLLMServer(replies, supports_tools=False) as server:
        client, _ = make_client(server.base_url)
        call = await client.choose_tool([user("find dogs")], [SEARCH])
        words = await client.choose_tool([user("and?")], [SEARCH])
    assert (
        isinstance(call, ToolCall) and call.name == "search" and call.arguments["query"] == "dogs"
    )
    assert words == "Dogs are mammals."
    assert client.tools_supported is False
    assert all(not r.tools for r in server.requests)
    assert "search" in server.requests[0].last_user_text()


async def test_choose_tool_returns_words_unless_a_tool_is_required() -> None:
    async with ScriptedLLMServer(
        [
            Reply.text("The answer is 4."),
            Reply.text("Still 4."),
            Reply.tool_call("search", {"query": "2+2"}),
        ]
    ) as server:
        client, _ = make_client(server.base_url)
        words = await client.choose_tool([user("2+2?")], [SEARCH])
        call = await client.choose_tool([user("2+2?")], [SEARCH], require_tool=True)
    assert words == "The answer is 4."
    assert isinstance(call, ToolCall)  # the prose was re-asked, then a tool came
    assert len(server.requests) == 3


async def test_choose_tool_bad_json_arguments_are_reasked() -> None:
    def script(request):  # a model that writes broken JSON arguments once
        if request.index == 0:
            return Reply(tool_calls=[("search", {})], content=None)
        return Reply.tool_call("search", {"query": "fixed"})

    async with ScriptedLLMServer(script) as server:
        client, _ = make_client(server.base_url)
        call = await client.choose_tool([user("go")], [SEARCH])
    assert isinstance(call, ToolCall) and call.arguments == {"query": "fixed"}
    assert "required property" in server.requests[1].messages[-1]["content"]
