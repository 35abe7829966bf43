"""Whether one MCP tool call may run: the single place the approval policy is asked.

Kind `mcp_tool`, keyed by server and by `server.tool`, so a policy can allow a whole
server, or ask about one tool of it. Until the run's approval gate exists, the person
watching a `--step` run (the run's approver) is asked about every call; with no one
watching, calls run. Returns None when the call may run, else the reason it may not.
"""

from __future__ import annotations

from typing import Any

from magentic.agents.base import StepContext
from magentic.events import ApprovalGiven, ApprovalRequested

KIND = "mcp_tool"


def describe_call(server: str, tool: str, arguments: dict[str, Any]) -> str:
    """The call in words, as a person approving it reads it."""
    shown = ", ".join(f"{k}={str(v)[:80]!r}" for k, v in arguments.items())
    return f"call the MCP tool {tool} of server {server} ({shown})"


async def may_call(
    ctx: StepContext, agent: str, server: str, tool: str, arguments: dict[str, Any]
) -> str | None:
    approver = ctx.approver
    if approver is None:
        return None
    detail = describe_call(server, tool, arguments)
    ctx.emit(ApprovalRequested(agent=agent, action=f"{KIND}:{server}.{tool}", detail=detail))
    verdict = await approver.review(agent, f"{KIND}:{server}.{tool}", detail)
    ctx.emit(ApprovalGiven(agent=agent, decision=verdict.decision, guidance=verdict.guidance))
    if verdict.decision == "continue":
        return None
    said = f": {verdict.guidance}" if verdict.guidance else ""
    return f"the person watching did not approve it{said}"
