"""How much faster a suite runs at concurrency 8 than at 1.

20 tasks of the local suite, run by the real bench runner and the real team (orchestrator +
Coder) against a scripted model that answers every call after a fixed 1 s delay, as a
hosted model might. Each task takes four model calls (facts, plan, progress, final answer),
so at concurrency 1 a task costs about 4 s of waiting; the runner's job is to overlap it.
Peak memory is the whole process's, both runs included.

    .venv/bin/python benchmarks/bench_throughput.py [--tasks 20] [--delay 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import emit, peak_rss_mb

from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suites import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

SUITE = Path(__file__).parent / "suites" / "local"


def make_script(delay: float):  # type: ignore[no-untyped-def]
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            reply = roles.facts(to_look_up=["the answer"])
        elif step == "plan":
            reply = roles.plan(("Coder", "work it out"))
        elif step == "progress":
            reply = roles.progress(satisfied=True, reason="answered from memory")
        else:
            reply = Reply.text("FINAL ANSWER: 0")
        return reply.slow(delay)

    return script


async def timed_run(concurrency: int, tasks: int, base_url: str, out: Path) -> float:
    config = load_config(
        overrides={
            "models.default.base_url": base_url,
            "models.default.model": "scripted",
            # It stands for a hosted model: no one-call-at-a-time limit of a loopback server.
            "models.default.max_concurrency": 0,
            "agents": ["Coder"],
        },
        environ={},
    )
    suite = load_suite(SUITE)
    options = BenchOptions(suite=SUITE, limit=tasks, concurrency=concurrency, out=out)
    started = time.perf_counter()
    async with TeamRunner(config) as run_one:
        run = await run_bench(suite, options, run_one)
    assert run.planned == tasks, run
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedLLMServer(make_script(args.delay)) as server:
        serial = await timed_run(1, args.tasks, server.base_url, Path(tmp) / "c1")
        parallel = await timed_run(8, args.tasks, server.base_url, Path(tmp) / "c8")
        calls = len(server.requests)
    emit(
        {
            "bench": "bench_throughput",
            "tasks": args.tasks,
            "model_delay_s": args.delay,
            "model_calls": calls,
            "concurrency_1_s": round(serial, 2),
            "concurrency_8_s": round(parallel, 2),
            "speedup": round(serial / parallel, 2),
            "target_speedup": 5.0,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
