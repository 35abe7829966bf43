from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magentic.agents.base import Agent, AgentReply, BaseAgent, StepContext
from magentic.agents.coder import Coder
from magentic.control.channel import ControlChannel
from magentic.events import Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.orchestrator import Orchestrator, RunResult
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.testing import Script, ScriptedLLMServer


class Calculator(BaseAgent):
    """A small real agent: evaluates the arithmetic it is given; counts resets."""

    name = "Calculator"
    description = "Evaluates an arithmetic expression like '12 * (3 + 4)'."

    def __init__(self, delay_s: float = 0.0) -> None:
        self.resets = 0
        self.delay_s = delay_s
        self.seen: list[str] = []

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        self.seen.append(instruction)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        match = re.search(r"[\d\s+\-*/().]{3,}", instruction)
        if not match:
            return AgentReply("I found no expression to evaluate.")
        expression = match.group(0).strip()
        if not re.fullmatch(r"[\d\s+\-*/().]+", expression):
            return AgentReply("That is not plain arithmetic.")
        value = eval(expression, {"__builtins__": {}}, {})  # digits and operators only
        ctx.acted(self.name, "evaluate", {"expression": expression}, result=str(value))
        return AgentReply(f"{expression} = {value}")

    async def reset(self) -> None:
        self.resets += 1


@dataclass
class Run:
    result: RunResult
    events: list[Event]
    server: ScriptedLLMServer
    agents: list[Agent] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


async def run_team(
    script: Script,
    tmp_path: Path,
    *,
    agents: Sequence[str | Agent] = ("Coder", "Calculator"),
    task: str = "Compute something.",
    settings: OrchestratorSettings | None = None,
    model: str = "gpt-4o",
    usage_meter: UsageMeter | None = None,
    server_options: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
    control: ControlChannel | None = None,
    watchers: Sequence[Callable[[Event], None]] = (),
) -> Run:
    bus = EventBus("test-run")
    events: list[Event] = []
    bus.subscribe(events.append)
    for watcher in watchers:
        bus.subscribe(watcher)
    meter = usage_meter or UsageMeter()
    async with ScriptedLLMServer(script, **(server_options or {})) as server:
        model_settings = ModelSettings(
            model=model,
            base_url=server.base_url,
            api_key="k",
            retry_backoff_s=0.01,
            timeout_s=10,
            max_retries=1,
            **(model_options or {}),
        )

        def client(role: str) -> ModelClient:
            return ModelClient(model_settings, role=role, events=bus, meter=meter)

        team: list[Agent] = []
        for agent in agents:
            if agent == "Coder":
                team.append(Coder(client("coder")))
            elif agent == "Calculator":
                team.append(Calculator())
            else:
                assert not isinstance(agent, str)
                team.append(agent)
        orchestrator_client = client("orchestrator")
        orchestrator = Orchestrator(
            client=orchestrator_client,
            agents=team,
            events=bus,
            workspace=tmp_path,
            settings=settings or OrchestratorSettings(),
            control=control,
        )
        result = await orchestrator.run(task)
        await orchestrator_client.close()
        for agent in team:
            if isinstance(agent, Coder):
                await agent.client.close()
    return Run(result, events, server, team)
