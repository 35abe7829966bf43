"""The typed events every part of a run emits, and the bus that hands them to subscribers.

Nothing in magentic prints or writes a trace directly: it emits an event, and the console,
the JSONL trace and telemetry subscribe. Events are pydantic models because they leave the
process (the trace on disk is the list of events, and `load_event` reads one back).

Binary payloads (screenshots) ride along in `attachments`, which is never serialized; the
trace writer saves each to a file beside the trace and records its relative path in
`attachment_paths`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

log = logging.getLogger(__name__)


class Attachment(BaseModel):
    """A binary file that belongs to an event (a screenshot, a chart the code drew)."""

    model_config = ConfigDict(frozen=True)
    name: str
    data: bytes
    mime: str = "image/png"


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Ephemeral events (streamed model text) are for watchers only: they take no number of
    # their own and the trace writer skips them, so traces stay small and gap-free.
    ephemeral: ClassVar[bool] = False
    kind: str
    run_id: str = ""
    seq: int = 0
    t: float = Field(default_factory=time.time)
    attachments: list[Attachment] = Field(default_factory=list, exclude=True, repr=False)
    attachment_paths: list[str] = Field(default_factory=list)


class RunStarted(Event):
    kind: Literal["run_started"] = "run_started"
    task: str
    files: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)


class LedgerUpdated(Event):
    kind: Literal["ledger_updated"] = "ledger_updated"
    replan: int
    facts: str
    plan: str


class ProgressAssessed(Event):
    kind: Literal["progress_assessed"] = "progress_assessed"
    round: int
    ledger: dict[str, Any]
    stall_count: int


class Delegated(Event):
    kind: Literal["delegated"] = "delegated"
    round: int
    agent: str
    instruction: str


class AgentActed(Event):
    """One action an agent took inside its step (a click, a file opened, a code block run)."""

    kind: Literal["agent_acted"] = "agent_acted"
    agent: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    result: str = ""
    error: str | None = None
    duration_ms: float = 0.0


class AgentReplied(Event):
    kind: Literal["agent_replied"] = "agent_replied"
    round: int
    agent: str
    text: str
    files: list[str] = Field(default_factory=list)


class ModelCalled(Event):
    kind: Literal["model_called"] = "model_called"
    role: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: float = 0.0
    cache_hit: bool = False
    cost: float = 0.0
    attempts: int = 1
    usage_estimated: bool = False  # the server reported no token counts; ours from characters
    # Answered from the run's call journal: the model gave this reply before the process
    # was killed, and a resumed run made the same request (see `magentic.llm.journal`).
    replayed: bool = False


class ModelDelta(Event):
    """Text a model has streamed so far in a call, coalesced (see `magentic.llm.deltas`).

    Ephemeral: shown live, never written to the trace. A failed attempt's text is superseded
    by the retry's; `ModelCalled` ends the stream of a call."""

    ephemeral: ClassVar[bool] = True
    kind: Literal["model_delta"] = "model_delta"
    role: str
    text: str
    chars: int = 0  # characters of this call's reply so far, this delta included


class ModelCallFailed(Event):
    """One attempt at a model call failed; `next` says what the client does about it."""

    kind: Literal["model_call_failed"] = "model_call_failed"
    role: str
    model: str
    attempt: int
    reason: str
    status: int | None = None
    # "retry" (after a wait), "step_down" (ask again without `feature`), or "give_up".
    next: Literal["retry", "step_down", "give_up"] = "give_up"
    feature: str | None = None
    latency_ms: float = 0.0


class ContextTrimmed(Event):
    """A request was cut to fit the model's context window before it was sent."""

    kind: Literal["context_trimmed"] = "context_trimmed"
    role: str
    context_tokens: int
    tokens_before: int
    tokens_after: int
    dropped_messages: int = 0
    clipped: list[str] = Field(default_factory=list)


class ModelOutputRejected(Event):
    """The model's reply did not fit what was asked; it is asked again with the error."""

    kind: Literal["model_output_rejected"] = "model_output_rejected"
    role: str
    error: str
    output: str
    attempt: int


class Stalled(Event):
    kind: Literal["stalled"] = "stalled"
    round: int
    stall_count: int
    reason: str


class Replanned(Event):
    kind: Literal["replanned"] = "replanned"
    replan: int
    reason: str


# Legacy: the old `--step` mode's events, before the control channel. Nothing emits them;
# they stay in `AnyEvent` so traces written then still load.
class ApprovalRequested(Event):
    kind: Literal["approval_requested"] = "approval_requested"
    agent: str
    action: str
    detail: str = ""


class ApprovalGiven(Event):
    kind: Literal["approval_given"] = "approval_given"
    agent: str
    decision: Literal["continue", "skip", "guide"]
    guidance: str = ""


class RunResumed(Event):
    """`magentic resume` picked the run up again from its checkpoint after `round` rounds.

    Named apart from the control channel's pause/resume: this is a new process continuing
    a run that was killed, cancelled or stopped by a budget."""

    kind: Literal["run_resumed"] = "run_resumed"
    round: int
    previous_status: str  # "running" when the process died without a word
    previous_reason: str = ""
    budgets: dict[str, Any] = Field(default_factory=dict)


class SideEffectRecorded(Event):
    """An action that changes the world outside the run (code run, a form posted, a tool
    that writes) was journaled, so a resume does not do it again. `outcome`: "done" (it
    ran now), "replayed" (a resumed round asked again: the recorded result was given),
    "not_repeated" (it started before the kill with no result; nobody said to repeat it)."""

    kind: Literal["side_effect_recorded"] = "side_effect_recorded"
    agent: str
    effect: str  # run_code, submit_form, mcp_tool
    key: str
    what: str = ""
    outcome: Literal["done", "replayed", "not_repeated"] = "done"


RequestKind = Literal["approval", "plan_review", "question"]


class ControlReceived(Event):
    """A command a person gave through a face (see `magentic.control`), as it came."""

    kind: Literal["control_received"] = "control_received"
    command: dict[str, Any]
    face: str = ""  # "console", or the web view's session that sent it ("web:<session id>")


class ControlRequested(Event):
    """The run wants a person: an action to approve, a plan to review, a question.

    For an approval, `action` is its kind (run_code, submit_form, ...) and `target` what it
    acts on (a URL, a file, a tool); `detail` is the exact action as the person sees it."""

    kind: Literal["control_requested"] = "control_requested"
    request_id: str
    request: RequestKind
    agent: str = ""
    action: str = ""
    target: str = ""
    detail: str = ""


class ControlDecided(Event):
    """How a request ended, and who decided: "person" (a face that speaks for whoever
    started the run: the console), a face's session that cannot vouch for more
    ("web:<session id>", the browser that opened the web view's printed link), "policy"
    (allow/deny rules, --yes), or "nobody" (no person present, or the run stopping)."""

    kind: Literal["control_decided"] = "control_decided"
    request_id: str
    request: RequestKind
    decision: Literal["allow", "deny", "approve", "edit", "comment", "answer", "unanswered"]
    by: str
    reason: str = ""
    text: str = ""  # the edited plan, the comment, or the answer


class Paused(Event):
    """The run is waiting at a safe point until a person resumes or stops it."""

    kind: Literal["paused"] = "paused"
    where: str = ""


class Unpaused(Event):
    kind: Literal["unpaused"] = "unpaused"
    seconds: float = 0.0  # how long the run waited


class FinalAnswer(Event):
    kind: Literal["final_answer"] = "final_answer"
    answer: str


class RunFailed(Event):
    kind: Literal["run_failed"] = "run_failed"
    reason: str
    error_type: str = ""


class RunFinished(Event):
    """Always the last event of a run, whatever its outcome."""

    kind: Literal["run_finished"] = "run_finished"
    status: Literal["answered", "out_of_budget", "failed", "cancelled"]
    stop_reason: str
    # Which budget stopped it (rounds, time, tokens, cost, replans) when one did.
    budget: str = ""
    answer: str = ""
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0


class Notice(Event):
    """Something the person must see whatever the display shows, such as code running on
    the host with no sandbox. Every console face prints it on stderr, `--quiet` included."""

    kind: Literal["notice"] = "notice"
    level: Literal["info", "warning"] = "warning"
    text: str


AnyEvent = Annotated[
    RunStarted
    | LedgerUpdated
    | ProgressAssessed
    | Delegated
    | AgentActed
    | AgentReplied
    | ModelCalled
    | ModelDelta
    | ModelCallFailed
    | ContextTrimmed
    | ModelOutputRejected
    | Stalled
    | Replanned
    | ApprovalRequested
    | ApprovalGiven
    | RunResumed
    | SideEffectRecorded
    | ControlReceived
    | ControlRequested
    | ControlDecided
    | Paused
    | Unpaused
    | FinalAnswer
    | RunFailed
    | RunFinished
    | Notice,
    Field(discriminator="kind"),
]
_event_adapter: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def load_event(line: str | bytes) -> Event:
    """Parse one JSONL trace line back into its typed event."""
    event: Event = _event_adapter.validate_json(line)
    return event


Subscriber = Callable[[Event], None]


class EventBus:
    """Numbers events, stamps them with the run id and hands them to every subscriber.

    Subscribers are plain functions and must not block: the trace writer hands its disk
    writes to a thread. A subscriber that raises is logged and the run goes on: one broken
    printer must not end a run.
    """

    def __init__(self, run_id: str = "", *, last_seq: int = 0) -> None:
        self.run_id = run_id
        self._subscribers: list[Subscriber] = []
        self._seq = last_seq  # a resumed run numbers on from its trace's last event

    @property
    def seq(self) -> int:
        """The number of the last event emitted (0 before the first)."""
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        if not event.ephemeral:
            self._seq += 1
        event.seq = self._seq
        if not event.run_id:
            event.run_id = self.run_id
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:  # a subscriber's bug must not end the run
                log.exception("event subscriber %r failed on %s", subscriber, event.kind)
