"""Safe choices when the model gives nothing usable, and final answers judged as answers."""

from __future__ import annotations

from pathlib import Path

from magentic.agents.base import AgentReply, BaseAgent, StepContext
from magentic.orchestrator.fallbacks import default_plan
from magentic.orchestrator.settings import Budgets, OrchestratorSettings
from magentic.testing import ChatRequest, Reply, roles

from .helpers import Calculator, run_team

TEAM = ["WebSurfer", "FileSurfer", "Coder", "ComputerTerminal"]


class Terminal(BaseAgent):
    """A small stand-in for the terminal: reports whether the last Coder message had code."""

    name = "ComputerTerminal"
    description = "Runs the code blocks of the Coder's latest message."

    def __init__(self) -> None:
        self.turns: list[bool] = []

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        coder = [m.text for m in ctx.conversation if m.source == "Coder"]
        has_code = bool(coder) and "```python" in coder[-1]
        self.turns.append(has_code)
        return AgentReply("RESULT: 42" if has_code else "No code to run.")


def delegated(run) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.agent for e in run.of("delegated")]  # type: ignore[attr-defined]


async def test_without_assessments_the_next_step_since_the_replan_is_taken(
    tmp_path: Path,
) -> None:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step in ("facts", "replan_facts"):
            return roles.facts()
        if step in ("plan", "replan_plan"):
            return roles.plan(("Calculator", "Evaluate 6 * 7"), ("coder", "write it down"))
        if step == "coder":
            return Reply.text("Noted.")
        return Reply.text("gibberish, not JSON")

    settings = OrchestratorSettings(max_stalls=2, budgets=Budgets(max_rounds=6))
    run = await run_team(script, tmp_path, agents=["Coder", "Calculator"], settings=settings)
    # Round 3 replans; after it the plan starts again at its first step, not its last.
    assert delegated(run)[:4] == ["Calculator", "Coder", "Calculator", "Coder"]
    assert run.of("replanned")


async def test_the_terminal_never_gets_a_turn_without_code(tmp_path: Path) -> None:
    terminal = Terminal()

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Coder", "write"), ("ComputerTerminal", "run"))
        if step == "coder":
            return Reply.text("```python\nprint('RESULT:', 6 * 7)\n```")
        if step == "progress":
            if "RESULT: 42" in (roles.last_from(request, "ComputerTerminal") or ""):
                return roles.progress(satisfied=True)
            return roles.progress("ComputerTerminal", "Run the program.")  # too early at first
        if step == "final":
            return Reply.text("42")
        return Reply.text("?")

    run = await run_team(script, tmp_path, agents=["Coder", terminal])
    assert run.result.status == "answered" and run.result.answer == "42"
    assert delegated(run)[:2] == ["Coder", "ComputerTerminal"]
    assert terminal.turns == [True]


def test_a_failed_plan_is_built_from_the_task() -> None:
    def agents(task: str, files: bool = False) -> list[str]:
        return [step.agent for step in default_plan(task, TEAM, files).steps]

    assert agents("What is the sum of the squares of the first 25 primes?") == [
        "Coder",
        "ComputerTerminal",
    ]
    assert agents("Who is named in the attached minutes?", files=True) == ["FileSurfer"]
    assert agents("Look up https://example.org/table and give the elevation") == ["WebSurfer"]
    assert agents("Find on the web the count of stations and compute their total")[:1] == [
        "WebSurfer"
    ]
    assert agents("Say hello") == ["WebSurfer"]  # nothing to go by: the first that can act
    assert default_plan("Compute 2+2", ["Calculator"], False).steps[0].agent == "Calculator"


def final_script(*finals: str):  # type: ignore[no-untyped-def]
    asked = {"final": 0}

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Calculator", "Evaluate 6 * 7"))
        if step == "progress":
            if roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return roles.progress("Calculator", "Evaluate 6 * 7 and report the value")
        if step == "final":
            asked["final"] += 1
            return Reply.text(finals[min(asked["final"], len(finals)) - 1])
        return Reply.text("?")

    return script, asked


async def test_a_copied_instruction_is_not_an_answer_and_is_asked_again(tmp_path: Path) -> None:
    script, asked = final_script("Evaluate 6 * 7 and report the value.", "The value is 42.")
    run = await run_team(script, tmp_path, agents=[Calculator()])
    assert asked["final"] == 2
    assert run.result.status == "answered" and run.result.answer == "The value is 42."


async def test_only_a_real_answer_counts_as_answered(tmp_path: Path) -> None:
    script, asked = final_script(
        "I'm sorry, I cannot help with that.",
        "1. First, evaluate the expression.\n2. Then report the result.\nThat is the plan.",
    )
    run = await run_team(script, tmp_path, agents=[Calculator()])
    assert asked["final"] == 2  # asked once more, then no further
    assert run.result.status == "failed"
    assert run.result.stop_reason.startswith("no real final answer: the reply is a plan")


def test_what_is_and_is_not_an_answer() -> None:
    from magentic.orchestrator.answers import not_an_answer

    code = "```python\nprint(6 * 7)\n```"
    assert not_an_answer("The value is 42.") == ""
    assert not_an_answer("FINAL ANSWER: 42") == ""
    assert "code" in not_an_answer(code, task="What is 6 times 7?")
    assert not_an_answer(code, task="Write a Python snippet that prints 6 times 7.") == ""
    assert "refusal" in not_an_answer("I'm sorry, but I can't do that.")
    assert "repeats" in not_an_answer("(to Coder) Write the program.")
    assert "empty" in not_an_answer("  ")


async def test_an_empty_instruction_is_taken_from_the_plan(tmp_path: Path) -> None:
    calculator = Calculator()

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Calculator", "Evaluate 6 * 7"))
        if step == "progress":
            if roles.last_from(request, "Calculator"):
                return roles.progress(satisfied=True)
            return roles.progress("calculator", "")  # a small model's terse judgement
        if step == "final":
            return Reply.text("42")
        return Reply.text("?")

    run = await run_team(script, tmp_path, agents=[calculator])
    assert run.result.status == "answered"
    assert calculator.seen == ["Continue with this step of the plan: Evaluate 6 * 7"]
    assert not run.of("model_output_rejected")
