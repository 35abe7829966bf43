"""What watching a run costs: the live console and the web view against a plain run, and
how fast the web view serves the page of a long run.

The scripted demo run (orchestrator + Coder against ScriptedLLMServer, streamed replies) is
timed bare, with the live console drawing to an in-memory terminal, and with the web view
serving its folder (started once, as `magentic ui` would be) while a client follows the
run's event stream, and with OpenTelemetry exporting to a real OTLP/HTTP receiver on
127.0.0.1. Then a synthetic trace of 200 rounds is written and its run page fetched.

    .venv/bin/python benchmarks/observe_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from harness import ameasure, emit, median
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from rich.console import Console

from magentic.config import load_config
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
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.ui.live import LiveConsole
from magentic.ui.telemetry import Telemetry
from magentic.ui.web.app import WebView


async def _run(server: ScriptedLLMServer, runs: Path, subscribers: list) -> None:  # type: ignore[type-arg]
    config = load_config(
        overrides={
            "models.default.base_url": server.base_url,
            "models.default.model": "scripted",
            "models.default.stream": True,
            "agents": ["Coder"],
            "cache.mode": "off",
            "trace_dir": runs,
        },
        environ={},
    )
    result = await run_task(DEMO_TASK, config, subscribers=subscribers)
    assert result.status == "answered", result.stop_reason


async def _with_view(server: ScriptedLLMServer, runs: Path, url: str) -> None:
    """One run while the (already serving) view has a client following its event stream."""
    followers: list[asyncio.Task[None]] = []

    async def follow(ref: str) -> None:
        async with (
            httpx.AsyncClient(base_url=url, timeout=30) as client,
            client.stream("GET", f"/follow/run/{ref}?offset=0") as response,
        ):
            async for line in response.aiter_lines():
                if line == "event: end":
                    return

    def on_start(event: Event) -> None:
        if event.kind == "run_started":
            followers.append(asyncio.ensure_future(follow(f"0/{event.run_id}")))

    try:
        await _run(server, runs, [on_start])
    finally:
        for task in followers:
            task.cancel()


class _Receiver:
    """A real OTLP/HTTP endpoint that counts the spans it is sent."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        owner = self
        self.spans = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                owner.spans += sum(
                    len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="observe-"))
    with ScriptedLLMServer(demo_script) as server:

        async def bare() -> None:
            await _run(server, tmp / "bare", [])

        async def live() -> None:
            console = Console(file=io.StringIO(), force_terminal=True, width=80)
            with LiveConsole(console) as watcher:
                await _run(server, tmp / "live", [watcher])

        view = WebView([tmp / "web"], 0)
        url = await view.start()

        async def web() -> None:
            await _with_view(server, tmp / "web", url)

        receiver = _Receiver()

        async def otel() -> None:
            provider = TracerProvider()
            exporter = OTLPSpanExporter(endpoint=receiver.url, timeout=2)
            provider.add_span_processor(BatchSpanProcessor(exporter))
            telemetry = Telemetry(provider)
            await _run(server, tmp / "otel", [telemetry])
            await asyncio.to_thread(telemetry.close)  # at the process's end, as the CLI does

        # Interleaved, so a busy machine's slow moments fall on every variant alike.
        samples: dict[str, list[float]] = {name: [] for name in ("bare", "live", "web", "otel")}
        variants = {"bare": bare, "live": live, "web": web, "otel": otel}
        for round_no in range(args.repeat + 1):
            for name, variant in variants.items():
                t = time.perf_counter()
                await variant()
                if round_no:  # the first round warms up
                    samples[name].append(time.perf_counter() - t)
        receiver.stop()
        bare_s, live_s = median(samples["bare"]), median(samples["live"])
        web_s, otel_s = median(samples["web"]), median(samples["otel"])
        await view.stop()

    _long_trace(tmp / "long" / "r200", 200)
    view = WebView([tmp / "long"], 0)
    url = await view.start()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def fetch() -> None:
            page = await client.get("/run/0/r200")
            assert page.status_code == 200 and "round 200" in page.text

        page_s = median(await ameasure(fetch, repeat=10, warmup=1))
    await view.stop()
    emit(
        {
            "bench": "observe_overhead",
            "run_bare_s": round(bare_s, 4),
            "run_live_console_s": round(live_s, 4),
            "run_web_view_s": round(web_s, 4),
            "live_console_overhead_pct": round(100 * (live_s / bare_s - 1), 1),
            "web_view_overhead_pct": round(100 * (web_s / bare_s - 1), 1),
            "page_200_rounds_ms": round(page_s * 1000, 1),
            "run_telemetry_s": round(otel_s, 4),
            "telemetry_overhead_pct": round(100 * (otel_s / bare_s - 1), 1),
            "spans_received": receiver.spans,
            "repeat": args.repeat,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
