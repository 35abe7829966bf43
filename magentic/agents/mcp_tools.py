"""The tools of a set of MCP servers, as entries of our own tool registry.

A server's tool arrives through the same door as a built-in one (`Tool`), with the
server's JSON schema instead of a pydantic model. Each call passes, in order: the approval
policy (`mcp_approval.may_call`), the time left (the server's `timeout_s`, never past the
run's deadline), the call itself, and the trace (one `AgentActed` with the arguments and a
bounded result). Every failure (denied, timed out, server gone, bad reply) comes back as a
result marked as an error, for the model to read: an MCP server never ends a run.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from pydantic import ConfigDict

from magentic.agents.base import StepContext, fence
from magentic.agents.mcp_approval import may_call
from magentic.agents.mcp_describe import fenced_schema, tool_description
from magentic.agents.tools import BadToolArguments, Tool, ToolArgs, ToolRegistry
from magentic.agents.web_surfer.settings import UrlPolicySettings
from magentic.agents.web_surfer.url_policy import DEFAULT_PORTS, UrlPolicy
from magentic.control.effects import NotRepeated, effect_key
from magentic.llm.messages import ToolSpec
from magentic.mcp.connection import CallResult, McpConnection, McpError, RemoteTool
from magentic.mcp.settings import McpServerSettings
from magentic.text import clip

log = logging.getLogger(__name__)

_TRACE_CHARS = 600  # of each argument and of the result, in the trace
MAX_TOOLS = 100  # offered to the model at once (APIs refuse more than 128 functions)
MAX_RESTARTS = 1  # per server and run, at the start of a later step


class RawArgs(ToolArgs):
    """Arguments checked against the server's JSON schema, passed on as given."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class SchemaTool(Tool[RawArgs, CallResult]):
    """A tool whose arguments are described by a JSON schema rather than a model."""

    schema: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.schema)

    def parse(self, arguments: Mapping[str, Any] | None) -> RawArgs:
        given = dict(arguments or {})
        try:
            jsonschema.validate(given, self.schema)
        except jsonschema.ValidationError as error:
            where = ".".join(str(p) for p in error.absolute_path) or "arguments"
            raise BadToolArguments(
                f"bad arguments for {self.name}: {where}: {error.message}"
            ) from None
        except jsonschema.SchemaError:
            pass  # the server's schema is itself broken: let the server judge the arguments
        return RawArgs.model_validate(given)


def tool_name(server: str, tool: str) -> str:
    """`server__tool`, within what model APIs accept as a function name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")[:64]


class McpToolbox:
    """The MCP servers one agent uses: started at the agent's first step (one that crashed
    is started again at a later step, once), closed with the agent."""

    def __init__(
        self,
        agent: str,
        servers: Mapping[str, McpServerSettings],
        url_policy: UrlPolicySettings | None = None,
    ) -> None:
        self.agent = agent
        check = url_checker(UrlPolicy(url_policy))
        self.connections = {name: McpConnection(name, s, check) for name, s in servers.items()}
        self.failures: dict[str, str] = {}  # server -> why it is not available
        self._started = False
        self._restarts: dict[str, int] = {}
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        """The servers by name and purpose, for an agent's description (known before start)."""
        return "; ".join(
            name + (f" ({c.settings.description})" if c.settings.description else "")
            for name, c in self.connections.items()
        )

    async def start(self, ctx: StepContext) -> None:
        """Start every server (once, together); one that fails is noted, not raised."""
        async with self._lock:
            if not self._started:
                self._started = True
                await asyncio.gather(*(self._start(ctx, c) for c in self.connections.values()))
                return
            await asyncio.gather(*(self._restart(ctx, c) for c in self._crashed()))

    def _crashed(self) -> list[McpConnection]:
        """Servers that ran and stopped, and may be started again (a crash on one input
        should not cost the rest of the run its tools; a server that keeps crashing does)."""
        return [
            c
            for c in self.connections.values()
            if c.name not in self.failures
            and c.tools
            and not c.running
            and self._restarts.get(c.name, 0) < MAX_RESTARTS
        ]

    async def _restart(self, ctx: StepContext, old: McpConnection) -> None:
        self._restarts[old.name] = self._restarts.get(old.name, 0) + 1
        await old.close()
        fresh = McpConnection(old.name, old.settings, old.check_url)
        self.connections[old.name] = fresh
        await self._start(ctx, fresh, why=old.why_down())

    async def _start(self, ctx: StepContext, conn: McpConnection, why: str = "") -> None:
        left = ctx.seconds_left()
        timeout = (
            conn.settings.start_timeout_s
            if left is None
            else min(left, conn.settings.start_timeout_s)
        )
        began = time.perf_counter()
        error: str | None = None
        try:
            tools = await conn.start(max(timeout, 0.001))
        except McpError as failure:
            error = failure.reason
            self.failures[conn.name] = error
            log.warning("%s", error)
        ctx.acted(
            self.agent,
            "mcp_start",
            {
                "server": conn.name,
                "transport": conn.settings.transport,
                "pid": conn.pid,
                **({"restarted_after": why} if why else {}),
            },
            "" if error else f"{len(tools)} tools: " + ", ".join(t.name for t in tools)[:400],
            error=error,
            duration_ms=(time.perf_counter() - began) * 1000,
        )

    def notes(self) -> list[str]:
        """What the model and the orchestrator should know about unavailable servers. Why a
        server failed may quote its own words (its stderr, its error replies): fenced."""
        out = [
            f"MCP server {name} is not available: " + fence(f"MCP server {name}", why)
            for name, why in self.failures.items()
        ]
        offered = 0
        for conn in self.connections.values():
            if conn.name not in self.failures and conn.tools and not conn.running:
                why = fence(f"MCP server {conn.name}", conn.why_down())
                out.append(f"MCP server {conn.name} stopped: {why}")
            if conn.name not in self.failures:
                offered += len(conn.tools)
        if offered > MAX_TOOLS:
            out.append(f"only the first {MAX_TOOLS} of {offered} MCP tools are offered")
        return out

    def registry(self, ctx: StepContext) -> ToolRegistry[CallResult]:
        """The tools of the running servers, each bound to this step's context."""
        tools = ToolRegistry[CallResult]()
        for conn in self.connections.values():
            if conn.name in self.failures:
                continue
            for remote in conn.tools:
                name = tool_name(conn.name, remote.name)
                if name in tools or len(tools) >= MAX_TOOLS:
                    continue  # a clash after cleaning names, or too many: keep the first
                described = tool_description(
                    conn.name, remote.name, remote.description, conn.settings
                )
                tools.add(
                    SchemaTool(
                        name,
                        described,
                        RawArgs,
                        self._handler(ctx, conn, remote),
                        schema=fenced_schema(conn.name, remote.schema),
                    )
                )
        return tools

    def _handler(self, ctx: StepContext, conn: McpConnection, remote: RemoteTool) -> Any:
        async def run(args: RawArgs) -> CallResult:
            return await self.call(
                ctx, conn, remote.name, args.model_dump(), read_only=remote.read_only
            )

        return run

    async def call(
        self,
        ctx: StepContext,
        conn: McpConnection,
        tool: str,
        arguments: dict[str, Any],
        *,
        read_only: bool = False,
    ) -> CallResult:
        began = time.perf_counter()
        result = await self._call(ctx, conn, tool, arguments, read_only)
        ctx.acted(
            self.agent,
            f"mcp:{conn.name}.{tool}",
            {k: _short(v) for k, v in arguments.items()},
            "" if result.is_error else clip(result.text, _TRACE_CHARS),
            error=clip(result.text, _TRACE_CHARS) if result.is_error else None,
            duration_ms=(time.perf_counter() - began) * 1000,
        )
        return result

    async def _call(
        self,
        ctx: StepContext,
        conn: McpConnection,
        tool: str,
        arguments: dict[str, Any],
        read_only: bool,
    ) -> CallResult:
        refused = await may_call(ctx, self.agent, conn.name, tool, arguments, read_only)
        if refused is not None:
            return CallResult(f"Not run: {refused}.", is_error=True)
        left = ctx.seconds_left()
        if left is not None and left <= 0:
            return CallResult("Not run: the run's time is up.", is_error=True)
        timeout = conn.settings.timeout_s if left is None else min(left, conn.settings.timeout_s)
        if ctx.effects is None or read_only:
            return await _send(conn, tool, arguments, timeout)
        # A tool that may change something is called once in the life of the run.
        key = effect_key(self.agent, "mcp_tool", [conn.name, tool, arguments])
        what = f"the MCP tool {conn.name}.{tool}"

        async def send() -> dict[str, Any]:
            result = await _send(conn, tool, arguments, timeout)
            return {"text": result.text, "is_error": result.is_error}

        outcome = await ctx.effects.once(self.agent, "mcp_tool", key, what, send)
        if isinstance(outcome, NotRepeated):
            return CallResult(f"Not run: {outcome.reason}.", is_error=True)
        text = str(outcome.result.get("text", ""))
        if outcome.replayed:
            text += "\n(Recorded: this call was made before the run was resumed; not made again.)"
        return CallResult(text, is_error=bool(outcome.result.get("is_error")))

    async def close(self) -> None:
        """Close every server; each is closed even if another's close fails."""
        results = await asyncio.gather(
            *(c.close() for c in self.connections.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("closing an MCP server failed: %s", result)


def url_checker(policy: UrlPolicy) -> Any:
    """The browser's URL policy checker, for an HTTP server's address: by name, then by
    the addresses the name resolves to (so a public name for a private address is caught)."""

    async def check(url: str) -> str | None:
        reason = policy.check_url(url)
        parts = urlsplit(url)
        if reason is not None or not parts.hostname:
            return reason
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
        except OSError as error:
            return f"cannot resolve {parts.hostname}: {error}"
        return policy.check_address(parts.hostname, port, [str(i[4][0]) for i in infos])

    return check


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, _TRACE_CHARS)
    text = repr(value)
    return value if len(text) <= _TRACE_CHARS else clip(text, _TRACE_CHARS)


async def _send(
    conn: McpConnection, tool: str, arguments: dict[str, Any], timeout: float
) -> CallResult:
    try:
        return await conn.call(tool, arguments, timeout)
    except McpError as error:
        return CallResult(error.reason, is_error=True)
