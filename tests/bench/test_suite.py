"""Suite loading (GAIA's format), selection, sharding and `{site}` filling, on the real local
suite and on small GAIA-shaped folders; and the local suite's own regeneration check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from magentic.bench.scoring import score
from magentic.bench.suite import Shard, task_ids_arg
from magentic.bench.suites import load_suite
from magentic.config import load_config
from magentic.errors import ConfigError
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script

from .solvers import LOCAL_SUITE, SOLVABLE


def write_suite(
    root: Path, rows: list[dict[str, object]], files: dict[str, bytes] | None = None
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, data in (files or {}).items():
        (root / name).write_bytes(data)
    return root


def test_local_suite_loads_with_three_levels_files_and_sites() -> None:
    suite = load_suite(LOCAL_SUITE)
    assert suite.name == "local"
    assert 18 <= len(suite.tasks) <= 25
    assert {t.level for t in suite.tasks} == {1, 2, 3}
    assert all(t.scored for t in suite.tasks)
    assert suite.sites_dir == LOCAL_SUITE / "sites"
    with_files = [t for t in suite.tasks if t.file_name]
    assert {Path(t.file_name).suffix for t in with_files} >= {
        ".pdf",
        ".xlsx",
        ".docx",
        ".csv",
        ".png",
    }
    for task in with_files:
        assert task.file_path is not None and task.file_path.is_file()
        assert task.file_path.parent == LOCAL_SUITE
    assert set(SOLVABLE) <= {t.task_id for t in suite.tasks}
    # every truth is judged correct against itself by the scorer (no truth the rules reject)
    assert all(score(t.truth, t.truth) for t in suite.tasks)


def test_site_placeholder_is_filled_with_the_servers_url() -> None:
    task = load_suite(LOCAL_SUITE).task("web-station-elevation")
    assert "{site}/city/stations.html" in task.question
    filled = task.with_site("http://127.0.0.1:8123/")
    assert "http://127.0.0.1:8123/city/stations.html" in filled.question
    assert "{site}" not in filled.question
    assert task.with_site(None) is task
    file_task = load_suite(LOCAL_SUITE).task("file-minutes-treasurer")
    assert file_task.with_site("http://x") is file_task  # nothing to fill


def test_filters_by_level_ids_and_limit() -> None:
    suite = load_suite(LOCAL_SUITE)
    level2 = suite.select(level=2)
    assert level2 and all(t.level == 2 for t in level2)
    assert len(level2) == sum(1 for t in suite.tasks if t.level == 2)
    picked = suite.select(task_ids=["mixed-trip-fares", "web-fare-senior"])
    assert [t.task_id for t in picked] == ["web-fare-senior", "mixed-trip-fares"]  # file order
    assert suite.select(task_ids=["web-fare-senior"], level=3) == []
    assert [t.task_id for t in suite.select(limit=3)] == [t.task_id for t in suite.tasks[:3]]
    assert suite.select(limit=0) == []
    with pytest.raises(ConfigError, match="no task nope"):
        suite.select(task_ids=["web-fare-senior", "nope"])


def test_shards_split_the_selection_exactly_once_and_the_same_way_every_time() -> None:
    suite = load_suite(LOCAL_SUITE)
    for count in (1, 2, 3, 7, 40):
        shards = [suite.select(shard=Shard(i, count)) for i in range(1, count + 1)]
        ids = [t.task_id for shard in shards for t in shard]
        assert sorted(ids) == sorted(t.task_id for t in suite.tasks)
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1  # balanced
        assert shards == [suite.select(shard=Shard(i, count)) for i in range(1, count + 1)]
    # the shard slices the filtered selection, so shards of a limited run cover that run
    limited = {t.task_id for t in suite.select(limit=5)}
    halves = [{t.task_id for t in suite.select(limit=5, shard=Shard(i, 2))} for i in (1, 2)]
    assert halves[0] | halves[1] == limited and not halves[0] & halves[1]


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "3", "1/2/3"])
def test_bad_shards_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        Shard.parse(text)


def test_shard_parse_and_task_ids_arg() -> None:
    assert Shard.parse("2/8") == Shard(2, 8)
    assert str(Shard(2, 8)) == "2/8"
    assert task_ids_arg("a,b, c") == ["a", "b", "c"]
    assert task_ids_arg(["a,b", "c"]) == ["a", "b", "c"]
    assert task_ids_arg(None) is None
    assert task_ids_arg(" , ") is None


def test_gaia_test_split_shape_loads_unscored(tmp_path: Path) -> None:
    root = write_suite(
        tmp_path / "test",
        [
            {
                "task_id": "t1",
                "Question": "Q {not a site}",
                "Level": "2",
                "Final answer": "?",
                "file_name": "",
            },
            {"task_id": "t2", "Question": "Q2", "Level": 1, "file_name": "a.txt"},
            {
                "task_id": "t3",
                "Question": "Q3",
                "Level": 3,
                "Final answer": "7",
                "file_name": "",
                "Annotator Metadata": {"Steps": "1. look"},
            },
        ],
        {"a.txt": b"hello"},
    )
    suite = load_suite(root / "metadata.jsonl")  # the file itself works too
    t1, t2, t3 = suite.tasks
    assert (t1.level, t1.truth, t1.scored) == (2, None, False)
    assert t1.with_site("http://h").question == "Q {not a site}"  # other braces are left alone
    assert t2.truth is None and t2.file_path == (root / "a.txt").resolve()
    assert t3.truth == "7" and t3.annotator == {"Steps": "1. look"}
    assert suite.sites_dir is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"task_id": "a", "Question": "q", "Level": 1}] * 2, "appears twice"),
        ([{"task_id": "a", "Question": "q", "Level": 1, "file_name": "gone.pdf"}], "gone.pdf"),
        ([{"task_id": "a", "Level": 1}], "missing Question"),
        ([{"task_id": "a", "Question": "q", "Level": "high"}], "Level"),
        ([], "no tasks"),
    ],
)
def test_broken_suites_say_what_is_wrong(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    root = write_suite(tmp_path / "s", rows)
    with pytest.raises(ConfigError, match=message):
        load_suite(root)


def test_not_a_suite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a suite"):
        load_suite(tmp_path)
    (tmp_path / "metadata.jsonl").write_text('{"task_id": "a"\n')
    with pytest.raises(ConfigError, match=r"metadata.jsonl:1: not JSON"):
        load_suite(tmp_path)


def test_local_suite_matches_a_fresh_build_and_its_truths() -> None:
    """make_suite.py --check regenerates everything elsewhere, recomputes every truth from the
    written artifacts, and compares with the committed suite."""
    done = subprocess.run(
        [sys.executable, str(LOCAL_SUITE / "make_suite.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suite matches a fresh build" in done.stdout


def test_check_notices_a_changed_truth_or_file(tmp_path: Path) -> None:
    copy = tmp_path / "local"
    subprocess.run(
        [sys.executable, str(LOCAL_SUITE / "make_suite.py"), "--out", str(copy)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    metadata = copy / "metadata.jsonl"
    metadata.write_text(
        metadata.read_text().replace('"Final answer": "412"', '"Final answer": "413"')
    )
    (copy / "sites" / "extra.html").write_text("<p>stray</p>")
    done = subprocess.run(
        [sys.executable, str(LOCAL_SUITE / "make_suite.py"), "--check", "--out", str(copy)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "differs from a fresh build: metadata.jsonl" in done.stdout
    assert "not made by the generator: sites/extra.html" in done.stdout


@pytest.mark.parametrize(
    "row",
    [
        {"file_name": "../secret.txt"},
        {"file_name": "../../../../../../../../etc/passwd"},
        {"file_name": "/etc/passwd"},
        {"file_name": "a.txt", "file_path": "../secret.txt"},
        {"file_name": "escape.txt"},  # a link inside the suite to a file outside it
    ],
    ids=["dotdot", "deep-dotdot", "absolute", "file_path", "symlink"],
)
def test_an_attachment_outside_the_suite_folder_is_refused(
    tmp_path: Path, row: dict[str, str]
) -> None:
    (tmp_path / "secret.txt").write_text("not the suite's")
    root = write_suite(
        tmp_path / "s", [{"task_id": "a", "Question": "q", "Level": 1, **row}], {"a.txt": b"ok"}
    )
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ConfigError, match="leads outside the suite folder"):
        load_suite(root)


def test_a_link_inside_the_suite_to_a_file_inside_it_is_fine(tmp_path: Path) -> None:
    root = write_suite(
        tmp_path / "s", [{"task_id": "a", "Question": "q", "Level": 1, "file_name": "l.txt"}]
    )
    (root / "data").mkdir()
    (root / "data" / "real.txt").write_text("inside")
    (root / "l.txt").symlink_to(root / "data" / "real.txt")
    assert load_suite(root).tasks[0].file_path == (root / "data" / "real.txt").resolve()


def test_a_hostile_suite_is_refused_by_the_bench_command_before_any_task(tmp_path: Path) -> None:
    root = write_suite(
        tmp_path / "s",
        [{"task_id": "a", "Question": "q", "Level": 1, "file_name": "../../../../etc/shadow"}],
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", str(root), "--out", str(out),
         "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "leads outside the suite folder" in done.stderr
    assert not out.exists()  # no workspace, nothing copied


async def test_a_question_with_lone_surrogates_still_runs(tmp_path: Path) -> None:
    """JSON can spell a lone surrogate; the team gets it as a visible escape, and runs."""
    row = {"task_id": "s", "Question": DEMO_TASK + " caf\udce9", "Level": 1}
    (tmp_path / "metadata.jsonl").write_text(json.dumps(row) + "\n")  # "\\udce9" on disk
    task = load_suite(tmp_path).tasks[0]
    assert task.question.endswith("caf\udce9")
    async with ScriptedLLMServer(demo_script) as server:
        config = load_config(
            overrides={"agents": ["Coder"], "models.default.base_url": server.base_url}
        )
        result = await run_task(task.question, config, run_dir=tmp_path / "run")
        sent = server.requests[0].all_text()
    assert result.status == "answered", result.stop_reason
    assert "caf\\xe9" in sent
