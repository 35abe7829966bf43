"""Fitting a request to a context window: oldest conversation first, then observations, then
page text; the instructions, the task and the question of the moment stay."""

from __future__ import annotations

import pytest

from magentic.errors import ContextOverflow
from magentic.llm.context import estimate_tokens, fit_messages
from magentic.llm.messages import Message, system, user


def conversation(turns: int, page: str = "") -> list[Message]:
    messages = [system("Rules."), user("TASK: count the crates.")]
    for i in range(turns):
        messages.append(Message("assistant", f"(to Reader) read part {i}"))
        messages.append(user(f"[Reader] part {i} " + "crate " * 200, name="Reader"))
    messages.append(user("What next?" + page))
    messages.append(user("Reply with one JSON object and nothing else."))
    return messages


def test_the_oldest_conversation_goes_first_and_a_note_says_so() -> None:
    messages = conversation(10)
    fitted = fit_messages(messages, budget=estimate_tokens(messages) // 2)
    texts = [m.text for m in fitted.messages]
    assert texts[:2] == ["Rules.", "TASK: count the crates."]
    assert texts[-2:] == ["What next?", "Reply with one JSON object and nothing else."]
    assert "left out to fit" in texts[2]
    assert "part 9" in "".join(texts) and "part 0 " not in "".join(texts)
    assert fitted.dropped > 0 and not fitted.clipped
    assert fitted.tokens_after <= estimate_tokens(messages) // 2


def test_observations_are_shortened_before_the_page_text() -> None:
    page = " page" * 3000
    messages = conversation(1, page)
    fitted = fit_messages(messages, budget=estimate_tokens(messages) - 150)
    assert fitted.clipped == ["observations"]
    assert fitted.messages[-2].text == "What next?" + page  # the page is whole
    tight = fit_messages(messages, budget=estimate_tokens(messages) // 3)
    assert tight.clipped == ["observations", "page text"]
    assert "characters cut" in tight.messages[-2].text


def test_the_instructions_are_never_cut() -> None:
    with pytest.raises(ContextOverflow, match="even after trimming"):
        fit_messages([system("Rules. " * 1000), user("hi")], budget=300)
