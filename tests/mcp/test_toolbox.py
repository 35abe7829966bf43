"""The toolbox's door for each call: the approval, the run's deadline, and the trace."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.mcp_tools import McpToolbox
from magentic.agents.tools import BadToolArguments
from magentic.control.channel import ControlChannel
from magentic.control.commands import Approve, Deny
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.events import AgentActed, ControlRequested, Event, EventBus
from tests.mcp.helpers import RAW_SERVER, alive, stdio


class Person:
    """A person at a face on the run's control channel: answers each approval request from a
    list (no, then yes), and remembers what it was shown."""

    def __init__(self, *decisions: str) -> None:
        self.decisions = list(decisions)
        self.shown: list[str] = []
        self.control: ControlChannel | None = None

    def __call__(self, event: Event) -> None:
        control = self.control
        if not isinstance(event, ControlRequested) or control is None:
            return
        self.shown.append(event.detail)
        if self.decisions.pop(0) == "yes":
            command: Approve | Deny = Approve(request_id=event.request_id)
        else:
            command = Deny(request_id=event.request_id, reason="not that one")
        asyncio.get_running_loop().call_soon(control.send, command)


def context(tmp_path: Path, seconds: float | None = None, approver: Person | None = None):
    events: list[Event] = []
    bus = EventBus("t")
    bus.subscribe(events.append)
    deadline = None if seconds is None else time.monotonic() + seconds
    ctx = StepContext("task", [], tmp_path, bus, deadline=deadline)
    if approver is not None:  # `[approval] mcp_tool` asks by default: the person answers
        control = ControlChannel(bus)
        control.attach("test")
        approver.control = control
        bus.subscribe(approver)
        ctx.control, ctx.gate = control, ApprovalGate(ApprovalSettings(), control)
    return ctx, events


async def test_each_call_is_approved_bounded_and_traced(tmp_path: Path) -> None:
    person = Person("no", "yes")
    ctx, events = context(tmp_path, approver=person)
    box = McpToolbox("MCP", {"calc": stdio(), "dead": stdio(RAW_SERVER, "die")})
    try:
        await box.start(ctx)
        assert "dead" in box.failures and "cannot open its database" in box.notes()[0]
        tools = box.registry(ctx)
        assert "calc__add" in tools and not any(n.startswith("dead__") for n in tools.names())
        refused = await tools.call("calc__add", {"a": 1, "b": 2})
        assert refused.is_error and refused.text == "Not run: not that one."
        done = await tools.call("calc__add", {"a": 1, "b": 2})
        assert (done.text, done.is_error) == ("3", False)
        assert "call the MCP tool add of server calc (a='1', b='2')" in person.shown
    finally:
        await box.close()
    acted = [e for e in events if isinstance(e, AgentActed)]
    calls = [e for e in acted if e.action == "mcp:calc.add"]
    assert [e.error is not None for e in calls] == [True, False]
    assert calls[1].args == {"a": 1, "b": 2} and calls[1].result == "3"
    started = {e.args["server"]: e.error for e in acted if e.action == "mcp_start"}
    assert started["calc"] is None and "could not start" in (started["dead"] or "")


async def test_a_call_never_outlasts_the_run(tmp_path: Path) -> None:
    ctx, _ = context(tmp_path, seconds=60)
    box = McpToolbox("MCP", {"calc": stdio(timeout_s=600)})
    try:
        await box.start(ctx)
        ctx.deadline = time.monotonic() + 1.0  # the run has a second left
        hung = await box.registry(ctx).call("calc__hang", {})
        assert hung.is_error and "no answer within" in hung.text
        ctx.deadline = time.monotonic() - 1
        late = await box.registry(ctx).call("calc__add", {"a": 1, "b": 2})
        assert late.is_error and "time is up" in late.text
    finally:
        await box.close()


async def test_arguments_are_checked_against_the_servers_schema(tmp_path: Path) -> None:
    ctx, events = context(tmp_path)
    box = McpToolbox("MCP", {"calc": stdio()})
    try:
        await box.start(ctx)
        tools = box.registry(ctx)
        spec = next(s for s in tools.specs() if s.name == "calc__add")
        assert spec.parameters["required"] == ["a", "b"]
        with pytest.raises(BadToolArguments, match="bad arguments for calc__add: a"):
            await tools.call("calc__add", {"a": "one", "b": 2})
    finally:
        await box.close()
    assert not any(e.action == "mcp:calc.add" for e in events if isinstance(e, AgentActed))


async def test_a_crashed_server_is_started_again_once(tmp_path: Path) -> None:
    ctx, events = context(tmp_path)
    box = McpToolbox("MCP", {"calc": stdio()})
    try:
        await box.start(ctx)
        first = box.connections["calc"].pid
        crashed = await box.registry(ctx).call("calc__crash", {})
        assert crashed.is_error and "exit code 3" in crashed.text
        await box.start(ctx)  # the next step
        assert (await box.registry(ctx).call("calc__add", {"a": 2, "b": 2})).text == "4"
        await box.registry(ctx).call("calc__crash", {})
        await box.start(ctx)  # no second restart: the model is told it stopped
        assert "MCP server calc stopped" in box.notes()[0]
    finally:
        await box.close()
    starts = [e for e in events if isinstance(e, AgentActed) and e.action == "mcp_start"]
    assert len(starts) == 2 and "exit code 3" in starts[1].args["restarted_after"]
    assert first is not None and not alive(first)
