"""GAIA's two layouts (metadata.jsonl and today's metadata.parquet, written here with pyarrow),
bad input refused with a line naming the task, and `magentic bench SUITE --list` on the real
CLI."""

# ruff: noqa: E402 (the imports below the require() need the part it checks for)
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from magentic.bench.suites import load_suite
from magentic.errors import ConfigError
from tests.conftest import installed, require

require(installed("pyarrow.parquet"), "pyarrow (pip install 'magentic[bench]')")

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]

ROWS = [
    {
        "task_id": "aaa",
        "Question": "How many rows?",
        "Level": "1",
        "Final answer": "3",
        "file_name": "aaa.csv",
        "file_path": "2023/validation/aaa.csv",  # named from the dataset root, as published
        "Annotator Metadata": {"Steps": "count"},
    },
    {
        "task_id": "bbb",
        "Question": "Who?",
        "Level": "2",
        "Final answer": "Ada",
        "file_name": "",
        "file_path": "",
        "Annotator Metadata": {},
    },
    {
        "task_id": "ccc",
        "Question": "Test split?",
        "Level": "3",
        "Final answer": "?",
        "file_name": "",
        "file_path": "",
        "Annotator Metadata": {},
    },
]


def write_parquet(
    root: Path, rows: list[dict[str, object]], name: str = "metadata.parquet"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / name)
    return root / name


def gaia_parquet(root: Path) -> Path:
    write_parquet(root, ROWS)
    (root / "aaa.csv").write_text("x\n1\n2\n3\n")
    return root


@pytest.mark.parametrize("as_file", [False, True])
def test_parquet_layout_loads_as_folder_or_file(tmp_path: Path, as_file: bool) -> None:
    root = gaia_parquet(tmp_path / "validation")
    suite = load_suite(root / "metadata.parquet" if as_file else root)
    assert suite.name == "validation" and suite.kind == "gaia"
    aaa, bbb, ccc = suite.tasks
    assert [t.level for t in suite.tasks] == [1, 2, 3]  # Level strings read as numbers
    assert aaa.file_path == (root / "aaa.csv").resolve() and aaa.file_name == "aaa.csv"
    assert aaa.truth == "3" and aaa.annotator == {"Steps": "count"}
    assert bbb.file_path is None and bbb.truth == "Ada"
    assert ccc.truth is None and not ccc.scored


def test_jsonl_and_parquet_of_the_same_rows_agree(tmp_path: Path) -> None:
    parquet = load_suite(gaia_parquet(tmp_path / "p"))
    root = tmp_path / "j"
    root.mkdir()
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (root / "aaa.csv").write_text("x\n1\n2\n3\n")
    jsonl = load_suite(root)
    strip = [(t.task_id, t.level, t.truth, t.file_name, t.question) for t in jsonl.tasks]
    assert strip == [(t.task_id, t.level, t.truth, t.file_name, t.question) for t in parquet.tasks]


def test_file_path_column_alone_finds_the_attachment(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], file_name="")]
    write_parquet(tmp_path, rows)
    (tmp_path / "aaa.csv").write_text("x\n")
    (task,) = load_suite(tmp_path).tasks
    assert task.file_path == (tmp_path / "aaa.csv").resolve() and task.file_name == "aaa.csv"


def test_parquet_that_is_not_gaias_names_the_missing_columns(tmp_path: Path) -> None:
    write_parquet(tmp_path, [{"id": "x", "prompt": "hi"}])
    with pytest.raises(ConfigError, match=r"missing column\(s\) task_id, Question, Level"):
        load_suite(tmp_path)


def test_corrupt_parquet_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "metadata.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ConfigError, match="not a readable parquet file"):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Level": "four"}, r"task aaa\): Level 'four' is not 1, 2 or 3"),
        ({"Level": 7}, r"task aaa\): Level 7 is not 1, 2 or 3"),
        ({"file_name": "gone.csv", "file_path": ""}, r"task aaa\): attached file gone.csv"),
        ({"file_path": "../../etc/passwd", "file_name": ""}, r"task aaa\).*leads outside"),
        ({"file_path": "/etc/passwd", "file_name": ""}, r"task aaa\).*leads outside"),
    ],
)
def test_bad_rows_name_the_task(tmp_path: Path, change: dict[str, object], message: str) -> None:
    write_parquet(tmp_path, [dict(ROWS[0], **change)])
    (tmp_path / "aaa.csv").write_text("x\n")
    with pytest.raises(ConfigError, match=message):
        load_suite(tmp_path)


def test_duplicate_task_id_in_parquet(tmp_path: Path) -> None:
    write_parquet(tmp_path, [ROWS[0], ROWS[1], ROWS[0]])
    (tmp_path / "aaa.csv").write_text("x\n")
    with pytest.raises(ConfigError, match="task aaa appears twice"):
        load_suite(tmp_path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=120,
    )


def test_cli_list_prints_the_selection_and_runs_nothing(tmp_path: Path) -> None:
    root = gaia_parquet(tmp_path / "validation")
    out = tmp_path / "out"
    done = cli(str(root), "--list", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["aaa\tlevel 1\taaa.csv", "bbb\tlevel 2\t-", "ccc\tlevel 3\t-"]
    assert "3 of 3 tasks in validation" in done.stderr
    assert not out.exists()  # nothing ran, nothing was written
    # filters, then limit, then shard, exactly as a run would choose
    done = cli(str(root / "metadata.parquet"), "--list", "--json", "--level", "2")
    assert [json.loads(x) for x in done.stdout.splitlines()] == [
        {"task_id": "bbb", "level": 2, "attachment": ""}
    ]
    done = cli(str(root), "--list", "--limit", "2", "--shard", "2/2")
    assert done.stdout.splitlines() == ["bbb\tlevel 2\t-"]


def test_cli_bad_suite_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    write_parquet(tmp_path, [dict(ROWS[0], Level="x")])
    done = cli(str(tmp_path), "--list")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "task aaa" in done.stderr and "Level 'x'" in done.stderr
