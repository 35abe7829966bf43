"""The orchestrator's loops through ScriptedLLMServer and the real openai client."""

from __future__ import annotations

import itertools
from pathlib import Path

from magentic.orchestrator.settings import Budgets, OrchestratorSettings
from magentic.testing import ChatRequest, Reply, roles

from .helpers import Calculator, run_team

PLAN = roles.plan(("Coder", "write the function"), ("Calculator", "check the arithmetic"))
FACTS = roles.facts(to_derive=["the value"])


def common(request: ChatRequest) -> Reply | None:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return FACTS
    if step in ("plan", "replan_plan"):
        return PLAN
    return None


async def test_plans_delegates_over_several_rounds_and_answers(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if (reply := common(request)) is not None:
            return reply
        step = roles.phase(request)
        if step == "coder":
            if "add a docstring" in request.last_user_text():
                return Reply.text(
                    '```python\ndef area(r):\n    """Area of a circle."""\n    return 3.14159 * r * r\n```'
                )
            return Reply.text("```python\ndef area(r):\n    return 3.14159 * r * r\n```")
        if step == "progress":
            coder = roles.last_from(request, "Coder")
            calc = roles.last_from(request, "Calculator")
            if coder is None:
                return roles.progress("Coder", "Write area(r) for a circle.")
            if '"""' not in coder:
                return roles.progress("Coder", "Please add a docstring to area().")
            if calc is None:
                return roles.progress("Calculator", "Evaluate 3.14159 * 2 * 2")
            return roles.progress(satisfied=True)
        if step == "final":
            calc = roles.last_from(request, "Calculator") or ""
            return Reply.text(f"area(2) is {calc.split('=')[-1].strip()}")
        return Reply.text("unexpected")

    run = await run_team(script, tmp_path)
    assert run.result.status == "answered", run.result.stop_reason
    assert run.result.answer == f"area(2) is {3.14159 * 2 * 2}"
    delegated = [(e.agent, e.round) for e in run.of("delegated")]  # type: ignore[attr-defined]
    assert delegated == [("Coder", 1), ("Coder", 2), ("Calculator", 3)]
    # The Coder saw its first attempt when asked to revise it.
    coder_requests = [r for r in run.server.requests if roles.phase(r) == "coder"]
    assert "return 3.14159 * r * r" in coder_requests[1].all_text()
    kinds = run.kinds()
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.index("ledger_updated") < kinds.index("delegated")
    assert "final_answer" in kinds
    assert run.result.rounds == 4 and run.result.prompt_tokens > 0


async def test_stalls_trigger_a_replan_that_resets_agents(tmp_path: Path) -> None:
    calculator = Calculator()

    def script(request: ChatRequest) -> Reply:
        if (reply := common(request)) is not None:
            if roles.phase(request) == "replan_plan":
                return roles.plan(("Calculator", "evaluate 6*7"), lessons="we looped on the Coder")
            return reply
        if roles.phase(request) == "progress":
            replanned = any("Lessons from the previous attempt" in r.all_text() for r in [request])
            if replanned:
                if roles.last_from(request, "Calculator"):
                    return roles.progress(satisfied=True)
                return roles.progress("Calculator", "Evaluate 6 * 7")
            return roles.progress(
                "Calculator", "Evaluate 1 + 1", progressing=False, reason="the same answer again"
            )
        if roles.phase(request) == "final":
            return Reply.text(roles.last_from(request, "Calculator") or "none")
        return Reply.text("?")

    run = await run_team(
        script, tmp_path, agents=[calculator], settings=OrchestratorSettings(max_stalls=2)
    )
    assert run.result.status == "answered"
    assert run.result.answer == "6 * 7 = 42"
    stalls = [e.stall_count for e in run.of("stalled")]  # type: ignore[attr-defined]
    assert stalls == [1, 2, 3]  # past max_stalls=2 -> replan
    assert len(run.of("replanned")) == 1 and run.result.replans == 1
    assert calculator.resets == 1
    ledgers = run.of("ledger_updated")
    assert "we looped on the Coder" in ledgers[-1].plan  # type: ignore[attr-defined]
    # After the replan the conversation starts afresh: the old "1 + 1" is gone.
    last_progress = [r for r in run.server.requests if roles.phase(r) == "progress"][-1]
    assert "1 + 1 = 2" not in last_progress.all_text()


async def test_replan_bound_ends_the_run_cleanly(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if (reply := common(request)) is not None:
            return reply
        if roles.phase(request) == "progress":
            return roles.progress("Calculator", "Evaluate 2 + 2", in_loop=True, reason="looping")
        if roles.phase(request) == "final":
            assert "stopped early" in request.last_user_text()
            return Reply.text("4, probably")
        return Reply.text("?")

    run = await run_team(
        script,
        tmp_path,
        agents=["Calculator"],
        settings=OrchestratorSettings(max_stalls=1, max_replans=2),
    )
    assert run.result.status == "out_of_budget"
    assert "limit of 2 replans" in run.result.stop_reason
    assert run.result.budget == "replans" and run.of("run_finished")[0].budget == "replans"  # type: ignore[attr-defined]
    assert run.result.answer == "4, probably"
    assert len(run.of("replanned")) == 2
    assert run.kinds()[-1] == "run_finished"


def _forever(request: ChatRequest) -> Reply:
    """A team that keeps working and never finishes."""
    if (reply := common(request)) is not None:
        return reply
    if roles.phase(request) == "progress":
        return roles.progress("Calculator", "Evaluate 3 * 3")
    if roles.phase(request) == "final":
        return Reply.text("best so far: 9")
    return Reply.text("?")


async def test_round_budget(tmp_path: Path) -> None:
    settings = OrchestratorSettings(budgets=Budgets(max_rounds=3))
    run = await run_team(_forever, tmp_path, agents=["Calculator"], settings=settings)
    assert run.result.status == "out_of_budget"
    assert "3 rounds" in run.result.stop_reason and run.result.budget == "rounds"
    assert run.result.rounds == 3 and run.result.answer == "best so far: 9"


async def test_time_budget_cuts_a_slow_agent_short(tmp_path: Path) -> None:
    slow = Calculator(delay_s=30)
    settings = OrchestratorSettings(budgets=Budgets(max_seconds=1.5))
    run = await run_team(_forever, tmp_path, agents=[slow], settings=settings)
    assert run.result.status == "out_of_budget"
    assert "time limit" in run.result.stop_reason and run.result.budget == "time"
    assert run.result.seconds < 10
    assert run.result.answer == "best so far: 9"


async def test_token_budget(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        reply = _forever(request)
        reply.usage = (3000, 100, 0)
        return reply

    settings = OrchestratorSettings(budgets=Budgets(max_tokens=10_000))
    run = await run_team(script, tmp_path, agents=["Calculator"], settings=settings)
    assert run.result.status == "out_of_budget"
    assert run.result.stop_reason == "reached the token limit of 10000"
    # facts, plan, then progress rounds of 3,100 tokens each: stopped once past 10,000.
    assert 10_000 <= run.result.prompt_tokens + run.result.completion_tokens <= 10_000 + 2 * 3100


async def test_cost_budget(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        reply = _forever(request)
        reply.usage = (10_000, 1000, 0)  # $0.035 a call at gpt-4o prices
        return reply

    settings = OrchestratorSettings(budgets=Budgets(max_cost=0.1))
    run = await run_team(script, tmp_path, agents=["Calculator"], settings=settings)
    assert run.result.status == "out_of_budget"
    assert run.result.stop_reason == "reached the cost limit of $0.1"
    assert 0.1 <= run.result.cost < 0.2


async def test_endpoint_failure_ends_the_run_with_its_reason(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if (reply := common(request)) is not None:
            return reply
        return Reply.server_error(503)

    run = await run_team(script, tmp_path, agents=["Calculator"])
    assert run.result.status == "failed"
    assert "503" in run.result.stop_reason and "gave up" in run.result.stop_reason
    assert run.kinds()[-2:] == ["run_failed", "run_finished"]


async def test_prompt_prefix_is_stable_between_rounds(tmp_path: Path) -> None:
    settings = OrchestratorSettings(budgets=Budgets(max_rounds=5))
    run = await run_team(_forever, tmp_path, agents=["Calculator"], settings=settings)
    progress = [r for r in run.server.requests if roles.phase(r) == "progress"]
    assert len(progress) == 5
    for earlier, later in itertools.pairwise(progress):
        stable = earlier.messages[:-1]  # all but the question of the moment
        assert later.messages[: len(stable)] == stable


class BrokenReset(Calculator):
    async def reset(self) -> None:
        raise RuntimeError("cannot forget")


async def test_an_agent_that_fails_to_reset_does_not_end_the_run(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if (reply := common(request)) is not None:
            return reply
        if roles.phase(request) == "progress":
            replanned = request.index > 8  # well past the first replan
            if replanned and roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return roles.progress("Calculator", "Evaluate 2 * 21", progressing=replanned)
        return Reply.text(roles.last_from(request, "Calculator") or "none")

    run = await run_team(
        script, tmp_path, agents=[BrokenReset()], settings=OrchestratorSettings(max_stalls=1)
    )
    assert run.result.status == "answered", run.result.stop_reason
    assert run.result.answer == "2 * 21 = 42"
    failed = [e for e in run.of("agent_acted") if getattr(e, "action", "") == "reset"]
    assert failed and "cannot forget" in failed[0].error  # type: ignore[attr-defined]
