"""Assembling a team from the config and running one task with it.

This is the one place that knows every part: it makes the run folder and workspace, the
event bus and trace, one ModelClient per role (sharing the usage meter and the cache), the
agents the config names, and the Orchestrator; it runs the task and closes everything,
whatever happens. Agents whose optional parts are not installed are left out with a note,
so a run works with whatever agents exist.
"""

from __future__ import annotations

import logging
import secrets as _secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from magentic import secrets
from magentic.agents.base import Agent, AgentContext, Approver, SharedResources
from magentic.attachments import prepare_workspace
from magentic.config import Config
from magentic.control.channel import ControlChannel
from magentic.control.gate import ApprovalGate
from magentic.errors import ConfigError
from magentic.events import EventBus, Subscriber
from magentic.execution.settings import SandboxSettings
from magentic.llm.cache import ModelCache
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.client import ModelClient
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.orchestrator import Orchestrator, RunResult
from magentic.text import escape_surrogates
from magentic.trace.writer import TraceWriter

if TYPE_CHECKING:
    from magentic.agents.mcp_tools import McpToolbox

log = logging.getLogger(__name__)


class _ClientMaker:
    """Makes the run's model clients, all sharing its usage meter and cache, and remembers
    them so the run can close every one."""

    def __init__(
        self,
        config: Config,
        events: EventBus,
        meter: UsageMeter,
        cache: ModelCache | None,
        memory: CapabilityMemory,
    ) -> None:
        self.config, self.events, self.meter, self.cache = config, events, meter, cache
        # What the run's endpoints turned out to accept, shared by every role and remembered.
        self.memory = memory
        self.clients: list[ModelClient] = []

    def __call__(self, role: str) -> ModelClient:
        client = ModelClient(
            self.config.model_for(role),
            role=role,
            events=self.events,
            meter=self.meter,
            cache=self.cache,
            prices=self.config.prices,
            memory=self.memory,
        )
        self.clients.append(client)
        return client


AgentFactory = Callable[[AgentContext], Agent]


def _coder(ctx: AgentContext) -> Agent:
    from magentic.agents.coder import Coder

    return Coder(ctx.client_for("coder"), toolbox=_toolbox(ctx, "Coder"))


def _toolbox(ctx: AgentContext, agent: str) -> McpToolbox | None:
    """The MCP servers whose `agents` name this built-in agent, if any."""
    servers = ctx.config.mcp.servers_for(agent)
    if not servers:
        return None
    from magentic.agents.mcp_tools import McpToolbox

    return McpToolbox(agent, servers, ctx.config.mcp.url_policy)


def _terminal(ctx: AgentContext) -> Agent:
    from magentic.agents.terminal import ComputerTerminal
    from magentic.execution import make_executor

    sandbox = ctx.config.sandbox
    settings = SandboxSettings.model_validate(sandbox.model_dump(exclude={"kind"}))
    executor = make_executor(sandbox.kind, ctx.workspace, settings, run_id=ctx.run_id)
    return ComputerTerminal(executor, kind=sandbox.kind, settings=settings)


def _web_surfer(ctx: AgentContext) -> Agent:
    from magentic.agents.web_surfer.agent import WebSurfer

    return WebSurfer.from_context(ctx)


def _file_surfer(ctx: AgentContext) -> Agent:
    from magentic.agents.file_surfer import FileSurfer

    roots = [ctx.workspace, *ctx.files]
    # Audio is transcribed only through a configured [models.transcribe] (its own model).
    speech = ctx.client_for("transcribe") if "transcribe" in ctx.config.models else None
    return FileSurfer(ctx.client_for("file_surfer"), roots, ctx.config.file_surfer, speech)


def _user(ctx: AgentContext) -> Agent:
    from magentic.agents.user import UserAgent

    return UserAgent()


# Imports happen inside the factories: a part whose extra is not installed (Playwright,
# the Docker SDK) costs nothing until its agent is asked for, and is left out if missing.
FACTORIES: dict[str, AgentFactory] = {
    "WebSurfer": _web_surfer,
    "FileSurfer": _file_surfer,
    "Coder": _coder,
    "ComputerTerminal": _terminal,
    "User": _user,  # asks the person; in the team by `--interactive` or by naming it
}


def _mcp_agent(name: str) -> AgentFactory:
    def build(ctx: AgentContext) -> Agent:
        from magentic.agents.mcp import McpAgent

        return McpAgent.from_context(ctx, name)

    return build


# Built-in agents that use MCP tools when a server's `agents` names them.
TAKES_MCP_TOOLS = ("Coder",)


def check_agent_names(names: Sequence[str], mcp_agents: Sequence[str] = ()) -> None:
    """Refuse an empty team, an unknown agent, or MCP tools given to a built-in agent,
    before anything starts. `mcp_agents`: the agents the `[mcp]` servers name."""
    clash = [n for n in mcp_agents if n in FACTORIES and n not in TAKES_MCP_TOOLS]
    if clash:
        raise ConfigError(
            f"MCP servers give their tools to {', '.join(map(repr, clash))}, a built-in agent "
            f"that takes no MCP tools (of the built-in agents only {', '.join(TAKES_MCP_TOOLS)} "
            "does); leave `agents` out (the MCP agent gets them) or name a new agent for them, "
            'like agents = ["Search"]'
        )
    known = ", ".join([*FACTORIES, *(n for n in mcp_agents if n not in FACTORIES)])
    if not names and not mcp_agents:
        raise ConfigError(f"no agent named for the team; known agents: {known}")
    unknown = [n for n in names if n not in FACTORIES and n not in mcp_agents]
    if unknown:
        raise ConfigError(f"unknown agent {', '.join(map(repr, unknown))}; known agents: {known}")


def team_names(config: Config) -> list[str]:
    """The configured agents, then the MCP agents the `[mcp]` servers call for."""
    extra = [n for n in config.mcp.agent_names() if n not in config.agents]
    return [*config.agents, *extra]


def build_agents(ctx: AgentContext, names: Sequence[str]) -> list[Agent]:
    """The named agents. Only a missing optional package leaves an agent out (and says
    which); any other error while building one is a bug and is raised, never hidden."""
    agents: list[Agent] = []
    mcp_agents = [n for n in ctx.config.mcp.agent_names() if n not in FACTORIES]
    for name in names:
        factory = FACTORIES.get(name) or (_mcp_agent(name) if name in mcp_agents else None)
        if factory is None:
            raise ConfigError(f"unknown agent '{name}'; known agents: {', '.join(FACTORIES)}")
        try:
            agents.append(factory(ctx))
        except ModuleNotFoundError as error:
            log.warning(
                "%s left out of the team: the package %r is not installed", name, error.name
            )
    if not agents:
        raise ConfigError("no agent of the configured team could be built")
    return agents


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + _secrets.token_hex(3)


def key_values(config: Config) -> list[str]:
    """The API keys this config would send, so the trace (and every other sink) scrubs them."""
    return [*config.api_keys(), *config.mcp.secrets()]


async def run_task(
    task: str,
    config: Config,
    *,
    files: Sequence[Path] = (),
    subscribers: Sequence[Subscriber] = (),
    approver: Approver | None = None,
    run_dir: Path | None = None,
    resources: SharedResources | None = None,
    control: ControlChannel | None = None,
) -> RunResult:
    """Run one task to its end and return the outcome; the trace is in the run folder.

    `control` is the channel the caller's faces (console, web view) steer through; without
    one the run is unattended, and every action the `[approval]` table says to ask about is
    denied, with the reason in the trace."""
    task = escape_surrogates(task)  # from argv or a suite's JSON: it must encode as UTF-8
    run_id = new_run_id()
    run_dir = Path(run_dir) if run_dir is not None else Path(config.trace_dir) / run_id
    max_bytes = int(config.attachments.max_mb * 1024 * 1024)
    workspace, attached = await prepare_workspace(run_dir, files, max_bytes)
    copied = [a.copy for a in attached]
    secrets.register(key_values(config))
    events = EventBus(run_id)
    trace = TraceWriter(run_dir, secrets=key_values(config))
    events.subscribe(trace)
    for subscriber in subscribers:
        events.subscribe(subscriber)
    cache = ModelCache(config.cache.path, config.cache.mode) if config.cache.mode != "off" else None
    memory = CapabilityMemory(Path(config.cache.path).parent / "endpoints.json")
    make_client = _ClientMaker(config, events, UsageMeter(), cache, memory)
    control = control if control is not None else ControlChannel()
    control.connect(events)
    gate = ApprovalGate(config.approval, control)
    ctx = AgentContext(
        config=config,
        events=events,
        workspace=workspace,
        files=copied,
        client_for=make_client,
        run_id=run_id,
        resources=resources if resources is not None else SharedResources(),
    )
    agents: list[Agent] = []
    try:
        orchestrator_client = make_client("orchestrator")
        agents = build_agents(ctx, team_names(config))
        orchestrator = Orchestrator(
            client=orchestrator_client,
            agents=agents,
            events=events,
            workspace=workspace,
            settings=config.orchestrator,
            files=copied,
            approver=approver,
            control=control,
            gate=gate,
        )
        summary = {**config.summary(), "attachments": [a.note() for a in attached]}
        result = await orchestrator.run(task, config=summary)
        result.trace_path = str(trace.path)
        return result
    finally:
        for agent in agents:
            try:
                await agent.close()
            except Exception:  # closing must not hide the run's outcome
                log.exception("closing %s failed", agent.name)
        for client in make_client.clients:
            await client.close()
        if cache is not None:
            cache.close()
        trace.close()
