"""Waiting for a person does not burn the wall-time budget."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.control.channel import ControlChannel
from magentic.control.commands import Pause, Resume
from magentic.errors import BudgetExceeded
from magentic.events import EventBus
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.budget import BudgetGuard
from magentic.orchestrator.settings import Budgets


def guard_started_ago(seconds: float, waited: float) -> BudgetGuard:
    guard = BudgetGuard(Budgets(max_seconds=10), UsageMeter(), waited=lambda: waited)
    guard.started = time.monotonic() - seconds
    return guard


def test_seconds_spent_waiting_are_left_out_of_the_time_budget() -> None:
    guard_started_ago(12, waited=5).check(0)  # 7 s used of 10
    with pytest.raises(BudgetExceeded):
        guard_started_ago(12, waited=1).check(0)  # 11 s used


async def test_a_step_past_the_old_deadline_goes_on_while_the_wait_moved_it() -> None:
    # Started 10 s ago with a 10 s budget, but 10 s of it were spent waiting for a person:
    # a step that takes a moment is not cut off.
    guard = guard_started_ago(10, waited=10)
    assert await guard.bounded(asyncio.sleep(0, result="done")) == "done"
    with pytest.raises(BudgetExceeded):  # without the wait, the same step is out of time
        await guard_started_ago(10, waited=0).bounded(asyncio.sleep(1))


async def test_the_channel_counts_a_pause_as_waiting() -> None:
    control = ControlChannel()
    paused = asyncio.Event()
    control.events.subscribe(lambda event: paused.set() if event.kind == "paused" else None)
    control.send(Pause())
    assert control.waited_seconds() == 0.0
    waiting = asyncio.ensure_future(control.safe_point("here"))
    await paused.wait()
    during = control.waited_seconds()
    control.send(Resume())
    await waiting
    assert during > 0 and control.waited_seconds() >= during


def test_an_agent_that_waited_for_a_person_sees_the_moved_deadline(tmp_path: Path) -> None:
    guard = guard_started_ago(5, waited=0)
    waited = [0.0]
    guard.waited = lambda: waited[0]
    ctx = StepContext(
        task="t",
        conversation=[],
        workspace=tmp_path,
        events=EventBus(),
        deadline=guard.deadline,
        deadline_now=lambda: guard.deadline,
    )
    before = ctx.seconds_left()
    waited[0] = 60.0  # a person took a minute to answer an approval in this step
    after = ctx.seconds_left()
    assert before is not None and after is not None and after > before + 50
