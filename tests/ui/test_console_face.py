"""The console face on a real orchestrator run: answers typed on stdin (a real pipe) reach the
run only as commands on its control channel. The pseudo-terminal runs of the whole CLI are in
`tests/test_steer_cli.py`."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from magentic.agents.user import NOBODY_THERE, UserAgent
from magentic.control.channel import ControlChannel
from magentic.control.commands import Approve
from magentic.events import Event
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.testing import ChatRequest, Reply, roles
from magentic.ui.console_face import ConsoleFace, plan_steps

from ..orchestrator.helpers import Run, run_team
from ..orchestrator.test_steering import script


def typed(text: str) -> io.TextIOWrapper:
    """stdin with these lines already typed, then the end of input."""
    read, write = os.pipe()
    os.write(write, text.encode())
    os.close(write)
    return os.fdopen(read, "r")


async def with_face(
    tmp_path: Path, answers: str, *, review: bool = True, agents: tuple = ("Calculator",), **kw
) -> tuple[Run, str]:
    control = ControlChannel()
    out = io.StringIO()
    face = ConsoleFace(control, stdin=typed(answers), out=out, editor="")
    face.attach()
    run = await run_team(
        kw.pop("script", script),
        tmp_path,
        agents=agents,
        settings=OrchestratorSettings(review_plan=review),
        control=control,
        watchers=[face],
        **kw,
    )
    return run, out.getvalue()


def decisions(run: Run) -> list[tuple[str, str]]:
    return [(e.decision, e.by) for e in run.of("control_decided")]  # type: ignore[attr-defined]


def test_plan_steps_drop_the_numbers() -> None:
    assert plan_steps("1. Coder: write it\n\n2) WebSurfer: look") == [
        "Coder: write it",
        "WebSurfer: look",
    ]


async def test_enter_approves_the_plan(tmp_path: Path) -> None:
    run, shown = await with_face(tmp_path, "\n")
    assert run.result.status == "answered"
    assert decisions(run) == [("approve", "person")]
    assert "1. Calculator: evaluate 1 + 1" in shown and "plan> " in shown


async def test_nonsense_is_asked_again_then_an_edit_is_used(tmp_path: Path) -> None:
    # "x" is no answer; then the plan is retyped: step 1 kept by number, a new step added.
    run, shown = await with_face(tmp_path, "x\ne\n1\nCalculator: evaluate 6 * 7\n\n")
    assert "'x' is not an answer here" in shown
    assert decisions(run) == [("edit", "person")]
    plans = [e.plan for e in run.of("ledger_updated")]  # type: ignore[attr-defined]
    assert plans[-1] == "1. Calculator: evaluate 1 + 1\n2. Calculator: evaluate 6 * 7"
    progress = next(r for r in run.server.requests if roles.phase(r) == "progress")
    assert "evaluate 6 * 7" in progress.all_text()


async def test_a_comment_replans_and_the_end_of_input_leaves_nobody(tmp_path: Path) -> None:
    run, shown = await with_face(tmp_path, "check the sum twice please\n")
    assert run.result.status == "answered"
    # The comment sent the plan back; the second review found stdin ended: nobody is there.
    assert decisions(run) == [("comment", "person"), ("unanswered", "nobody")]
    replan = next(r for r in run.server.requests if roles.phase(r) == "replan_plan")
    assert "check the sum twice please" in replan.all_text()
    assert "end of input" in shown


def asks_the_user(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts()
    if step in ("plan", "replan_plan"):
        return roles.plan(("User", "ask which number to double"))
    if step == "progress":
        if roles.last_from(request, "User") is None:
            return roles.progress("User", "Which number should be doubled?")
        return roles.progress(satisfied=True)
    if step == "final":
        return Reply.text(f"Doubled: {roles.last_from(request, 'User')}")
    return Reply.text("unexpected")


async def test_the_user_agent_asks_the_person(tmp_path: Path) -> None:
    run, shown = await with_face(
        tmp_path, "\n21, please\n", agents=(UserAgent(),), script=asks_the_user
    )
    assert "User asks you" in shown and "Which number should be doubled?" in shown
    assert run.result.answer == "Doubled: 21, please"
    assert decisions(run) == [("approve", "person"), ("answer", "person")]


async def test_with_nobody_there_the_user_agent_says_so_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    run = await run_team(asks_the_user, tmp_path, agents=(UserAgent(),))
    assert run.result.status == "answered"
    assert NOBODY_THERE in run.result.answer
    assert decisions(run) == [("unanswered", "nobody")]


async def test_a_pause_takes_guidance_and_resumes(tmp_path: Path) -> None:
    control = ControlChannel()
    out = io.StringIO()
    face = ConsoleFace(control, stdin=typed("Use 40 + 2 instead.\n\n"), out=out, editor="")
    face.attach()

    def press_ctrl_c(event: Event) -> None:
        if event.kind == "ledger_updated":  # what the signal handler calls on a Ctrl-C
            assert face.interrupt() is True
            assert face.interrupt() is False  # a second Ctrl-C is left to stop the run

    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        control=control,
        watchers=[press_ctrl_c, face],
    )
    assert run.result.status == "answered"
    kinds = [e.kind for e in run.events]
    assert kinds.index("paused") < kinds.index("unpaused") < kinds.index("progress_assessed")
    progress = next(r for r in run.server.requests if roles.phase(r) == "progress")
    assert ("user", "Use 40 + 2 instead.") in roles.said(progress)
    assert "paused before round 1" in out.getvalue() and "Noted" in out.getvalue()


async def test_an_approval_shows_the_action_and_asks_again_on_nonsense() -> None:
    control = ControlChannel()
    out = io.StringIO()
    face = ConsoleFace(control, stdin=typed("maybe\nn it posts my address\ny\n"), out=out)
    face.attach()
    control.events.subscribe(face)
    order = "click 'Send' on the order form"
    denied = await control.approval("WebSurfer", "submit_form", order, target="https://shop.test/")
    allowed = await control.approval("WebSurfer", "download", "save report.pdf")
    assert (denied.allowed, denied.by, denied.reason) == (False, "person", "it posts my address")
    assert allowed.allowed and allowed.by == "person"
    shown = out.getvalue()
    assert "WebSurfer asks to submit_form" in shown and "on: https://shop.test/" in shown
    assert order in shown and "Please answer y, or n and a reason." in shown


async def test_the_plan_is_edited_in_the_editor_when_one_is_set(tmp_path: Path) -> None:
    control = ControlChannel()
    # A real editor process: it rewrites the file it is given, keeping the plan's first step.
    editor = 'sh -c \'sed -i /^#/d "$0"; echo "Calculator: evaluate 6 * 7" >> "$0"\''
    face = ConsoleFace(control, stdin=typed("e\n"), out=io.StringIO(), editor=editor)
    face.attach()
    run = await run_team(
        script,
        tmp_path,
        agents=("Calculator",),
        settings=OrchestratorSettings(review_plan=True),
        control=control,
        watchers=[face],
    )
    plans = [e.plan for e in run.of("ledger_updated")]  # type: ignore[attr-defined]
    assert plans[-1] == "1. Calculator: evaluate 1 + 1\n2. Calculator: evaluate 6 * 7"
    assert decisions(run) == [("edit", "person")]


class Screen(io.StringIO):
    """stderr as the face writes it; `shown` is set once a prompt is on it."""

    def __init__(self) -> None:
        super().__init__()
        self.shown = asyncio.Event()

    def write(self, text: str) -> int:
        if text.endswith("> "):
            self.shown.set()
        return super().write(text)


async def test_a_request_answered_on_another_face_ends_the_prompt_here() -> None:
    control = ControlChannel()
    read, write = os.pipe()  # a person who has typed nothing yet
    screen = Screen()
    face = ConsoleFace(control, stdin=os.fdopen(read, "r"), out=screen)
    face.attach()
    control.attach("web")
    control.events.subscribe(face)
    asked = asyncio.ensure_future(control.approval("Coder", "run_code", "print(1)"))
    await screen.shown.wait()
    (request_id,) = control.open_requests
    control.send(Approve(request_id=request_id), face="web")
    assert (await asked).allowed
    for _ in range(20):  # a few turns of the loop: the console's prompt takes its cancellation
        if "(settled elsewhere)" in screen.getvalue():
            break
        await asyncio.sleep(0)
    assert "(settled elsewhere)" in screen.getvalue()
    os.close(write)


async def test_ok_and_its_kin_approve_the_plan(tmp_path: Path) -> None:
    for word in ("ok", "OK.", "okay", "yes!", "y", "approve", "lgtm"):
        run, _ = await with_face(tmp_path / word.strip(".!"), word + "\n")
        assert decisions(run) == [("approve", "person")], word
