"""A run's trace as an ATIF trajectory (the Agent Trajectory Interchange Format of the Harbor
project, its RFC 0001), so evaluation harnesses and trajectory viewers can read our runs.

How a Magentic-One run maps onto it:
- the root trajectory is the Orchestrator's: the task as the user's step, then its own
  steps (task ledger, progress ledger each round, final answer), each with the metrics of
  the model calls that produced it;
- a delegation is a tool call of the round's step (the function is the agent's name, the
  argument the instruction); the agent's work is an embedded subagent trajectory (its
  instruction, then one step per action with its observation, then its reply), and the
  reply is the observation of that tool call, with a reference to the subagent trajectory;
- what a person or the policy did (guidance, approvals, plan edits, pauses) is a user or a
  system step where it happened; stalls, replans, resumes and failures are system steps;
- model calls that failed, were trimmed or re-asked ride in the next step's `extra`.
Totals go in `final_metrics`, the run's outcome in its `extra`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from magentic import __version__
from magentic.events import (
    AgentActed,
    AgentReplied,
    ControlDecided,
    ControlReceived,
    ControlRequested,
    Delegated,
    Event,
    FinalAnswer,
    LedgerUpdated,
    ModelCalled,
    Paused,
    ProgressAssessed,
    Replanned,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    Stalled,
    Unpaused,
)

log = logging.getLogger(__name__)
SCHEMA_VERSION = "ATIF-v1.7"  # subagent trajectories embedded in one file, llm_call_count
AGENT_NAME = "magentic"
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip
_NOTES = (
    "Exported by magentic from its trace. Top-level steps are the Orchestrator's; each "
    "delegation to an agent is a tool call whose observation refers to that agent's embedded "
    "subagent trajectory."
)


def when(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class _Thread:
    """The steps of one trajectory being built, and the model calls not yet given a step."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ModelCalled] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # failed, trimmed, re-asked
    all_calls: list[ModelCalled] = field(default_factory=list)

    def add(self, source: str, message: Any, t: float, **fields: Any) -> dict[str, Any]:
        step: dict[str, Any] = {"step_id": len(self.steps) + 1, "timestamp": when(t)}
        step.update(source=source, message=message)
        step.update({k: v for k, v in fields.items() if v is not None})
        self.steps.append(step)
        return step

    def agent(
        self, message: Any, t: float, *, reasoning: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """An agent step carrying the model calls made since the last one."""
        calls, self.calls = self.calls, []
        extra = dict(fields.pop("extra", None) or {})
        if self.notes:
            extra["model_events"], self.notes = self.notes, []
        if not calls and reasoning:  # no model call: no reasoning_content (ATIF v1.7)
            extra["reasons"], reasoning = reasoning, None
        return self.add(
            "agent",
            message,
            t,
            model_name=calls[-1].model if calls else None,
            reasoning_content=reasoning,
            metrics=_metrics(calls) if calls else None,
            llm_call_count=len(calls),
            extra=extra or None,
            **fields,
        )


@dataclass
class _Delegation:
    round: int
    agent: str
    call_id: str
    trajectory_id: str
    thread: _Thread


def _metrics(calls: list[ModelCalled]) -> dict[str, Any]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "cached_tokens": sum(c.cached_tokens for c in calls),
        "cost_usd": round(sum(c.cost for c in calls), 8),
        "extra": {
            "latency_ms": round(sum(c.latency_ms for c in calls), 3),
            "roles": sorted({c.role for c in calls}),
            "attempts": sum(c.attempts for c in calls),
            "cache_hits": sum(c.cache_hit for c in calls),
            "replayed": sum(c.replayed for c in calls),
            "usage_estimated": any(c.usage_estimated for c in calls),
        },
    }


def _final_metrics(calls: list[ModelCalled], steps: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "total_prompt_tokens": sum(c.prompt_tokens for c in calls),
        "total_completion_tokens": sum(c.completion_tokens for c in calls),
        "total_cached_tokens": sum(c.cached_tokens for c in calls),
        "total_cost_usd": round(sum(c.cost for c in calls), 8),
        "total_steps": steps,
        "extra": {"model_calls": len(calls), **extra},
    }


def _progress_message(ledger: dict[str, Any]) -> tuple[str, str]:
    """(what the Orchestrator decided, its reasons) from a progress ledger."""

    def answer(key: str) -> Any:
        item = ledger.get(key)
        return item.get("answer") if isinstance(item, dict) else item

    reasons = "\n".join(
        f"{key}: {item['reason']}"
        for key, item in ledger.items()
        if isinstance(item, dict) and item.get("reason")
    )
    if answer("is_request_satisfied"):
        return "The request is satisfied.", reasons
    return f"Next: {answer('next_speaker')}: {answer('instruction_or_question')}", reasons


class _Builder:
    def __init__(self, media: Callable[[str], str]) -> None:
        self.media = media
        self.root = _Thread()
        self.subagents: list[dict[str, Any]] = []
        self.delegation: _Delegation | None = None
        self.round_step: dict[str, Any] | None = None
        self.run_id = ""
        self.agent: dict[str, Any] = {"name": AGENT_NAME, "version": __version__}
        self.outcome: dict[str, Any] = {}

    @property
    def here(self) -> _Thread:
        return self.delegation.thread if self.delegation is not None else self.root

    def feed(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)
        elif event.kind in ("model_call_failed", "context_trimmed", "model_output_rejected"):
            note = event.model_dump(mode="json", exclude={"run_id", "attachment_paths"})
            self.here.notes.append(note)

    def _on_run_started(self, event: RunStarted) -> None:
        self.run_id = event.run_id
        models = event.config.get("models", {})
        model = (models.get("orchestrator") or models.get("default") or {}).get("model")
        self.agent.update(model_name=model, extra={"agents": event.agents})
        files = f"\n\nAttached files: {', '.join(event.files)}" if event.files else ""
        self.root.add(
            "user",
            event.task + files,
            event.t,
            extra={"files": event.files} if event.files else None,
        )

    def _on_run_resumed(self, event: RunResumed) -> None:
        text = f"Resumed from the checkpoint after round {event.round} (was {event.previous_status}"
        text += f": {event.previous_reason})" if event.previous_reason else ")"
        self.root.add(
            "system", text, event.t, extra={"budgets": event.budgets} if event.budgets else None
        )

    def _on_model_called(self, event: ModelCalled) -> None:
        self.here.calls.append(event)
        self.here.all_calls.append(event)

    def _on_ledger_updated(self, event: LedgerUpdated) -> None:
        text = f"Facts:\n{event.facts}\n\nPlan:\n{event.plan}"
        self.root.agent(
            text, event.t, extra={"magentic_event": "task_ledger", "replan": event.replan}
        )

    def _on_progress_assessed(self, event: ProgressAssessed) -> None:
        message, reasons = _progress_message(event.ledger)
        extra = {"magentic_event": "progress_ledger", "round": event.round,
                 "stall_count": event.stall_count, "ledger": event.ledger}  # fmt: skip
        self.round_step = self.root.agent(message, event.t, reasoning=reasons or None, extra=extra)

    def _on_delegated(self, event: Delegated) -> None:
        step = self.round_step
        if step is None or step.get("extra", {}).get("round") != event.round:
            step = self.root.agent(f"Next: {event.agent}", event.t, extra={"round": event.round})
        call_id = f"round-{event.round}-{event.agent}"
        step["tool_calls"] = [
            {"tool_call_id": call_id, "function_name": event.agent,
             "arguments": {"instruction": event.instruction}}
        ]  # fmt: skip
        thread = _Thread()
        thread.add("user", event.instruction, event.t)
        tid = f"{self.run_id}/{call_id}"
        self.delegation = _Delegation(event.round, event.agent, call_id, tid, thread)
        self.round_step = step

    def _on_agent_acted(self, event: AgentActed) -> None:
        call_id = f"{event.agent}-{event.seq}"
        text = f"error: {event.error}\n{event.result}".strip() if event.error else event.result
        content: Any = text
        images = [
            {"type": "image", "source": {"media_type": _IMAGE_TYPES[Path(p).suffix.lower()],
                                         "path": self.media(p)}}
            for p in event.attachment_paths if Path(p).suffix.lower() in _IMAGE_TYPES
        ]  # fmt: skip
        if images:
            content = [{"type": "text", "text": text}, *images] if text else images
        extra = {"agent": event.agent, "duration_ms": round(event.duration_ms, 3)}
        if event.error:
            extra["error"] = event.error
        self.here.agent(
            event.action,
            event.t,
            tool_calls=[{"tool_call_id": call_id, "function_name": event.action,
                         "arguments": event.args}],
            observation={"results": [{"source_call_id": call_id, "content": content}]},
            extra=extra,
        )  # fmt: skip

    def _on_agent_replied(self, event: AgentReplied) -> None:
        delegation = self.delegation
        if delegation is None or delegation.agent != event.agent:
            self.root.agent(event.text, event.t, extra={"agent": event.agent})
            return
        extra = {"files": event.files} if event.files else None
        delegation.thread.agent(event.text, event.t, extra=extra)
        self._close(event.text)

    def _close(self, reply: str) -> None:
        """The delegation's trajectory, embedded; its reply the observation of the call."""
        delegation, self.delegation = self.delegation, None
        assert delegation is not None
        thread = delegation.thread
        if thread.calls:  # calls that led to no action nor reply (the run ended first)
            thread.agent("(model calls with no recorded outcome)", thread.calls[-1].t)
        model = thread.all_calls[0].model if thread.all_calls else None
        self.subagents.append(
            {
                "schema_version": SCHEMA_VERSION,
                "session_id": self.run_id,
                "trajectory_id": delegation.trajectory_id,
                "agent": {"name": delegation.agent, "version": __version__, "model_name": model},
                "steps": thread.steps,
                "final_metrics": _final_metrics(thread.all_calls, len(thread.steps), {}),
            }
        )
        self.root.all_calls += thread.all_calls
        result = {"source_call_id": delegation.call_id, "content": reply,
                  "subagent_trajectory_ref": [{"trajectory_id": delegation.trajectory_id,
                                               "session_id": self.run_id}]}  # fmt: skip
        if self.round_step is not None:
            self.round_step["observation"] = {"results": [result]}

    def _on_stalled(self, event: Stalled) -> None:
        self.root.add("system", f"Stalled ({event.stall_count}): {event.reason}", event.t,
                      extra={"round": event.round})  # fmt: skip

    def _on_replanned(self, event: Replanned) -> None:
        self.root.add("system", f"Replanning ({event.replan}): {event.reason}", event.t)

    def _on_control_received(self, event: ControlReceived) -> None:
        command = event.command
        text = command.get("text") or command.get("reason") or ""
        if command.get("steps"):
            text = "\n".join(f"{i}. {s}" for i, s in enumerate(command["steps"], 1))
        message = f"({command.get('kind', 'command')}) {text}".strip()
        self.here.add("user", message, event.t, extra={"command": command, "face": event.face})

    def _on_control_requested(self, event: ControlRequested) -> None:
        what = f"{event.agent} asks for {event.request}: {event.action} {event.target}".strip()
        self.here.add("system", f"{what}\n{event.detail}".strip(), event.t,
                      extra={"request_id": event.request_id})  # fmt: skip

    def _on_control_decided(self, event: ControlDecided) -> None:
        text = f"{event.decision} by {event.by}" + (f": {event.reason}" if event.reason else "")
        if event.text:
            text += f"\n{event.text}"
        source = "user" if event.by == "person" else "system"
        self.here.add(source, text, event.t, extra={"request_id": event.request_id})

    def _on_paused(self, event: Paused) -> None:
        self.here.add("system", f"Paused {event.where}".strip(), event.t)

    def _on_unpaused(self, event: Unpaused) -> None:
        self.here.add("system", f"Resumed after {event.seconds:.1f} s", event.t)

    def _on_final_answer(self, event: FinalAnswer) -> None:
        self.root.agent(event.answer, event.t, extra={"magentic_event": "final_answer"})

    def _on_run_failed(self, event: RunFailed) -> None:
        self.here.add("system", f"The run failed: {event.reason}", event.t,
                      extra={"error_type": event.error_type} if event.error_type else None)  # fmt: skip

    def _on_run_finished(self, event: RunFinished) -> None:
        if self.delegation is not None:
            self._close("(no reply: the run ended first)")
        if self.root.calls:
            self.root.agent("(model calls with no recorded outcome)", event.t)
        self.outcome = event.model_dump(
            include={"status", "stop_reason", "budget", "answer", "rounds", "seconds"}
        )

    def trajectory(self) -> dict[str, Any]:
        if self.delegation is not None:  # a trace cut short (the process was killed)
            self._close("(no reply: the trace ends here)")
        extra = {k: v for k, v in self.outcome.items() if k != "answer"}
        subagent_steps = sum(len(s["steps"]) for s in self.subagents)
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "session_id": self.run_id,
            "trajectory_id": self.run_id,
            "agent": {k: v for k, v in self.agent.items() if v is not None},
            "steps": self.root.steps,
            "notes": _NOTES,
            "final_metrics": _final_metrics(
                self.root.all_calls,
                len(self.root.steps),
                {**extra, "subagent_steps": subagent_steps},
            ),
        }
        if self.subagents:
            out["subagent_trajectories"] = self.subagents
        return out


def to_atif(events: list[Event], media: Callable[[str], str] = str) -> dict[str, Any]:
    """The trajectory of a run's events. `media` turns a screenshot's path (relative to the
    run folder) into the path the trajectory names."""
    builder = _Builder(media)
    for event in events:
        builder.feed(event)
    if not builder.root.steps:
        raise ValueError("the trace has no run_started event")
    return builder.trajectory()


def export_run(run_dir: Path, out: Path | None = None) -> Path:
    """Write RUN_DIR's trajectory (default: RUN_DIR/trajectory.atif.json); its path."""
    from magentic.trace.writer import read_trace

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "trajectory.atif.json"
    beside = out.resolve().parent == run_dir.resolve()
    media = (lambda p: p) if beside else (lambda p: str((run_dir / p).resolve()))
    trajectory = to_atif(read_trace(run_dir), media)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(trajectory, indent=1, ensure_ascii=False), encoding="utf-8")
    return out


def export_bench_task(out: Path, task_id: str, repeat: int, trace_path: str | None) -> Path | None:
    """`bench --export atif`: OUT/atif/TASK.REPEAT.json for one finished task, or None when
    its trace is not on this machine (a Ray node kept it) or cannot be read. A bench never
    fails for want of an export."""
    if not trace_path:
        return None
    trace = Path(trace_path) if Path(trace_path).is_absolute() else Path(out) / trace_path
    name = re.sub(r"[^A-Za-z0-9._-]", "_", task_id)[:120] or "task"
    try:
        return export_run(trace.parent, Path(out) / "atif" / f"{name}.{repeat}.json")
    except (OSError, ValueError) as error:
        log.warning("no ATIF file for task %s (repeat %d): %s", task_id, repeat, error)
        return None
