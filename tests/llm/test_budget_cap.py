"""How a budget's room becomes a request's reply cap (see `magentic.llm.usage.cap_reply`)."""

from __future__ import annotations

from typing import Any

from magentic.llm.usage import BUDGET_CAP_BELOW, cap_reply


def capped(room: int | None, *, own: bool = False, window: int | None = None, **body: Any):
    cap_reply(body, room, 500, window, openai_own=own)
    return body


def test_a_large_room_is_not_sent_as_it_could_pass_the_models_output_limit() -> None:
    assert capped(None) == {} and capped(BUDGET_CAP_BELOW) == {}


def test_openai_takes_max_completion_tokens_and_others_max_tokens() -> None:
    assert capped(300, own=True) == {"max_completion_tokens": 300}
    assert capped(300) == {"max_tokens": 300}
    assert capped(300, own=True, max_tokens=100) == {"max_tokens": 100}  # the settings' own
    assert capped(300, max_tokens=1000) == {"max_tokens": 300}


def test_the_cap_leaves_the_prompt_its_room_in_the_window() -> None:
    assert capped(3000, window=2000) == {"max_tokens": 1500}
