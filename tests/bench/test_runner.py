"""The runner with real solvers on the real local suite: per-task results, concurrency,
resume after a cancelled or killed run, Ctrl-C, shards + merge, failures, and the CLI seams."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from magentic.bench.progress import NoProgress
from magentic.bench.results import ResultStore, TaskResult
from magentic.bench.runner import (
    BenchOptions,
    TaskOutcome,
    bench_main,
    merge_main,
    run_bench,
)
from magentic.bench.suite import BenchTask
from magentic.bench.suites import load_suite
from magentic.errors import ConfigError, ModelError

from .solvers import LOCAL_SUITE, SOLVABLE, Solver, solve

SUITE = load_suite(LOCAL_SUITE)
ALL_IDS = {t.task_id for t in SUITE.tasks}
REPO = Path(__file__).resolve().parents[2]


def options(out: Path, **changes: object) -> BenchOptions:
    return BenchOptions(suite=LOCAL_SUITE, out=out, **changes)  # type: ignore[arg-type]


class Watch(NoProgress):
    """A progress view that lets a test act when a number of tasks have ended."""

    def __init__(self, total: int, on_finished: Callable[[int], None]) -> None:
        super().__init__(total)
        self._on_finished = on_finished

    def finished(self, result: TaskResult) -> None:
        super().finished(result)
        self._on_finished(self.done)


def recording(calls: list[tuple[str, int]], solver: Solver = solve) -> Solver:
    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        calls.append((task.task_id, repeat))
        return await solver(task, repeat, workdir)

    return run_one


async def test_runs_the_suite_scores_answers_and_keeps_each_workdir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = await run_bench(SUITE, options(out, concurrency=4), solve)
    assert (run.planned, run.skipped, run.out) == (len(SUITE.tasks), 0, out)
    results = {r.task_id: r for r in ResultStore(out).load()}
    assert set(results) == ALL_IDS
    assert len((out / "results.jsonl").read_text().splitlines()) == len(ALL_IDS)
    for task_id in SOLVABLE:  # solved for real: through HTTP, a PDF, a CSV
        assert results[task_id].correct is True, results[task_id]
        assert results[task_id].answer == SUITE.task(task_id).truth
    for task_id in ALL_IDS - set(SOLVABLE):
        assert (results[task_id].correct, results[task_id].answer) == (False, "unknown")
    web = results["web-station-elevation"]
    assert "http://127.0.0.1:" in web.question and "{site}" not in web.question
    assert web.status == "answered" and web.prompt_tokens == 100 + len(web.question)
    assert web.trace_path == "tasks/web-station-elevation/r0/trace.jsonl"
    assert (out / web.trace_path).is_file()
    assert (out / "tasks" / "code-transactions-total" / "r0").is_dir()  # a workdir per run
    info = json.loads((out / "run.json").read_text())
    assert info["tasks"] == [t.task_id for t in SUITE.tasks] and info["options"]["concurrency"] == 4


async def test_each_result_is_on_disk_before_the_next_task_starts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[int] = []

    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        path = out / "results.jsonl"
        seen.append(len(path.read_text().splitlines()) if path.exists() else 0)
        return TaskOutcome(answer=f"FINAL ANSWER: {task.task_id}")

    await run_bench(SUITE, options(out, limit=6), run_one)
    assert seen == [0, 1, 2, 3, 4, 5]


async def test_concurrency_runs_exactly_n_tasks_at_once(tmp_path: Path) -> None:
    width, running, most = 5, 0, 0
    full = asyncio.Event()

    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == width:
            full.set()
        await full.wait()  # nobody finishes until five run side by side
        running -= 1
        return TaskOutcome(answer="x")

    await asyncio.wait_for(run_bench(SUITE, options(tmp_path, concurrency=width), run_one), 30)
    assert most == width


async def test_resume_after_a_cancelled_run_runs_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first_calls: list[tuple[str, int]] = []
    stop_after = 7
    block = asyncio.Event()  # never set: tasks started after the cut hang until cancelled

    async def slow_after_cut(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        if len(first_calls) > stop_after:  # the first seven finish; every later one hangs
            await block.wait()
        return await solve(task, repeat, workdir)

    runner: asyncio.Task[object] | None = None

    def cut(done: int) -> None:
        if done == stop_after and runner is not None:
            runner.cancel()

    runner = asyncio.ensure_future(
        run_bench(
            SUITE,
            options(out, concurrency=3, repeat=2),
            recording(first_calls, slow_after_cut),
            progress=lambda total: Watch(total, cut),
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runner, 30)
    done = {r.key for r in ResultStore(out).load()}
    assert len(done) == stop_after  # the finished ones were kept, the ones in flight were not
    assert len(first_calls) > stop_after  # some tasks had started and were lost

    second_calls: list[tuple[str, int]] = []
    run = await run_bench(SUITE, options(out, concurrency=3, repeat=2, resume=True),
                          recording(second_calls))  # fmt: skip
    everything = {(t, r) for t in ALL_IDS for r in range(2)}
    assert set(second_calls) == everything - done and len(second_calls) == len(set(second_calls))
    assert (run.planned, run.skipped) == (len(everything) - stop_after, stop_after)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted((json.loads(x)["task_id"], json.loads(x)["repeat"]) for x in lines) == sorted(
        everything
    )
    # a third resume has nothing left to do
    third: list[tuple[str, int]] = []
    await run_bench(SUITE, options(out, repeat=2, resume=True), recording(third))
    assert third == []


def _child(out: Path, finish: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bench.child", str(out), str(finish)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            blocked = list(path.parent.glob("tasks/*/r0/blocked"))
            if len(blocked) == 2:  # both workers are now stuck inside a task
                return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


async def test_resume_after_the_process_was_killed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _child(out, finish=4)
    try:
        await asyncio.to_thread(_wait_for_lines, out / "results.jsonl", 4, process)
    finally:
        process.kill()
        process.communicate()
    killed_done = {r.key for r in ResultStore(out).load()}
    assert len(killed_done) == 4
    calls: list[tuple[str, int]] = []
    await run_bench(SUITE, options(out, resume=True, concurrency=4), recording(calls))
    assert set(calls) == {(t, 0) for t in ALL_IDS} - killed_done
    assert {r.key for r in ResultStore(out).load()} == {(t, 0) for t in ALL_IDS}
    assert not list(out.glob("tasks/*/r0/blocked"))  # a rerun starts from a clean workdir


async def test_ctrl_c_stops_cleanly_and_keeps_finished_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _child(out, finish=3)
    try:
        await asyncio.to_thread(_wait_for_lines, out / "results.jsonl", 3, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert "interrupted: 3 results kept; continue with --resume" in stdout
    assert "[3/22] " in stderr  # not a terminal: one plain progress line per finished task
    assert len(ResultStore(out).load()) == 3
    # The report counts exactly the three kept results: tasks, runs, correct/runs.
    assert re.search(r"\| all \| 3 \| 3 \| \d/3 \|", (out / "report.md").read_text())


async def test_shards_and_merge_cover_the_suite_exactly_once(tmp_path: Path) -> None:
    count = 3
    calls: list[tuple[str, int]] = []
    folders = [tmp_path / f"shard{i}" for i in range(1, count + 1)]
    for index, folder in enumerate(folders, start=1):
        await run_bench(SUITE, options(folder, shard=f"{index}/{count}", repeat=2, concurrency=4),
                        recording(calls))  # fmt: skip
    everything = {(t, r) for t in ALL_IDS for r in range(2)}
    assert sorted(calls) == sorted(everything)  # every (task, repeat) ran once, in one shard
    per_shard = [{r.key for r in ResultStore(f).load()} for f in folders]
    assert all(per_shard) and sum(map(len, per_shard)) == len(everything)
    console = Console(record=True, width=200)
    assert merge_main(folders, tmp_path / "merged", console=console) == 0
    lines = (tmp_path / "merged" / "results.jsonl").read_text().splitlines()
    keys = [(json.loads(x)["task_id"], json.loads(x)["repeat"]) for x in lines]
    assert len(keys) == len(set(keys)) and set(keys) == everything
    report = (tmp_path / "merged" / "report.md").read_text()
    assert f"| all | {len(ALL_IDS)} | {len(everything)} | 6/{len(everything)} |" in report
    assert "pass@2" in console.export_text()
    merged = ResultStore(tmp_path / "merged").load()
    assert all((tmp_path / "merged" / r.trace_path).is_file() for r in merged if r.trace_path)
    submission = (tmp_path / "merged" / "submission.jsonl").read_text().splitlines()
    assert len(submission) == len(ALL_IDS)


async def test_failures_become_results_not_crashes(tmp_path: Path) -> None:
    async def run_one(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        if task.task_id == "web-station-elevation":
            raise RuntimeError("browser exploded")
        if task.task_id == "web-search-lantern":
            raise ModelError("model endpoint unreachable")
        if task.task_id == "file-minutes-treasurer":
            await asyncio.sleep(30)
        return await solve(task, repeat, workdir)

    picked = ["web-station-elevation", "web-search-lantern", "file-minutes-treasurer",
              "code-transactions-total"]  # fmt: skip
    out = tmp_path / "out"
    run = await run_bench(
        SUITE, options(out, tasks=picked, concurrency=4, task_timeout=0.5), run_one
    )
    got = {r.task_id: r for r in run.results}
    crashed = got["web-station-elevation"]
    assert (crashed.status, crashed.error, crashed.correct) == (
        "error",
        "RuntimeError: browser exploded",
        False,
    )
    assert "Traceback" in (out / "tasks/web-station-elevation/r0/error.txt").read_text()
    failed = got["web-search-lantern"]
    assert (failed.status, failed.stop_reason) == ("failed", "model endpoint unreachable")
    slow = got["file-minutes-treasurer"]
    assert (slow.status, slow.stop_reason) == ("out_of_budget", "task timeout (0.5 s)")
    assert got["code-transactions-total"].correct is True
    # a resumed run tries the crashed task again, and only that one
    calls: list[tuple[str, int]] = []
    await run_bench(SUITE, options(out, tasks=picked, resume=True), recording(calls))
    assert calls == [("web-station-elevation", 0)]


async def test_bench_main_json_line_report_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = await bench_main(options(out, level=1, json_output=True, model="scripted"), solve)
    assert code == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    assert len(stdout) == 1  # one JSON line and nothing else on stdout
    line = json.loads(stdout[0])
    level1 = sum(1 for t in SUITE.tasks if t.level == 1)
    assert line["planned"] == level1 and line["interrupted"] is False
    assert line["levels"]["1"]["correct_runs"] == 3 and line["levels"]["1"]["runs"] == level1
    assert (out / "report.md").read_text().startswith("# local · scripted")
    assert len((out / "submission.jsonl").read_text().splitlines()) == level1

    async def broken(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        raise ValueError("bad")

    console = Console(record=True, width=200)
    code = await bench_main(options(tmp_path / "b", limit=2), broken, console=console)
    assert code == 1
    shown = console.export_text()
    assert "errors" in shown and "report.md" in shown


async def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    out = tmp_path / "out"
    await run_bench(SUITE, options(out, limit=1), solve)
    with pytest.raises(ConfigError, match="already has results; add --resume"):
        await run_bench(SUITE, options(out, limit=1), solve)
    with pytest.raises(ConfigError, match="--resume needs --out"):
        BenchOptions(suite=LOCAL_SUITE, resume=True)
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        options(out, concurrency=0)
    with pytest.raises(ConfigError, match="shard"):
        options(out, shard="0/3")
    with pytest.raises(ConfigError, match="not a suite"):
        await bench_main(BenchOptions(suite=tmp_path / "nothing", out=out), solve)


async def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=150)
    code = await bench_main(options(tmp_path / "out", concurrency=3), solve, console=console)
    assert code == 0
    shown = screen.getvalue()
    assert "bench" in shown and "correct" in shown  # the live bar was drawn
    assert "[1/22]" not in shown  # no log lines on a terminal
    assert "pass@1" in shown and "all" in shown
