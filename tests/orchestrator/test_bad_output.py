"""Bad model output never crashes a run: it is re-asked, then a safe fallback takes over."""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.testing import ChatRequest, Reply, roles

from .helpers import run_team

GOOD = roles.progress("Calculator", "Evaluate 5 * 5")
BAD_LEDGERS = {
    "unknown-speaker": (roles.progress("Wizard", "cast a spell"), "not on the team"),
    "missing-fields": (Reply.json({"is_request_satisfied": {"answer": False}}), "is missing"),
    "prose": (Reply.text("I think the Calculator should go next."), "no JSON object"),
    "empty": (Reply.text(""), "empty"),
    "refusal": (Reply.refuse("I won't answer that."), "refusal"),
    "wrong-types": (
        Reply.json(
            {
                k: {"answer": [1, 2]}
                for k in (
                    "is_request_satisfied",
                    "is_in_loop",
                    "is_progress_being_made",
                    "next_speaker",
                    "instruction_or_question",
                )
            }
        ),
        "must be true or false",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_LEDGERS))
async def test_bad_progress_ledger_is_reasked(kind: str, tmp_path: Path) -> None:
    bad, expected_error = BAD_LEDGERS[kind]
    asked = {"progress": 0}

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Calculator", "evaluate"))
        if step == "progress":
            asked["progress"] += 1
            if asked["progress"] == 1:
                return bad
            if roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return GOOD
        if step == "final":
            return Reply.text(roles.last_from(request, "Calculator") or "none")
        return Reply.text("?")

    run = await run_team(script, tmp_path, agents=["Calculator"])
    assert run.result.status == "answered", run.result.stop_reason
    assert run.result.answer == "5 * 5 = 25"
    rejected = run.of("model_output_rejected")
    assert len(rejected) == 1
    assert expected_error in rejected[0].error  # type: ignore[attr-defined]


async def test_bad_facts_and_plan_fall_back_and_the_run_goes_on(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step in ("facts", "plan"):
            return Reply.text("Let me think about that in prose instead.")
        if step == "progress":
            if roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return GOOD
        if step == "final":
            return Reply.text(roles.last_from(request, "Calculator") or "none")
        return Reply.text("?")

    run = await run_team(script, tmp_path, agents=["Calculator"])
    assert run.result.status == "answered"
    assert run.result.answer == "5 * 5 = 25"
    plan = run.of("ledger_updated")[0].plan  # type: ignore[attr-defined]
    assert "Calculator: Work on the task" in plan


async def test_endless_garbage_ends_cleanly_with_a_reason(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step in ("facts", "replan_facts"):
            return roles.facts()
        if step in ("plan", "replan_plan"):
            return roles.plan(("Calculator", "Evaluate 7 * 6"))
        if step == "final":
            return Reply.text(roles.last_from(request, "Calculator") or "nothing")
        return Reply.text("gibberish, not JSON")

    from magentic.orchestrator.settings import OrchestratorSettings

    run = await run_team(
        script,
        tmp_path,
        agents=["Calculator"],
        settings=OrchestratorSettings(max_stalls=1, max_replans=1),
    )
    assert run.result.status == "out_of_budget"
    assert "replans" in run.result.stop_reason and "progress assessment" in run.result.stop_reason
    # With no usable ledger the plan's step was handed on, so real work still happened.
    assert run.result.answer == "7 * 6 = 42"
    assert run.kinds()[-1] == "run_finished"
