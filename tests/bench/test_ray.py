"""`magentic bench --ray` on a real local Ray cluster: a head node that runs no tasks and two
worker nodes on this machine, each offering one browser and one sandbox slot.

One cluster serves the whole module (starting one costs seconds); the tests run in file
order and the later ones kill the workers one by one. The team is the real one (orchestrator +
Coder) against a ScriptedLLMServer; it needs no browser or sandbox, so the tests measure the
cluster part. A gate in the script holds the tasks' first model call until the test has what
it needs in flight, so which node runs what is forced, not left to timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from magentic.bench.results import ResultStore
from magentic.bench.runner import BenchOptions, run_bench, task_folder
from magentic.bench.suites import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.bench.solvers import (
    LINKS,
    LOCAL_SUITE,
    SOLVABLE,
    LinkingRunner,
    SolveRunner,
    UnbuildableRunner,
    solve,
)
from tests.conftest import require
from tests.web.procs import descendants

pytestmark = pytest.mark.slow

SLOT = {"magentic_browser": 1, "magentic_sandbox": 1}
SMALL_STORE = 80 * 1024 * 1024  # bytes; Ray's floor is 75 MiB
QUESTION = re.compile(r"What is (\d+) plus (\d+)\?")
ROOT = Path(__file__).resolve().parents[2]
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "magentic-ray-tests-0f3c9a7e51b2d846"}


@dataclass
class Nodes:
    cluster: Any  # ray.cluster_utils.Cluster
    workers: list[Any]  # the worker nodes, still alive


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Nodes]:
    require(importlib.util.find_spec("ray") is not None, "Ray (pip install 'magentic-team[ray]')")
    import ray
    from ray._private.authentication_test_utils import reset_auth_token_state
    from ray.cluster_utils import Cluster

    # Every node on this machine, at the address Ray picks for it (pinning 127.0.0.1 would
    # have to be repeated for each driver, the CLI's included, or they would not find them),
    # with token authentication as the README sets it up: `bench --ray` refuses a cluster on
    # a network address that anyone could use (test_ray_exposure.py).
    saved = {name: os.environ.get(name) for name in AUTH}
    os.environ.update(AUTH)
    reset_auth_token_state()
    common: dict[str, Any] = {"object_store_memory": SMALL_STORE}
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={
            **common,
            "num_cpus": 0,  # runs no tasks: only the workers offer slots
            "include_dashboard": False,
            # A killed node is noticed in about a second instead of half a minute.
            "_system_config": {
                "health_check_initial_delay_ms": 0,
                "health_check_period_ms": 300,
                "health_check_failure_threshold": 3,
            },
        },
    )
    workers = [cluster.add_node(**common, num_cpus=1, resources=SLOT) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield Nodes(cluster, workers)
    finally:
        ray.shutdown()
        cluster.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_auth_token_state()


def kill_node(nodes: Nodes, node: Any) -> None:
    """The node dies as a machine would: its raylet and every worker process on it at once."""
    (raylet,) = node.all_processes["raylet"]
    workers = descendants(raylet.process.pid)
    nodes.cluster.remove_node(node, allow_graceful=False)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    nodes.workers.remove(node)
    import ray

    for _ in range(600):  # until the cluster has noticed (health checks every 0.3 s)
        if not any(n["Alive"] for n in ray.nodes() if n["NodeID"] == node.node_id):
            return
        time.sleep(0.1)
    raise AssertionError(f"the cluster still counts node {node.node_id} as alive after 60 s")


class Gate:
    """Holds each task's first model call until `size` tasks are waiting (then opens by
    itself), or until the test opens it. Questions in `lets_through` are never held."""

    def __init__(
        self, size: int, *, opens_itself: bool = True, lets_through: tuple[str, ...] = ()
    ) -> None:
        self.size = size
        self.opens_itself = opens_itself
        self.lets_through = lets_through
        self.waiting: list[str] = []
        self.full = threading.Event()
        self.open = threading.Event()
        self._lock = threading.Lock()

    def pass_through(self, question: str) -> None:
        if question in self.lets_through:
            return
        with self._lock:
            self.waiting.append(question)
            if len(set(self.waiting)) >= self.size:
                self.full.set()
                if self.opens_itself:
                    self.open.set()
        self.open.wait(120)


def make_script(gate: Gate) -> Any:
    """The orchestrator's model: plans, declares the request satisfied, and answers the sum
    it reads in the question."""

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        asked = QUESTION.search(request.all_text())
        if step == "facts":
            gate.pass_through(asked.group(0) if asked else "")
            if "slowly" in request.all_text():
                return roles.facts(to_look_up=["the sum"]).slow(60)
            return roles.facts(to_derive=["the sum"])
        if step == "plan":
            return roles.plan(("Coder", "add the numbers"))
        if step == "progress":
            return roles.progress(satisfied=True, reason="the sum is known")
        total = int(asked.group(1)) + int(asked.group(2)) if asked else 0
        return Reply.text(f"Adding them up.\nFINAL ANSWER: {total}")

    return script


def write_suite(folder: Path, pairs: list[tuple[int, int]], *, slow: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (a, b) in enumerate(pairs):
        question = f"What is {a} plus {b}?" + (" Think slowly." if number == slow else "")
        rows.append(
            {
                "task_id": f"sum-{number}",
                "Question": question,
                "Level": 1,
                "Final answer": str(a + b),
                "file_name": "",
            }
        )
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def team_config(base_url: str) -> Any:
    return load_config(
        overrides={
            "models.default.base_url": base_url,
            "models.default.model": "scripted",
            "models.default.max_concurrency": 0,
            "agents": ["Coder"],
        },
        environ={},
    )


async def bench(suite: Path, out: Path, base_url: str, address: str, **flags: Any) -> Any:
    from magentic.bench.ray_runner import RayCluster

    config = team_config(base_url)
    cluster = RayCluster(address, functools.partial(TeamRunner, config), poll_s=0.2)
    cluster.connect()
    options = BenchOptions(suite=suite, out=out, ray=address, **flags)
    async with TeamRunner(config) as run_one:  # unused on a cluster; the signature asks for it
        return await run_bench(load_suite(suite), options, run_one, cluster=cluster)


async def test_tasks_run_on_both_nodes_and_come_back_once(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "suite", [(17, 25), (3, 4), (100, 1), (8, 8)], slow=3)
    out = tmp_path / "out"
    gate = Gate(2)  # the first two tasks wait for each other: one per node
    address = ray_cluster.cluster.address
    with ScriptedLLMServer(make_script(gate)) as server:
        first = await bench(suite, out, server.base_url, address, concurrency=2, limit=3)
        again = await bench(
            suite,
            out,
            server.base_url,
            address,
            concurrency=2,
            task_timeout=10,
            repeat=2,
            resume=True,
        )
    assert first.stopped is None and first.planned == 3
    # The resumed run ran the slow task once and every task's second repeat; nothing twice.
    assert again.stopped is None and (again.planned, again.skipped) == (5, 3)
    lines = (out / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert json.loads((out / "run.json").read_text())["options"]["ray"] == address
    assert Counter((r["task_id"], r["repeat"]) for r in rows).most_common(1)[0][1] == 1
    assert len(rows) == 8
    nodes = {worker.node_id for worker in ray_cluster.workers}
    by_key = {(r["task_id"], r["repeat"]): r for r in rows}
    # The gated pair waited for each other, so they ran side by side: one on each node.
    assert {by_key["sum-0", 0]["node"], by_key["sum-1", 0]["node"]} == nodes
    for (task_id, _repeat), row in by_key.items():
        if task_id == "sum-3":
            assert row["status"] == "out_of_budget"
            assert "task timeout" in row["stop_reason"]
        else:
            assert row["correct"] is True, row
            # Each task's folder came back from its node with the trace in it.
            assert (out / row["trace_path"]).is_file()
    assert json.loads(lines[0])["node"] in nodes


async def test_attachments_and_sites_reach_the_nodes(ray_cluster: Nodes, tmp_path: Path) -> None:
    """The local suite's web, file and code tasks, solved by script on the nodes: each node
    serves the suite's sites itself and reads its own copy of each attachment."""
    from magentic.bench.ray_runner import RayCluster

    cluster = RayCluster(ray_cluster.cluster.address, SolveRunner, poll_s=0.2)
    cluster.connect()
    options = BenchOptions(
        suite=LOCAL_SUITE, out=tmp_path / "out", tasks=list(SOLVABLE), concurrency=2
    )
    run = await run_bench(load_suite(LOCAL_SUITE), options, solve, cluster=cluster)
    assert run.stopped is None
    rows = {r.task_id: r for r in ResultStore(tmp_path / "out").load()}
    assert set(rows) == set(SOLVABLE) and all(r.correct for r in rows.values()), rows
    for task_id in ("file-minutes-treasurer", "code-transactions-total"):
        copy = rows[task_id].reasoning.split("; attachment ")[1]
        assert "magentic-ray" in copy and not copy.startswith(str(LOCAL_SUITE)), copy


async def test_a_link_out_of_a_tasks_folder_fails_that_task_and_the_bench_goes_on(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    """Two tasks leave a link out of their workspace (absolute, and `..` up to /etc): each
    becomes its own failed row saying why, with no part of its folder unpacked; the third
    task's row and folder (with a link that stays inside it) come back as usual."""
    from magentic.bench.ray_runner import RayCluster

    cluster = RayCluster(ray_cluster.cluster.address, LinkingRunner, poll_s=0.2)
    cluster.connect()
    out = tmp_path / "out"
    options = BenchOptions(suite=LOCAL_SUITE, out=out, tasks=list(SOLVABLE), concurrency=2)
    run = await run_bench(load_suite(LOCAL_SUITE), options, solve, cluster=cluster)
    assert run.stopped is None
    rows = {r.task_id: r for r in ResultStore(out).load()}
    assert set(rows) == set(SOLVABLE)
    for task_id, (name, target) in LINKS.items():
        row = rows[task_id]
        assert (row.status, row.correct, row.trace_path) == ("error", False, None), row
        assert f"workspace/{name} is a link" in (row.error or "") and target in row.error
        assert not (out / task_folder(task_id, 0)).exists()
    kept = rows["code-transactions-total"]
    assert kept.status == "answered" and kept.correct, kept
    workspace = out / task_folder(kept.task_id, 0) / "workspace"
    assert (workspace / "same-notes.txt").read_text() == "kept\n"
    links = [p for p in out.rglob("*") if p.is_symlink()]
    assert links == [workspace / "same-notes.txt"]


async def test_a_task_that_fails_on_its_node_is_named_and_not_recorded(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    from magentic.bench.ray_runner import RayCluster

    cluster = RayCluster(ray_cluster.cluster.address, UnbuildableRunner, poll_s=0.2)
    options = BenchOptions(suite=LOCAL_SUITE, out=tmp_path / "out", tasks=list(SOLVABLE[:2]))
    run = await run_bench(load_suite(LOCAL_SUITE), options, solve, cluster=cluster)
    assert run.stopped is not None and run.stopped.startswith("2 task(s) did not come back")
    assert "RuntimeError: this node cannot build a runner" in run.stopped
    assert all(task_id in run.stopped for task_id in SOLVABLE[:2])
    assert ResultStore(tmp_path / "out").load() == []  # --resume runs them again


def cli_command(suite: Path, out: Path, address: str, base_url: str) -> list[str]:
    return [
        sys.executable, "-m", "magentic.cli", "bench", str(suite), "--out", str(out),
        "--ray", address, "--base-url", base_url, "--model", "scripted", "--agents", "Coder",
    ]  # fmt: skip


CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "unused", **AUTH}


async def until_held(gate: Gate, child: asyncio.subprocess.Process) -> None:
    """Wait until the gate holds a task, or fail with the child's words if it ended first."""
    held = asyncio.ensure_future(asyncio.to_thread(gate.full.wait, 120))
    ended = asyncio.ensure_future(child.wait())
    await asyncio.wait([held, ended], return_when=asyncio.FIRST_COMPLETED)
    if not held.done() or not held.result():
        gate.full.set()
        gate.open.set()
        _, stderr = await asyncio.wait_for(child.communicate(), 120)
        pytest.fail(f"no task was held: {stderr.decode()[-2000:]}")


async def test_ctrl_c_keeps_what_finished_and_resume_runs_the_rest(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "suite", [(2, 2), (9, 9), (7, 1)])
    out = tmp_path / "out"
    gate = Gate(1, opens_itself=False, lets_through=("What is 2 plus 2?",))
    address = ray_cluster.cluster.address
    with ScriptedLLMServer(make_script(gate)) as server:
        command = cli_command(suite, out, address, server.base_url)
        child = await asyncio.create_subprocess_exec(
            *command, env=CLI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        await until_held(gate, child)
        child.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(child.communicate(), 120)
        gate.open.set()
        said = stderr.decode()
        assert child.returncode == 130, said
        assert "Traceback" not in said and "interrupted: 1 results kept" in said
        assert [r.task_id for r in ResultStore(out).load()] == ["sum-0"]
        resume = functools.partial(
            subprocess.run, [*command, "--resume"], env=CLI_ENV, capture_output=True, text=True
        )
        resumed = await asyncio.to_thread(resume, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    rows = ResultStore(out).load()
    assert [r.task_id for r in rows] == ["sum-0", "sum-1", "sum-2"]
    assert all(r.correct for r in rows)


async def test_a_killed_nodes_task_runs_again_elsewhere_and_counts_once(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "suite", [(1, 2), (30, 40), (5, 6)])
    out = tmp_path / "out"
    gate = Gate(2, opens_itself=False)
    victim, survivor = ray_cluster.workers
    with ScriptedLLMServer(make_script(gate)) as server:
        running = asyncio.ensure_future(
            bench(suite, out, server.base_url, ray_cluster.cluster.address, concurrency=3)
        )
        # Both nodes hold one task each, stopped at its first model call: kill one node.
        assert await asyncio.to_thread(gate.full.wait, 120)
        await asyncio.to_thread(kill_node, ray_cluster, victim)
        gate.open.set()
        run = await running
        asked = Counter(gate.waiting)
    assert run.stopped is None
    rows = ResultStore(out).load()
    assert sorted(r.task_id for r in rows) == ["sum-0", "sum-1", "sum-2"]
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert {r.node for r in rows} == {survivor.node_id}
    assert all(r.correct for r in rows)
    # The killed node's task asked its first question twice: once there, once on the survivor.
    assert sorted(asked.values()) == [1, 1, 2]


async def test_a_cluster_without_workers_ends_the_bench_with_what_finished(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    """Through the CLI: the last worker dies while it holds the second task."""
    assert ray_cluster.workers, "an earlier test of this module killed every worker"
    suite = write_suite(tmp_path / "suite", [(2, 2), (9, 9), (7, 1)])
    out = tmp_path / "out"
    # The first task passes; the second is held until its node is gone.
    gate = Gate(1, opens_itself=False, lets_through=("What is 2 plus 2?",))
    with ScriptedLLMServer(make_script(gate)) as server:
        command = [*cli_command(suite, out, ray_cluster.cluster.address, server.base_url), "--json"]
        child = await asyncio.create_subprocess_exec(
            *command, env=CLI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        await until_held(gate, child)
        for node in list(ray_cluster.workers):  # the last one (all, if run on its own)
            await asyncio.to_thread(kill_node, ray_cluster, node)
        stdout, stderr = await asyncio.wait_for(child.communicate(), 120)
        gate.open.set()
    said = stderr.decode()
    assert child.returncode == 1, said
    assert "Traceback" not in said
    assert "lost every node" in said and "1 of 3 tasks finished" in said
    (line,) = map(json.loads, stdout.decode().splitlines())  # stdout holds only the JSON line
    assert "lost every node" in line["stopped"]
    rows = ResultStore(out).load()
    assert [r.task_id for r in rows] == ["sum-0"] and rows[0].correct
    # --concurrency 1 (the default) held for the cluster: the third task never started.
    assert gate.waiting == ["What is 9 plus 9?"]


async def test_a_cluster_without_slots_is_refused_before_anything_runs(
    ray_cluster: Nodes, tmp_path: Path
) -> None:
    """After the test above, the head (which offers no slots) is all that is left."""
    for node in list(ray_cluster.workers):  # when run on its own
        await asyncio.to_thread(kill_node, ray_cluster, node)
    suite = write_suite(tmp_path / "suite", [(1, 1)])
    command = cli_command(suite, tmp_path / "o", ray_cluster.cluster.address, "http://127.0.0.1:9")
    run = functools.partial(subprocess.run, command, env=CLI_ENV, capture_output=True, text=True)
    result = await asyncio.to_thread(run, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no live node of the Ray cluster" in line and "magentic_browser" in line, line
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_an_unreachable_address_is_one_clear_line(tmp_path: Path) -> None:
    require(importlib.util.find_spec("ray") is not None, "Ray (pip install 'magentic-team[ray]')")
    suite = write_suite(tmp_path / "suite", [(1, 1)])
    result = subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", str(suite), "--out", str(tmp_path / "o"),
         "--ray", "127.0.0.1:9", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Ray cluster answers at 127.0.0.1:9" in lines[0], lines
    assert not (tmp_path / "o" / "results.jsonl").exists()
