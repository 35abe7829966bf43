"""How much faster a suite runs at concurrency 8 than at 1.

20 tasks of the local suite, run by the real bench runner and the real team (orchestrator +
Coder) against a scripted model that answers every call after a fixed 1 s delay, as a
hosted model might. Each task takes four model calls (facts, plan, progress, final answer),
so at concurrency 1 a task costs about 4 s of waiting; the runner's job is to overlap it.
Peak memory is the whole process's, both runs included.

    .venv/bin/python benchmarks/bench_throughput.py [--tasks 20] [--delay 1.0]

With `--ray` it measures instead what a Ray cluster adds per task: a local two-node cluster
(a head that runs nothing, two workers with `--slots` browser/sandbox slots each) runs the
same tasks as the local runner at the same concurrency; the cluster runs twice, first cold
(Ray starts its worker processes, which import the team) and then warm, and the warm run's
extra wall time per task over the local runner is the overhead (target: at most 0.5 s).

    .venv/bin/python benchmarks/bench_throughput.py --ray [--tasks 10] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from harness import emit, peak_rss_mb

from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suites import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import Config, load_config
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


def team_config(base_url: str) -> Config:
    return load_config(
        overrides={
            "models.default.base_url": base_url,
            "models.default.model": "scripted",
            # It stands for a hosted model: no one-call-at-a-time limit of a loopback server.
            "models.default.max_concurrency": 0,
            "agents": ["Coder"],
        },
        environ={},
    )


async def timed_run(
    concurrency: int, tasks: int, base_url: str, out: Path, cluster: object = None
) -> float:
    config = team_config(base_url)
    suite = load_suite(SUITE)
    options = BenchOptions(suite=SUITE, limit=tasks, concurrency=concurrency, out=out)
    started = time.perf_counter()
    async with TeamRunner(config) as run_one:
        run = await run_bench(suite, options, run_one, cluster=cluster)  # type: ignore[arg-type]
    assert run.planned == tasks and len(run.results) == tasks and not run.stopped, run
    return time.perf_counter() - started


def start_cluster(slots: int) -> Any:
    """A local Ray cluster kept small: no dashboard, the smallest object stores, a head
    without slots, two workers with `slots` each."""
    from ray.cluster_utils import Cluster

    store = 80 * 1024 * 1024
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "object_store_memory": store},
    )
    resources = {"magentic_browser": slots, "magentic_sandbox": slots}
    for _ in range(2):
        cluster.add_node(num_cpus=1, resources=resources, object_store_memory=store)
    cluster.wait_for_nodes()
    return cluster


async def ray_main(args: argparse.Namespace) -> None:
    import functools

    # Token authentication, as the README sets a cluster up (`bench --ray` refuses a cluster
    # on a network address that takes anyone's code; `connect_s` includes that check). Set
    # before Ray is imported: it reads them once.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))

    import ray

    from magentic.bench.ray_runner import RayCluster

    cluster = start_cluster(args.slots)  # Ray starts nodes only from the main thread
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            ScriptedLLMServer(make_script(args.delay)) as server,
        ):
            config = team_config(server.base_url)
            ray_cluster = RayCluster(cluster.address, functools.partial(TeamRunner, config))
            joining = time.perf_counter()
            ray_cluster.connect()
            connect_s = time.perf_counter() - joining
            c = args.concurrency
            local = await timed_run(c, args.tasks, server.base_url, Path(tmp) / "local")
            cold = await timed_run(c, args.tasks, server.base_url, Path(tmp) / "cold", ray_cluster)
            warm = await timed_run(c, args.tasks, server.base_url, Path(tmp) / "warm", ray_cluster)
            rows = (Path(tmp) / "warm" / "results.jsonl").read_text().splitlines()
            nodes = {json.loads(row)["node"] for row in rows}
    finally:
        ray.shutdown()
        cluster.shutdown()
    per_task = lambda total: round((total - local) * c / args.tasks, 3)  # noqa: E731
    emit(
        {
            "bench": "bench_throughput_ray",
            "tasks": args.tasks,
            "concurrency": c,
            "model_delay_s": args.delay,
            "nodes_used": len(nodes),
            "local_s": round(local, 2),
            "connect_s": round(connect_s, 2),
            "ray_cold_s": round(cold, 2),
            "ray_warm_s": round(warm, 2),
            "overhead_per_task_cold_s": per_task(cold),
            "overhead_per_task_s": per_task(warm),
            "target_overhead_per_task_s": 0.5,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--delay", type=float, default=None, help="model delay (s)")
    parser.add_argument("--ray", action="store_true", help="measure a local Ray cluster")
    parser.add_argument("--concurrency", type=int, default=2, help="with --ray")
    parser.add_argument("--slots", type=int, default=2, help="with --ray: slots per node")
    args = parser.parse_args()
    if args.ray:
        args.tasks = args.tasks or 10
        args.delay = 0.2 if args.delay is None else args.delay
        await ray_main(args)
        return
    args.tasks = args.tasks or 20
    args.delay = 1.0 if args.delay is None else args.delay
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
