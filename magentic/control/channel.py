"""The control channel itself: commands in, requests and decisions out, waits at safe points.

See the package docstring for the design. This module holds the state a person can change
(paused or not, guidance not yet handed over, a plan edit, a stop) and the open requests; it
never decides a policy (that is `gate.ApprovalGate`) and never talks to a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from magentic.control.commands import (
    Approve,
    Command,
    Deny,
    EditPlan,
    Guide,
    Pause,
    Resume,
    Stop,
)
from magentic.errors import ControlError, StoppedByPerson
from magentic.events import (
    Attachment,
    ControlDecided,
    ControlReceived,
    ControlRequested,
    EventBus,
    Paused,
    RequestKind,
    Unpaused,
)

log = logging.getLogger(__name__)

DecisionKind = Literal["allow", "deny", "approve", "edit", "comment", "answer", "unanswered"]
NOBODY = "no person is present to ask"
STOPPING = "the run is stopping"


PERSON = "person"  # a face that speaks for whoever started the run (the console)


@dataclass(frozen=True)
class Decision:
    """The answer to an approval request. `reason` is what the asking agent is told; `by`
    who decided (see `ControlDecided.by`)."""

    allowed: bool
    by: str
    reason: str = ""


@dataclass(frozen=True)
class PlanVerdict:
    """The person's word on a plan: approve it, replace it (steps used verbatim), comment on
    it (replan with the comment), or nothing (nobody there: the plan stands)."""

    decision: Literal["approve", "edit", "comment", "unanswered"]
    steps: tuple[str, ...] = ()
    comment: str = ""


@dataclass
class Steering:
    """What a person gave since the last safe point, handed over there at once."""

    guidance: list[str] = field(default_factory=list)
    plan: list[str] | None = None  # a plan edit given outside a plan review

    def __bool__(self) -> bool:
        return bool(self.guidance) or self.plan is not None


@dataclass
class _Open:
    request: RequestKind
    future: asyncio.Future[tuple[Command | None, str]]  # the reply, and who gave it


class ControlChannel:
    def __init__(self, events: EventBus | None = None) -> None:
        # Faces may attach before the run exists; the run connects its bus when it starts.
        self.events = events or EventBus()
        self.faces: set[str] = set()
        self.paused = False
        self.stop_reason: str | None = None
        self._steering = Steering()
        self._open: dict[str, _Open] = {}
        self._ids = itertools.count(1)
        self._unpaused: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Time spent waiting for a person (a pause held, a request open), which the wall-time
        # budget leaves out: a run must not run out of time while someone reads its plan.
        self._waits = 0
        self._waiting_since = 0.0
        self._waited = 0.0

    # Faces ---------------------------------------------------------------------------------
    def connect(self, events: EventBus) -> None:
        """Emit on the run's bus from now on; on the run's loop, take it as the channel's,
        so a command sent from a signal handler works before the first safe point."""
        self.events = events
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._bind()

    def attach(self, face: str) -> None:
        """A face that can answer requests is there (until `detach`)."""
        self.faces.add(face)

    def detach(self, face: str) -> None:
        self.faces.discard(face)
        if not self.faces:  # nobody left to answer: what waits is decided as unattended
            for request_id in list(self._open):
                self._close(request_id, None)

    @property
    def present(self) -> bool:
        return bool(self.faces)

    @property
    def open_requests(self) -> dict[str, RequestKind]:
        return {request_id: item.request for request_id, item in self._open.items()}

    # Commands in ---------------------------------------------------------------------------
    def send(self, command: Command, *, face: str = "", by: str = PERSON) -> None:
        """Take one command (on the run's event loop). Raises ControlError, with nothing
        changed, for an approve/deny of a request that is not open. `by` is who a decision
        it makes is recorded as: the person for a face that speaks for them (the console),
        or what the face can vouch for (the web view: `web:<session>`)."""
        self._bind()
        if isinstance(command, (Approve, Deny)) and command.request_id not in self._open:
            open_ids = ", ".join(self._open) or "none"
            raise ControlError(f"no open request {command.request_id!r} (open: {open_ids})")
        if (
            isinstance(command, Deny)
            and self._open[command.request_id].request == "plan_review"
            and not command.reason.strip()
        ):
            raise ControlError("to turn down a plan, say what to change (a reason)")
        self.events.emit(ControlReceived(command=command.model_dump(), face=face))
        if isinstance(command, Pause):
            self.paused = True
        elif isinstance(command, Resume):
            self._unpause()
        elif isinstance(command, Stop):
            self.stop_reason = command.reason.strip() or "stopped by the person"
            for request_id in list(self._open):
                self._close(request_id, None)
            self._unpause()
        elif isinstance(command, (Approve, Deny)):
            self._close(command.request_id, command, by)
        elif isinstance(command, Guide):
            target = self._oldest("question") or self._oldest("plan_review")
            if target is not None:
                self._close(target, command, by)
            else:
                self._steering.guidance.append(command.text)
        elif isinstance(command, EditPlan):
            target = self._oldest("plan_review")
            if target is not None:
                self._close(target, command, by)
            else:
                self._steering.plan = list(command.steps)

    def send_threadsafe(self, command: Command, *, face: str = "", by: str = PERSON) -> None:
        """`send` from a signal handler or another thread; errors go to the log."""
        if self._loop is None or self._loop.is_closed():
            raise ControlError("the run's control channel is not running")

        def deliver() -> None:
            try:
                self.send(command, face=face, by=by)
            except ControlError as error:
                log.warning("control command refused: %s", error.reason)

        self._loop.call_soon_threadsafe(deliver)

    # Safe points ---------------------------------------------------------------------------
    async def safe_point(self, where: str) -> Steering:
        """Where the orchestrator may change course: wait out a pause, end on a stop, and
        hand over what the person said meanwhile."""
        self._bind()
        await asyncio.sleep(0)  # commands a face has just queued land before we look
        if self.paused and self.stop_reason is None:
            started = time.monotonic()
            self.events.emit(Paused(where=where))
            assert self._unpaused is not None
            self._unpaused.clear()
            with self._waiting():
                while self.paused and self.stop_reason is None:
                    await self._unpaused.wait()
            self.events.emit(Unpaused(seconds=round(time.monotonic() - started, 3)))
        if self.stop_reason is not None:
            raise StoppedByPerson(self.stop_reason)
        steering, self._steering = self._steering, Steering()
        return steering

    # Requests out --------------------------------------------------------------------------
    async def approval(
        self,
        agent: str,
        action: str,
        detail: str,
        *,
        target: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> Decision:
        """Ask a person whether `agent` may take this action. With nobody there, or the run
        stopping, the answer is no, with that reason."""
        reply, by = await self._ask(
            "approval",
            agent=agent,
            action=action,
            target=target,
            detail=detail,
            attachments=attachments,
        )
        if isinstance(reply, Approve):
            decision = Decision(True, by, reply.reason)
        elif isinstance(reply, Deny):
            decision = Decision(False, by, reply.reason or "the person said no")
        else:
            decision = Decision(False, "nobody", self._why_unanswered())
        return decision

    async def review_plan(self, plan: str) -> PlanVerdict:
        """Show the plan and wait for the person's word on it."""
        reply, _ = await self._ask("plan_review", agent="Orchestrator", detail=plan)
        if isinstance(reply, Approve):
            return PlanVerdict("approve")
        if isinstance(reply, EditPlan):
            return PlanVerdict("edit", steps=tuple(reply.steps))
        if isinstance(reply, Guide):
            return PlanVerdict("comment", comment=reply.text)
        if isinstance(reply, Deny):
            return PlanVerdict("comment", comment=reply.reason)
        return PlanVerdict("unanswered", comment=self._why_unanswered())

    async def question(self, agent: str, text: str) -> str | None:
        """Ask the person a question; their words, or None when nobody answers."""
        reply, _ = await self._ask("question", agent=agent, detail=text)
        if isinstance(reply, Guide):
            return reply.text
        if isinstance(reply, Approve):
            return reply.reason or "yes"
        if isinstance(reply, Deny):
            return reply.reason or "no"
        return None

    async def _ask(
        self,
        request: RequestKind,
        *,
        agent: str = "",
        action: str = "",
        target: str = "",
        detail: str = "",
        attachments: Sequence[Attachment] = (),
    ) -> tuple[Command | None, str]:
        loop = self._bind()
        request_id = f"r{next(self._ids)}"
        future: asyncio.Future[tuple[Command | None, str]] = loop.create_future()
        self._open[request_id] = _Open(request, future)
        self.events.emit(
            ControlRequested(
                request_id=request_id,
                request=request,
                agent=agent,
                action=action,
                target=target,
                detail=detail,
                attachments=list(attachments),
            )
        )
        if not self.present or self.stop_reason is not None:
            self._close(request_id, None)
        try:
            with self._waiting():
                return await future
        finally:
            self._open.pop(request_id, None)

    def _close(self, request_id: str, reply: Command | None, by: str = "nobody") -> None:
        item = self._open.pop(request_id, None)
        if item is None or item.future.done():
            return
        by = by if reply is not None else "nobody"
        self.events.emit(self._decided(request_id, item.request, reply, by))
        item.future.set_result((reply, by))

    def _decided(
        self, request_id: str, request: RequestKind, reply: Command | None, by: str
    ) -> ControlDecided:
        decision: DecisionKind
        if reply is None:
            decision = "deny" if request == "approval" else "unanswered"
            return ControlDecided(
                request_id=request_id,
                request=request,
                decision=decision,
                by="nobody",
                reason=self._why_unanswered(),
            )
        if isinstance(reply, Approve):
            decision = "approve" if request == "plan_review" else "allow"
            if request == "question":
                decision = "answer"
            return ControlDecided(
                request_id=request_id,
                request=request,
                decision=decision,
                by=by,
                reason=reply.reason,
            )
        if isinstance(reply, Deny):
            by_request: dict[str, DecisionKind] = {
                "approval": "deny",
                "plan_review": "comment",
                "question": "answer",
            }
            decision = by_request[request]
            return ControlDecided(
                request_id=request_id,
                request=request,
                decision=decision,
                by=by,
                reason=reply.reason,
                text=reply.reason if request != "approval" else "",
            )
        if isinstance(reply, EditPlan):
            return ControlDecided(
                request_id=request_id,
                request=request,
                decision="edit",
                by=by,
                text="\n".join(reply.steps),
            )
        assert isinstance(reply, Guide)
        return ControlDecided(
            request_id=request_id,
            request=request,
            decision="answer" if request == "question" else "comment",
            by=by,
            text=reply.text,
        )

    def record_policy(
        self,
        agent: str,
        action: str,
        detail: str,
        *,
        target: str,
        allowed: bool,
        reason: str,
        attachments: Sequence[Attachment] = (),
    ) -> Decision:
        """A request the policy decided without asking anyone, recorded like any other."""
        request_id = f"r{next(self._ids)}"
        self.events.emit(
            ControlRequested(
                request_id=request_id,
                request="approval",
                agent=agent,
                action=action,
                target=target,
                detail=detail,
                attachments=list(attachments),
            )
        )
        self.events.emit(
            ControlDecided(
                request_id=request_id,
                request="approval",
                decision="allow" if allowed else "deny",
                by="policy",
                reason=reason,
            )
        )
        return Decision(allowed, "policy", reason)

    def waited_seconds(self) -> float:
        """Seconds the run has waited for a person so far, the wait in progress included."""
        ongoing = time.monotonic() - self._waiting_since if self._waits else 0.0
        return self._waited + ongoing

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[None]:
        """Count the time inside as waiting for a person (overlapping waits count once)."""
        if self._waits == 0:
            self._waiting_since = time.monotonic()
        self._waits += 1
        try:
            yield
        finally:
            self._waits -= 1
            if self._waits == 0:
                self._waited += time.monotonic() - self._waiting_since

    def _why_unanswered(self) -> str:
        return STOPPING if self.stop_reason is not None else NOBODY

    def _oldest(self, request: RequestKind) -> str | None:
        return next((rid for rid, item in self._open.items() if item.request == request), None)

    def _unpause(self) -> None:
        self.paused = False
        if self._unpaused is not None:
            self._unpaused.set()

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The channel belongs to the loop it is first used on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._unpaused = asyncio.Event()
        return self._loop
