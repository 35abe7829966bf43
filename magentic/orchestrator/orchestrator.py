"""The Orchestrator: an outer loop that plans and replans, an inner loop of rounds.

Each round ends in one of four typed outcomes: Delegate (an agent acts), Replan (the team
stalled), Finish (the task is done), or a BudgetExceeded stop. Model mistakes never end a run:
shapes are re-asked by the model client, and when that fails the round falls back to a safe
choice (count a stall, keep the old plan). What ends a run early is a budget, the replan
bound, a model endpoint that stays down, or cancellation; each ends it with a reason and the
best answer so far, and the trace gets its RunFinished event whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magentic.agents.base import Agent, AgentReply, StepContext, TeamMessage
from magentic.control.channel import ControlChannel, Steering
from magentic.control.effects import EffectJournal
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.errors import (
    BudgetExceeded,
    MagenticError,
    ModelOutputError,
    StoppedByPerson,
    ends_the_step,
    observation_of,
)
from magentic.events import (
    AgentActed,
    AgentReplied,
    Delegated,
    EventBus,
    FinalAnswer,
    LedgerUpdated,
    ProgressAssessed,
    Replanned,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    Stalled,
)
from magentic.llm.client import ModelClient
from magentic.llm.messages import Message, assistant, system, user
from magentic.orchestrator import prompts, resuming
from magentic.orchestrator.answers import not_an_answer
from magentic.orchestrator.budget import BudgetGuard
from magentic.orchestrator.checkpoint import Checkpoint, CheckpointWriter, Stage
from magentic.orchestrator.fallbacks import (
    CODER,
    TERMINAL,
    PlanCursor,
    code_pending,
    default_plan,
    match_agents,
)
from magentic.orchestrator.ledger import (
    Facts,
    Plan,
    PlanStep,
    ProgressLedger,
    TaskLedger,
    progress_schema,
)
from magentic.orchestrator.outcomes import (
    Delegate,
    Finish,
    Outcome,
    Replan,
    RunResult,
    Status,
)
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.orchestrator.transcript import Transcript

log = logging.getLogger(__name__)


@dataclass
class Orchestrator:
    client: ModelClient
    agents: Sequence[Agent]
    events: EventBus
    workspace: Path
    settings: OrchestratorSettings = field(default_factory=OrchestratorSettings)
    files: Sequence[Path] = ()
    # How people steer the run (see `magentic.control`); with none given, a channel nobody
    # is attached to: the run goes on alone and every "ask" is answered no.
    control: ControlChannel | None = None
    gate: ApprovalGate | None = None
    checkpoints: CheckpointWriter | None = None  # None: the run saves no checkpoints
    effects: EffectJournal | None = None  # side effects done, so a resume does not redo them

    def __post_init__(self) -> None:
        self.by_name = {agent.name: agent for agent in self.agents}
        if not self.by_name:
            raise MagenticError("the team has no agents")
        if self.control is None:
            self.control = ControlChannel(self.events)
        self.control.connect(self.events)
        if self.gate is None:
            self.gate = ApprovalGate(ApprovalSettings(), self.control)
        self.guard = BudgetGuard(
            self.settings.budgets, self.client.meter, waited=self.control.waited_seconds
        )
        self.transcript = Transcript(
            message_chars=self.settings.message_chars,
            budget_chars=self.settings.transcript_chars,
            images=self.settings.transcript_images,
        )
        self.progress_model = progress_schema(list(self.by_name))
        team = "\n".join(f"- {a.name}: {a.description}" for a in self.agents)
        self.system_prompt = system(prompts.SYSTEM.format(team=team))
        self.ledger = TaskLedger(task="")
        self.rounds = 0
        self.stalls = 0
        self.cursor = PlanCursor()
        self.instructions: list[str] = []  # given this run, to spot a copy as "answer"
        self.answer_fault = ""  # why the final reply was not an answer, when it was not

    # The run ------------------------------------------------------------------------------
    async def run(self, task: str, *, config: dict[str, Any] | None = None) -> RunResult:
        self.ledger = TaskLedger(task=task)
        self.guard.start()
        self.events.emit(
            RunStarted(
                task=task,
                files=[str(f) for f in self.files],
                agents=list(self.by_name),
                config=config or {},
            )
        )
        return await self._conclude(self._started())

    async def _started(self) -> str:
        await self._save("started")
        return await self._run(planned=False)

    async def resume(self, saved: Checkpoint, images: dict[str, bytes]) -> RunResult:
        """Go on with a run from its checkpoint: no finished round is done again."""
        resuming.restore(self, saved, images)
        self.guard.start(already=saved.elapsed_s)
        self.events.emit(
            RunResumed(
                round=saved.rounds,
                previous_status=saved.status,
                previous_reason=saved.stop_reason,
                budgets=self.settings.budgets.model_dump(),
            )
        )
        return await self._conclude(self._resumed(saved))

    async def _resumed(self, saved: Checkpoint) -> str:
        # The browser relaunches while the model client gets ready: both before the first call.
        await asyncio.gather(
            resuming.restore_agents(self, saved, self._context()), self.client.warm_up()
        )
        return await self._run(planned=saved.stage != "started")

    async def _save(self, stage: Stage) -> None:
        """Checkpoint the run between rounds (see `magentic.orchestrator.checkpoint`)."""
        if self.checkpoints is not None:
            state, images = await resuming.capture(self, stage)
            await self.checkpoints.save(state, images)

    async def _conclude(self, work: Coroutine[Any, Any, str]) -> RunResult:
        """Await the run's work and end it with a status, a reason and its last events."""
        status: Status = "failed"
        reason = ""
        answer = ""
        error_type = ""
        budget = ""
        try:
            answer = await work
            status, reason = "answered", "the task was answered"
            if self.answer_fault:
                status, reason = "failed", f"no real final answer: {self.answer_fault}"
        except BudgetExceeded as stop:
            status, reason, budget = "out_of_budget", stop.reason, stop.budget
            answer = await self._best_answer(stop.reason)
        except StoppedByPerson as stop:
            status, reason = "cancelled", f"stopped by the person: {stop.reason}"
            answer = await self._best_answer(reason)
        except MagenticError as error:  # the model's output, its endpoint, or ours
            status, reason, error_type = "failed", error.reason, type(error).__name__
            self.events.emit(RunFailed(reason=error.reason, error_type=error_type))
        except asyncio.CancelledError:
            status, reason = "cancelled", "the run was cancelled"
            raise
        except Exception as error:  # a bug of ours: end cleanly, name it, keep the trace whole
            log.exception("the run failed unexpectedly")
            status, reason = "failed", f"internal error: {type(error).__name__}: {error}"
            error_type = type(error).__name__
            self.events.emit(RunFailed(reason=reason, error_type=error_type))
        finally:
            result = self._result(answer, status, reason)
            result.error_type, result.budget = error_type, budget
            if answer:
                self.events.emit(FinalAnswer(answer=answer))
            self.events.emit(
                RunFinished(
                    status=status,
                    stop_reason=reason,
                    budget=budget,
                    answer=answer,
                    rounds=self.rounds,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    cost=result.cost,
                    seconds=result.seconds,
                )
            )
            if self.checkpoints is not None:
                # A final answer ends the run for good; any other end can be resumed from
                # the last finished round.
                ended = status == "answered" or bool(self.answer_fault)
                await self.checkpoints.end(
                    ended=ended,
                    status=status,
                    stop_reason=reason,
                    answer=answer,
                    seq=self.events.seq,
                )
        return result

    def _result(self, answer: str, status: Status, reason: str) -> RunResult:
        total = self.client.meter.total
        return RunResult(
            answer=answer,
            status=status,
            stop_reason=reason,
            rounds=self.rounds,
            replans=self.ledger.replans,
            prompt_tokens=total.prompt_tokens,
            completion_tokens=total.completion_tokens,
            cost=total.cost,
            seconds=round(self.guard.elapsed, 3),
            failed_calls=self.client.meter.failed_calls,
        )

    async def _run(self, *, planned: bool) -> str:
        if not planned:
            await self._plan()
            await self._save("working")
        while True:
            if await self._steer(f"before round {self.rounds + 1}"):
                await self._save("working")  # a person's words are not lost to a crash
            self.guard.check(self.rounds)
            outcome = await self._round()
            if isinstance(outcome, Finish):
                return await self.guard.bounded(self._final_answer())
            if isinstance(outcome, Replan):
                await self._replan(outcome.reason)
            else:
                await self._delegate(outcome)
            await self._save("working")

    # Outer loop: facts and plan -----------------------------------------------------------
    def _ledger_messages(self) -> list[Message]:
        return [self.system_prompt, user(prompts.TASK_LEDGER.format(ledger=self.ledger.render()))]

    async def _ask_facts_and_plan(
        self, facts_prompt: str, plan_prompt: str, head: list[Message]
    ) -> None:
        facts_messages = [*head, user(facts_prompt)]
        try:
            facts = await self.guard.bounded(self.client.structured(facts_messages, Facts))
        except ModelOutputError as error:
            log.info("facts fell back to the previous ones: %s", error.reason)
            facts = self.ledger.facts
        plan_messages = [*facts_messages, assistant(facts.model_dump_json()), user(plan_prompt)]
        try:
            plan = await self.guard.bounded(self.client.structured(plan_messages, Plan))
        except ModelOutputError as error:
            log.info("plan fell back to one built from the task: %s", error.reason)
            plan = self.ledger.plan or default_plan(
                self.ledger.task, list(self.by_name), bool(self.files)
            )
        plan = match_agents(plan, list(self.by_name))
        self.ledger.facts, self.ledger.plan = facts, plan
        self.cursor.reset(plan)
        self.events.emit(
            LedgerUpdated(replan=self.ledger.replans, facts=facts.render(), plan=plan.render())
        )

    async def _plan(self) -> None:
        names = ", ".join(self.by_name)
        await self._ask_facts_and_plan(
            prompts.FACTS.format(task=self.ledger.task),
            prompts.PLAN.format(names=names),
            [self.system_prompt],
        )
        await self._review_plan()

    # A person steering ---------------------------------------------------------------------
    async def _steer(self, where: str) -> bool:
        """A safe point: wait out a pause, end on a stop, take in guidance and plan edits.
        True when a person's words or plan were taken in."""
        assert self.control is not None
        steering: Steering = await self.control.safe_point(where)
        for text in steering.guidance:
            self.transcript.add(TeamMessage("user", text))
        if steering.plan is not None:
            self._use_plan_from_person(steering.plan)
        return bool(steering.guidance) or steering.plan is not None

    def _use_plan_from_person(self, steps: Sequence[str]) -> None:
        """A person's plan, used verbatim: "Agent: action" keeps its agent (spelled in any
        case); a step naming no agent of the team keeps all its words and gets the agent the
        fallback planner would pick for them."""
        team = list(self.by_name)
        parsed: list[PlanStep] = []
        for text in steps:
            head, sep, rest = text.partition(":")
            named = match_agents(Plan(steps=[PlanStep(agent=head, action=rest)]), team)
            agent = named.steps[0].agent
            if sep and agent in self.by_name and rest.strip():
                parsed.append(PlanStep(agent=agent, action=rest.strip()))
            else:
                guess = default_plan(text, team, False).steps[0].agent
                parsed.append(PlanStep(agent=guess, action=text.strip()))
        plan = Plan(steps=parsed)
        self.ledger.plan = plan
        self.cursor.reset(plan)
        self.events.emit(
            LedgerUpdated(
                replan=self.ledger.replans, facts=self.ledger.facts.render(), plan=plan.render()
            )
        )

    async def _review_plan(self) -> None:
        """With --review-plan: the person approves, edits or comments on the plan; a comment
        replans with it (not counted as a stall replan), up to `max_plan_reviews` times."""
        if not self.settings.review_plan or self.ledger.plan is None:
            return
        assert self.control is not None
        for _ in range(self.settings.max_plan_reviews):
            verdict = await self.control.review_plan(self.ledger.plan.render())
            if verdict.decision == "edit":
                self._use_plan_from_person(verdict.steps)
                return
            if verdict.decision != "comment":
                return  # approved, or nobody there: the plan stands
            self.transcript.add(TeamMessage("user", verdict.comment))
            names = ", ".join(self.by_name)
            reason = f"the user reviewed the plan and said: {verdict.comment}"
            await self._ask_facts_and_plan(
                prompts.REPLAN_FACTS.format(facts=self.ledger.facts.render()),
                prompts.REPLAN_PLAN.format(reason=reason, names=names),
                [*self._ledger_messages(), *self.transcript.messages()],
            )

    async def _replan(self, reason: str) -> None:
        if self.ledger.replans >= self.settings.max_replans:
            raise BudgetExceeded(
                f"the team stalled and the limit of {self.settings.max_replans} replans is "
                f"reached ({reason})",
                budget="replans",
            )
        self.ledger.replans += 1
        self.events.emit(Replanned(replan=self.ledger.replans, reason=reason))
        names = ", ".join(self.by_name)
        head = [*self._ledger_messages(), *self.transcript.messages()]
        await self._ask_facts_and_plan(
            prompts.REPLAN_FACTS.format(facts=self.ledger.facts.render()),
            prompts.REPLAN_PLAN.format(reason=reason, names=names),
            head,
        )
        await self._review_plan()
        for agent in self.agents:
            try:
                await agent.reset()
            except Exception as error:  # a stale agent is better than a dead run
                log.warning("resetting %s failed: %s", agent.name, error)
                self.events.emit(
                    AgentActed(
                        agent=agent.name, action="reset", error=f"{type(error).__name__}: {error}"
                    )
                )
        self.transcript.clear()
        self.stalls = 0

    # Inner loop: one round ----------------------------------------------------------------
    async def _round(self) -> Outcome:
        self.rounds += 1
        messages = [
            *self._ledger_messages(),
            *self.transcript.messages(),
            user(prompts.PROGRESS.format(names=", ".join(self.by_name))),
        ]
        try:
            ledger: ProgressLedger | None = await self.guard.bounded(
                self.client.structured(messages, self.progress_model)
            )
        except ModelOutputError as error:
            ledger, fault = None, error.reason
        if ledger is None:
            # No usable judgement this round: count it as a stall and keep the plan moving.
            if self._stall(f"the progress assessment failed: {fault}", {}):
                return Replan(f"the progress assessment kept failing: {fault}")
            return self._fallback_delegate()
        snapshot = ledger.model_dump()
        if ledger.is_request_satisfied.answer:
            self._assessed(snapshot)
            return Finish(ledger.is_request_satisfied.reason)
        if ledger.is_in_loop.answer:
            if self._stall(ledger.is_in_loop.reason or "the team is in a loop", snapshot):
                return Replan(ledger.is_in_loop.reason or "the team is in a loop")
        elif not ledger.is_progress_being_made.answer:
            reason = ledger.is_progress_being_made.reason or "no progress"
            if self._stall(reason, snapshot):
                return Replan(reason)
        else:
            self.stalls = max(self.stalls - 1, 0)
            self._assessed(snapshot)
        agent = ledger.next_speaker.answer
        instruction = ledger.instruction_or_question.answer.strip() or self._step_for(agent)
        return self._runnable(Delegate(agent, instruction))

    def _step_for(self, agent: str) -> str:
        """An instruction for `agent` when the model gave none: its next step of the plan."""
        steps = self.ledger.plan.steps if self.ledger.plan else []
        later = steps[self.cursor.done :] + steps[: self.cursor.done]
        step = next((s for s in later if s.agent == agent), None)
        if step is not None:
            return f"Continue with this step of the plan: {step.action}"
        return f"Continue working on the task: {self.ledger.task}"

    def _runnable(self, outcome: Delegate) -> Delegate:
        """Never a turn for the ComputerTerminal with no code to run: the Coder writes it."""
        if outcome.agent != TERMINAL or code_pending(self.transcript.entries):
            return outcome
        if CODER in self.by_name:
            return Delegate(
                CODER,
                "Write the code for this step in a fenced python block, so the terminal can "
                f"run it: {outcome.instruction}",
            )
        return outcome

    def _assessed(self, snapshot: dict[str, Any]) -> None:
        self.events.emit(
            ProgressAssessed(round=self.rounds, ledger=snapshot, stall_count=self.stalls)
        )

    def _stall(self, reason: str, snapshot: dict[str, Any]) -> bool:
        """Count a stall and record it; True when the stalls are past the limit."""
        self.stalls += 1
        self._assessed(snapshot)
        self.events.emit(Stalled(round=self.rounds, stall_count=self.stalls, reason=reason))
        return self.stalls > self.settings.max_stalls

    def _fallback_delegate(self) -> Delegate:
        """With no usable progress ledger, hand on the next plan step not yet done."""
        team = list(self.by_name)
        step = self.cursor.next_step(self.ledger.plan, team, code_pending(self.transcript.entries))
        if step is not None:
            return self._runnable(
                Delegate(step.agent, f"Continue with this step of the plan: {step.action}")
            )
        first = next((name for name in team if name != TERMINAL), team[0])
        return Delegate(first, f"Continue working on the task: {self.ledger.task}")

    # Delegation ---------------------------------------------------------------------------
    async def _delegate(self, outcome: Delegate) -> None:
        agent = self.by_name[outcome.agent]
        self.cursor.delegated(agent.name)
        self.instructions.append(outcome.instruction)
        self.transcript.add(TeamMessage("orchestrator", f"(to {agent.name}) {outcome.instruction}"))
        self.events.emit(
            Delegated(round=self.rounds, agent=agent.name, instruction=outcome.instruction)
        )
        ctx = self._context()
        started = time.perf_counter()
        try:
            reply = await self.guard.bounded(agent.step(outcome.instruction, ctx))
        except Exception as error:  # an agent's failure is an observation, not the run's end
            if ends_the_step(error):
                raise
            reason = observation_of(error)
            log.warning(
                "%s failed: %s", agent.name, reason, exc_info=not isinstance(error, MagenticError)
            )
            self.events.emit(
                AgentActed(
                    agent=agent.name,
                    action="step",
                    error=reason,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
            )
            reply = AgentReply(text=f"{agent.name} could not complete the step: {reason}")
        self.transcript.add(
            TeamMessage(
                agent.name,
                reply.text,
                list(reply.images),
                list(reply.files),
                untrusted=reply.untrusted,
            )
        )
        self.events.emit(
            AgentReplied(
                round=self.rounds,
                agent=agent.name,
                text=reply.text,
                files=[str(f) for f in reply.files],
            )
        )

    def _context(self) -> StepContext:
        return StepContext(
            task=self.ledger.task,
            conversation=self.transcript.for_agents(),
            workspace=self.workspace,
            events=self.events,
            files=self.files,
            round=self.rounds,
            deadline=self.guard.deadline,
            deadline_now=lambda: self.guard.deadline,
            control=self.control,
            gate=self.gate,
            effects=self.effects,
        )

    # Answers ------------------------------------------------------------------------------
    async def _final_answer(self, note: str = "") -> str:
        answer_format = ""
        if self.settings.answer_format:
            answer_format = prompts.ANSWER_FORMAT_PREFIX + self.settings.answer_format
        question = prompts.FINAL_ANSWER.format(task=self.ledger.task, answer_format=answer_format)
        if note:
            question += "\n" + prompts.BUDGET_NOTE.format(reason=note)
        messages = [*self._ledger_messages(), *self.transcript.messages(), user(question)]
        fault = ""
        text = ""
        for _ in range(2):
            result = await self.client.chat(messages)
            text = result.text.strip()
            fault = not_an_answer(text, self.instructions, self.ledger.task)
            if not fault:
                self.answer_fault = ""
                return text
            log.info("the final reply is not an answer: %s", fault)
            again = prompts.FINAL_ANSWER_AGAIN.format(reason=fault)
            messages = [
                *messages,
                assistant(text or result.refusal or "(empty reply)"),
                user(again),
            ]
        self.answer_fault = fault
        return text or self._last_reply()

    def _last_reply(self) -> str:
        for entry in reversed(self.transcript.entries):
            if entry.source not in ("orchestrator", "user"):
                return entry.text
        return ""

    async def _best_answer(self, reason: str) -> str:
        """After a budget stop: one bounded last call for an answer, else the last reply."""
        try:
            return await asyncio.wait_for(
                self._final_answer(note=reason), timeout=self.settings.final_answer_timeout_s
            )
        except (MagenticError, asyncio.TimeoutError) as error:
            log.info("no final answer after the budget stop: %s", error)
            return self._last_reply()
