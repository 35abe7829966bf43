"""`magentic bench` with a `[telemetry]` table: one trace per task, its root span naming the
suite and the task, exported to a real OTLP/HTTP receiver and decoded here."""

# ruff: noqa: E402 (the imports below the require() need the part it checks for)
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import installed, require

require(installed("opentelemetry.sdk"), "the otel extra (pip install 'magentic[otel]')")

from magentic.cli import main
from magentic.testing import ScriptedLLMServer

from ..ui.otlp import Received, attrs, serve
from .solvers import LOCAL_SUITE
from .test_team_seam import script

TASKS = ("file-minutes-treasurer", "code-transactions-total")


@pytest.fixture
def receiver() -> Iterator[Received]:
    yield from serve()


def test_each_bench_task_is_one_trace_with_its_suite_and_id(
    tmp_path: Path, receiver: Received, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "magentic.toml"
    config.write_text(f'[telemetry]\nendpoint = "{receiver.url}/v1/traces"\n')
    with ScriptedLLMServer(script) as server:
        code = main(
            ["bench", str(LOCAL_SUITE), "--config", str(config), "--tasks", ",".join(TASKS),
             "--concurrency", "2", "--out", str(tmp_path / "out"), "--base-url", server.base_url,
             "--model", "scripted", "--agents", "Coder", "--json"]
        )  # fmt: skip
    assert code == 0
    spans = receiver.spans()
    roots = {s.trace_id: attrs(s) for s in spans if not s.parent_span_id}
    assert sorted(a["magentic.bench.task_id"] for a in roots.values()) == sorted(TASKS)
    assert {a["magentic.bench.suite"] for a in roots.values()} == {"local"}
    assert all(a["magentic.status"] == "answered" for a in roots.values())
    assert {s.trace_id for s in spans} == set(roots)  # every span lies in one task's trace
    for trace_id in roots:  # and each trace holds that task's own model calls
        assert any(s.trace_id == trace_id and s.name == "chat scripted" for s in spans)
