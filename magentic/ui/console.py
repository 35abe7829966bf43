"""A plain console printer: one readable line per event that matters, on stderr.

stdout is kept for the answer (or the --json object), so a run can be piped.
"""

from __future__ import annotations

import sys
from typing import TextIO

from magentic.events import (
    AgentActed,
    AgentReplied,
    ContextTrimmed,
    ControlDecided,
    ControlReceived,
    Delegated,
    Event,
    FinalAnswer,
    LedgerUpdated,
    ModelCallFailed,
    ModelOutputRejected,
    Notice,
    ProgressAssessed,
    Replanned,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    SideEffectRecorded,
    Stalled,
    Unpaused,
)


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def notice_line(event: Notice) -> str:
    return f"magentic: {event.level.upper()}: {event.text}"


class NoticePrinter:
    """The face of a `--quiet` run: only what the person must see (`Notice`), on stderr (as
    it is when the event comes: a live display may have wrapped it)."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            print(notice_line(event), file=sys.stderr, flush=True)


class ConsolePrinter:
    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        text = self.render(event)
        if text:
            self.line(text)

    def render(self, event: Event) -> str | None:
        if isinstance(event, Notice):
            return notice_line(event)
        if isinstance(event, RunStarted):
            return f"▶ task: {_short(event.task)}  (team: {', '.join(event.agents)})"
        if isinstance(event, LedgerUpdated):
            label = "plan" if event.replan == 0 else f"new plan #{event.replan}"
            steps = "; ".join(line.strip() for line in event.plan.splitlines()[:6])
            return f"  {label}: {_short(steps, 300)}"
        if isinstance(event, Delegated):
            return f"[{event.round}] → {event.agent}: {_short(event.instruction)}"
        if isinstance(event, AgentActed):
            if event.error:
                return f"    {event.agent}.{event.action} failed: {_short(event.error)}"
            return (
                f"    {event.agent}.{event.action} {_short(event.result, 100)}"
                if self.verbose
                else None
            )
        if isinstance(event, AgentReplied):
            return f"    {event.agent}: {_short(event.text)}"
        if isinstance(event, ProgressAssessed):
            return None
        if isinstance(event, Stalled):
            return f"  stalled ({event.stall_count}): {_short(event.reason)}"
        if isinstance(event, Replanned):
            return f"  replanning (#{event.replan}): {_short(event.reason)}"
        if isinstance(event, ModelOutputRejected):
            return (
                f"  ({event.role} model output rejected: {_short(event.error, 100)})"
                if self.verbose
                else None
            )
        if isinstance(event, ModelCallFailed):  # a retry or step-down is no silent pause
            then = {
                "retry": "retrying",
                "step_down": f"asking again without {event.feature or 'that feature'}",
                "give_up": "giving up",
            }[event.next]
            return (
                f"  ({event.role} model, attempt {event.attempt}: {_short(event.reason, 120)}; "
                f"{then})"
            )
        if isinstance(event, ContextTrimmed):
            return (
                f"  ({event.role} request cut to fit {event.context_tokens} tokens: "
                f"{event.tokens_before} -> {event.tokens_after})"
            )
        if isinstance(event, RunResumed):
            was = event.previous_status if event.previous_status != "running" else "killed"
            return f"▶ resumed after round {event.round} (the run was {was})"
        if isinstance(event, SideEffectRecorded) and event.outcome != "done":
            said = {"replayed": "its recorded result used", "not_repeated": "not done again"}
            return f"  {event.agent}: {_short(event.what, 100)} — {said[event.outcome]}"
        if isinstance(event, ControlDecided):
            what = event.request.replace("_", " ")
            why = f" ({_short(event.reason, 120)})" if event.reason else ""
            return f"  {what} {event.request_id}: {event.decision} by {event.by}{why}"
        if isinstance(event, ControlReceived):
            kind = event.command.get("kind", "?")
            return f"  ({event.face or 'a face'} sent {kind})" if self.verbose else None
        if isinstance(event, Unpaused):
            return f"  ▶ going on after {event.seconds:.0f} s paused"
        if isinstance(event, RunFailed):
            return f"✗ {event.reason}"
        if isinstance(event, FinalAnswer):
            return None
        if isinstance(event, RunFinished):
            return (
                f"■ {event.status}: {event.stop_reason} — {event.rounds} rounds, "
                f"{event.prompt_tokens + event.completion_tokens} tokens, ${event.cost:.4f}, "
                f"{event.seconds:.1f} s"
            )
        return None
