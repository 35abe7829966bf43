"""Assembling a team from the config and running one task with it.

This is the one place that knows every part: it makes the run folder and workspace, the
event bus and trace, one ModelClient per role (sharing the usage meter and the cache), the
agents the config names, and the Orchestrator; it runs the task and closes everything,
whatever happens. Agents whose optional parts are not installed are left out with a note,
so a run works with whatever agents exist.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as _secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magentic import secrets
from magentic.agents.base import Agent, AgentContext, SharedResources
from magentic.attachments import prepare_workspace
from magentic.config import Config, given_tree, load_config
from magentic.control.channel import ControlChannel
from magentic.control.effects import FILE_NAME as EFFECTS_FILE
from magentic.control.effects import EffectJournal
from magentic.control.gate import ApprovalGate
from magentic.errors import CheckpointError, ConfigError
from magentic.events import Event, EventBus, Notice, Subscriber
from magentic.execution.settings import SandboxSettings
from magentic.llm.cache import ModelCache
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.client import ModelClient
from magentic.llm.journal import FILE_NAME as JOURNAL_FILE
from magentic.llm.journal import CallJournal
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.checkpoint import FILE_NAME as CHECKPOINT_FILE
from magentic.orchestrator.checkpoint import (
    Checkpoint,
    CheckpointWriter,
    load_checkpoint,
    read_images,
)
from magentic.orchestrator.orchestrator import Orchestrator, RunResult
from magentic.orchestrator.resuming import exhausted, restore_meter
from magentic.recorded import resumed_tree
from magentic.text import escape_surrogates
from magentic.trace.writer import TraceWriter, continue_trace

if TYPE_CHECKING:
    from magentic.agents.mcp_tools import McpToolbox

log = logging.getLogger(__name__)

# The run folder's private part for host-side scratch; never mounted into a sandbox.
HOST_DIR = ".host"


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
        journal: CallJournal | None = None,
    ) -> None:
        self.config, self.events, self.meter, self.cache = config, events, meter, cache
        # What the run's endpoints turned out to accept, shared by every role and remembered.
        self.memory = memory
        self.journal = journal  # the run's answered calls, for a resume
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
            journal=self.journal,
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
    return FileSurfer(
        ctx.client_for("file_surfer"), roots, ctx.config.file_surfer, speech, ctx.host_dir
    )


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


def check_can_start(config: Config) -> None:
    """Refuse, before any run folder is made, a run that would fail at its first step: no
    API key for the orchestrator's endpoint (a replay needs none), or a headed browser with
    no display to show it on."""
    if config.cache.mode != "replay":
        config.model_for("orchestrator").resolved_key()  # ConfigError naming the variable
    if "WebSurfer" in config.agents and not config.web.headless and not os.environ.get("DISPLAY"):
        raise ConfigError(
            "--headed needs a display, and DISPLAY is not set: run under a virtual one "
            "(xvfb-run -a magentic run ...), or leave out --headed"
        )


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


def absolute(path: Path | str) -> Path:
    """A run folder made absolute once, where a run starts: agents and the sandbox open
    paths from the workspace, never from the folder the person started in."""
    return Path(os.path.abspath(path))


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
    run_dir = absolute(run_dir if run_dir is not None else config.trace_dir / run_id)
    max_bytes = int(config.attachments.max_mb * 1024 * 1024)
    workspace, attached = await prepare_workspace(run_dir, files, max_bytes)
    copied = [a.copy for a in attached]
    summary = {**config.summary(), "attachments": [a.note() for a in attached]}
    assembly = _Assembly(config, run_id, run_dir, workspace, copied, subscribers, control)
    return await assembly.go(
        lambda orchestrator: orchestrator.run(task, config=summary), UsageMeter(), 0, resources
    )


@dataclass
class Resumption:
    """A checked run folder, ready to go on: its checkpoint, images and config (the one it
    was made with, flags over it). Made by `prepare_resume` without writing anything."""

    run_dir: Path
    checkpoint: Checkpoint
    images: dict[str, bytes]
    config: Config

    @property
    def finished(self) -> bool:
        return not self.checkpoint.resumable


def prepare_resume(
    run_dir: Path,
    overrides: dict[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    today: Config | None = None,
    accept_recorded: bool = False,
) -> Resumption:
    """Read and check everything `resume_task` needs; blocking, and it only reads.

    The folder must be the user's own; the settings of trust (endpoints, key variables,
    MCP servers, sandbox, approvals) come from today's config: `today` (a bench's, all of
    it the person's word), or else the file at `config_path`, the environment and the
    flags in `overrides` (see `magentic.recorded`). A bad checkpoint raises
    CheckpointError naming the file; budgets that leave no room raise ConfigError saying
    which flag to raise (budgets count the whole run); recorded settings that differ from
    today's unstated ones raise RecordedConfigDiffers unless `accept_recorded`."""
    run_dir = absolute(run_dir)  # not resolved: a run folder that is a link is refused
    saved = load_checkpoint(run_dir)
    path = run_dir / CHECKPOINT_FILE
    try:
        load_config(recorded=saved.config)
    except ConfigError as error:
        raise CheckpointError(f"{path}: its recorded config is not valid: {error.reason}") from None
    try:
        images = read_images(run_dir, saved)
    except OSError as error:
        raise CheckpointError(f"{path}: an image cannot be read: {error}") from None
    as_recorded = load_config(recorded=saved.config, overrides=overrides)
    if not saved.resumable:  # nothing runs: the answer is only shown
        return Resumption(run_dir, saved, images, as_recorded)
    stop = exhausted(saved, as_recorded.orchestrator.budgets)
    if stop is not None:
        raise ConfigError(
            f"cannot resume {run_dir}: it would stop at once, as it {stop}; budgets count the "
            f"whole run ({saved.rounds} rounds so far), so give a larger limit "
            "(--max-rounds, --max-seconds, --max-tokens, --max-cost)"
        )
    given: dict[str, Any] | None = None
    if today is None:
        today = load_config(config_path, overrides=overrides)
        given = given_tree(config_path, overrides=overrides)
    tree, _ = resumed_tree(
        str(run_dir), saved.config, today, given, accept_recorded=accept_recorded
    )
    config = load_config(recorded=tree, overrides=overrides)
    check_agent_names(config.agents, config.mcp.agent_names())
    resumption = Resumption(run_dir, saved, images, config)
    return resumption


async def resume_task(
    resumption: Resumption,
    *,
    subscribers: Sequence[Subscriber] = (),
    resources: SharedResources | None = None,
    control: ControlChannel | None = None,
) -> RunResult:
    """Go on with a killed, cancelled or budget-stopped run in its own folder: the same
    workspace, attachments and trace (numbered on, after a `run_resumed` event)."""
    saved, run_dir = resumption.checkpoint, resumption.run_dir
    last_seq = max(saved.seq, await asyncio.to_thread(continue_trace, run_dir / "trace.jsonl"))
    meter = UsageMeter()
    restore_meter(meter, saved)
    files = [run_dir / f for f in saved.files]
    assembly = _Assembly(
        resumption.config,
        saved.run_id,
        run_dir,
        run_dir / "workspace",
        files,
        subscribers,
        control,
    )
    return await assembly.go(
        lambda orchestrator: orchestrator.resume(saved, resumption.images),
        meter,
        last_seq,
        resources,
        journal_from=saved.journal_bytes,
        effects_from=saved.effects_bytes,
    )


@dataclass
class _Assembly:
    """What a new run and a resumed one share: the bus and trace, the clients, the agents,
    the orchestrator with its checkpoints; and closing all of it, whatever happens."""

    config: Config
    run_id: str
    run_dir: Path
    workspace: Path
    files: list[Path]
    subscribers: Sequence[Subscriber]
    control: ControlChannel | None = None

    async def go(
        self,
        start: Callable[[Orchestrator], Awaitable[RunResult]],
        meter: UsageMeter,
        last_seq: int,
        resources: SharedResources | None,
        journal_from: int | None = None,
        effects_from: int | None = None,
    ) -> RunResult:
        config = self.config
        secrets.register(key_values(config))
        events = EventBus(self.run_id, last_seq=last_seq)
        trace = TraceWriter(self.run_dir, secrets=key_values(config))
        events.subscribe(trace)
        for subscriber in self.subscribers:
            events.subscribe(subscriber)
        if config.sandbox.kind == "local" and "ComputerTerminal" in team_names(config):
            from magentic.execution.local_executor import WARNING

            events.subscribe(_notice_at_start(events, WARNING))
        cache = (
            ModelCache(config.cache.path, config.cache.mode) if config.cache.mode != "off" else None
        )
        memory = CapabilityMemory(Path(config.cache.path).parent / "endpoints.json")
        journal = CallJournal(self.run_dir / JOURNAL_FILE)
        if journal_from is not None:  # a resume: the calls answered after the checkpoint
            await asyncio.to_thread(journal.replay_from, journal_from)
        make_client = _ClientMaker(config, events, meter, cache, memory, journal)
        control = self.control if self.control is not None else ControlChannel()
        control.connect(events)
        effects = EffectJournal(self.run_dir / EFFECTS_FILE, events, control)
        if effects_from is not None:  # a resume: the actions done after the checkpoint
            await asyncio.to_thread(effects.replay_from, effects_from)
        gate = ApprovalGate(config.approval, control)
        ctx = AgentContext(
            config=config,
            events=events,
            workspace=self.workspace,
            files=self.files,
            client_for=make_client,
            run_id=self.run_id,
            resources=resources if resources is not None else SharedResources(),
            host_dir=self.run_dir / HOST_DIR,
        )
        checkpoints = CheckpointWriter(
            self.run_dir,
            {
                "run_id": self.run_id,
                "config": config.record(),
                "files": [_inside(f, self.run_dir) for f in self.files],
            },
        )
        agents: list[Agent] = []
        try:
            orchestrator_client = make_client("orchestrator")
            agents = build_agents(ctx, team_names(config))
            orchestrator = Orchestrator(
                client=orchestrator_client,
                agents=agents,
                events=events,
                workspace=self.workspace,
                settings=config.orchestrator,
                files=self.files,
                control=control,
                gate=gate,
                checkpoints=checkpoints,
                effects=effects,
            )
            result = await start(orchestrator)
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


def _notice_at_start(events: EventBus, text: str) -> Subscriber:
    """A subscriber that emits `Notice(text)` right after the run starts (or resumes), so
    every face shows it and the trace still begins with `run_started`. Subscribed after
    the faces: they get the start first."""

    def hook(event: Event) -> None:
        if event.kind in ("run_started", "run_resumed"):
            events.emit(Notice(text=text))

    return hook


def _inside(path: Path, run_dir: Path) -> str:
    """A file's path relative to the run folder (which may move or be resumed from another
    working folder); absolute if it lies outside."""
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(Path(path).resolve())
