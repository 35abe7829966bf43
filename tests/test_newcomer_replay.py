"""`--cache replay` of a task that runs code: the second run asks the model nothing."""

from __future__ import annotations

import json
from pathlib import Path

from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from tests.test_newcomer_paths import magentic


def test_a_code_task_replays_without_a_model_call(tmp_path: Path) -> None:
    common = ["--sandbox", "local", "--yes", "--json", "--cache-path", "cache.sqlite"]
    with ScriptedLLMServer(demo_script) as server:
        first = magentic(
            "run", DEMO_TASK, "--base-url", server.base_url, "--cache", "read_write", *common,
            cwd=tmp_path,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        asked = len(server.requests)
        again = magentic(
            "run", DEMO_TASK, "--base-url", server.base_url, "--cache", "replay", *common,
            cwd=tmp_path,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == asked  # every call came from the cache
    recorded, replayed = json.loads(first.stdout), json.loads(again.stdout)
    assert "ComputerTerminal" in first.stderr  # the code really ran, both times
    assert replayed["answer"] == recorded["answer"] and replayed["cost"] == 0
    events = [json.loads(line) for line in Path(replayed["trace_path"]).read_text().splitlines()]
    ran = [e for e in events if e["kind"] == "agent_acted" and e["action"] == "run_code"]
    assert ran and ran[0]["duration_ms"] > 0  # the timing is kept, in the trace
