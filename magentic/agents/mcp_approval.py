"""Whether one MCP tool call may run: the single place the approval policy is asked.

Kind `mcp_tool`, keyed `server.tool`. The rule is `ApprovalSettings.mcp_rule`: the person's
`[approval.mcp]` entry for the tool or its server if there is one, else the strictest of
the rules that apply (`mcp_tool`, and `mcp_read_only` too when the server calls the tool
read-only). A server's hint is its own word, so it can only tighten a rule. The run's gate
decides: by the table, or by asking a person through the control channel (with nobody
there, "ask" is a no). Every decision, allows included, is recorded in the trace. Without
a gate (an agent driven outside a run) the call runs.
Returns None when the call may run, else the reason it may not.
"""

from __future__ import annotations

from typing import Any

from magentic.agents.base import StepContext

KIND = "mcp_tool"


def describe_call(server: str, tool: str, arguments: dict[str, Any], read_only: bool) -> str:
    """The call in words, as a person approving it reads it (a read-only claim is shown as
    the server's claim, not as a fact)."""
    shown = ", ".join(f"{k}={str(v)[:80]!r}" for k, v in arguments.items())
    claim = "; its server calls it read-only" if read_only else ""
    return f"call the MCP tool {tool} of server {server} ({shown}){claim}"


async def may_call(
    ctx: StepContext,
    agent: str,
    server: str,
    tool: str,
    arguments: dict[str, Any],
    read_only: bool = False,
) -> str | None:
    """`read_only`: the server declares the tool read-only and not destructive."""
    if ctx.gate is None:
        return None
    key = f"{server}.{tool}"
    name, rule = ctx.gate.settings.mcp_rule(key, read_only)
    decision = await ctx.gate.check(
        KIND,
        agent,
        describe_call(server, tool, arguments, read_only),
        target=key,
        key=key,
        rule=rule,
        rule_name=name,
        record=True,
    )
    return None if decision.allowed else (decision.reason or "it was not approved")
