"""The statistics module on cases worked out by hand, and the numbers it feeds into report.md
and `--json` from a real run of the runner with repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magentic.bench import stats
from magentic.bench.runner import BenchOptions, TaskOutcome, bench_main
from magentic.bench.suite import BenchTask

from .solvers import LOCAL_SUITE, solve


def test_percentile_interpolates_like_numpy() -> None:
    assert stats.percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert stats.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert stats.percentile([5.0], 0.9) == 5.0
    assert stats.percentile([], 0.9) is None


def test_pass_at_1_is_the_mean_of_per_repeat_means() -> None:
    # repeat 0: 2 of 3 right, repeat 1: 1 of 3 right -> (2/3 + 1/3) / 2
    assert stats.pass_at_1({0: [1, 0, 1], 1: [0, 0, 1]}) == pytest.approx(0.5)
    # a repeat with fewer tasks still counts as one repeat: (1 + 0) / 2
    assert stats.pass_at_1({0: [1, 1], 1: [0]}) == pytest.approx(0.5)
    assert stats.pass_at_1({}) is None


def test_pass_at_k_takes_each_tasks_best_try() -> None:
    assert stats.pass_at_k({"a": [1, 0], "b": [0, 0], "c": [0.5, 0.25]}) == pytest.approx(0.5)


def test_majority_vote_normalises_breaks_ties_first_and_ignores_empty_answers() -> None:
    votes = {
        "a": [("Paris", 1.0), ("paris ", 1.0), ("Lyon", 0.0)],  # Paris wins 2-1
        "b": [("x", 0.0), ("y", 1.0)],  # a tie goes to the first answer
        "c": [("", 0.0), ("", 0.0), ("z", 1.0)],  # empty answers do not outvote one
        "d": [("", 0.0)],  # nothing but empty: that is the vote
    }
    assert stats.majority_vote(votes) == pytest.approx((1 + 0 + 1 + 0) / 4)


def test_bootstrap_over_two_opposite_tasks_spans_zero_to_one() -> None:
    # Resampling {1, 0} twice gives a mean of 0, 0.5 or 1 with chances 1/4, 1/2, 1/4: the
    # 2.5th percentile is 0 and the 97.5th is 1.
    assert stats.bootstrap_ci({"a": [1.0], "b": [0.0]}) == (0.0, 1.0)


def test_bootstrap_is_seeded_order_free_and_bounded() -> None:
    by_task = {f"t{i}": [float(i % 3 == 0), float(i % 2 == 0)] for i in range(30)}
    first = stats.bootstrap_ci(by_task)
    assert first is not None
    assert stats.bootstrap_ci(dict(reversed(list(by_task.items())))) == first
    per_task = [sum(v) / 2 for v in by_task.values()]
    centre = sum(per_task) / len(per_task)
    low, high = first
    assert min(per_task) <= low < centre < high <= max(per_task)
    assert stats.bootstrap_ci({"t": [1.0, 0.0]}) is None  # one task: nothing to resample
    assert stats.bootstrap_ci({"a": [1.0], "b": [1.0]}) == (1.0, 1.0)


async def test_report_and_json_carry_the_statistics_of_a_repeated_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three tasks, three repeats. The treasurer task is solved on repeat 0 only and the
    elevation task always; the CSV task runs out of budget on repeat 2."""

    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        outcome = await solve(task, repeat, workdir)
        if task.task_id == "file-minutes-treasurer" and repeat > 0:
            outcome.answer = "FINAL ANSWER: Nobody"
        if task.task_id == "code-transactions-total" and repeat == 2:
            outcome.answer, outcome.status = "", "out_of_budget"
        return outcome

    ids = ["web-station-elevation", "file-minutes-treasurer", "code-transactions-total"]
    options = BenchOptions(
        suite=LOCAL_SUITE, out=tmp_path / "out", tasks=ids, repeat=3, json_output=True
    )
    assert await bench_main(options, run_one) == 0
    line = json.loads(capsys.readouterr().out.strip())
    every = line["levels"]["all"]
    # per repeat: 3/3, 2/3, 1/3 -> pass@1 = 2/3; every task solved at least once
    assert every["pass1"] == pytest.approx(2 / 3)
    assert every["pass_k"] == 1.0
    # majority: elevation right, treasurer "Nobody" twice (wrong), CSV right twice -> 2/3
    assert every["majority"] == pytest.approx(2 / 3)
    assert (every["out_of_budget"], every["wrong"], every["errors"]) == (1, 2, 0)
    low, high = every["pass1_ci95"]
    assert 0 <= low <= 2 / 3 <= high <= 1
    assert every["tokens"]["p90"] >= every["tokens"]["mean"] > 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Statistics" in report
    assert f"| all | 66.7% [{100 * low:.1f}, {100 * high:.1f}] | 100.0% | 66.7% | 0 | 1 | 2 |" in (
        report
    )
