"""Helpers for scripts that play the orchestrator's or an agent's model.

A script sees raw requests; these read what is being asked (the phase), who is on the team,
and what the team has said so far, and build well-formed answers, so a test script reads as
a short decision table rather than JSON plumbing.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from magentic.orchestrator import prompts
from magentic.testing.replies import Reply
from magentic.testing.server import ChatRequest

Phase = Literal[
    "facts", "plan", "replan_facts", "replan_plan", "progress", "final", "coder", "other"
]


def _opening(template: str) -> str:
    """The fixed words a template starts with (up to its first placeholder or line end)."""
    return re.split(r"[{\n]", template, maxsplit=1)[0].strip()[:40]


_PHASES: list[tuple[Phase, str]] = [
    ("replan_facts", _opening(prompts.REPLAN_FACTS)),
    ("replan_plan", _opening(prompts.REPLAN_PLAN)),
    ("facts", _opening(prompts.FACTS)),
    ("plan", _opening(prompts.PLAN)),
    ("progress", _opening(prompts.PROGRESS)),
    ("final", _opening(prompts.FINAL_ANSWER)),
    ("final", _opening(prompts.FINAL_ANSWER_AGAIN)),
]


def _asked(request: ChatRequest) -> str:
    """The question of this request: the last user message that is not a format note."""
    for message in reversed(request.messages):
        if message.get("role") != "user":
            continue
        text = ChatRequest.content_text(message)
        if text.startswith(("Reply with one JSON object", "That reply could not be used")):
            continue
        return text
    return ""


def phase(request: ChatRequest) -> Phase:
    """Which question the orchestrator (or which agent) is asking in this request."""
    if "You are the Coder" in request.system_text():
        return "coder"
    asked = _asked(request)
    for name, opening in _PHASES:
        if asked.startswith(opening):
            return name
    return "other"


def team_names(request: ChatRequest) -> list[str]:
    """The agent names the orchestrator offers as next speakers."""
    match = re.search(r"one of: ([^;\n.]+)", _asked(request))
    return [n.strip() for n in match.group(1).split(",")] if match else []


def said(request: ChatRequest) -> list[tuple[str, str]]:
    """(source, text) of every team message the request carries, oldest first."""
    out: list[tuple[str, str]] = []
    for message in request.messages:
        text = ChatRequest.content_text(message)
        match = re.match(r"\[([A-Za-z_][\w-]*)\] (.*)", text, re.DOTALL)
        if message.get("role") == "user" and match:
            out.append((match.group(1), match.group(2)))
        elif message.get("role") == "assistant" and text.startswith("(to "):
            out.append(("orchestrator", text))
    return out


def last_from(request: ChatRequest, source: str) -> str | None:
    for who, text in reversed(said(request)):
        if who == source:
            return text
    return None


def facts(**lists: list[str]) -> Reply:
    keys = ("given_or_verified", "to_look_up", "to_derive", "educated_guesses")
    return Reply.json({key: lists.get(key, []) for key in keys})


def plan(*steps: tuple[str, str], lessons: str = "") -> Reply:
    return Reply.json(
        {"steps": [{"agent": a, "action": act} for a, act in steps], "lessons": lessons}
    )


def progress(
    next_speaker: str = "",
    instruction: str = "",
    *,
    satisfied: bool = False,
    in_loop: bool = False,
    progressing: bool = True,
    reason: str = "scripted judgement",
) -> Reply:
    def answer(value: Any) -> dict[str, Any]:
        return {"reason": reason, "answer": value}

    return Reply.json(
        {
            "is_request_satisfied": answer(satisfied),
            "is_in_loop": answer(in_loop),
            "is_progress_being_made": answer(progressing),
            "next_speaker": answer(next_speaker),
            "instruction_or_question": answer(instruction),
        }
    )
