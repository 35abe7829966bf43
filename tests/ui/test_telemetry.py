"""OpenTelemetry export of a real scripted run to a real OTLP/HTTP receiver started here:
the protobuf is decoded and the spans, their parents and attributes checked."""

# ruff: noqa: E402 (the imports below the require() need the part it checks for)
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import installed, require

require(installed("opentelemetry.sdk"), "the otel extra (pip install 'magentic[otel]')")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from magentic.config import load_config
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.ui.telemetry import Telemetry, telemetry_from_env

from .otlp import Received, attrs, serve


@pytest.fixture
def receiver() -> Iterator[Received]:
    yield from serve()


async def test_a_run_exports_genai_spans_under_one_root(tmp_path: Path, receiver: Received) -> None:
    endpoint = receiver.url + "/v1/traces"
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
    spans = receiver.spans()
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    [root] = by_name["invoke_agent magentic"]
    assert root.parent_span_id == b"" and {s.trace_id for s in spans} == {root.trace_id}
    assert attrs(root)["magentic.suite"] == "local" and attrs(root)["magentic.status"] == "answered"
    assert "magentic.task" not in attrs(root)  # content is opt-in
    [coder] = by_name["invoke_agent Coder"]
    assert coder.parent_span_id == root.span_id
    assert attrs(coder)["gen_ai.agent.name"] == "Coder"
    assert attrs(coder)["gen_ai.operation.name"] == "invoke_agent"
    chats = by_name["chat scripted"]
    assert len(chats) == 6
    for chat in chats:
        found = attrs(chat)
        assert (
            found["gen_ai.operation.name"] == "chat" and found["gen_ai.request.model"] == "scripted"
        )
        assert found["gen_ai.provider.name"] == "openai" and found["gen_ai.usage.input_tokens"] > 0
    coder_chats = [c for c in chats if attrs(c)["magentic.role"] == "coder"]
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
