"""Run budgets: rounds, wall time, tokens, cost. Running out ends a run cleanly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from magentic.errors import BudgetExceeded
from magentic.llm.usage import (
    UsageLimits,
    UsageMeter,
    cost_limit_reached,
    token_limit_reached,
)
from magentic.orchestrator.settings import Budgets

T = TypeVar("T")


def _no_wait() -> float:
    return 0.0


@dataclass
class BudgetGuard:
    """Checks the budgets between steps and bounds each awaited step by the time left.

    Time spent waiting for a person (`waited`: the control channel's paused and asking
    seconds) does not count against the wall-time budget: the deadline moves on by it."""

    budgets: Budgets
    meter: UsageMeter
    started: float = 0.0  # time.monotonic() at the start of the run
    waited: Callable[[], float] = field(default=_no_wait)

    def __post_init__(self) -> None:
        # every client of the run checks the token and cost budgets before each call
        self.meter.limits = UsageLimits(self.budgets.max_tokens, self.budgets.max_cost)

    def start(self, *, already: float = 0.0) -> None:
        """Start the clock; a resumed run counts the `already` seconds it ran before."""
        self.started = time.monotonic() - already

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def used(self) -> float:
        """Wall time that counts against the budget: elapsed, less waiting for a person."""
        return self.elapsed - self.waited()

    @property
    def deadline(self) -> float | None:
        if self.budgets.max_seconds is None:
            return None
        return self.started + self.budgets.max_seconds + self.waited()

    def check(self, rounds_done: int) -> None:
        b = self.budgets
        if rounds_done >= b.max_rounds:
            raise BudgetExceeded(f"reached the limit of {b.max_rounds} rounds", budget="rounds")
        if b.max_seconds is not None and self.used >= b.max_seconds:
            raise BudgetExceeded(f"reached the time limit of {b.max_seconds:g} s", budget="time")
        total = self.meter.total
        if b.max_tokens is not None and total.total_tokens >= b.max_tokens:
            raise token_limit_reached(b.max_tokens)
        if b.max_cost is not None and total.cost >= b.max_cost:
            raise cost_limit_reached(b.max_cost)

    async def bounded(self, step: Awaitable[T]) -> T:
        """Await `step`, but no longer than the wall-time budget allows. The deadline is
        looked at again when it passes: a person's answer awaited meanwhile moved it on."""
        if self.deadline is None:
            return await step
        task = asyncio.ensure_future(step)
        try:
            while True:
                deadline = self.deadline
                assert deadline is not None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait({task}, timeout=remaining)
                if done:
                    return task.result()  # the step's own errors (its own time-outs) as they are
        except BaseException:  # our caller was cancelled: the step unwinds before we do
            await _cancel_and_wait(task)
            raise
        await _cancel_and_wait(task)  # the step unwinds before the run gives its best answer
        raise BudgetExceeded(
            f"reached the time limit of {self.budgets.max_seconds:g} s", budget="time"
        )


async def _cancel_and_wait(task: asyncio.Future[T]) -> None:
    """Cancel `task` and wait until it has finished unwinding (as `asyncio.wait_for` does)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as never looked at
