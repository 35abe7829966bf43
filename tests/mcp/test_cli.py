"""`magentic run` with an `[mcp.servers]` table, as a person runs it: the answer comes from
a real MCP server's tool, and a run stopped by signals (the graceful path, then the hard
exit that runs the exit hooks) leaves no server process behind."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from tests.mcp.helpers import TOOL_SERVER, alive
from tests.mcp.test_agent import is_mcp_agent, orchestrate

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, timeout_s: float = 60) -> Path:
    path = tmp_path / "magentic.toml"
    path.write_text(
        f"""
[mcp.servers.calc]
command = {json.dumps(sys.executable)}
args = [{json.dumps(str(TOOL_SERVER))}]
description = "a calculator"
timeout_s = {timeout_s}
env = {{ CALC_TOKEN = "calc-secret-value-123" }}

[approval.mcp]
calc = "allow"
"""
    )
    return path


def start(tmp_path: Path, server: ScriptedLLMServer, task: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["MAGENTIC_STOP_GRACE_S"] = "5"
    return subprocess.Popen(
        [sys.executable, "-m", "magentic.cli", "run", task, "--config",
         str(write_config(tmp_path)), "--base-url", server.base_url, "--agents", "Coder",
         "--trace-dir", str(tmp_path / "runs"), "--json"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_cli_run_answers_with_an_mcp_tool(tmp_path: Path) -> None:
    a, b = random.randint(1000, 9999), random.randint(1000, 9999)

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        shown = request.last_user_text()
        if "returned:" not in shown:
            return Reply.tool_call("calc__add", {"a": a, "b": b})
        total = re.findall(r"(?m)^(\d+)$", shown)[-1]  # the fenced tool result
        return Reply.text(f"The sum is {total}")

    with ScriptedLLMServer(script) as server:
        process = start(tmp_path, server, f"What is {a} plus {b}?")
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert json.loads(out)["answer"] == f"FINAL ANSWER: {a + b}"
    trace = next((tmp_path / "runs").glob("*/trace.jsonl")).read_text()
    assert "CALC_TOKEN" in trace and "calc-secret-value-123" not in trace


def test_signals_leave_no_server_process(tmp_path: Path) -> None:
    hanging = threading.Event()

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        hanging.set()
        return Reply.tool_call("calc__hang", {})

    with ScriptedLLMServer(script) as server:
        process = start(tmp_path, server, "Add 1 and 2.")
        assert hanging.wait(90), "the run never reached the MCP agent"
        pid = _server_pid(tmp_path)
        assert alive(pid)
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)  # at once: the hard exit and its exit hooks
        _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert not alive(pid)


def _server_pid(tmp_path: Path) -> int:
    """The stdio server's pid, from the `mcp_start` event of the run's trace."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for trace in (tmp_path / "runs").glob("*/trace.jsonl"):
            for line in trace.read_text().splitlines():
                event = json.loads(line)
                if event.get("action") == "mcp_start":
                    return int(event["args"]["pid"])
        time.sleep(0.05)
    raise AssertionError("no mcp_start event in the trace")
