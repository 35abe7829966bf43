"""Whether one MCP tool call may run: the single place the approval policy is asked.

Kind `mcp_tool`, keyed `server.tool`, so `[approval.mcp]` can allow a whole server and
still deny or ask about one of its tools (the most specific key wins over `mcp_tool`). The
run's gate decides: by the table, or by asking a person through the control channel (with
nobody there, "ask" is a no, with the reason recorded). Without a gate (an agent driven
outside a run) the call runs.
Returns None when the call may run, else the reason it may not.
"""

from __future__ import annotations

from typing import Any

from magentic.agents.base import StepContext

KIND = "mcp_tool"
READ_ONLY_KIND = "mcp_read_only"


def describe_call(server: str, tool: str, arguments: dict[str, Any]) -> str:
    """The call in words, as a person approving it reads it."""
    shown = ", ".join(f"{k}={str(v)[:80]!r}" for k, v in arguments.items())
    return f"call the MCP tool {tool} of server {server} ({shown})"


async def may_call(
    ctx: StepContext,
    agent: str,
    server: str,
    tool: str,
    arguments: dict[str, Any],
    read_only: bool = False,
) -> str | None:
    """`read_only`: the server declares the tool read-only and not destructive; it then
    falls under `mcp_read_only` (unless `[approval.mcp]` names it or its server)."""
    detail = describe_call(server, tool, arguments)
    key = f"{server}.{tool}"
    if ctx.gate is not None:
        kind = READ_ONLY_KIND if read_only else KIND
        decision = await ctx.gate.check(kind, agent, detail, target=key, key=key)
        return None if decision.allowed else (decision.reason or "it was not approved")
    return None
