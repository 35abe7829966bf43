"""Run budgets: rounds, wall time, tokens, cost. Running out ends a run cleanly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from magentic.errors import BudgetExceeded
from magentic.llm.usage import UsageMeter
from magentic.orchestrator.settings import Budgets

T = TypeVar("T")


@dataclass
class BudgetGuard:
    """Checks the budgets between steps and bounds each awaited step by the time left."""

    budgets: Budgets
    meter: UsageMeter
    started: float = 0.0  # time.monotonic() at the start of the run

    def start(self, *, already: float = 0.0) -> None:
        """Start the clock; a resumed run counts the `already` seconds it ran before."""
        self.started = time.monotonic() - already

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def deadline(self) -> float | None:
        if self.budgets.max_seconds is None:
            return None
        return self.started + self.budgets.max_seconds

    def check(self, rounds_done: int) -> None:
        b = self.budgets
        if rounds_done >= b.max_rounds:
            raise BudgetExceeded(f"reached the limit of {b.max_rounds} rounds", budget="rounds")
        if b.max_seconds is not None and self.elapsed >= b.max_seconds:
            raise BudgetExceeded(f"reached the time limit of {b.max_seconds:g} s", budget="time")
        total = self.meter.total
        if b.max_tokens is not None and total.total_tokens >= b.max_tokens:
            raise BudgetExceeded(
                f"used {total.total_tokens} tokens, the limit is {b.max_tokens}", budget="tokens"
            )
        if b.max_cost is not None and total.cost >= b.max_cost:
            raise BudgetExceeded(
                f"spent ${total.cost:.4f}, the limit is ${b.max_cost:g}", budget="cost"
            )

    async def bounded(self, step: Awaitable[T]) -> T:
        """Await `step`, but no longer than the wall-time budget allows."""
        deadline = self.deadline
        if deadline is None:
            return await step
        remaining = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(step, timeout=max(remaining, 0.001))
        except asyncio.TimeoutError:
            if time.monotonic() < deadline - 0.05:
                raise  # the step's own time-out, not ours
            raise BudgetExceeded(
                f"reached the time limit of {self.budgets.max_seconds:g} s", budget="time"
            ) from None
