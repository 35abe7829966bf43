"""Small models' ways of writing JSON are read as meant; what still does not fit is re-asked
in plain words with an example."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from magentic.events import ModelOutputRejected
from magentic.llm.jsonout import extract_json
from magentic.llm.lenient import coerce, example_of
from magentic.llm.messages import user
from magentic.orchestrator.ledger import Plan, progress_schema
from magentic.testing import Reply, ScriptedLLMServer
from magentic.testing.styles import STYLES, small_model_style

from .helpers import make_client

Ledger = progress_schema(["Coder", "ComputerTerminal"])
EXACT = {
    "is_request_satisfied": {"reason": "not yet", "answer": False},
    "is_in_loop": {"reason": "no", "answer": False},
    "is_progress_being_made": {"reason": "code exists", "answer": True},
    "next_speaker": {"reason": "run it", "answer": "ComputerTerminal"},
    "instruction_or_question": {"reason": "", "answer": "Run the program."},
}


def read(text: str, schema: type[BaseModel]) -> BaseModel:
    return schema.model_validate(coerce(extract_json(text), schema.model_json_schema()))


@pytest.mark.parametrize("index", range(len(STYLES)), ids=list(STYLES))
def test_every_small_model_style_reads_as_the_exact_reply(index: int) -> None:
    styled = small_model_style(json.dumps(EXACT), index)
    ledger = read(styled, Ledger)
    assert ledger.is_progress_being_made.answer is True  # type: ignore[attr-defined]
    assert ledger.is_request_satisfied.answer is False  # type: ignore[attr-defined]
    assert ledger.next_speaker.answer == "ComputerTerminal"  # type: ignore[attr-defined]
    assert ledger.instruction_or_question.answer == "Run the program."  # type: ignore[attr-defined]


def test_plans_written_as_lines_and_wrapped_objects_are_read() -> None:
    plan = read('{"Plan": {"steps": ["coder: write it", "ComputerTerminal: run it"]}}', Plan)
    assert [(s.agent, s.action) for s in plan.steps] == [  # type: ignore[attr-defined]
        ("coder", "write it"),
        ("ComputerTerminal", "run it"),
    ]


def test_an_example_of_the_shape_is_short_and_valid_json() -> None:
    example = example_of(Ledger.model_json_schema())
    assert example["is_in_loop"] == {"reason": "...", "answer": True}
    assert len(json.dumps(example)) < 400


async def test_a_reask_speaks_plainly_and_shows_the_shape() -> None:
    replies = [Reply.json({"is_request_satisfied": "maybe"}), Reply.json(EXACT)]
    async with ScriptedLLMServer(replies) as server:
        client, events = make_client(server.base_url)
        ledger = await client.structured([user("How is it going?")], Ledger)
    assert ledger.next_speaker.answer == "ComputerTerminal"  # type: ignore[attr-defined]
    [rejected] = [e for e in events if isinstance(e, ModelOutputRejected)]
    assert '"is_request_satisfied.answer" must be true or false' in rejected.error
    assert 'the key "is_in_loop" is missing' in rejected.error
    reask = server.requests[1].last_user_text()
    assert "pydantic" not in reask and "errors.pydantic.dev" not in reask
    assert '"is_in_loop": {"reason": "...", "answer": true}' in reask


def test_a_bare_list_and_a_renamed_key_are_read_as_meant() -> None:
    plan = read('[{"agent": "Coder", "task": "write it"}, {"who": "ComputerTerminal", '
                '"action": "run it"}]', Plan)  # fmt: skip
    assert [(s.agent, s.action) for s in plan.steps] == [  # type: ignore[attr-defined]
        ("Coder", "write it"),
        ("ComputerTerminal", "run it"),
    ]
