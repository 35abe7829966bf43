"""The `[mcp]` table: which MCP servers a run may use, how, and who gets their tools.

A leaf module (pydantic only, plus the URL policy's settings class), so the config can
import it without pulling in the MCP SDK. Each server is either a program to start (stdio:
`command`, `args`, `env`) or an address to reach (streamable HTTP: `url`, `headers`):

    [mcp.servers.calc]
    command = "python"
    args = ["calc_server.py"]
    timeout_s = 20

    [mcp.servers.search]
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ..." }   # a secret: redacted, never in the trace
    agents = ["MCP"]

    [mcp.servers.search.tools.query]              # one tool, in your own words
    description = "Search the company wiki; one query of a few words."

A server's own descriptions of its tools are untrusted text: the model sees them fenced as
data, cut short. A `description` given here replaces the server's for that tool.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from magentic.agents.web_surfer.settings import UrlPolicySettings

# The agent that carries the tools of every server whose `agents` list is left empty.
MCP_AGENT = "MCP"


class McpToolSettings(BaseModel):
    """One `[mcp.servers.NAME.tools.TOOL]` table: what the person says about one tool."""

    model_config = ConfigDict(extra="forbid")
    # Replaces the server's description of the tool (the model reads it as ours, unfenced).
    description: str | None = Field(default=None, max_length=2000)


class McpServerSettings(BaseModel):
    """One `[mcp.servers.NAME]` table."""

    model_config = ConfigDict(extra="forbid")

    # stdio: a program we start, in its own process group, killed with the run.
    command: str | None = None
    args: list[str] = Field(default_factory=list)  # the program's arguments
    env: dict[str, str] = Field(default_factory=dict)  # values are secrets (redacted)
    # Variables handed on from magentic's own environment by name, so the config file holds
    # no secret (`magentic mcp add --env-from KEY`); their values are redacted too.
    env_from: list[str] = Field(default_factory=list)
    cwd: str | None = None  # the folder it starts in; None: the current one
    # streamable HTTP: an address under the [mcp.url_policy].
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # values are secrets (redacted)

    # What the server is for, in a few words: the orchestrator reads it before the server
    # has even started (servers start at their first use).
    description: str = ""
    # Who gets this server's tools: agent names; empty means the MCP agent.
    agents: list[str] = Field(default_factory=list)
    # Starting (and listing tools) may take this long; a server past it is left out.
    start_timeout_s: float = Field(default=30.0, gt=0)
    # One tool call may take this long (and never past the run's deadline).
    timeout_s: float = Field(default=60.0, gt=0)
    # Characters of one tool result the model sees (head and tail kept, the cut said).
    max_output_chars: int = Field(default=8000, ge=200)
    # Bytes of one message from the server; a larger one ends the connection.
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    # Tool names offered: if `allowed_tools` is set, only those; `blocked_tools` never.
    allowed_tools: list[str] | None = None
    blocked_tools: list[str] = Field(default_factory=list)  # tool names never offered
    # Per tool, by the server's name for it: the person's own description.
    tools: dict[str, McpToolSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a stdio server) or `url` (HTTP), not both")
        if self.url is not None and (self.args or self.env or self.env_from or self.cwd):
            raise ValueError(
                "`args`, `env`, `env_from` and `cwd` are for stdio servers (with `command`)"
            )
        if self.command is not None and self.headers:
            raise ValueError("`headers` are for HTTP servers (with `url`)")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def offers(self, tool: str) -> bool:
        """Whether a tool of this server may be shown to a model at all."""
        if tool in self.blocked_tools:
            return False
        return self.allowed_tools is None or tool in self.allowed_tools

    def description_of(self, tool: str) -> str | None:
        """The person's description of one tool, if the config gives one."""
        given = self.tools.get(tool)
        return given.description if given is not None else None

    def inherited_env(self) -> dict[str, str]:
        """The `env_from` variables that are set in magentic's environment, by name."""
        return {k: os.environ[k] for k in self.env_from if os.environ.get(k)}

    def secrets(self) -> list[str]:
        return [*self.env.values(), *self.headers.values(), *self.inherited_env().values()]

    def summary(self) -> dict[str, object]:
        """What a trace records: the shape, never the values of env or headers."""
        out = self.model_dump(exclude={"env", "headers"})
        out["env"] = sorted(self.env)
        out["headers"] = sorted(self.headers)
        return out


class McpSettings(BaseModel):
    """The `[mcp]` table."""

    model_config = ConfigDict(extra="forbid")
    # One table per server: `[mcp.servers.NAME]`.
    servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    # Which addresses HTTP servers may have: the same rules (and checker) as the browser's,
    # kept apart so allowing a local MCP server does not open it to web pages.
    url_policy: UrlPolicySettings = Field(default_factory=UrlPolicySettings)

    @field_validator("servers")
    @classmethod
    def _plain_names(cls, servers: dict[str, McpServerSettings]) -> dict[str, McpServerSettings]:
        # A name becomes part of tool names (`name__tool`) and approval keys (`name.tool`).
        for name in servers:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
                raise ValueError(
                    f"MCP server name {name!r}: use letters, digits, '_' or '-' (at most 40)"
                )
        return servers

    def secrets(self) -> list[str]:
        return [s for server in self.servers.values() for s in server.secrets()]

    def agent_names(self) -> list[str]:
        """Every agent some server's tools go to, in the order the servers are listed."""
        names: list[str] = []
        for server in self.servers.values():
            for name in server.agents or [MCP_AGENT]:
                if name not in names:
                    names.append(name)
        return names

    def servers_for(self, agent: str) -> dict[str, McpServerSettings]:
        """The servers whose tools go to `agent`."""
        return {name: s for name, s in self.servers.items() if agent in (s.agents or [MCP_AGENT])}

    def summary(self) -> dict[str, object]:
        return {
            "servers": {name: s.summary() for name, s in self.servers.items()},
            "url_policy": self.url_policy.model_dump(),
        }
