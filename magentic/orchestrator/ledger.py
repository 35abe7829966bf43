"""The task ledger (facts and plan) and the progress ledger, as validated JSON shapes.

These are where model output enters the run, so they are pydantic models: a reply that does
not fit is re-asked with the validation error. The progress ledger's `next_speaker` is an
enum of the team's names, built per team, so a made-up agent is caught by validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Facts(BaseModel):
    given_or_verified: list[str] = Field(default_factory=list)
    to_look_up: list[str] = Field(default_factory=list)
    to_derive: list[str] = Field(default_factory=list)
    educated_guesses: list[str] = Field(default_factory=list)

    def render(self) -> str:
        sections = [
            ("Given or verified", self.given_or_verified),
            ("To look up", self.to_look_up),
            ("To derive", self.to_derive),
            ("Educated guesses", self.educated_guesses),
        ]
        lines = []
        for title, items in sections:
            lines.append(f"{title}:")
            lines.extend(f"- {item}" for item in items) if items else lines.append("- (none)")
        return "\n".join(lines)


class PlanStep(BaseModel):
    agent: str
    action: str


class Plan(BaseModel):
    steps: list[PlanStep] = Field(min_length=1)
    # On a replan: what went wrong last time and what this plan does differently.
    lessons: str = ""

    def render(self) -> str:
        lines = [f"{i}. {step.agent}: {step.action}" for i, step in enumerate(self.steps, 1)]
        if self.lessons:
            lines.append(f"Lessons from the previous attempt: {self.lessons}")
        return "\n".join(lines)


@dataclass
class TaskLedger:
    task: str
    facts: Facts = field(default_factory=Facts)
    plan: Plan | None = None
    replans: int = 0

    def render(self) -> str:
        plan = self.plan.render() if self.plan else "(no plan yet)"
        return f"TASK:\n{self.task}\n\nFACTS:\n{self.facts.render()}\n\nPLAN:\n{plan}"


class BoolAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = ""
    answer: bool


class TextAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = ""
    answer: str


class ProgressLedger(BaseModel):
    """The orchestrator's judgement of one round. Built per team by `progress_schema`."""

    model_config = ConfigDict(extra="ignore")
    is_request_satisfied: BoolAnswer
    is_in_loop: BoolAnswer
    is_progress_being_made: BoolAnswer
    next_speaker: TextAnswer
    instruction_or_question: TextAnswer


def progress_schema(agent_names: list[str]) -> type[ProgressLedger]:
    """A ProgressLedger whose next_speaker must name one of these agents.

    The name is matched without regard to case or spaces ("coder" is the Coder). When the
    request is satisfied, no speaker is needed and none is checked.
    """
    by_key = {_name_key(name): name for name in agent_names}
    listed = ", ".join(agent_names)

    class TeamProgressLedger(ProgressLedger):
        model_config = ConfigDict(
            extra="ignore",
            title="ProgressLedger",
            json_schema_extra={"description": f"next_speaker.answer is one of: {listed}"},
        )

        @model_validator(mode="after")
        def _known_speaker(self) -> TeamProgressLedger:
            if self.is_request_satisfied.answer:
                return self
            name = by_key.get(_name_key(self.next_speaker.answer))
            if name is None:
                raise ValueError(
                    f"next_speaker.answer '{self.next_speaker.answer}' is not on the team; "
                    f"use one of: {listed}"
                )
            self.next_speaker.answer = name  # an empty instruction: the plan's step is used
            return self

    return TeamProgressLedger


def _name_key(name: str) -> str:
    return "".join(name.split()).lower()
