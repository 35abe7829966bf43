"""The model client against a real HTTP endpoint (ScriptedLLMServer), through the real SDK."""

from __future__ import annotations

import socket
import time

import pytest

from magentic.errors import ConfigError, ModelError
from magentic.events import ModelCalled
from magentic.llm.messages import ImagePart, Message, ToolSpec, user
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer

from .helpers import make_client

CLICK = ToolSpec(
    "click",
    "Click an element.",
    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
)


async def test_plain_chat_counts_tokens_and_cost() -> None:
    async with ScriptedLLMServer([Reply.text("hello", usage=(1000, 200, 400))]) as server:
        client, events = make_client(server.base_url)
        result = await client.chat([user("hi")])
    assert result.text == "hello"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1000, 200)
    assert result.usage.cached_tokens == 400
    # gpt-4o: 600 uncached at $2.5/M + 400 cached at $1.25/M + 200 out at $10/M
    assert result.usage.cost == pytest.approx((600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)
    called = [e for e in events if isinstance(e, ModelCalled)]
    assert called and called[0].prompt_tokens == 1000 and called[0].role == "tester"
    assert client.meter.total.cost == pytest.approx(result.usage.cost)


async def test_images_are_sent_to_vision_models_and_noted_for_text_models() -> None:
    image = ImagePart(b"\x89PNG fake bytes", mime="image/png")
    message = Message("user", ["look at this", image])
    async with ScriptedLLMServer([Reply.text("seen")]) as server:
        vision, _ = make_client(server.base_url, vision=True)
        await vision.chat([message])
        blind, _ = make_client(server.base_url, vision=False)
        await blind.chat([message])
    assert server.requests[0].image_count() == 1
    assert server.requests[1].image_count() == 0
    assert "image(s) omitted" in server.requests[1].all_text()


async def test_streamed_reply_with_tool_call_is_assembled() -> None:
    reply = Reply.tool_call("click", {"id": 7, "note": "x" * 100})
    async with ScriptedLLMServer([reply]) as server:
        client, _ = make_client(server.base_url, stream=True)
        result = await client.chat([user("go")], tools=[CLICK])
    assert server.requests[0].stream
    assert result.tool_calls[0].name == "click"
    assert result.tool_calls[0].arguments == {"id": 7, "note": "x" * 100}
    assert result.usage.prompt_tokens > 0


# Fault injection --------------------------------------------------------------------------


async def test_rate_limit_waits_for_retry_after() -> None:
    async with ScriptedLLMServer([Reply.rate_limited(retry_after=0.6), Reply.text("ok")]) as server:
        client, events = make_client(server.base_url)
        started = time.perf_counter()
        result = await client.chat([user("hi")])
        waited = time.perf_counter() - started
    assert result.text == "ok"
    assert waited >= 0.55  # the server's Retry-After, not our 10 ms backoff
    assert len(server.requests) == 2
    assert [e.attempts for e in events if isinstance(e, ModelCalled)] == [2]


@pytest.mark.parametrize(
    "fault",
    [Reply.server_error(500), Reply.server_error(503), Reply.drop(), Reply.malformed()],
    ids=["500", "503", "dropped-connection", "malformed-body"],
)
async def test_passing_faults_are_retried(fault: Reply) -> None:
    async with ScriptedLLMServer([fault, Reply.text("recovered")]) as server:
        client, _ = make_client(server.base_url)
        result = await client.chat([user("hi")])
    assert result.text == "recovered"
    assert len(server.requests) == 2


async def test_slow_reply_times_out_and_is_retried() -> None:
    async with ScriptedLLMServer([Reply.text("late").slow(3.0), Reply.text("fast")]) as server:
        client, _ = make_client(server.base_url, timeout_s=0.5)
        result = await client.chat([user("hi")])
    assert result.text == "fast"


async def test_persistent_failure_gives_up_with_a_clear_error() -> None:
    async with ScriptedLLMServer([Reply.server_error(500)]) as server:
        client, _ = make_client(server.base_url, max_retries=2)
        with pytest.raises(ModelError) as caught:
            await client.chat([user("hi")])
    assert "gave up after 3 attempts" in caught.value.reason
    assert caught.value.status == 500
    assert len(server.requests) == 3


async def test_unreachable_endpoint_is_one_clear_line() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, _ = make_client(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(ModelError) as caught:
        await client.chat([user("hi")])
    assert "cannot reach the model endpoint" in caught.value.reason
    assert "\n" not in caught.value.reason


async def test_unknown_model_and_bad_key_are_not_retried() -> None:
    async with ScriptedLLMServer(
        [Reply.text("x")], models=["real-model"], api_key="right"
    ) as server:
        client, _ = make_client(server.base_url, model="no-such-model", api_key="right")
        with pytest.raises(ModelError, match="model 'no-such-model' not found"):
            await client.chat([user("hi")])
        client, _ = make_client(server.base_url, model="real-model", api_key="wrong")
        with pytest.raises(ModelError, match="refused the API key"):
            await client.chat([user("hi")])
    assert len(server.requests) == 0  # refused before the script, and never retried


def test_missing_key_for_openai_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        ModelSettings(model="gpt-4o").resolved_key()
    assert ModelSettings(base_url="http://127.0.0.1:1/v1").resolved_key() == "not-needed"


async def test_an_undecodable_file_name_in_a_prompt_is_sent_as_an_escape() -> None:
    """A lone surrogate (os.listdir's answer for a name that is not UTF-8) cannot be encoded;
    whatever agent put it in a prompt, the request still goes out, with a visible escape."""
    name = "caf\udce9.txt"  # b"caf\xe9.txt" as Python decodes it
    async with ScriptedLLMServer([Reply.text("seen"), Reply.text("seen")]) as server:
        client, _ = make_client(server.base_url)
        plain = await client.chat([user(f"The workspace holds {name}.")])
        parts = await client.chat(
            [Message("user", [f"Open {name}", ImagePart(b"\x89PNG", mime="image/png")])]
        )
    assert plain.text == parts.text == "seen"
    assert "The workspace holds caf\\xe9.txt." in server.requests[0].last_user_text()
    assert "Open caf\\xe9.txt" in server.requests[1].last_user_text()
