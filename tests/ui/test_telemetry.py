"""OpenTelemetry export of a real scripted run to a real OTLP/HTTP receiver started here:
the protobuf is decoded and the spans, their parents and attributes checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from magentic.config import load_config
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.ui.telemetry import Telemetry, telemetry_from_env


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def _attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = value.string_value or value.int_value or value.bool_value
    return out


async def test_a_run_exports_genai_spans_under_one_root(
    tmp_path: Path, receiver: tuple[str, list[ExportTraceServiceRequest]]
) -> None:
    endpoint, received = receiver
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5)))
    telemetry = Telemetry(provider, attributes={"magentic.suite": "local"})
    with ScriptedLLMServer(demo_script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["Coder"],
                "cache.mode": "off",
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        result = await run_task(DEMO_TASK, config, subscribers=[telemetry])
    telemetry.close()
    assert result.status == "answered"
    spans = [
        span
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    [root] = by_name["invoke_agent magentic"]
    assert root.parent_span_id == b"" and {s.trace_id for s in spans} == {root.trace_id}
    assert (
        _attrs(root)["magentic.suite"] == "local" and _attrs(root)["magentic.status"] == "answered"
    )
    assert "magentic.task" not in _attrs(root)  # content is opt-in
    [coder] = by_name["invoke_agent Coder"]
    assert coder.parent_span_id == root.span_id
    assert _attrs(coder)["gen_ai.agent.name"] == "Coder"
    assert _attrs(coder)["gen_ai.operation.name"] == "invoke_agent"
    chats = by_name["chat scripted"]
    assert len(chats) == 6
    for chat in chats:
        attrs = _attrs(chat)
        assert (
            attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "scripted"
        )
        assert attrs["gen_ai.provider.name"] == "openai" and attrs["gen_ai.usage.input_tokens"] > 0
    coder_chats = [c for c in chats if _attrs(c)["magentic.role"] == "coder"]
    assert coder_chats and all(c.parent_span_id == coder.span_id for c in coder_chats)
    assert "plan" in by_name and by_name["plan"][0].parent_span_id == root.span_id
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano for s in spans)


def test_telemetry_is_on_only_when_an_endpoint_is_named(tmp_path: Path) -> None:
    assert telemetry_from_env({}) is None
    on = telemetry_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert isinstance(on, Telemetry) and not on.capture_content
    on.close(timeout_s=0.1)


def test_a_collector_that_is_down_does_not_fail_the_run(tmp_path: Path) -> None:
    """The real CLI with the standard variable naming a port nobody listens on."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    with ScriptedLLMServer(demo_script) as server:
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "run", DEMO_TASK, "--base-url",
             server.base_url, "--agents", "Coder", "--trace-dir", str(tmp_path / "runs")],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stdout.strip()
