"""Checkpoints in the orchestrator itself: a resume after a replan goes on with the new
plan and the conversation as the replan left it; a checkpoint that cannot be written never
ends a run."""

from __future__ import annotations

from pathlib import Path

from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.checkpoint import CheckpointWriter, load_checkpoint, read_images
from magentic.orchestrator.orchestrator import Orchestrator, RunResult
from magentic.orchestrator.settings import Budgets, OrchestratorSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

from .helpers import Calculator


def script(request: ChatRequest) -> Reply:
    """Two rounds stuck on 1 + 1, a replan, then 6 * 7 and done."""
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts()
    if step == "plan":
        return roles.plan(("Calculator", "evaluate 1+1"))
    if step == "replan_plan":
        return roles.plan(("Calculator", "evaluate 6*7"), lessons="we looped on 1 + 1")
    if step == "progress":
        if "Lessons from the previous attempt" in request.all_text():
            if roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return roles.progress("Calculator", "Evaluate 6 * 7")
        return roles.progress("Calculator", "Evaluate 1 + 1", progressing=False)
    return Reply.text(roles.last_from(request, "Calculator") or "none")


async def run_once(
    server: ScriptedLLMServer, run_dir: Path, max_rounds: int, *, resume: bool = False
) -> RunResult:
    settings = ModelSettings(model="gpt-4o", base_url=server.base_url, api_key="k")
    client = ModelClient(settings, role="orchestrator", events=EventBus(), meter=UsageMeter())
    orchestrator = Orchestrator(
        client=client,
        agents=[Calculator()],
        events=EventBus("run"),
        workspace=run_dir,
        settings=OrchestratorSettings(max_stalls=1, budgets=Budgets(max_rounds=max_rounds)),
        checkpoints=CheckpointWriter(run_dir, {"run_id": "run", "config": {}}),
    )
    try:
        if resume:
            saved = load_checkpoint(run_dir)
            return await orchestrator.resume(saved, read_images(run_dir, saved))
        return await orchestrator.run("What is 6 * 7?")
    finally:
        await client.close()


async def test_a_resume_after_a_replan_goes_on_with_the_new_plan(tmp_path: Path) -> None:
    async with ScriptedLLMServer(script) as server:
        stopped = await run_once(server, tmp_path, max_rounds=3)
        assert stopped.status == "out_of_budget" and stopped.replans == 1
        saved = load_checkpoint(tmp_path)
        assert (saved.replans, saved.stalls, saved.rounds) == (1, 0, 3)
        before = len(server.requests)
        done = await run_once(server, tmp_path, max_rounds=10, resume=True)
    assert done.status == "answered" and done.answer == "6 * 7 = 42"
    assert done.replans == 1 and done.rounds == 4  # 1: stall, 2: replan, 3: 6*7, 4: done
    after = server.requests[before:]
    assert not any(roles.phase(r).startswith(("replan", "facts", "plan")) for r in after)
    progress = [r for r in after if roles.phase(r) == "progress"]
    assert "we looped on 1 + 1" in progress[0].all_text()  # the replan's plan, kept
    assert "Evaluate 1 + 1" not in progress[0].all_text()  # the conversation it cleared


async def test_a_checkpoint_that_cannot_be_written_does_not_end_the_run(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.json").mkdir()  # in the way of every rename
    async with ScriptedLLMServer(script) as server:
        result = await run_once(server, tmp_path, max_rounds=10)
    assert result.status == "answered" and result.answer == "6 * 7 = 42"
    assert (tmp_path / "checkpoint.json").is_dir()
    assert not temporary_files(tmp_path)


def temporary_files(folder: Path) -> list[Path]:
    return list(folder.glob(".checkpoint.json.*.tmp"))
