"""The `[orchestrator]` table: stalls, replans, budgets and the transcript's size.

A leaf module (pydantic only), so `magentic.config` can read a config without importing the
orchestrator, the agents or a model SDK.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_rounds: int = Field(default=30, ge=1)
    max_seconds: float | None = Field(default=1800.0, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_cost: float | None = Field(default=None, gt=0)


class OrchestratorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_stalls: int = Field(default=3, ge=0)
    max_replans: int = Field(default=3, ge=0)
    budgets: Budgets = Field(default_factory=Budgets)
    # Extra instructions on the final answer's form, e.g. GAIA's "FINAL ANSWER: ..." line.
    answer_format: str | None = None
    message_chars: int = 2500
    transcript_chars: int = 24000
    transcript_images: Literal["none", "last"] = "none"
    final_answer_timeout_s: float = 60.0
    # Show the plan to a person before work starts and after every replan (`--review-plan`).
    review_plan: bool = False
    # How many times a person's comments may send one plan back before it is used as is.
    max_plan_reviews: int = Field(default=5, ge=1)
