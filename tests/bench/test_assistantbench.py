"""AssistantBench: its file format through the real loader, runner and CLI, and our partial
credit scorer on cases worked out by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from magentic.bench.results import ResultStore
from magentic.bench.runner import BenchOptions, TaskOutcome, bench_main
from magentic.bench.suite import BenchTask
from magentic.bench.suites import load_suite
from magentic.bench.suites.assistantbench import credit
from magentic.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
ROWS = [
    {"id": "ab1", "set": "dev", "task": "Height of the tower?", "answer": "330",
     "difficulty": "Easy", "gold_url": "https://example.org", "explanation": "look it up"},
    {"id": "ab2", "set": "dev", "task": "Which couriers?", "difficulty": "Hard",
     "answer": '{"sender": "DHL", "price": 55}\n{"sender": "FedEx", "price": 70}'},
    {"id": "ab3", "set": "test", "task": "Unscored?", "difficulty": "Medium"},
]  # fmt: skip


def write(root: Path, rows: list[dict[str, object]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "assistant_bench_v1.0_dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("answer", "truth", "expected"),
    [
        ("the Eiffel Tower", "Eiffel Tower", 1.0),  # articles and case do not count
        ("Eiffel Tower Paris", "Eiffel Tower", 0.8),  # P 2/3, R 1
        ("Louvre", "Eiffel Tower", 0.0),
        ("$1,000", "1000", 1.0),
        ("500", "1000", 1 - math.log10(2)),
        ("100", "1000", 0.0),  # a factor of ten earns nothing
        ("-5", "5", 0.0),
        ("about a thousand", "1000", 0.0),
        ("a, b, c", '["a", "b"]', 0.8),  # a list written as text; P 2/3, R 1
        ('{"name": "DHL", "price": 110}', '{"name": "DHL", "price": 55}', 0.849485),
        ('{"Name": "DHL"}', '{"name": "DHL", "price": 55}', 2 / 3),  # P 1, R 1/2
        ("DHL", '{"name": "DHL"}', 0.0),  # a dict wanted, text given
        ('{"sender": "FedEx", "price": 70}', ROWS[1]["answer"], 2 / 3),  # 1 of 2 objects
        ("", "330", 0.0),
    ],
)
def test_partial_credit_by_hand(answer: str, truth: str, expected: float) -> None:
    assert credit(answer, truth) == pytest.approx(expected, abs=1e-6)


def test_no_truth_is_unscored() -> None:
    assert credit("anything", None) is None


def test_file_or_folder_loads_with_difficulty_as_level(tmp_path: Path) -> None:
    path = write(tmp_path / "ab", ROWS)
    for given in (path, path.parent):
        suite = load_suite(given)
        assert suite.kind == "assistantbench" and suite.name == "assistant_bench_v1.0_dev"
        assert [(t.task_id, t.level) for t in suite.tasks] == [("ab1", 1), ("ab2", 3), ("ab3", 2)]
        assert suite.tasks[0].truth == "330" and suite.tasks[2].truth is None
        assert suite.tasks[0].annotator["gold_url"] == "https://example.org"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([dict(ROWS[0], difficulty="Impossible")], r"task ab1\): difficulty 'Impossible'"),
        ([ROWS[0], ROWS[0]], "task ab1 appears twice"),
        ([{"id": "x", "task": ""}], "missing task"),
    ],
)
def test_bad_rows_name_the_task(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    path = write(tmp_path, rows)
    with pytest.raises(ConfigError, match=message):
        load_suite(path)


async def test_runner_records_partial_credit_and_pass1_is_its_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "ab", ROWS)
    answers = {"ab1": "165", "ab2": '{"sender": "FedEx", "price": 70}', "ab3": "x"}

    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        return TaskOutcome(answer=f"FINAL ANSWER: {answers[task.task_id]}")

    out = tmp_path / "out"
    options = BenchOptions(suite=path, out=out, json_output=True)
    assert await bench_main(options, run_one) == 0
    got = {r.task_id: r for r in ResultStore(out).load()}
    assert got["ab1"].credit == pytest.approx(1 - math.log10(2), abs=1e-6)
    assert got["ab2"].credit == pytest.approx(2 / 3, abs=1e-6)
    assert got["ab3"].credit is None and got["ab3"].correct is None
    assert got["ab1"].correct is False  # partial credit is not "right"
    line = json.loads(capsys.readouterr().out)
    expected = ((1 - math.log10(2)) + 2 / 3) / 2
    assert line["levels"]["all"]["pass1"] == pytest.approx(expected, abs=1e-6)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"]["kind"] == "assistantbench"


def test_cli_list_reads_assistantbench(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    done = subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", str(path), "--list", "--level", "3"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ab2\tlevel 3\t-"]
