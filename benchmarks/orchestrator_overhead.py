"""Framework time per orchestrator round (model time excluded) and prompt tokens per round.

A scripted 20-round run: the orchestrator's model keeps the work going for 20 rounds; the
agent is a real but instant one that answers with about 1,500 characters (the size of a
typical page summary), so the transcript grows as it would. Framework time of a round is its
wall time minus the time spent inside model calls (ModelCalled.latency_ms) and inside the
agent's step; it covers ledger validation, transcript rendering, events and the trace.
Token counts are the scripted server's estimate (characters / 4), the same for every round.

The run saves a checkpoint after planning and after every round, as a real run does
(`checkpoint.json` in the run folder: temp file, fsync, rename). Its cost is timed apart,
per save, around the orchestrator's `_save` (state capture, JSON, redaction, the write in
a worker thread, fsync and rename): `checkpoint_ms_*`, target at most 5 ms a round. It is
part of the framework time above too.

    .venv/bin/python benchmarks/orchestrator_overhead.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import itertools

from harness import emit, median, summarize

from magentic.agents.base import AgentReply, BaseAgent, StepContext
from magentic.events import Event, EventBus, ModelCalled, ProgressAssessed
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.orchestrator.checkpoint import CheckpointWriter, Stage
from magentic.orchestrator.orchestrator import Orchestrator
from magentic.orchestrator.settings import Budgets, OrchestratorSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import TraceWriter

ROUNDS = 20
PAGE = ("The museum's annual report lists visitors by month and by gallery. " * 23)[:1500]


class Reader(BaseAgent):
    name = "Reader"
    description = "Reads a page and reports what it says."

    def __init__(self) -> None:
        self.step_seconds: list[float] = []

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        started = time.perf_counter()
        reply = AgentReply(f"Page {len(self.step_seconds) + 1}: {PAGE}")
        self.step_seconds.append(time.perf_counter() - started)
        return reply


class TimedOrchestrator(Orchestrator):
    """The real orchestrator; each checkpoint save is timed."""

    save_ms: list[float]

    async def _save(self, stage: Stage) -> None:
        started = time.perf_counter()
        await super()._save(stage)
        self.save_ms.append((time.perf_counter() - started) * 1000)


def script(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(to_look_up=["visitor numbers"])
    if step == "plan":
        return roles.plan(("Reader", "read each page of the report"))
    if step == "progress":
        return roles.progress("Reader", "Read the next page of the annual report.")
    return Reply.text("The report covers 20 pages.")


async def main() -> None:
    marks: list[tuple[float, Event]] = []
    bus = EventBus("bench")
    bus.subscribe(lambda event: marks.append((time.perf_counter(), event)))
    with tempfile.TemporaryDirectory() as tmp:
        trace = TraceWriter(Path(tmp) / "run")
        bus.subscribe(trace)
        reader = Reader()
        async with ScriptedLLMServer(script) as server:
            settings = ModelSettings(model="scripted", base_url=server.base_url, api_key="k")
            client = ModelClient(settings, role="orchestrator", events=bus)
            run_dir = Path(tmp) / "run"
            orchestrator = TimedOrchestrator(
                client=client,
                agents=[reader],
                events=bus,
                workspace=Path(tmp),
                settings=OrchestratorSettings(budgets=Budgets(max_rounds=ROUNDS)),
                checkpoints=CheckpointWriter(run_dir, {"run_id": "bench", "config": {}}),
            )
            orchestrator.save_ms = []
            result = await orchestrator.run("Summarise the museum's annual report.")
            await client.close()
            checkpoint_bytes = (run_dir / "checkpoint.json").stat().st_size
        trace.close()

    assessed = [(t, e) for t, e in marks if isinstance(e, ProgressAssessed)]
    framework_ms: list[float] = []
    for (start, _), (end, _) in itertools.pairwise(assessed):
        model_ms = sum(
            e.latency_ms for t, e in marks if start < t <= end and isinstance(e, ModelCalled)
        )
        framework_ms.append((end - start) * 1000 - model_ms)
    agent_ms = median(reader.step_seconds) * 1000
    framework_ms = [ms - agent_ms for ms in framework_ms]
    progress_calls = [e for _, e in marks if isinstance(e, ModelCalled) and e.prompt_tokens][
        2:
    ]  # the facts and plan calls come first
    emit(
        {
            "bench": "orchestrator_overhead",
            "rounds": result.rounds,
            "framework_ms_per_round_median": round(median(framework_ms), 3),
            **{k: v for k, v in summarize(framework_ms, unit="ms", digits=3).items() if k != "n"},
            "prompt_tokens_round_1": progress_calls[0].prompt_tokens,
            "prompt_tokens_round_20": progress_calls[ROUNDS - 1].prompt_tokens,
            "token_count": "estimated (characters / 4)",
            "target_ms": 2.0,
            "checkpoints": len(orchestrator.save_ms),
            "checkpoint_ms_median": round(median(orchestrator.save_ms), 3),
            "checkpoint_ms_max": round(max(orchestrator.save_ms), 3),
            "checkpoint_kb_last": round(checkpoint_bytes / 1024, 1),
            "checkpoint_target_ms": 5.0,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
