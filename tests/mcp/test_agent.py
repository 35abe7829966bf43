"""The MCP agent in a whole run: `run_task` with the scripted model delegating to it, a
real MCP server's tool result reaching the final answer, and no server process left after
the run, whether it answered or was cancelled."""

from __future__ import annotations

import asyncio
import random
import re
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from magentic.config import Config, load_config
from magentic.control.channel import ControlChannel
from magentic.control.commands import Approve, Deny
from magentic.errors import ConfigError
from magentic.events import AgentActed, ControlDecided, ControlRequested, Event
from magentic.team import check_agent_names, run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace
from tests.mcp.helpers import TOOL_SERVER, alive

TASK = "What is {a} plus {b}? Use the calculator."


def config(
    server: ScriptedLLMServer,
    tmp_path: Path,
    url: str | None = None,
    approval: str | None = "allow",
    **mcp: Any,
) -> Config:
    """A team of the Coder and the MCP agent with one server `calc`: the test tool server
    over stdio, or over HTTP at `url` (allowed by the [mcp.url_policy]). Its calls are
    allowed by `[approval.mcp] calc` unless `approval` is None (the default rule: ask)."""
    where: dict[str, Any] = {
        "mcp.servers.calc.command": sys.executable,
        "mcp.servers.calc.args": [str(TOOL_SERVER)],
    }
    if url is not None:
        where = {"mcp.servers.calc.url": url, "mcp.url_policy.allow": [urlsplit(url).netloc]}
    return load_config(
        overrides={
            "models.default.base_url": server.base_url,
            "models.default.model": "scripted",
            "agents": ["Coder"],
            "trace_dir": tmp_path / "runs",
            "approval.mcp": {"calc": approval} if approval else {},
            "mcp.servers.calc.description": "a calculator",
            **where,
            **{f"mcp.servers.calc.{k}": v for k, v in mcp.items()},
        },
        environ={},
    )


def orchestrate(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(to_derive=["the sum"])
    if step == "plan":
        return roles.plan(("MCP", "add the two numbers with the calculator"))
    if step == "progress":
        if roles.last_from(request, "MCP"):
            return roles.progress(satisfied=True)
        return roles.progress("MCP", "Add the two numbers of the task with calc.")
    if step == "final":
        said = roles.last_from(request, "MCP") or ""
        fenced = "<<untrusted data relayed by MCP" in request.all_text()
        numbers = re.findall(r"The sum is (\d+)", said)
        return Reply.text(f"FINAL ANSWER: {numbers[-1] if numbers and fenced else 'unknown'}")
    return Reply.text("?")


def is_mcp_agent(request: ChatRequest) -> bool:
    return "tools from MCP servers" in request.system_text()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_orchestrator_delegates_to_the_mcp_agent(
    tmp_path: Path, transport: str, request: pytest.FixtureRequest
) -> None:
    a, b = random.randint(10**5, 10**6), random.randint(10**5, 10**6)
    seen_tools: list[list[str]] = []

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        seen_tools.append([t["function"]["name"] for t in request.body.get("tools", [])])
        shown = request.last_user_text()
        if "returned:" not in shown:
            x, y = map(int, re.findall(r"\d+", shown.split("Your instruction")[0])[:2])
            return Reply.tool_call("calc__add", {"a": x, "b": y})
        total = re.findall(r"(?m)^(\d+)$", shown)[-1]
        return Reply.text(f"The sum is {total}")

    with ScriptedLLMServer(script) as server:
        url = request.getfixturevalue("http_url") if transport == "http" else None
        cfg = config(server, tmp_path, url, blocked_tools=["crash"])
        result = await run_task(TASK.format(a=a, b=b), cfg)
    assert result.status == "answered", result.stop_reason
    assert result.answer == f"FINAL ANSWER: {a + b}"
    assert "calc__add" in seen_tools[0] and "calc__crash" not in seen_tools[0]
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    acted = [e for e in events if isinstance(e, AgentActed) and e.agent == "MCP"]
    started = next(e for e in acted if e.action == "mcp_start")
    call = next(e for e in acted if e.action == "mcp:calc.add")
    assert call.args == {"a": a, "b": b} and call.result == str(a + b)
    if transport == "stdio":
        assert not alive(started.args["pid"])


async def test_a_crashing_server_is_an_observation_and_the_run_goes_on(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        shown = request.last_user_text()
        if "failed:" not in shown:
            return Reply.tool_call("calc__crash", {})
        gone = "exit code 3" in shown
        return Reply.text("The sum is 0" if gone else "The sum is unknown")

    with ScriptedLLMServer(script) as server:
        result = await run_task("Add 1 and 2.", config(server, tmp_path))
    assert result.status == "answered", result.stop_reason
    assert result.answer == "FINAL ANSWER: 0"  # the agent read why the server went away


async def test_unattended_calls_are_denied_by_default_and_say_why(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        shown = request.last_user_text()
        if "failed:" not in shown:
            return Reply.tool_call("calc__add", {"a": 1, "b": 2})
        return Reply.text("The sum is 0" if "Not run: " in shown else "The sum is unknown")

    with ScriptedLLMServer(script) as server:
        result = await run_task("Add 1 and 2.", config(server, tmp_path, approval=None))
    assert result.answer == "FINAL ANSWER: 0"  # the agent was told the call did not run
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    asked = next(e for e in events if e.kind == "control_requested")
    decided = next(e for e in events if e.kind == "control_decided")
    assert (asked.action, asked.target) == ("mcp_tool", "calc.add")  # type: ignore[attr-defined]
    assert (decided.decision, decided.by) == ("deny", "nobody")  # type: ignore[attr-defined]
    call = next(e for e in events if getattr(e, "action", "") == "mcp:calc.add")
    assert call.error and "Not run" in call.error  # type: ignore[attr-defined]


async def test_a_person_approves_one_call_and_denies_another(tmp_path: Path) -> None:
    """`ask` reaches a person through the control channel: a face attached to it answers
    each request by its target, and the agent is told the person's reason for a no."""
    channel = ControlChannel()
    channel.attach("test-person")

    def person(event: Event) -> None:
        if isinstance(event, ControlRequested) and event.request == "approval":
            rid, target = event.request_id, event.target
            answer = (
                Approve(request_id=rid)
                if target == "calc.add"
                else Deny(request_id=rid, reason="no echoes")
            )
            asyncio.get_running_loop().call_soon(channel.send, answer)

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        shown = request.last_user_text()
        if "calc__echo" not in shown:
            return Reply.tool_call("calc__echo", {"text": "hello"})
        if "calc__add" not in shown:
            return Reply.tool_call("calc__add", {"a": 40, "b": 2})
        if "no echoes" not in shown:  # the person's reason reached the agent
            return Reply.text("?")
        total = re.findall(r"(?m)^(\d+)$", shown)[-1]
        return Reply.text(f"The sum is {total}")

    with ScriptedLLMServer(script) as server:
        cfg = config(server, tmp_path, approval=None)
        result = await run_task("Add 40 and 2.", cfg, control=channel, subscribers=[person])
    assert result.answer == "FINAL ANSWER: 42", result.stop_reason
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    decided = [(e.decision, e.by) for e in events if isinstance(e, ControlDecided)]
    assert decided == [("deny", "person"), ("allow", "person")]


async def test_a_server_that_cannot_start_is_an_observation(tmp_path: Path) -> None:
    told: list[str] = []

    def script(request: ChatRequest) -> Reply:
        told.append(roles.last_from(request, "MCP") or "")
        return orchestrate(request)

    with ScriptedLLMServer(script) as server:
        cfg = config(server, tmp_path, command="/nonexistent/mcp-server", args=[])
        result = await run_task("Add 1 and 2.", cfg)
    assert result.status == "answered", result.stop_reason
    assert any("MCP server calc is not available: " in t and "could not start" in t for t in told)


async def test_no_server_process_survives_a_cancelled_run(tmp_path: Path) -> None:
    hanging = threading.Event()
    pids: list[int] = []

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        hanging.set()
        return Reply.tool_call("calc__hang", {})

    def watch(event: Event) -> None:
        if getattr(event, "action", "") == "mcp_start":
            pids.append(event.args["pid"])  # type: ignore[attr-defined]

    with ScriptedLLMServer(script) as server:
        run = asyncio.ensure_future(
            run_task("Add 1 and 2.", config(server, tmp_path, timeout_s=600), subscribers=[watch])
        )
        await asyncio.to_thread(hanging.wait, 60)
        assert pids and alive(pids[0])
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert not alive(pids[0])


def test_tools_go_only_to_agents_that_take_them() -> None:
    with pytest.raises(ConfigError, match="'WebSurfer', a built-in agent that takes no MCP"):
        check_agent_names(["Coder"], ["WebSurfer"])
    check_agent_names(["Coder"], ["Search", "Coder"])  # a new agent, or the Coder, is fine


async def test_the_coder_calls_the_tools_it_is_given_before_writing(tmp_path: Path) -> None:
    a, b = random.randint(10**5, 10**6), random.randint(10**5, 10**6)

    def script(request: ChatRequest) -> Reply:
        if "You are the Coder" not in request.system_text():
            if roles.phase(request) == "plan":
                return roles.plan(("Coder", "write code that prints the sum"))
            if roles.phase(request) == "progress":
                if roles.last_from(request, "Coder"):
                    return roles.progress(satisfied=True)
                return roles.progress("Coder", "Write code that prints the sum.")
            if roles.phase(request) == "final":
                code = roles.last_from(request, "Coder") or ""
                printed = re.findall(r"print[(](\d+)[)]", code)
                return Reply.text(f"FINAL ANSWER: {printed}")
            return orchestrate(request)
        shown = request.all_text()
        if "What your tool calls returned" not in shown:
            return Reply.tool_call("calc__add", {"a": a, "b": b})
        total = re.findall(r"(?m)^(\d+)$", shown)[-1]
        return Reply.text(f"```python\nprint({total})\n```")

    with ScriptedLLMServer(script) as server:
        cfg = config(server, tmp_path, agents=["Coder"])
        result = await run_task(TASK.format(a=a, b=b), cfg)
    assert result.answer == f"FINAL ANSWER: ['{a + b}']", result.stop_reason
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    assert events[0].agents == ["Coder"]  # type: ignore[attr-defined]  # no MCP agent
    call = next(e for e in events if getattr(e, "action", "") == "mcp:calc.add")
    assert call.agent == "Coder" and call.result == str(a + b)  # type: ignore[attr-defined]
