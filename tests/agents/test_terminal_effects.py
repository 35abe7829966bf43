"""The ComputerTerminal runs a code block once in the life of a run: a resumed round that
asks for the same code gets the journaled result, and code that started before a kill with
no result recorded is not run again unasked. Real Docker sandbox, real journal file."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from magentic.agents.base import StepContext, TeamMessage
from magentic.agents.terminal import ComputerTerminal
from magentic.control.channel import ControlChannel
from magentic.control.commands import Approve
from magentic.control.effects import EffectJournal
from magentic.events import ControlRequested, Event, EventBus, SideEffectRecorded
from magentic.execution import SandboxSettings
from tests.execution.conftest import require_docker

APPEND = "```python\nwith open('orders.txt', 'a') as f:\n    f.write('one order\\n')\nprint('ordered')\n```"


@pytest.fixture
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="magentic-test-ws-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def context(workspace: Path, journal_path: Path, offset: int | None) -> tuple[StepContext, list]:
    events = EventBus()
    seen: list[Event] = []
    events.subscribe(seen.append)
    control = ControlChannel(events)  # nobody attached: every question is answered no
    effects = EffectJournal(journal_path, events, control)
    if offset is not None:
        effects.replay_from(offset)
    conversation = [TeamMessage("Coder", APPEND)]
    ctx = StepContext(
        task="order", conversation=conversation, workspace=workspace, events=events,
        control=control, effects=effects,
    )  # fmt: skip
    return ctx, seen


@pytest.mark.docker
async def test_a_resumed_round_gets_the_recorded_run_and_the_code_runs_once(
    workspace: Path, tmp_path: Path
) -> None:
    require_docker()
    journal = tmp_path / "effects.jsonl"
    ctx, _ = context(workspace, journal, None)
    first = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        reply = await first.step("Run it.", ctx)
    finally:
        await first.close()
    assert "ordered" in reply.text
    assert (workspace / "orders.txt").read_text() == "one order\n"

    # A new process resumes from a checkpoint taken before that round: the same code.
    ctx, seen = context(workspace, journal, 0)
    second = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        again = await second.step("Run it.", ctx)
        assert second._executor is None  # no sandbox was even started
        # A later round asking for the same code is a new action: it runs.
        later = await second.step("Run it once more.", ctx)
    finally:
        await second.close()
    assert (workspace / "orders.txt").read_text() == "one order\none order\n"
    assert "ordered" in again.text and "not run again" in again.text
    assert "not run again" not in later.text
    recorded = [e for e in seen if isinstance(e, SideEffectRecorded)]
    assert [e.outcome for e in recorded] == ["replayed", "done"]


@pytest.mark.docker
async def test_code_cut_off_by_a_kill_is_not_run_again_with_nobody_present(
    workspace: Path, tmp_path: Path
) -> None:
    require_docker()
    journal = tmp_path / "effects.jsonl"
    ctx, _ = context(workspace, journal, None)
    first = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        await first.step("Run it.", ctx)
    finally:
        await first.close()
    assert (workspace / "orders.txt").read_text() == "one order\n"
    # The process died after the code ran and before its result was journaled: the
    # journal holds the "started" line alone (the end-to-end kill is in tests/test_effects).
    started, done = journal.read_text().splitlines()
    assert json.loads(started)["state"] == "started" and json.loads(done)["state"] == "done"
    journal.write_text(started + "\n")
    ctx, seen = context(workspace, journal, 0)
    terminal = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        reply = await terminal.step("Run it.", ctx)
    finally:
        await terminal.close()
    assert (workspace / "orders.txt").read_text() == "one order\n"
    assert reply.text.startswith("Ran nothing") and "not done again" in reply.text
    assert [e.outcome for e in seen if isinstance(e, SideEffectRecorded)] == ["not_repeated"]


@pytest.mark.docker
async def test_a_person_asked_about_cut_off_code_may_have_it_run_again(
    workspace: Path, tmp_path: Path
) -> None:
    require_docker()
    journal = tmp_path / "effects.jsonl"
    ctx, _ = context(workspace, journal, None)
    first = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        await first.step("Run it.", ctx)
    finally:
        await first.close()
    started = journal.read_text().splitlines()[0]
    journal.write_text(started + "\n")  # killed before the result was journaled

    ctx, seen = context(workspace, journal, 0)
    assert ctx.control is not None
    control = ctx.control
    control.attach("test")  # a person is at a face, and says yes
    asked: list[ControlRequested] = []

    def person(event: Event) -> None:
        if isinstance(event, ControlRequested):
            asked.append(event)
            reply = Approve(request_id=event.request_id)
            asyncio.get_running_loop().call_soon(control.send, reply)

    ctx.events.subscribe(person)
    terminal = ComputerTerminal(settings=SandboxSettings(timeout=60))
    try:
        reply = await terminal.step("Run it.", ctx)
    finally:
        await terminal.close()
    assert [a.action for a in asked] == ["repeat_side_effect"]
    assert "may have happened already" in asked[0].detail
    assert "ordered" in reply.text
    assert (workspace / "orders.txt").read_text() == "one order\none order\n"
    assert [e.outcome for e in seen if isinstance(e, SideEffectRecorded)] == ["done"]
