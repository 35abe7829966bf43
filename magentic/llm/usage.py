"""Token and cost accounting: per call, and summed over a run for its budgets."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def add(self, role: str, usage: Usage) -> None:
        self.calls += 1
        for target in (self.total, self.by_role.setdefault(role, Usage())):
            target.prompt_tokens += usage.prompt_tokens
            target.completion_tokens += usage.completion_tokens
            target.cached_tokens += usage.cached_tokens
            target.cost += usage.cost
