"""Why a task was not right, read from its trace events alone (no model call).

Each run that was not right (a wrong answer, or no answer) gets one class, the first that
applies:

* `denied by approval (K)`: the `[approval]` table (or nobody there to ask, as in every
  bench) refused an action of kind K; whatever followed (a stall, a budget stop, a wrong
  answer) most likely followed from that, and the fix is in the config (`--yes`, a rule),
  not in the team;
* `out of budget (B)`: a budget stopped it; B is rounds, time, tokens, cost or the bench's
  own task timeout;
* `stalled`: the team stalled until the replans ran out;
* `model endpoint`: a model call failed for good (the endpoint, not the team);
* `agent error (A)`: the run failed and agent A's actions had errors (or `crashed` when the
  bench itself caught an exception);
* `wrong, right answer seen`: the answer was wrong though the truth appears somewhere in the
  transcript (an agent's reply or tool result, or the ledger), so the team had it and lost it;
* `answer never seen`: wrong, and the truth appears nowhere in the transcript.

The classes are deliberately coarse and computed from facts in the trace, so two runs of
the same system can be compared without anyone's judgement.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magentic.bench.results import TaskResult
from magentic.bench.scoring import is_number

OUT_OF_BUDGET = "out of budget"
STALLED = "stalled"
MODEL_ENDPOINT = "model endpoint"
AGENT_ERROR = "agent error"
CRASHED = "crashed"
SEEN = "wrong, right answer seen"
NEVER_SEEN = "answer never seen"
NO_ANSWER = "no answer"
APPROVAL_DENIED = "denied by approval"
ORDER = (
    APPROVAL_DENIED,
    OUT_OF_BUDGET,
    STALLED,
    MODEL_ENDPOINT,
    AGENT_ERROR,
    CRASHED,
    SEEN,
    NEVER_SEEN,
    NO_ANSWER,
)

_BUDGETS = (
    ("task timeout", "task timeout"),
    ("rounds", "rounds"),
    ("time limit", "time"),
    ("tokens", "tokens"),
    ("token limit", "tokens"),
    ("spent $", "cost"),  # the wording of runs before the cost limit was named alone
    ("cost limit", "cost"),
)


@dataclass(frozen=True)
class Failure:
    category: str  # one of ORDER
    detail: str = ""  # which budget, which agent

    def __str__(self) -> str:
        return f"{self.category} ({self.detail})" if self.detail else self.category


def not_right(result: TaskResult) -> bool:
    """Runs the taxonomy covers: scored and not right, or unscored and not answered."""
    if result.correct is not None:
        return not result.correct
    return result.status != "answered" or result.errored


def classify(result: TaskResult, events: Sequence[Any]) -> Failure:
    """The class of one run that was not right, from its result and its trace events."""
    reason = result.stop_reason.lower()
    denied = denied_kinds(events)
    if denied and result.status != "error":
        return Failure(APPROVAL_DENIED, ", ".join(denied))
    finished = [e for e in events if e.kind == "run_finished"]
    # The run says which budget stopped it; traces from before that field are read by the
    # stop reason's words.
    budget = finished[-1].budget if finished and finished[-1].budget else ""
    if budget == "replans" or (not budget and "replans" in reason and "stall" in reason):
        return Failure(STALLED)
    if result.status == "out_of_budget":
        if not budget or "task timeout" in reason:
            budget = next((name for key, name in _BUDGETS if key in reason), "")
        return Failure(OUT_OF_BUDGET, budget)
    if result.status == "error":
        return Failure(CRASHED, result.error or "")
    given_up = [e for e in events if e.kind == "model_call_failed" and e.next == "give_up"]
    failed = [e for e in events if e.kind == "run_failed"]
    if result.status == "failed" and (
        given_up or any(e.error_type == "ModelError" for e in failed)
    ):
        return Failure(MODEL_ENDPOINT, given_up[-1].reason if given_up else "")
    if result.status == "failed":
        errors = Counter(e.agent for e in events if e.kind == "agent_acted" and e.error)
        agent = errors.most_common(1)[0][0] if errors else ""
        return Failure(AGENT_ERROR, agent or (failed[-1].error_type if failed else ""))
    if result.truth is None:
        return Failure(NO_ANSWER)
    return Failure(SEEN if truth_seen(result.truth, events) else NEVER_SEEN)


def denied_kinds(events: Sequence[Any]) -> list[str]:
    """The action kinds whose approval was refused in a run, in the order first refused."""
    asked = {e.request_id: e.action for e in events if e.kind == "control_requested"}
    kinds: list[str] = []
    for event in events:
        if event.kind == "control_decided" and event.request == "approval":
            kind = asked.get(event.request_id, "")
            if event.decision == "deny" and kind and kind not in kinds:
                kinds.append(kind)
    return kinds


def transcript(events: Sequence[Any]) -> str:
    """Everything the team read or said during the run (not the final answer itself)."""
    parts: list[str] = []
    for event in events:
        if event.kind == "agent_replied":
            parts.append(event.text)
        elif event.kind == "agent_acted":
            parts.append(event.result)
        elif event.kind == "ledger_updated":
            parts.append(event.facts)
    return "\n".join(parts)


def truth_seen(truth: str, events: Sequence[Any]) -> bool:
    """Whether the truth occurs in the transcript: a number as a whole number (17 is not in
    170; 1,234 counts for 1234), a string case- and space-insensitively."""
    text = " ".join(transcript(events).lower().split())
    if not text:
        return False
    if is_number(truth):
        digits = text.replace(",", "")
        wanted = re.escape(truth.strip())
        return re.search(rf"(?<![\d.]){wanted}(?![\d])", digits) is not None
    return " ".join(truth.lower().split()) in text


def classify_all(folder: Path, results: Sequence[TaskResult]) -> list[tuple[TaskResult, Failure]]:
    """Every run that was not right, with its class (reading its trace where there is one)."""
    from magentic.trace.writer import read_trace

    classified = []
    for result in results:
        if not not_right(result):
            continue
        events: list[Any] = []
        if result.trace_path:
            path = Path(result.trace_path)
            path = path if path.is_absolute() else folder / path
            try:
                events = read_trace(path)
            except (OSError, ValueError):
                events = []
        classified.append((result, classify(result, events)))
    return classified


def markdown(classified: Sequence[tuple[TaskResult, Failure]]) -> list[str]:
    """report.md's failure section: runs per class, with the tasks in each."""
    if not classified:
        return []
    by_class: dict[str, list[str]] = {}
    for result, failure in classified:
        by_class.setdefault(str(failure), []).append(f"{result.task_id} r{result.repeat}")
    lines = ["## Why tasks were not right", "", "| class | runs | tasks |", "|---|---|---|"]
    for name in sorted(by_class, key=lambda n: (_rank(n), n)):
        tasks = by_class[name]
        shown = ", ".join(tasks[:12]) + (f" … (+{len(tasks) - 12})" if len(tasks) > 12 else "")
        lines.append(f"| {name.replace('|', '/')} | {len(tasks)} | {shown} |")
    return lines


def _rank(name: str) -> int:
    return next((i for i, c in enumerate(ORDER) if name.startswith(c)), len(ORDER))
