"""The `[telemetry]` table: a config file alone turns telemetry on, through the real CLI, to
a real OTLP/HTTP receiver; its headers reach the collector and nowhere else."""

# ruff: noqa: E402 (the imports below the require() need the part it checks for)
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import installed, require

require(installed("opentelemetry.sdk"), "the otel extra (pip install 'magentic[otel]')")

from magentic.cli import main
from magentic.config import load_config
from magentic.errors import ConfigError
from magentic.secrets import redact
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.ui.telemetry import telemetry_for
from magentic.ui.telemetry_settings import TelemetrySettings

from .otlp import Received, serve

TOKEN = "Bearer otel-token-4f9a1c2e7b"


@pytest.fixture
def receiver() -> Iterator[Received]:
    yield from serve()


def test_a_telemetry_table_turns_export_on_with_its_headers(
    tmp_path: Path, receiver: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEST_COLLECTOR_AUTH", TOKEN)
    config = tmp_path / "magentic.toml"
    config.write_text(
        "[telemetry]\n"
        f'endpoint = "{receiver.url}"\n'
        'headers = { "x-team" = "search" }\n'
        'headers_env = { "authorization" = "TEST_COLLECTOR_AUTH" }\n'
        'service_name = "magentic-under-test"\n'
    )
    runs = tmp_path / "runs"
    with ScriptedLLMServer(demo_script) as server:
        code = main(
            ["run", DEMO_TASK, "--config", str(config), "--base-url", server.base_url,
             "--agents", "Coder", "--trace-dir", str(runs), "--quiet"]
        )  # fmt: skip
    assert code == 0
    spans = receiver.spans()
    assert [s.name for s in spans if not s.parent_span_id] == ["invoke_agent magentic"]
    assert any(s.name.startswith("chat ") for s in spans)
    assert set(receiver.paths) == {"/v1/traces"}  # added to the bare host
    assert all(h["authorization"] == TOKEN and h["x-team"] == "search" for h in receiver.headers)
    assert receiver.resource_attributes()["service.name"] == "magentic-under-test"
    # the collector's token is a secret: redacted everywhere, absent from the trace
    [trace] = runs.glob("*/trace.jsonl")
    assert "otel-token" not in trace.read_text() and "TEST_COLLECTOR_AUTH" not in trace.read_text()
    assert TOKEN not in redact(f"echoed {TOKEN}")


def test_the_table_decides_and_says_what_is_wrong(tmp_path: Path) -> None:
    on_by_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert telemetry_for(None, {}) is None
    assert telemetry_for(TelemetrySettings(enabled=False), on_by_env) is None
    never = telemetry_for(TelemetrySettings(endpoint="http://127.0.0.1:9", sample_ratio=0.0), {})
    assert never is not None and not never.capture_content
    assert not never.tracer.start_span("a run").is_recording()  # sampled out
    never.close(timeout_s=0.1)
    assert TelemetrySettings(endpoint="http://h:4318/").traces_url() == "http://h:4318/v1/traces"
    assert TelemetrySettings(endpoint="https://h/otlp/v1/traces").traces_url().endswith("/otlp/v1/traces")  # fmt: skip
    with pytest.raises(ConfigError, match="OTEL_NOT_SET_HERE"):
        telemetry_for(TelemetrySettings(headers_env={"authorization": "OTEL_NOT_SET_HERE"}), {})
    bad = tmp_path / "bad.toml"
    bad.write_text('[telemetry]\nendpoint = "collector:4318"\n')
    with pytest.raises(ConfigError, match=r"telemetry\.endpoint"):
        load_config(bad, environ={})
    bad.write_text('[telemetry]\nprotocol = "grpc"\n')
    with pytest.raises(ConfigError, match="http/protobuf"):
        load_config(bad, environ={})
