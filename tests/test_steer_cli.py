"""Steering `magentic run` at a real terminal (a pseudo-terminal): plan review, Ctrl-C to pause,
guidance, resume, and the User agent's question, against the scripted model endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

from .terminal import Terminal

pytestmark = pytest.mark.slow  # whole-CLI runs


def trace_of(runs: Path) -> list[dict]:
    path = next(runs.glob("*/trace.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator:
    opened: list[Terminal] = []

    def start(server: ScriptedLLMServer, *flags: str) -> Terminal:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
        env.update(TERM="xterm-256color", EDITOR="", COLUMNS="120", LINES="40")
        argv = [sys.executable, "-m", "magentic.cli", "run", "Say the number.", "--base-url"]
        argv += [server.base_url, "--trace-dir", str(tmp_path / "runs"), *flags]
        term = Terminal(argv, cwd=tmp_path, env=env)
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def reviewed(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts()
    if step == "plan":
        return roles.plan(("Coder", "write code that prints 7"))
    if step == "replan_plan":
        return roles.plan(("Coder", "write code that prints 7, checked twice"))
    if step == "progress":
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Do the first step of the plan.")
        return roles.progress(satisfied=True)
    if step == "coder":
        return Reply.text("Done: the number is 7.")
    return Reply.text("The number is 7.")


def test_the_person_comments_on_the_plan_then_edits_it(terminal, tmp_path: Path) -> None:
    with ScriptedLLMServer(reviewed) as server:
        term = terminal(server, "--agents", "Coder", "--review-plan")
        term.expect("1. Coder: write code that prints 7")
        term.expect("plan> ")
        term.type("?\n")  # nonsense: asked again
        term.expect("is not an answer here")
        term.type("check it twice, please\n")  # a comment: replanned with it
        term.expect("1. Coder: write code that prints 7, checked twice")
        term.expect("plan> ")
        term.type("e\n")
        term.expect("step 1> ")
        term.type("Coder: print 6 * 7 and nothing else\n")
        term.expect("step 2> ")
        term.type("1\n")  # a number keeps that step of the plan under review
        term.expect("step 3> ")
        term.type("\n")
        assert term.wait() == 0, term.text[-3000:]
    assert "The number is 7." in term.text
    events = trace_of(tmp_path / "runs")
    decided = [(e["decision"], e["by"]) for e in events if e["kind"] == "control_decided"]
    assert decided == [("comment", "person"), ("edit", "person")]
    replan = next(r for r in server.requests if roles.phase(r) == "replan_plan")
    assert "check it twice, please" in replan.all_text()
    plans = [e["plan"] for e in events if e["kind"] == "ledger_updated"]
    assert plans[-1] == (
        "1. Coder: print 6 * 7 and nothing else\n2. Coder: write code that prints 7, checked twice"
    )
    progress = next(r for r in server.requests if roles.phase(r) == "progress")
    assert "print 6 * 7 and nothing else" in progress.all_text()


class Asking:
    """The User is asked a number; the Coder's model call holds until the test lets it go, so
    a Ctrl-C lands in the middle of a round."""

    def __init__(self) -> None:
        self.coder_called = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step in ("facts", "replan_facts"):
            return roles.facts()
        if step in ("plan", "replan_plan"):
            return roles.plan(("User", "ask which number"), ("Coder", "print it"))
        if step == "progress":
            if roles.last_from(request, "User") is None:
                return roles.progress("User", "Which number should I say?")
            if roles.last_from(request, "Coder") is None:
                return roles.progress("Coder", "Print the number the user gave.")
            return roles.progress(satisfied=True)
        if step == "coder":
            self.coder_called.set()
            self.release.wait(60)
            return Reply.text("print(42)")
        return Reply.text(f"The number: {roles.last_from(request, 'User')}")


def test_ctrl_c_pauses_guidance_reaches_the_model_and_the_run_resumes(
    terminal, tmp_path: Path
) -> None:
    script = Asking()
    with ScriptedLLMServer(script) as server:
        term = terminal(server, "--agents", "Coder", "--interactive", "--review-plan")
        term.expect("plan> ")
        term.type("\n")  # approve
        term.expect("Which number should I say?")
        term.expect("answer> ")
        term.type("42\n")
        assert script.coder_called.wait(60)
        term.type("\x03")  # Ctrl-C, through the terminal: the kernel sends SIGINT
        term.expect("pausing at the next safe point")
        script.release.set()
        term.expect("paused before round 3")
        term.expect("paused> ")
        term.type("Say it in digits.\n")
        term.expect("Noted")
        term.type("\n")  # resume
        assert term.wait() == 0, term.text[-3000:]
    assert "The number: 42" in term.text
    kinds = [e["kind"] for e in trace_of(tmp_path / "runs")]
    assert kinds.index("paused") < kinds.index("unpaused") < kinds.index("run_finished")
    last = [r for r in server.requests if roles.phase(r) == "progress"][-1]
    assert ("User", "42") in roles.said(last)
    assert ("user", "Say it in digits.") in roles.said(last)


def test_a_second_ctrl_c_stops_the_run_cleanly(terminal, tmp_path: Path) -> None:
    script = Asking()
    with ScriptedLLMServer(script) as server:
        term = terminal(server, "--agents", "Coder", "--interactive")
        term.expect("answer> ")
        term.type("42\n")
        assert script.coder_called.wait(60)
        term.type("\x03")
        term.expect("pausing at the next safe point")
        term.type("\x03")  # a second Ctrl-C: the run ends now, cleanly
        try:
            assert term.wait() == 130, term.text[-3000:]
        finally:
            script.release.set()
    assert "Traceback" not in term.text
    events = trace_of(tmp_path / "runs")
    assert events[-1]["kind"] == "run_finished" and events[-1]["status"] == "cancelled"


def asks_once(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step in ("facts", "replan_facts"):
        return roles.facts()
    if step in ("plan", "replan_plan"):
        return roles.plan(("User", "ask which number"))
    if step == "progress":
        if roles.last_from(request, "User") is None:
            return roles.progress("User", "Which number should I say?")
        return roles.progress(satisfied=True)
    return Reply.text(f"Heard: {roles.last_from(request, 'User')}")


@pytest.mark.parametrize(
    "flags, typed, heard, decided",
    [
        (["--interactive", "--agents", "Coder"], "42\n", "Heard: 42", ("answer", "person")),
        (["--agents", "Coder,User"], None, "Heard: No one is there", ("unanswered", "nobody")),
    ],
    ids=["interactive-from-a-pipe", "nobody-there"],
)
def test_the_user_agent_from_a_pipe_or_with_nobody_there(
    tmp_path: Path, flags: list[str], typed: str | None, heard: str, decided: tuple[str, str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with ScriptedLLMServer(asks_once) as server:
        argv = [sys.executable, "-m", "magentic.cli", "run", "Say a number.", "--base-url"]
        argv += [server.base_url, "--trace-dir", str(tmp_path / "runs"), *flags]
        done = subprocess.run(
            argv,
            input=typed,
            stdin=None if typed is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(heard)
    events = trace_of(tmp_path / "runs")
    assert [(e["decision"], e["by"]) for e in events if e["kind"] == "control_decided"] == [decided]
    assert "User" in next(e for e in events if e["kind"] == "run_started")["agents"]
