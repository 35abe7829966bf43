"""Token and cost accounting: per call, and summed over a run for its budgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magentic.errors import BudgetExceeded
from magentic.llm.settings import Price

# A call that cannot ask for at least this many reply tokens within the budget is not made.
MIN_REPLY_TOKENS = 16
# A budget's room is sent as a reply cap only below this: every chat model writes at least
# this many tokens, so the cap never passes a model's own output limit.
BUDGET_CAP_BELOW = 4096


def token_limit_reached(limit: int) -> BudgetExceeded:
    """The stop of a token budget. It names the limit, not a count: the run's end says
    the one total, after every call (of every role) is in."""
    return BudgetExceeded(f"reached the token limit of {limit}", budget="tokens")


def cost_limit_reached(limit: float) -> BudgetExceeded:
    return BudgetExceeded(f"reached the cost limit of ${limit:g}", budget="cost")


@dataclass
class UsageLimits:
    """The run's token and cost budgets, as every client of the run checks them before a
    call (the orchestrator also checks them between rounds)."""

    max_tokens: int | None = None
    max_cost: float | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class UsageMeter:
    """Sums every call of a run, overall and per role. Shared by all of a run's clients."""

    total: Usage = field(default_factory=Usage)
    by_role: dict[str, Usage] = field(default_factory=dict)
    calls: int = 0
    failed_calls: int = 0  # attempts the endpoint failed (each also a ModelCallFailed event)
    limits: UsageLimits = field(default_factory=UsageLimits)

    def add(self, role: str, usage: Usage) -> None:
        self.calls += 1
        for target in (self.total, self.by_role.setdefault(role, Usage())):
            target.prompt_tokens += usage.prompt_tokens
            target.completion_tokens += usage.completion_tokens
            target.cached_tokens += usage.cached_tokens
            target.cost += usage.cost

    def reply_room(self, prompt_tokens: int, price: Price | None) -> int | None:
        """The most reply tokens the next call may ask for so that the run stays within its
        budgets (None: no budget limits it). Raises BudgetExceeded when even a short reply
        would not fit: the call is not made, rather than made and paid for past the limit.

        The prompt's size is an estimate, so a call may still end a little past a budget;
        the orchestrator's check between rounds then stops the run."""
        rooms: list[int] = []
        limits, total = self.limits, self.total
        if limits.max_tokens is not None:
            room = limits.max_tokens - total.total_tokens - prompt_tokens
            if room < MIN_REPLY_TOKENS:
                raise token_limit_reached(limits.max_tokens)
            rooms.append(room)
        if limits.max_cost is not None:
            left = limits.max_cost - total.cost
            if left <= 0:
                raise cost_limit_reached(limits.max_cost)
            if price is not None and price.output > 0:
                left -= prompt_tokens * price.input / 1e6
                room = int(left * 1e6 / price.output)
                if room < MIN_REPLY_TOKENS:
                    raise cost_limit_reached(limits.max_cost)
                rooms.append(room)
        return min(rooms) if rooms else None


def cap_reply(
    body: dict[str, Any],
    room: int | None,
    prompt_tokens: int,
    context_tokens: int | None,
    *,
    openai_own: bool,
) -> None:
    """Put a budget's `room` in a request body as its reply cap.

    Only a small room is sent: a large one could pass the model's own output limit, which
    the server refuses. OpenAI's and Azure's endpoints take the cap as
    `max_completion_tokens` (their newer models refuse `max_tokens`); others as
    `max_tokens`, as does a `max_tokens` the settings already put in the body."""
    if room is None or room >= BUDGET_CAP_BELOW:
        return
    if context_tokens:  # prompt and reply must fit the window together
        room = max(MIN_REPLY_TOKENS, min(room, context_tokens - prompt_tokens))
    if "max_tokens" in body:
        body["max_tokens"] = min(body["max_tokens"], room)
    else:
        body["max_completion_tokens" if openai_own else "max_tokens"] = room
