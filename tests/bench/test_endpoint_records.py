"""Honest bench records for runs that time out or lose their model endpoint, with the real
team and client against ScriptedLLMServer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magentic.bench.runner import BenchOptions, bench_main
from magentic.bench.team import TeamRunner
from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

from .solvers import LOCAL_SUITE

TASKS = ["code-transactions-total", "file-minutes-treasurer"]


def config_for(server: ScriptedLLMServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        overrides={
            "models.default.base_url": server.base_url,
            "models.default.max_retries": 1,
            "models.default.retry_backoff_s": 0.01,
            "agents": ["Coder"],
            "trace_dir": tmp_path / "runs",
            "cache.path": tmp_path / "cache" / "c.sqlite",
        },
        environ={},
    )


async def test_a_timed_out_task_keeps_its_rounds_tokens_and_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Coder", "write it"))
        if step == "progress":
            return roles.progress("Coder", "Write the program.")
        return Reply.text("still thinking").slow(30)  # the Coder's model never finishes

    out = tmp_path / "out"
    with ScriptedLLMServer(script) as server:
        async with TeamRunner(config_for(server, tmp_path)) as run_one:
            options = BenchOptions(
                suite=LOCAL_SUITE, out=out, tasks=TASKS[:1], task_timeout=3, json_output=True
            )
            await bench_main(options, run_one)
    [record] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["status"] == "out_of_budget" and "task timeout" in record["stop_reason"]
    assert record["rounds"] == 1
    assert record["prompt_tokens"] > 0 and record["completion_tokens"] > 0
    assert record["trace_path"] and (out / record["trace_path"]).is_file()


async def test_endpoint_failures_are_errors_and_a_bench_of_only_errors_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with ScriptedLLMServer([Reply.server_error(503)]) as server:
        async with TeamRunner(config_for(server, tmp_path)) as run_one:
            options = BenchOptions(suite=LOCAL_SUITE, out=out, tasks=TASKS, json_output=True)
            code = await bench_main(options, run_one)
    assert code == 1
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("503" in r["error"] and r["failed_calls"] == 2 for r in records)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["levels"]["all"]["errors"] == 2
