"""results.jsonl: appended per task, survives a torn last line, resumes, merges shards."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from magentic.bench.results import ResultStore, TaskResult, merge
from magentic.errors import ConfigError


def result(task_id: str, repeat: int = 0, **changes: object) -> TaskResult:
    fields: dict[str, object] = {
        "task_id": task_id,
        "repeat": repeat,
        "level": 1,
        "question": f"question of {task_id}",
        "answer": "42",
        "truth": "42",
        "correct": True,
        "status": "answered",
        "seconds": 1.5,
    }
    fields.update(changes)
    return TaskResult.model_validate(fields)


def test_append_writes_one_line_per_result_and_load_reads_them(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out")
    assert store.load() == [] and store.done_keys() == set()
    store.append(result("a"))
    store.append(result("b", trace_path="tasks/b/r0/trace.jsonl"))
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["task_id"] for line in lines] == ["a", "b"]
    assert [r.key for r in store.load()] == [("a", 0), ("b", 0)]
    assert store.load()[1].trace_path == "tasks/b/r0/trace.jsonl"


def test_concurrent_appends_from_threads_never_interleave(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    long_answer = "x" * 20_000  # bigger than one write() chunk
    threads = [
        threading.Thread(target=store.append, args=(result(f"t{n}", answer=long_answer),))
        for n in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.task_id for r in store.load()) == sorted(f"t{n}" for n in range(16))


def test_a_torn_last_line_is_skipped_then_cut_off(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append(result("a"))
    store.append(result("b"))
    whole = store.path.read_bytes()
    store.path.write_bytes(whole[: len(whole) - 25])  # killed in the middle of writing "b"
    assert [r.task_id for r in store.load()] == ["a"]
    assert store.done_keys() == {("a", 0)}
    store.append(result("c"))  # the next run appends on a clean line
    assert [r.task_id for r in ResultStore(tmp_path).load()] == ["a", "c"]
    assert all(json.loads(line) for line in store.path.read_text().splitlines())


def test_a_whole_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append(result("a"))
    store.path.write_bytes(store.path.read_bytes().rstrip(b"\n"))
    assert [r.task_id for r in store.load()] == ["a"]
    ResultStore(tmp_path).append(result("b"))
    assert [r.task_id for r in ResultStore(tmp_path).load()] == ["a", "b"]


def test_a_broken_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append(result("a"))
    with store.path.open("a") as handle:
        handle.write("not json\n")
    store.append(result("b"))
    with pytest.raises(ConfigError, match=r"results.jsonl:2 is not a result"):
        store.load()


def test_later_records_win_and_crashed_tasks_are_not_done(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.append(result("a", status="error", answer="", correct=False, error="boom"))
    store.append(result("b", status="failed", correct=False))
    assert store.done_keys() == {("b", 0)}  # --resume runs a crashed task again
    store.append(result("a"))
    assert store.done_keys() == {("a", 0), ("b", 0)}
    assert [(r.task_id, r.status) for r in store.load()] == [("a", "answered"), ("b", "failed")]


def test_merge_combines_shards_and_collapses_identical_copies(tmp_path: Path) -> None:
    one, two, out = tmp_path / "one", tmp_path / "two", tmp_path / "merged"
    ResultStore(one).append(result("a", trace_path="tasks/a/r0/trace.jsonl"))
    ResultStore(one).append(result("b", 1))
    ResultStore(two).append(result("c"))
    ResultStore(two).append(result("b", 1))  # the same result copied into both: fine
    merged = merge([one, two], out)
    assert [r.key for r in merged.load()] == [("a", 0), ("c", 0), ("b", 1)]
    trace = merged.load()[0].trace_path
    assert trace == "../one/tasks/a/r0/trace.jsonl"  # still points at the file from `out`
    assert (out / trace).resolve() == (one / "tasks/a/r0/trace.jsonl").resolve()


def test_merge_refuses_conflicting_duplicates_and_clobbering(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    ResultStore(one).append(result("a"))
    ResultStore(two).append(result("a", answer="41", correct=False))
    with pytest.raises(
        ConfigError, match=r"task a repeat 0 has different results in .*one and .*two"
    ):
        merge([one, two], tmp_path / "out")
    ResultStore(tmp_path / "taken").append(result("z"))
    with pytest.raises(ConfigError, match="exists"):
        merge([one], tmp_path / "taken")
    with pytest.raises(ConfigError, match=r"has no results\.jsonl"):
        merge([tmp_path / "empty"], tmp_path / "out2")


def test_merge_into_one_of_its_inputs(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    ResultStore(one).append(result("a"))
    ResultStore(two).append(result("b"))
    merge([one, two], one)
    assert sorted(r.task_id for r in ResultStore(one).load()) == ["a", "b"]
