"""Report numbers come from the results: accuracy by level, spread over repeats, pass@k."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from rich.console import Console

from magentic.bench.report import (
    render_markdown,
    rich_table,
    submission_lines,
    summarize,
    summary_json,
    write_reports,
)

from .test_results import result

# (task, level, [correct in repeat 0, 1, 2])
PATTERN = {
    "a": (1, [True, True, True]),
    "b": (1, [False, True, False]),
    "c": (1, [False, False, False]),
    "d": (2, [True, False, True]),
}


def runs() -> list:
    records = []
    for task_id, (level, outcomes) in PATTERN.items():
        for repeat, correct in enumerate(outcomes):
            records.append(
                result(
                    task_id,
                    repeat,
                    level=level,
                    correct=correct,
                    answer="right" if correct else "wrong",
                    prompt_tokens=1000 * (repeat + 1),
                    completion_tokens=10,
                    cost=0.01 * (repeat + 1),
                    seconds=2.0 * (repeat + 1),
                    reasoning=f"why {task_id} {repeat}",
                )
            )
    records.append(result("u", 0, level=3, truth=None, correct=None, answer="guess"))
    records.append(result("e", 0, level=3, truth="1", correct=False, status="error", answer=""))
    return records


def test_accuracy_by_level_with_repeats() -> None:
    rows = {row.level: row for row in summarize(runs())}
    assert list(rows) == ["1", "2", "3", "all"]
    one = rows["1"]
    assert (one.tasks, one.runs, one.scored_runs, one.correct_runs) == (3, 9, 9, 4)
    assert one.per_repeat == pytest.approx([1 / 3, 2 / 3, 1 / 3])  # repeat by repeat
    assert one.pass1 == pytest.approx(4 / 9)
    assert one.pass_k == pytest.approx(2 / 3)  # a and b solved at least once, c never
    std, low, high = one.spread  # type: ignore[misc]
    assert std == pytest.approx(statistics.stdev([1 / 3, 2 / 3, 1 / 3]))
    assert (low, high) == pytest.approx((1 / 3, 2 / 3))
    assert one.prompt_tokens == pytest.approx(2000)  # mean of 1000, 2000, 3000 per run
    assert one.cost == pytest.approx(0.02) and one.seconds == pytest.approx(4.0)
    assert rows["2"].pass1 == pytest.approx(2 / 3) and rows["2"].pass_k == 1.0
    three = rows["3"]  # one unscored task and one crashed task
    assert (three.tasks, three.scored_runs, three.correct_runs, three.errors) == (2, 1, 0, 1)
    assert three.pass1 == 0.0
    every = rows["all"]
    assert (every.tasks, every.runs, every.correct_runs, every.errors) == (6, 14, 6, 1)
    # repeat 0 has 8 scored runs (a..d, e), repeats 1 and 2 have four each
    assert every.per_repeat == pytest.approx([2 / 5, 2 / 4, 2 / 4])


def test_single_repeat_has_no_spread_and_unscored_levels_have_no_accuracy() -> None:
    rows = summarize([result("a", level=1), result("u", level=2, truth=None, correct=None)])
    assert rows[0].pass1 == 1.0 and rows[0].spread is None
    assert rows[1].pass1 is None and rows[1].pass_k is None
    table = render_markdown([result("a")], title="t")
    assert "±std" not in table and "pass@1" in table


def test_markdown_and_console_tables_show_the_numbers() -> None:
    records = runs()
    text = render_markdown(records, title="local · scripted")
    assert text.startswith("# local · scripted")
    assert (
        "| 1 | 3 | 9 | 4/9 | 44.4% | ±19.2 | 33-67% | 66.7% | 0 | 2,000 | 10 | $0.0200 | 4.0 |"
        in text
    )
    assert "| 3 | 2 | 2 | 0/1 | 0.0% |" in text
    assert "| u | 3 | 0 | - | answered | guess | ? |" in text  # unscored shows as such
    assert text.count("\n| a | 1 |") == 3  # one line per run
    console = Console(record=True, width=200)
    console.print(rich_table(summarize(records), title="local"))
    shown = console.export_text()
    assert "pass@3" in shown and "44.4%" in shown and "66.7%" in shown


def test_submission_has_one_line_per_task_from_its_first_repeat(tmp_path: Path) -> None:
    records = runs()
    lines = {line["task_id"]: line for line in submission_lines(records)}
    assert set(lines) == {"a", "b", "c", "d", "u", "e"}
    assert lines["b"] == {"task_id": "b", "model_answer": "wrong", "reasoning_trace": "why b 0"}
    write_reports(tmp_path, records, title="x")
    written = [
        json.loads(line) for line in (tmp_path / "submission.jsonl").read_text().splitlines()
    ]
    assert [w["task_id"] for w in written] == sorted(lines)
    assert set(written[0]) == {"task_id", "model_answer", "reasoning_trace"}
    assert (tmp_path / "report.md").read_text().startswith("# x")


def test_summary_json_is_plain_data() -> None:
    data = summary_json(summarize(runs()))
    assert json.loads(json.dumps(data))["1"]["pass1"] == pytest.approx(4 / 9)
    assert data["all"]["errors"] == 1
