"""From results to numbers: accuracy by level (pass@1, spread over repeats, pass@k), the
cost of a task, `report.md`, a rich table, and GAIA's leaderboard submission file.

Everything here is computed from `TaskResult` records alone, so a report can be redone at
any time from `results.jsonl` (after a merge, or while a run is still going).

pass@1 is the mean over repeats of each repeat's accuracy, which is the unbiased estimate
of a single try; pass@k counts a task as solved when any of its k tries was correct.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from magentic.bench import stats, taxonomy
from magentic.bench.results import TaskResult

ALL = "all"


@dataclass
class LevelSummary:
    level: str  # "1", "2", "3" or "all"
    tasks: int = 0  # distinct task ids
    runs: int = 0  # records (task x repeat)
    scored_runs: int = 0
    correct_runs: int = 0
    errors: int = 0
    repeats: int = 0  # distinct repeat indices seen
    pass1: float | None = None  # mean over repeats of the per-repeat accuracy
    per_repeat: list[float] = field(default_factory=list)
    pass_k: float | None = None  # share of scored tasks with any correct repeat
    prompt_tokens: float = 0.0  # the rest are means per run
    completion_tokens: float = 0.0
    cost: float = 0.0
    seconds: float = 0.0
    ci: tuple[float, float] | None = None  # 95% bootstrap interval of pass@1, over tasks
    majority: float | None = None  # majority-vote accuracy over repeats
    out_of_budget: int = 0  # runs stopped by a budget (rounds, tokens, time)
    wrong: int = 0  # scored runs that ran to an answer and did not earn full credit
    tokens_p90: float = 0.0  # prompt + completion, per run
    cost_p90: float = 0.0
    seconds_p90: float = 0.0

    @property
    def tokens(self) -> float:
        return self.prompt_tokens + self.completion_tokens

    @property
    def spread(self) -> tuple[float, float, float] | None:
        """(std, min, max) of the per-repeat accuracies, when there are at least two."""
        if len(self.per_repeat) < 2:
            return None
        values = self.per_repeat
        return statistics.stdev(values), min(values), max(values)


def summarize(results: Iterable[TaskResult]) -> list[LevelSummary]:
    """One summary per level present (in level order), then one for all levels."""
    by_level: dict[str, list[TaskResult]] = defaultdict(list)
    everything = list(results)
    for result in everything:
        by_level[str(result.level)].append(result)
    rows = [_summarize(level, by_level[level]) for level in sorted(by_level, key=int)]
    rows.append(_summarize(ALL, everything))
    return rows


def _summarize(level: str, results: list[TaskResult]) -> LevelSummary:
    row = LevelSummary(level=level, tasks=len({r.task_id for r in results}), runs=len(results))
    if not results:
        return row
    scored = [r for r in results if r.earned is not None]
    row.scored_runs = len(scored)
    row.correct_runs = sum(1 for r in scored if r.correct)
    row.errors = sum(1 for r in results if r.errored)
    row.out_of_budget = sum(1 for r in results if r.status == "out_of_budget" and not r.errored)
    row.wrong = sum(
        1 for r in scored if not r.correct and not r.errored and r.status != "out_of_budget"
    )
    row.repeats = len({r.repeat for r in results})
    by_repeat = stats.group([(r.repeat, r.earned) for r in scored])  # type: ignore[misc]
    by_task = stats.group([(r.task_id, r.earned) for r in scored])  # type: ignore[misc]
    if by_repeat:
        row.per_repeat = [statistics.fmean(v) for _, v in sorted(by_repeat.items())]
        row.pass1 = stats.pass_at_1(by_repeat)  # type: ignore[arg-type]
        row.pass_k = stats.pass_at_k(by_task)  # type: ignore[arg-type]
        row.ci = stats.bootstrap_ci(by_task)  # type: ignore[arg-type]
        votes: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for r in sorted(scored, key=lambda r: r.repeat):
            votes[r.task_id].append((r.answer, r.earned))  # type: ignore[arg-type]
        row.majority = stats.majority_vote(votes)
    tokens = [float(r.prompt_tokens + r.completion_tokens) for r in results]
    row.prompt_tokens = statistics.fmean(r.prompt_tokens for r in results)
    row.completion_tokens = statistics.fmean(r.completion_tokens for r in results)
    row.cost = statistics.fmean(r.cost for r in results)
    row.seconds = statistics.fmean(r.seconds for r in results)
    row.tokens_p90 = stats.percentile(tokens, 0.9) or 0.0
    row.cost_p90 = stats.percentile([r.cost for r in results], 0.9) or 0.0
    row.seconds_p90 = stats.percentile([r.seconds for r in results], 0.9) or 0.0
    return row


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _spread(row: LevelSummary) -> list[str]:
    """± standard deviation and min-max range of the per-repeat accuracies."""
    spread = row.spread
    if spread is None:
        return ["-", "-"]
    std, low, high = spread
    return [f"±{100 * std:.1f}", f"{100 * low:.0f}-{100 * high:.0f}%"]


def _columns(rows: Sequence[LevelSummary]) -> tuple[list[str], list[list[str]]]:
    """Header and cells shared by the markdown and the console tables."""
    repeats = max((r.repeats for r in rows), default=1)
    header = ["level", "tasks", "runs", "correct", "pass@1"]
    if repeats > 1:
        header += ["±std", "range", f"pass@{repeats}"]
    header += ["errors", "tok in", "tok out", "$/task", "s/task"]
    cells = []
    for row in rows:
        line = [
            row.level,
            str(row.tasks),
            str(row.runs),
            f"{row.correct_runs}/{row.scored_runs}" if row.scored_runs else "unscored",
            _percent(row.pass1),
        ]
        if repeats > 1:
            line += [*_spread(row), _percent(row.pass_k)]
        line += [
            str(row.errors),
            f"{row.prompt_tokens:,.0f}",
            f"{row.completion_tokens:,.0f}",
            f"${row.cost:.4f}",
            f"{row.seconds:.1f}",
        ]
        cells.append(line)
    return header, cells


def rich_table(rows: Sequence[LevelSummary], *, title: str = "") -> Table:
    header, cells = _columns(rows)
    table = Table(title=title or None)
    for name in header:
        table.add_column(name, justify="left" if name == "level" else "right", no_wrap=True)
    for line in cells:
        table.add_row(*line, style="bold" if line[0] == ALL else None)
    return table


def _md_cell(text: object, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def render_markdown(
    results: Sequence[TaskResult], *, title: str, folder: Path | None = None
) -> str:
    """report.md: the summary by level, the statistics, why tasks were not right (from the
    traces under `folder`), then one line per run."""
    header, cells = _columns(summarize(results))
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    lines += ["", *statistics_section(summarize(results))]
    failures = taxonomy.markdown(taxonomy.classify_all(folder or Path("."), results))
    if failures:
        lines += ["", *failures]
    lines += [
        "",
        "## Tasks",
        "",
        "| task | level | repeat | correct | status | answer | truth | rounds | s | trace |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    mark = {True: "yes", False: "no", None: "-"}
    for r in sorted(results, key=lambda r: (r.level, r.task_id, r.repeat)):
        status = r.status if not r.error else f"{r.status}: {r.error}"
        if r.judge_reasons:
            status = f"{status}; judge: {r.judge_reasons}"
        lines.append(
            "| "
            + " | ".join(
                [
                    _md_cell(r.task_id, 40),
                    str(r.level),
                    str(r.repeat),
                    mark[r.correct],
                    _md_cell(status),
                    _md_cell(r.answer),
                    _md_cell(r.truth if r.truth is not None else "?"),
                    str(r.rounds),
                    f"{r.seconds:.1f}",
                    _md_cell(r.trace_path or "", 60),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _ci(row: LevelSummary) -> str:
    if row.pass1 is None:
        return "-"
    if row.ci is None:
        return _percent(row.pass1)
    low, high = row.ci
    return f"{_percent(row.pass1)} [{100 * low:.1f}, {100 * high:.1f}]"


def statistics_section(rows: Sequence[LevelSummary]) -> list[str]:
    """report.md's statistics: pass@1 with its bootstrap interval, pass@k, majority vote,
    what went wrong, and the cost of a run (mean and p90)."""
    repeats = max((r.repeats for r in rows), default=1)
    lines = [
        "## Statistics",
        "",
        "pass@1 is the mean over repeats; its 95% interval is a seeded bootstrap over tasks. "
        f"pass@{repeats} counts a task's best try; majority is the most frequent answer's score.",
        "",
        f"| level | pass@1 [95% CI] | pass@{repeats} | majority | errored | out of budget | "
        "wrong | tokens mean / p90 | $ mean / p90 | s mean / p90 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.level,
            _ci(row),
            _percent(row.pass_k),
            _percent(row.majority),
            str(row.errors),
            str(row.out_of_budget),
            str(row.wrong),
            f"{row.tokens:,.0f} / {row.tokens_p90:,.0f}",
            f"${row.cost:.4f} / ${row.cost_p90:.4f}",
            f"{row.seconds:.1f} / {row.seconds_p90:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def submission_lines(results: Iterable[TaskResult]) -> list[dict[str, str]]:
    """GAIA's leaderboard format: one line per task, the answer of its lowest repeat."""
    first: dict[str, TaskResult] = {}
    for result in sorted(results, key=lambda r: (r.task_id, r.repeat)):
        first.setdefault(result.task_id, result)
    lines = []
    for task_id, result in first.items():
        trace = result.reasoning or (f"see trace {result.trace_path}" if result.trace_path else "")
        lines.append({"task_id": task_id, "model_answer": result.answer, "reasoning_trace": trace})
    return lines


def write_reports(folder: Path, results: Sequence[TaskResult], *, title: str) -> None:
    """report.md and submission.jsonl beside results.jsonl."""
    text = render_markdown(results, title=title, folder=folder)
    (folder / "report.md").write_text(text, encoding="utf-8")
    with (folder / "submission.jsonl").open("w", encoding="utf-8") as handle:
        for line in submission_lines(results):
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def summary_json(rows: Sequence[LevelSummary]) -> dict[str, object]:
    """The numbers of a report as one JSON object (for `--json`)."""
    return {
        row.level: {
            "tasks": row.tasks,
            "runs": row.runs,
            "scored_runs": row.scored_runs,
            "correct_runs": row.correct_runs,
            "pass1": row.pass1,
            "per_repeat": row.per_repeat,
            "pass_k": row.pass_k,
            "errors": row.errors,
            "prompt_tokens_per_run": row.prompt_tokens,
            "completion_tokens_per_run": row.completion_tokens,
            "cost_per_run": row.cost,
            "seconds_per_run": row.seconds,
            "pass1_ci95": list(row.ci) if row.ci else None,
            "majority": row.majority,
            "out_of_budget": row.out_of_budget,
            "wrong": row.wrong,
            "tokens": {"mean": row.tokens, "p90": row.tokens_p90},
            "cost": {"mean": row.cost, "p90": row.cost_p90},
            "seconds": {"mean": row.seconds, "p90": row.seconds_p90},
        }
        for row in rows
    }
