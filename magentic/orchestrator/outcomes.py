"""What a round and a run end in: typed outcomes the orchestrator's loop reads like a state
machine, and the run's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["answered", "out_of_budget", "failed", "cancelled"]


@dataclass
class RunResult:
    answer: str
    status: Status
    stop_reason: str
    rounds: int = 0
    replans: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    trace_path: str | None = None
    # The class of the error that ended the run ("ModelError" for an endpoint), if one did.
    error_type: str = ""
    budget: str = ""  # which budget stopped it (rounds, time, tokens, cost, replans)
    failed_calls: int = 0  # model call attempts the endpoint failed

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Delegate:
    agent: str
    instruction: str


@dataclass
class Replan:
    reason: str


@dataclass
class Finish:
    reason: str


Outcome = Delegate | Replan | Finish
