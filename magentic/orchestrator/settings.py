"""The `[orchestrator]` table: stalls, replans, budgets and the transcript's size.

A leaf module (pydantic only), so `magentic.config` can read a config without importing the
orchestrator, the agents or a model SDK.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_rounds: int = Field(default=30, ge=1)  # orchestrator rounds (`--max-rounds`)
    # Wall-clock seconds; time spent waiting for a person does not count (`--max-seconds`).
    max_seconds: float | None = Field(default=1800.0, gt=0)
    # Model tokens of every role, prompt and reply (`--max-tokens`).
    max_tokens: int | None = Field(default=None, gt=0)
    # US dollars, by the `[prices]` table (`--max-cost`).
    max_cost: float | None = Field(default=None, gt=0)


class OrchestratorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Rounds without progress (or in a loop) before the facts and plan are made again.
    max_stalls: int = Field(default=3, ge=0)
    # New plans after stalls before the run ends with its best answer.
    max_replans: int = Field(default=3, ge=0)
    budgets: Budgets = Field(default_factory=Budgets)
    # Extra instructions on the final answer's form, e.g. GAIA's "FINAL ANSWER: ..." line.
    answer_format: str | None = None
    # Characters of one agent's reply kept in the team's conversation.
    message_chars: int = 2500
    # Characters of the conversation the orchestrator is shown (the oldest go first).
    transcript_chars: int = 24000
    # "last": the newest screenshot also goes to the orchestrator (a vision model).
    transcript_images: Literal["none", "last"] = "none"
    # Seconds the final answer's model call may take, even past the wall-time budget.
    final_answer_timeout_s: float = 60.0
    # Show the plan to a person before work starts and after every replan (`--review-plan`).
    review_plan: bool = False
    # How many times a person's comments may send one plan back before it is used as is.
    max_plan_reviews: int = Field(default=5, ge=1)
