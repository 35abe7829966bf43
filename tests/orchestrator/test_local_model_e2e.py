"""The demo task with the whole team against a llama.cpp-like server, with no settings at all.

The server refuses OpenAI's JSON schema spelling, tools and list content with HTTP 500s, takes
llama.cpp's own schema spelling, computes one request at a time with paced tokens, has an 8k
context and writes JSON the way small models do where no schema constrains it. The Coder's
code runs in the real Docker sandbox; the answer can only come from that run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.events import Event
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from tests.execution.conftest import require_docker

pytestmark = pytest.mark.docker


def sum_of_squared_primes(count: int) -> int:
    primes: list[int] = []
    n = 2
    while len(primes) < count:
        if all(n % p for p in primes):
            primes.append(n)
        n += 1
    return sum(p * p for p in primes)


async def test_demo_task_reaches_the_right_answer_on_a_llama_cpp_like_server(
    tmp_path: Path,
) -> None:
    require_docker()
    events: list[Event] = []
    with ScriptedLLMServer.llama_cpp_like(demo_script) as server:
        config = load_config(
            None,
            overrides={
                "models.default.base_url": server.base_url,
                "trace_dir": tmp_path / "runs",
                "cache.path": tmp_path / "cache" / "model-cache.sqlite",
            },
            environ={},
        )
        result = await run_task(DEMO_TASK, config, subscribers=[events.append])
    truth = str(sum_of_squared_primes(25))
    assert result.status == "answered", result.stop_reason
    assert re.search(rf"\b{truth}\b", result.answer)
    runs = [e for e in events if e.kind == "agent_acted" and e.agent == "ComputerTerminal"]  # type: ignore[attr-defined]
    assert any(truth in e.result for e in runs)  # type: ignore[attr-defined]
    failed = [e for e in events if e.kind == "model_call_failed"]
    # Identified as llama.cpp before the first call (no model call spent on it): every
    # structured request goes in llama.cpp's own schema spelling, and none is refused.
    assert not failed, [e.reason for e in failed]  # type: ignore[attr-defined]
    assert not server.refused
    forms = [r.response_format for r in server.requests if r.response_format]
    assert forms and all(f["type"] == "json_object" and f.get("schema") for f in forms)
    assert not [e for e in events if e.kind == "model_output_rejected"]
    assert all(isinstance(m["content"], str) for r in server.requests for m in r.messages)
    assert server.max_in_flight == 1
    remembered = (tmp_path / "cache" / "endpoints.json").read_text()
    assert '"server": "llama.cpp"' in remembered and '"context_tokens": 8192' in remembered
    assert '"structured": "json_schema"' in remembered
