"""The control channel on its own: commands, safe points, requests and who decided them."""

from __future__ import annotations

import asyncio

import pytest

from magentic.control.channel import NOBODY, STOPPING, ControlChannel
from magentic.control.commands import (
    Approve,
    Deny,
    EditPlan,
    Guide,
    Pause,
    Resume,
    Stop,
    parse_command,
)
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.errors import ControlError, StoppedByPerson
from magentic.events import Event, EventBus


def channel() -> tuple[ControlChannel, list[Event]]:
    bus = EventBus("t")
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return ControlChannel(bus), seen


def answer_requests(control: ControlChannel, reply: object) -> None:
    """A face: answers each request as it is announced, as the console or web view would."""

    def on_event(event: Event) -> None:
        if event.kind == "control_requested" and event.request_id in control.open_requests:  # type: ignore[attr-defined]
            command = reply(event) if callable(reply) else reply
            asyncio.get_running_loop().call_soon(control.send, command)

    control.events.subscribe(on_event)


def test_parse_command_takes_json_and_names_what_is_wrong() -> None:
    assert parse_command('{"kind": "guide", "text": "look on page 2"}') == Guide(
        text="look on page 2"
    )
    assert parse_command({"kind": "edit_plan", "steps": ["Coder: add"]}).steps == ["Coder: add"]
    for bad, words in [
        ("not json", "JSON object"),
        ("[1]", "JSON object"),
        ('{"kind": "explode"}', "unknown command kind 'explode'"),
        ('{"kind": "guide"}', "bad guide command: text"),
        ('{"kind": "approve", "request_id": "r1", "extra": 1}', "bad approve command: extra"),
        ('{"kind": "edit_plan", "steps": []}', "bad edit_plan command: steps"),
    ]:
        with pytest.raises(ControlError, match=words):
            parse_command(bad)


async def test_pause_waits_at_the_safe_point_and_hands_over_guidance_in_order() -> None:
    bus = EventBus("t")
    seen: list[Event] = []
    paused = asyncio.Event()
    bus.subscribe(seen.append)
    bus.subscribe(lambda e: paused.set() if e.kind == "paused" else None)
    control = ControlChannel(bus)
    control.send(Pause())
    waiting = asyncio.create_task(control.safe_point("before round 2"))
    await asyncio.wait_for(paused.wait(), 5)  # the run has announced it is held
    assert not waiting.done()
    assert [e.kind for e in seen][-1] == "paused"
    control.send(Guide(text="first"))
    control.send(Guide(text="second"))
    control.send(EditPlan(steps=["Coder: do it"]))
    control.send(Resume())
    steering = await asyncio.wait_for(waiting, 5)
    assert steering.guidance == ["first", "second"]
    assert steering.plan == ["Coder: do it"]
    assert not await control.safe_point("next")  # handed over once only
    kinds = [e.kind for e in seen]
    assert kinds.count("control_received") == 5 and kinds[-1] == "unpaused"


async def test_stop_ends_at_the_safe_point_and_answers_open_requests_no() -> None:
    control, _ = channel()
    control.attach("test")
    asking = asyncio.create_task(control.approval("WebSurfer", "submit_form", "post the form"))
    await asyncio.sleep(0)
    control.send(Pause())
    pausing = asyncio.create_task(control.safe_point("before round 3"))
    await asyncio.sleep(0)
    control.send(Stop(reason="enough"))
    decision = await asyncio.wait_for(asking, 5)
    assert not decision.allowed and decision.reason == STOPPING and decision.by == "nobody"
    with pytest.raises(StoppedByPerson, match="enough"):
        await asyncio.wait_for(pausing, 5)


async def test_approve_and_deny_go_to_the_request_named() -> None:
    control, seen = channel()
    control.attach("test")
    answer_requests(
        control,
        lambda e: (
            Approve(request_id=e.request_id)
            if e.action == "download"
            else Deny(request_id=e.request_id, reason="not that site")
        ),
    )
    yes = await control.approval("WebSurfer", "download", "save report.pdf")
    no = await control.approval("WebSurfer", "submit_form", "post the order form")
    assert yes.allowed and yes.by == "person"
    assert not no.allowed and no.reason == "not that site"
    decided = [e for e in seen if e.kind == "control_decided"]
    assert [(e.decision, e.by) for e in decided] == [("allow", "person"), ("deny", "person")]  # type: ignore[attr-defined]
    with pytest.raises(ControlError, match="no open request 'r1'"):
        control.send(Approve(request_id="r1"))


async def test_with_nobody_present_an_approval_is_denied_at_once_and_recorded() -> None:
    control, seen = channel()
    decision = await asyncio.wait_for(control.approval("Terminal", "run_code", "ls"), 5)
    assert not decision.allowed and decision.by == "nobody" and decision.reason == NOBODY
    assert [e.kind for e in seen] == ["control_requested", "control_decided"]
    verdict = await control.review_plan("1. Coder: write")
    assert verdict.decision == "unanswered"
    assert await control.question("User", "Which year?") is None


async def test_a_face_leaving_answers_what_waits_as_nobody() -> None:
    control, _ = channel()
    control.attach("web")
    asking = asyncio.create_task(control.question("User", "Which year?"))
    await asyncio.sleep(0)
    control.detach("web")
    assert await asyncio.wait_for(asking, 5) is None


async def test_plan_review_and_questions_take_their_answers() -> None:
    control, _ = channel()
    control.attach("test")
    answer_requests(control, lambda e: EditPlan(steps=["Calculator: add 2 and 2"]))
    verdict = await control.review_plan("1. Coder: write code")
    assert verdict.decision == "edit" and verdict.steps == ("Calculator: add 2 and 2",)

    control, _ = channel()
    control.attach("test")
    answer_requests(control, Guide(text="use the 2019 edition"))
    assert (await control.review_plan("1. x")).comment == "use the 2019 edition"
    assert await control.question("User", "Which edition?") == "use the 2019 edition"
    with pytest.raises(ControlError, match="say what to change"):
        control.attach("x")
        task = asyncio.create_task(control.review_plan("1. x"))
        await asyncio.sleep(0)
        try:
            control.send(Deny(request_id=next(iter(control.open_requests))))
        finally:
            task.cancel()


async def test_gate_applies_the_table_then_asks() -> None:
    control, seen = channel()
    gate = ApprovalGate(ApprovalSettings(mcp={"files": "allow", "files.delete": "deny"}), control)
    assert (await gate.check("download", "WebSurfer", "save a.pdf")).allowed
    assert not seen  # allowed by the table: the agent's own action record says it all
    denied = await gate.check("mcp_tool", "MCP", "delete x", key="files.delete")
    assert not denied.allowed and denied.by == "policy" and "deny" in denied.reason
    assert (await gate.check("mcp_tool", "MCP", "read x", key="files.read")).allowed
    asked = await gate.check("submit_form", "WebSurfer", "post the form")  # nobody there
    assert not asked.allowed and asked.by == "nobody"
    yes = ApprovalGate(ApprovalSettings(yes=True), control)
    allowed = await yes.check("login", "WebSurfer", "sign in")
    assert allowed.allowed and allowed.by == "policy" and "--yes" in allowed.reason


async def test_send_threadsafe_reaches_the_loop() -> None:
    control, _ = channel()
    await control.safe_point("start")  # binds the channel to this loop
    control.send(Pause())
    waiting = asyncio.create_task(control.safe_point("round"))
    await asyncio.sleep(0)
    await asyncio.to_thread(control.send_threadsafe, Resume())
    assert not await asyncio.wait_for(waiting, 5)
