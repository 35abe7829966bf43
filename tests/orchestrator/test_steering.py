"""A person steering a real orchestrator run through the control channel: plan review
(approve, edit, comment), guidance given during a pause, and a stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from magentic.control.channel import ControlChannel
from magentic.control.commands import Approve, Command, EditPlan, Guide, Pause, Resume, Stop
from magentic.events import Event
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.testing import ChatRequest, Reply, roles

from .helpers import run_team

PLAN = roles.plan(("Calculator", "evaluate 1 + 1"))


def script(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts(to_derive=["the sum"])
    if step in ("plan", "replan_plan"):
        return PLAN
    if step == "progress":
        said = roles.last_from(request, "Calculator")
        if said is None:
            return roles.progress("Calculator", "Evaluate 1 + 1")
        return roles.progress(satisfied=True)
    if step == "final":
        return Reply.text(f"The result: {roles.last_from(request, 'Calculator')}")
    return Reply.text("unexpected")


def face(control: ControlChannel, answer: Callable[[Event], Command | None]) -> Callable:
    """A person at a face: reads requests from the events, answers with commands."""

    def on_event(event: Event) -> None:
        command = answer(event)
        if command is not None:
            asyncio.get_running_loop().call_soon(control.send, command)

    return on_event


async def test_an_edited_plan_is_used_verbatim(tmp_path: Path) -> None:
    control = ControlChannel()
    control.attach("test")
    edited = ["calculator: evaluate 6 * 7 exactly as written", "Report 6 * 7 to the user"]

    def answer(event: Event) -> Command | None:
        if event.kind == "control_requested":
            return EditPlan(steps=edited)
        return None

    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        settings=OrchestratorSettings(review_plan=True),
        control=control,
        watchers=[face(control, answer)],
    )
    assert run.result.status == "answered", run.result.stop_reason
    plans = [e.plan for e in run.of("ledger_updated")]  # type: ignore[attr-defined]
    assert plans[-1] == (
        "1. Calculator: evaluate 6 * 7 exactly as written\n2. Calculator: Report 6 * 7 to the user"
    )
    # The model planned once: the person's plan replaced its plan without another call.
    assert sum(roles.phase(r) == "plan" for r in run.server.requests) == 1
    progress = [r for r in run.server.requests if roles.phase(r) == "progress"]
    assert "evaluate 6 * 7 exactly as written" in progress[0].all_text()


async def test_a_comment_replans_with_it_and_approval_goes_on(tmp_path: Path) -> None:
    control = ControlChannel()
    control.attach("test")
    reviews: list[str] = []

    def answer(event: Event) -> Command | None:
        if event.kind != "control_requested":
            return None
        reviews.append(event.request_id)  # type: ignore[attr-defined]
        if len(reviews) == 1:
            return Guide(text="check the sum twice")
        return Approve(request_id=event.request_id)  # type: ignore[attr-defined]

    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        settings=OrchestratorSettings(review_plan=True),
        control=control,
        watchers=[face(control, answer)],
    )
    assert run.result.status == "answered"
    replans = [r for r in run.server.requests if roles.phase(r) == "replan_plan"]
    assert len(replans) == 1 and "check the sum twice" in replans[0].all_text()
    decided = [(e.decision, e.by) for e in run.of("control_decided")]  # type: ignore[attr-defined]
    assert decided == [("comment", "person"), ("approve", "person")]
    assert run.result.replans == 0  # a person's comment is not a stall


async def test_unattended_review_leaves_the_plan_as_it_is(tmp_path: Path) -> None:
    run = await run_team(
        script, tmp_path, agents=("Calculator",), settings=OrchestratorSettings(review_plan=True)
    )
    assert run.result.status == "answered"
    decided = run.of("control_decided")
    assert [(e.decision, e.by) for e in decided] == [("unanswered", "nobody")]  # type: ignore[attr-defined]


async def test_guidance_given_during_a_pause_reaches_the_model_as_the_users_words(
    tmp_path: Path,
) -> None:
    control = ControlChannel()

    def answer(event: Event) -> Command | None:
        if event.kind == "ledger_updated":  # the plan is made: the person presses pause
            return Pause()
        if event.kind == "paused":
            loop = asyncio.get_running_loop()
            loop.call_soon(control.send, Guide(text="Use 40 + 2 instead."))
            return Resume()
        return None

    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        control=control,
        watchers=[face(control, answer)],
    )
    assert run.result.status == "answered"
    kinds = run.kinds()
    assert kinds.index("paused") < kinds.index("unpaused") < kinds.index("progress_assessed")
    first_progress = next(r for r in run.server.requests if roles.phase(r) == "progress")
    assert ("user", "Use 40 + 2 instead.") in roles.said(first_progress)


async def test_stop_ends_the_run_as_cancelled_with_the_best_answer(tmp_path: Path) -> None:
    control = ControlChannel()

    def answer(event: Event) -> Command | None:
        if event.kind == "agent_replied":
            return Stop(reason="I have what I need")
        return None

    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        control=control,
        watchers=[face(control, answer)],
    )
    assert run.result.status == "cancelled"
    assert run.result.stop_reason == "stopped by the person: I have what I need"
    assert run.result.answer == "The result: 1 + 1 = 2"
    assert run.kinds()[-1] == "run_finished"
