"""Transcription calls count in the run's usage, cost and events like chat calls do."""

from __future__ import annotations

import pytest

from magentic.events import Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.llm.usage import UsageMeter
from magentic.testing import Reply, ScriptedLLMServer
from magentic.testing.transcription import TranscriptionRequest

AUDIO = b"RIFF" + bytes(2000)  # the bytes are only carried, not decoded, on this route


async def transcribe_once(model: str, answer: dict) -> tuple[UsageMeter, list[Event]]:
    def script(request: TranscriptionRequest) -> dict:
        return answer

    meter, seen, bus = UsageMeter(), [], EventBus()
    bus.subscribe(seen.append)
    async with ScriptedLLMServer(lambda r: Reply.text("-"), transcribe=script) as server:
        client = ModelClient(
            ModelSettings(model=model, base_url=server.base_url, api_key="k", max_retries=0),
            role="transcribe",
            events=bus,
            meter=meter,
        )
        try:
            transcript = await client.transcribe(AUDIO, "memo.wav")
        finally:
            await client.close()
    assert transcript.text == answer["text"]
    return meter, seen


async def test_a_whisper_upload_is_priced_by_its_minutes() -> None:
    meter, seen = await transcribe_once("whisper-1", {"text": "hello", "duration": 90.0})
    assert meter.calls == 1
    assert meter.by_role["transcribe"].cost == pytest.approx(1.5 * 0.006)
    called = [e for e in seen if e.kind == "model_called"]
    assert len(called) == 1 and called[0].cost == pytest.approx(0.009)  # type: ignore[attr-defined]


async def test_a_token_priced_upload_counts_its_tokens() -> None:
    usage = {"type": "tokens", "input_tokens": 1000, "output_tokens": 200}
    meter, _ = await transcribe_once("gpt-4o-mini-transcribe", {"text": "hi", "usage": usage})
    total = meter.total
    assert (total.prompt_tokens, total.completion_tokens) == (1000, 200)
    assert total.cost == pytest.approx((1000 * 3.0 + 200 * 5.0) / 1e6)


async def test_an_unpriced_local_model_counts_the_call_at_no_cost() -> None:
    meter, seen = await transcribe_once("whisper-local", {"text": "x", "duration": "soon"})
    assert meter.calls == 1 and meter.total.cost == 0.0
    assert [e.kind for e in seen] == ["model_called"]
