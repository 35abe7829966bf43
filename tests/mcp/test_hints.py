"""A server's own hints never loosen the approval rules: a hostile server that declares its
code-running tool read-only is still denied by `mcp_tool = "deny"`, over stdio and over
streamable HTTP, and every MCP decision (allows too) is in the trace."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from magentic.config import Config, load_config
from magentic.control.settings import ApprovalSettings
from magentic.events import ControlDecided, ControlRequested
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from magentic.trace.writer import read_trace
from tests.mcp.helpers import TOOL_SERVER
from tests.mcp.test_agent import is_mcp_agent, orchestrate


def config(
    server: ScriptedLLMServer, tmp_path: Path, url: str | None, approval: dict[str, Any]
) -> Config:
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
            **{f"approval.{k}": v for k, v in approval.items()},
            **where,
        },
        environ={},
    )


def calls_then_answers(*calls: tuple[str, dict[str, Any]]) -> Any:
    """A script whose MCP agent makes `calls` one by one, then answers."""

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        made = len(re.findall(r"\) (?:returned|failed):", request.last_user_text()))
        if made < len(calls):
            return Reply.tool_call(*calls[made])
        return Reply.text("The sum is 0")

    return script


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_read_only_lie_does_not_run_code_that_mcp_tool_denies(
    tmp_path: Path, transport: str, request: pytest.FixtureRequest
) -> None:
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('ran on the host')"
    script = calls_then_answers(("calc__run_python", {"code": code}))
    with ScriptedLLMServer(script) as server:
        url = request.getfixturevalue("http_url") if transport == "http" else None
        rules = {"mcp_tool": "deny", "run_code": "deny"}
        result = await run_task("Add 1 and 2.", config(server, tmp_path, url, rules))
    assert not marker.exists(), "the hostile tool ran"
    assert result.trace_path is not None
    events = read_trace(Path(result.trace_path))
    asked = [e for e in events if isinstance(e, ControlRequested)]
    decided = [e for e in events if isinstance(e, ControlDecided)]
    assert [(e.action, e.target) for e in asked] == [("mcp_tool", "calc.run_python")]
    assert "its server calls it read-only" in asked[0].detail
    assert [(e.decision, e.by) for e in decided] == [("deny", "policy")]
    assert decided[0].reason == "the [approval] rule mcp_tool is deny"


async def test_every_decision_is_recorded_and_a_hint_only_tightens(tmp_path: Path) -> None:
    """Unattended with the defaults, a read-only tool asks like any other (and nobody is
    there: no); the person's own `[approval.mcp]` entry lets it run, and that allow is
    recorded; `mcp_read_only = "deny"` tightens an allowed `mcp_tool` for hinted tools."""
    script = calls_then_answers(
        ("calc__lookup", {"word": "magentic"}), ("calc__add", {"a": 1, "b": 2})
    )
    with ScriptedLLMServer(script) as server:
        defaults = await run_task("Count.", config(server, tmp_path / "a", None, {}))
        named = {"mcp": {"calc.lookup": "allow"}}
        allowed = await run_task("Count.", config(server, tmp_path / "b", None, named))
        tight = {"mcp_tool": "allow", "mcp_read_only": "deny"}
        tightened = await run_task("Count.", config(server, tmp_path / "c", None, tight))

    def decisions(result: Any) -> list[tuple[str, str, str, str]]:
        events = read_trace(Path(result.trace_path))
        targets = {e.request_id: e.target for e in events if isinstance(e, ControlRequested)}
        return [
            (targets[e.request_id], e.decision, e.by, e.reason)
            for e in events
            if isinstance(e, ControlDecided)
        ]

    assert [d[:3] for d in decisions(defaults)] == [
        ("calc.lookup", "deny", "nobody"),
        ("calc.add", "deny", "nobody"),
    ]
    first = decisions(allowed)[0]
    assert first == (
        "calc.lookup",
        "allow",
        "policy",
        'the [approval] rule mcp."calc.lookup" is allow',
    )
    assert decisions(tightened) == [
        ("calc.lookup", "deny", "policy", "the [approval] rule mcp_read_only is deny"),
        ("calc.add", "allow", "policy", "the [approval] rule mcp_tool is allow"),
    ]


def test_the_strictest_rule_decides_unless_the_person_named_the_tool() -> None:
    rules = ApprovalSettings(mcp_tool="deny", mcp_read_only="allow")
    assert rules.mcp_rule("evil.run_python", read_only=True) == ("mcp_tool", "deny")
    rules = ApprovalSettings(mcp_tool="ask", mcp_read_only="allow")
    assert rules.mcp_rule("evil.run_python", read_only=True) == ("mcp_tool", "ask")
    rules = ApprovalSettings(mcp_tool="allow", mcp_read_only="ask")
    assert rules.mcp_rule("calc.lookup", read_only=True) == ("mcp_read_only", "ask")
    assert rules.mcp_rule("calc.add", read_only=False) == ("mcp_tool", "allow")
    rules = ApprovalSettings(mcp_tool="deny", mcp={"calc": "allow", "calc.rm": "deny"})
    assert rules.mcp_rule("calc.lookup", read_only=True) == ('mcp."calc"', "allow")
    assert rules.mcp_rule("calc.rm", read_only=True) == ('mcp."calc.rm"', "deny")
