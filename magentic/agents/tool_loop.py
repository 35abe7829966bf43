"""A model's turn with tools: choose a tool, see what it returned, choose again, up to a
limit, until the model answers in words. Shared by the agents that take MCP tools (the MCP
agent, and the Coder when the config gives it servers).

What tools return is untrusted data: it goes back to the model fenced off as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from magentic.agents.base import TeamMessage
from magentic.agents.tools import BadToolArguments, ToolRegistry, UnknownTool
from magentic.llm.client import ModelClient
from magentic.llm.messages import Message
from magentic.mcp.connection import CallResult
from magentic.text import clip

Entry = tuple[str, CallResult]  # the call as shown ("name({...})") and what came back


async def use_tools(
    client: ModelClient,
    tools: ToolRegistry[CallResult],
    messages_for: Callable[[list[Entry]], list[Message]],
    max_calls: int,
) -> tuple[str | None, list[Entry]]:
    """The model's words (None if it was still calling tools at the limit) and its calls."""
    log: list[Entry] = []
    for _ in range(max_calls):
        choice = await client.choose_tool(messages_for(log), tools.specs())
        if isinstance(choice, str):
            return choice, log
        shown = f"{choice.name}({json.dumps(choice.arguments, ensure_ascii=False)[:300]})"
        try:
            result = await tools.call(choice.name, choice.arguments)
        except (UnknownTool, BadToolArguments) as error:  # the server was not asked
            result = CallResult(f"Did not run: {error.reason}", is_error=True)
        log.append((shown, result))
    return None, log


def render_log(agent: str, log: list[Entry], limit: int) -> str:
    """What the calls returned, each result fenced as untrusted data, for the model."""
    lines = []
    for call, result in log:
        status = "failed" if result.is_error else "returned"
        fenced = TeamMessage(agent, clip(result.text, limit), untrusted=True).for_prompt()
        lines.append(f"- {call} {status}:\n{fenced}")
    return "What your tool calls returned:\n" + "\n".join(lines)
