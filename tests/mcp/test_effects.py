"""An MCP tool that changes the world is called once in the life of a run: a resumed round
that asks for the same call with the same arguments gets the journaled result. A real MCP
server process over stdio, a real journal file; read-only tools are not journaled."""

from __future__ import annotations

import json
from pathlib import Path

from magentic.agents.base import StepContext
from magentic.agents.mcp_tools import McpToolbox
from magentic.control.channel import ControlChannel
from magentic.control.effects import EffectJournal
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.events import Event, EventBus, SideEffectRecorded
from tests.mcp.helpers import HERE, stdio


def context(tmp_path: Path, offset: int | None) -> tuple[StepContext, list[Event]]:
    seen: list[Event] = []
    bus = EventBus("t")
    bus.subscribe(seen.append)
    control = ControlChannel(bus)
    effects = EffectJournal(tmp_path / "effects.jsonl", bus, control)
    if offset is not None:
        effects.replay_from(offset)
    ctx = StepContext("task", [], tmp_path, bus, control=control, effects=effects)
    ctx.gate = ApprovalGate(ApprovalSettings(mcp_tool="allow"), control)
    return ctx, seen


async def call(ctx: StepContext, orders: Path, tool: str, args: dict) -> str:
    server = stdio(HERE / "order_server.py", env={"ORDERS_FILE": str(orders)})
    box = McpToolbox("MCP", {"shop": server})
    try:
        await box.start(ctx)
        return (await box.registry(ctx).call(f"shop__{tool}", args)).text
    finally:
        await box.close()


async def test_a_resumed_round_gets_the_recorded_call_and_the_order_is_placed_once(
    tmp_path: Path,
) -> None:
    orders = tmp_path / "orders.txt"
    ctx, _ = context(tmp_path, None)
    assert await call(ctx, orders, "place_order", {"item": "teapot"}) == "ordered teapot"
    assert await call(ctx, orders, "count_orders", {}) == "1"
    lines = [json.loads(line) for line in (tmp_path / "effects.jsonl").read_text().splitlines()]
    assert [e["state"] for e in lines] == ["started", "done"]  # the lookup is not journaled

    ctx, seen = context(tmp_path, 0)  # a new process, resumed before that round
    again = await call(ctx, orders, "place_order", {"item": "teapot"})
    assert again.startswith("ordered teapot") and "not made again" in again
    assert orders.read_text() == "teapot\n"
    assert await call(ctx, orders, "place_order", {"item": "teapot"}) == "ordered teapot"
    assert orders.read_text() == "teapot\nteapot\n"  # a later round's order is a new one
    assert [e.outcome for e in seen if isinstance(e, SideEffectRecorded)] == ["replayed", "done"]
