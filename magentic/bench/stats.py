"""The statistics of a bench run, as plain functions over credits, so each can be checked by
hand.

A *credit* is what one run of one task earned, in [0, 1]: 1 or 0 under GAIA's exact match,
anything between under a partial-credit scorer (AssistantBench). `None` means unscored.

* pass@1 is the mean over repeats of each repeat's mean credit: the expected score of one try.
* Its 95% interval is a percentile bootstrap over *tasks* (a task keeps all its repeats when
  drawn), because tasks, not tries, are the sample a suite stands for. The generator is
  seeded, so the same results always give the same interval.
* pass@k: the mean over tasks of the best credit among its k tries.
* Majority vote: each task's most frequent answer (normalised; ties go to the answer first
  given) earns the credit that answer got; empty answers vote only if nothing else did.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

BOOTSTRAP_SAMPLES = 2000
SEED = 20231


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0..1) with linear interpolation between order statistics
    (numpy's default), so p90 of 1..10 is 9.1."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def pass_at_1(by_repeat: Mapping[int, Sequence[float]]) -> float | None:
    """Mean over repeats of the mean credit within each repeat."""
    means = [statistics.fmean(v) for _, v in sorted(by_repeat.items()) if v]
    return mean(means)


def pass_at_k(by_task: Mapping[str, Sequence[float]]) -> float | None:
    """Mean over tasks of the best credit among the task's tries."""
    return mean([max(v) for v in by_task.values() if v])


def bootstrap_ci(
    by_task: Mapping[str, Sequence[float]],
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = 0.95,
    seed: int = SEED,
) -> tuple[float, float] | None:
    """A percentile-bootstrap interval for the mean credit, resampling tasks.

    Each task contributes its mean over repeats. None with fewer than two tasks (one task has
    no spread to resample). Tasks are taken in sorted-id order so the draw does not depend on
    the order results were written in.
    """
    per_task = [statistics.fmean(by_task[t]) for t in sorted(by_task) if by_task[t]]
    if len(per_task) < 2:
        return None
    rng = random.Random(seed)
    n = len(per_task)
    means = sorted(sum(rng.choices(per_task, k=n)) / n for _ in range(samples))
    tail = (1 - confidence) / 2
    low, high = percentile(means, tail), percentile(means, 1 - tail)
    assert low is not None and high is not None
    return low, high


def majority_vote(votes: Mapping[str, Sequence[tuple[str, float]]]) -> float | None:
    """Mean over tasks of the credit of the task's most frequent answer.

    `votes[task]` lists (answer, credit) in repeat order. Answers are compared after
    lowercasing and collapsing white space; a tie goes to the answer that came first.
    """
    credits = []
    for answers in votes.values():
        if not answers:
            continue
        given = [(a, c) for a, c in answers if a.strip()] or list(answers)
        keys = [" ".join(a.lower().split()) for a, _ in given]
        counts = Counter(keys)
        top = max(counts.values())
        winner = next(k for k in keys if counts[k] == top)
        credits.append(given[keys.index(winner)][1])
    return mean(credits)


def group(pairs: Sequence[tuple[str | int, float]]) -> dict[str | int, list[float]]:
    """Values grouped by key, in first-seen order."""
    grouped: dict[str | int, list[float]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return dict(grouped)
