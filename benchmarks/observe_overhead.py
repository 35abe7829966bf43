"""What watching costs: the local suite run bare, and with each face watching it.

The whole local suite (22 tasks) is run by the real bench runner and the real team
(orchestrator + Coder) against the scripted model, which streams its replies, at
concurrency 1, in these ways:

- bare: no face;
- live console: `LiveConsole` (what `magentic run` shows on a terminal) watching every
  task's run, drawing to an 80-column in-memory terminal;
- bench progress: the bench's own live bar (what `magentic bench` shows on a terminal);
- web view: the view started and stopped with the bench (as `bench --ui` does), while a
  separate process, standing in for a browser opened beforehand, follows the bench page's
  stream and the stream of each task's run page as it appears;
- telemetry: spans of every task exported over OTLP/HTTP to a receiver in a separate
  process (a collector), flushed before the bench counts as done.

Variants are interleaved, round after round, each round in a rotated order (the first round
warms up). A face's overhead is the median over rounds of its time over the bare run's time
in the same round, so a busy spell of a shared machine falls on both halves of a pair; the
same is given for this process's CPU time, which a busy machine disturbs less, and the
load average before and after says how busy the machine was.
What a face's first use costs a fresh process in imports is measured apart, in
new interpreters. Then a synthetic trace of 200 rounds is written and its run page fetched.

    .venv/bin/python benchmarks/observe_overhead.py [--repeat 3] [--limit 22]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from harness import ameasure, emit, median
from rich.console import Console

from magentic.bench.progress import make_progress
from magentic.bench.runner import BenchOptions, run_bench
from magentic.bench.suites import load_suite
from magentic.bench.team import TeamRunner
from magentic.config import Config, load_config
from magentic.events import (
    AgentActed,
    AgentReplied,
    Delegated,
    Event,
    LedgerUpdated,
    ModelCalled,
    ProgressAssessed,
    RunFinished,
    RunStarted,
)
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

SUITE = Path(__file__).parent / "suites" / "local"
ROOT = Path(__file__).resolve().parents[1]

# A collector: counts the spans of each export, answers GET with the count so far.
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
spans = 0
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def _reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        global spans
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        spans += sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
        self._reply(b"")
    def do_GET(self):
        self._reply(str(spans).encode())
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# A browser's stand-in: follows the bench page's stream and each task's run page's stream
# (found as its trace appears under OUT/tasks), until told to stop on stdin.
FOLLOWER = """
import asyncio, sys
from pathlib import Path
import httpx
out = Path(sys.argv[1])
print("up", flush=True)  # started and imported: the browser was open before the bench
url = sys.stdin.readline().strip()
async def follow(client, path):
    try:
        async with client.stream("GET", path) as response:
            async for line in response.aiter_lines():
                if line == "event: end":
                    return
    except httpx.HTTPError:
        pass
async def main():
    stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    seen = set()
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        tasks = [asyncio.ensure_future(follow(client, "/follow/bench/0/.?offset=0"))]
        print("ready", flush=True)
        while not stop.done():
            for trace in out.glob("tasks/*/r0/trace.jsonl"):
                ref = trace.parent.relative_to(out).as_posix()
                if ref not in seen:
                    seen.add(ref)
                    path = f"/follow/run/0/{ref}?offset=0"
                    tasks.append(asyncio.ensure_future(follow(client, path)))
            await asyncio.sleep(0.25)  # a person opens run pages as they appear
        for task in tasks:
            task.cancel()
    print(len(seen), flush=True)
asyncio.run(main())
"""


def script(request: ChatRequest) -> Reply:
    """Every task: facts, a plan, one Coder step, then the final answer, all streamed."""
    step = roles.phase(request)
    if step == "coder":
        return Reply.text("I would add the numbers up with a short program; here is how.")
    if step in ("facts", "replan_facts"):
        return roles.facts(to_look_up=["the answer"])
    if step in ("plan", "replan_plan"):
        return roles.plan(("Coder", "work it out"))
    if step == "progress":
        if roles.last_from(request, "Coder") is None:
            return roles.progress("Coder", "Say how you would work it out.")
        return roles.progress(satisfied=True, reason="the Coder answered")
    return Reply.text("The Coder explained it.\nFINAL ANSWER: 0")


def _config(base_url: str, runs: Path) -> Config:
    return load_config(
        overrides={
            "models.default.base_url": base_url,
            "models.default.model": "scripted",
            "models.default.stream": True,
            "agents": ["Coder"],
            "cache.mode": "off",
            "trace_dir": runs,
        },
        environ={},
    )


class Suite:
    """One run of the suite per call, each into a fresh folder."""

    def __init__(self, base_url: str, tmp: Path, limit: int) -> None:
        self.base_url, self.tmp, self.limit = base_url, tmp, limit
        self.suite = load_suite(SUITE)
        self.count = 0

    def out(self, name: str) -> Path:
        self.count += 1
        return self.tmp / f"{name}-{self.count}"

    async def run(self, out: Path, runner: TeamRunner, progress=None) -> None:  # type: ignore[no-untyped-def]
        options = BenchOptions(suite=SUITE, limit=self.limit, out=out)
        extra = {"progress": progress} if progress is not None else {}
        async with runner:
            run = await run_bench(self.suite, options, runner, **extra)
        assert len(run.results) == self.limit and all(
            r.status == "answered" for r in run.results
        ), [r.stop_reason for r in run.results]


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _import_ms(modules: str) -> float:
    """What importing a face's modules costs a fresh interpreter beyond what bare needs."""
    base = "import magentic.bench.team, magentic.bench.runner, magentic.team"
    code = f"{base}\nimport time\nt = time.perf_counter()\nimport {modules}\n" + (
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        samples.append(float(done.stdout))
    return round(median(samples), 1)


def _long_trace(folder: Path, rounds: int) -> None:
    seq = 0
    lines = []

    def add(event: Event) -> None:
        nonlocal seq
        seq += 1
        event.run_id, event.seq = folder.name, seq
        lines.append(event.model_dump_json())

    add(RunStarted(task="a long task", agents=["WebSurfer", "Coder"]))
    add(LedgerUpdated(replan=0, facts="- facts\n" * 10, plan="1. WebSurfer: look\n2. Coder: sum"))
    for r in range(1, rounds + 1):
        add(ModelCalled(role="orchestrator", model="m", prompt_tokens=3000, completion_tokens=200))
        add(
            ProgressAssessed(
                round=r,
                ledger={"is_progress_being_made": {"answer": True, "reason": "x" * 200}},
                stall_count=0,
            )
        )
        add(Delegated(round=r, agent="WebSurfer", instruction="search for the thing " * 5))
        add(
            AgentActed(
                agent="WebSurfer",
                action="visit",
                args={"url": "https://example.com"},
                result="page text " * 80,
            )
        )
        add(ModelCalled(role="web_surfer", model="m", prompt_tokens=5000, completion_tokens=100))
        add(AgentReplied(round=r, agent="WebSurfer", text="what I saw " * 60))
    add(RunFinished(status="answered", stop_reason="done", rounds=rounds))
    folder.mkdir(parents=True)
    (folder / "trace.jsonl").write_text("\n".join(lines) + "\n")


async def _page_200_rounds_ms(tmp: Path) -> float:
    from magentic.ui.web.app import WebView

    _long_trace(tmp / "long" / "r200", 200)
    view = WebView([tmp / "long"], 0)
    url = await view.start()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.get(view.link())  # the printed link: its cookie opens the view

        async def fetch() -> None:
            page = await client.get("/run/0/r200")
            assert page.status_code == 200 and "round 200" in page.text

        page_s = median(await ameasure(fetch, repeat=10, warmup=1))
    await view.stop()
    return round(page_s * 1000, 1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=22, help="tasks of the local suite")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="observe-"))
    receiver = _spawn(RECEIVER)
    assert receiver.stdout is not None
    collector = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
    followed: list[int] = []
    browser_cpu: list[float] = []  # CPU seconds of the stand-in browser, per web round
    async with ScriptedLLMServer(script) as server:
        suite = Suite(server.base_url, tmp, args.limit)
        config = _config(server.base_url, tmp / "runs")

        async def bare() -> None:
            await suite.run(suite.out("bare"), TeamRunner(config))

        async def live() -> None:
            from magentic.ui.live import LiveConsole

            console = Console(file=io.StringIO(), force_terminal=True, width=80)
            with LiveConsole(console) as watcher:
                await suite.run(suite.out("live"), TeamRunner(config, watchers=[watcher]))

        async def progress() -> None:
            console = Console(file=io.StringIO(), force_terminal=True, width=80)
            await suite.run(
                suite.out("progress"),
                TeamRunner(config),
                progress=lambda total: make_progress(total, console, json_output=False),
            )

        browser: dict[str, Any] = {}

        async def open_browser() -> None:
            """Untimed: the stand-in browser starts (and imports) before the bench."""
            out = suite.out("web")
            out.mkdir()
            browser["out"] = out
            browser["process"] = _spawn(FOLLOWER, str(out))
            assert browser["process"].stdout is not None
            await asyncio.to_thread(browser["process"].stdout.readline)  # "up"

        async def close_browser() -> None:
            follower = browser["process"]
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seen, _ = await asyncio.to_thread(follower.communicate, "stop\n")
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            followed.append(int(seen.split()[-1]))
            browser_cpu.append(
                cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
            )

        async def web() -> None:
            from magentic.ui.web.app import WebView

            out: Path = browser["out"]
            follower = browser["process"]
            assert follower.stdin is not None and follower.stdout is not None
            view = WebView([out], 0)
            url = await view.start()
            follower.stdin.write(url + "\n")  # it follows from offset 0: nothing is missed
            follower.stdin.flush()
            try:
                await suite.run(out, TeamRunner(config, watchers=[view.streams.push]))
            finally:
                await view.stop()

        async def otel() -> None:
            from magentic.ui.telemetry import telemetry_for
            from magentic.ui.telemetry_settings import TelemetrySettings

            telemetry = telemetry_for(TelemetrySettings(endpoint=collector), {})
            await suite.run(suite.out("otel"), TeamRunner(config, telemetry=telemetry))

        variants: dict[str, Callable[[], Awaitable[None]]] = {
            "bare": bare,
            "live": live,
            "progress": progress,
            "web": web,
            "otel": otel,
        }
        before = {"web": open_browser}
        after = {"web": close_browser}
        samples: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        load_before = os.getloadavg()[0]
        for round_no in range(args.repeat + 1):
            turn = round_no % len(names)  # each round starts elsewhere: no face always first
            for name in names[turn:] + names[:turn]:
                if name in before:
                    await before[name]()
                started, cpu_started = time.perf_counter(), time.process_time()
                await variants[name]()
                took, cpu_took = time.perf_counter() - started, time.process_time() - cpu_started
                if name in after:
                    await after[name]()
                if round_no:  # the first round warms up
                    samples[name].append(took)
                    cpu[name].append(cpu_took)
                print(
                    f"round {round_no} {name}: {took:.2f} s, cpu {cpu_took:.2f} s", file=sys.stderr
                )
        load_after = os.getloadavg()[0]
    async with httpx.AsyncClient() as client:
        spans = int((await client.get(collector)).text)
    receiver.terminate()
    receiver.wait()
    s = {name: median(values) for name, values in samples.items()}
    c = {name: median(values) for name, values in cpu.items()}

    def paired(times: dict[str, list[float]], name: str) -> float:
        """The median, over rounds, of the face's time over the bare run's of the same
        round: a machine's busy spell falls on both halves of a pair."""
        ratios = [face / bare - 1 for face, bare in zip(times[name], times["bare"], strict=True)]
        return round(100 * median(ratios), 1)

    page_ms = await _page_200_rounds_ms(tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # some 150 run folders
    emit(
        {
            "bench": "observe_overhead",
            "workload": f"local suite, {args.limit} tasks, scripted streaming model, concurrency 1",
            "suite_bare_s": round(s["bare"], 3),
            "suite_live_console_s": round(s["live"], 3),
            "suite_bench_progress_s": round(s["progress"], 3),
            "suite_web_view_s": round(s["web"], 3),
            "suite_telemetry_s": round(s["otel"], 3),
            "live_console_overhead_pct": paired(samples, "live"),
            "bench_progress_overhead_pct": paired(samples, "progress"),
            "web_view_overhead_pct": paired(samples, "web"),
            "telemetry_overhead_pct": paired(samples, "otel"),
            "target_overhead_pct": 5.0,
            # CPU seconds of this process (the run, the scripted model, the face's threads;
            # not the browser's or the collector's): steadier than wall time on a busy machine
            "suite_bare_cpu_s": round(c["bare"], 3),
            "live_console_cpu_overhead_pct": paired(cpu, "live"),
            "bench_progress_cpu_overhead_pct": paired(cpu, "progress"),
            "web_view_cpu_overhead_pct": paired(cpu, "web"),
            "telemetry_cpu_overhead_pct": paired(cpu, "otel"),
            "wall_spread_bare_s": [round(min(samples["bare"]), 2), round(max(samples["bare"]), 2)],
            "load_average_1m": [round(load_before, 2), round(load_after, 2)],
            "cpus": os.cpu_count(),
            "first_use_import_ms": {
                "live_console": _import_ms("magentic.ui.live"),
                "web_view": _import_ms("magentic.ui.web.app"),
                "telemetry": _import_ms(
                    "magentic.ui.telemetry, opentelemetry.sdk.trace, "
                    "opentelemetry.exporter.otlp.proto.http.trace_exporter, "
                    "requests"  # the exporter's transport, imported when it is made
                ),
            },
            "runs_followed_per_web_round": followed[-1] if followed else 0,
            "browser_cpu_s_per_web_round": round(median(browser_cpu), 3),
            "spans_received": spans,
            "page_200_rounds_ms": page_ms,
            "repeat": args.repeat,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
