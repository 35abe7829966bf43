"""The `[approval]` table and the gate on their own: per-tool MCP rules, the strictest of
an action's kinds, unknown kinds, and attachments made only when a request is recorded."""

from __future__ import annotations

from pathlib import Path

from magentic.control.channel import ControlChannel
from magentic.control.gate import ApprovalGate
from magentic.control.settings import KINDS, ApprovalSettings
from magentic.events import Attachment, ControlRequested, Event, EventBus


def gate(**rules: object) -> tuple[ApprovalGate, list[Event]]:
    bus = EventBus("t")
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return ApprovalGate(ApprovalSettings.model_validate(rules), ControlChannel(bus)), seen


def test_mcp_rules_go_from_the_tool_to_the_server_to_mcp_tool() -> None:
    settings = ApprovalSettings(mcp={"files": "allow", "files.delete": "deny"})
    assert settings.rule_for("mcp_tool", "files.read") == "allow"
    assert settings.rule_for("mcp_tool", "files.delete") == "deny"
    assert settings.rule_for("mcp_tool", "weather.today") == "ask"  # mcp_tool's default
    assert settings.rule_key("mcp_tool", "files.delete") == 'mcp."files.delete"'
    assert settings.rule_for("teleport") == "ask"  # an unknown kind is never allowed silently
    assert set(KINDS) <= set(ApprovalSettings.model_fields)


async def test_the_strictest_kind_decides_and_a_denial_names_its_rule() -> None:
    g, _ = gate(submit_form="ask", login="deny")
    assert g.strictest(["login", "submit_form"]) == ("login", "deny")
    assert g.strictest(["web_action", "new_domain"]) == ("web_action", "allow")
    decision = await g.check("mcp_tool", "MCP", "delete /", key="files.delete")
    assert not decision.allowed and decision.by == "nobody"  # mcp_tool asks; nobody is there
    g, _ = gate(mcp={"files.delete": "deny"})
    decision = await g.check("mcp_tool", "MCP", "delete /", key="files.delete")
    assert not decision.allowed and decision.by == "policy"
    assert decision.reason == 'the [approval] rule mcp."files.delete" is deny'


async def test_attachments_are_made_only_for_a_recorded_request() -> None:
    made: list[int] = []

    async def screenshot() -> list[Attachment]:
        made.append(1)
        return [Attachment(name="page.png", data=b"png")]

    g, seen = gate(download="allow", upload="ask")
    assert (await g.check("download", "WebSurfer", "save a.csv", attachments=screenshot)).allowed
    assert made == [] and seen == []
    decision = await g.check("upload", "WebSurfer", "upload a.csv", attachments=screenshot)
    assert not decision.allowed and decision.by == "nobody"
    requested = [e for e in seen if isinstance(e, ControlRequested)]
    assert made == [1] and requested[0].attachments[0].name == "page.png"


def test_step_and_yes_flags_set_the_approval_table(tmp_path: Path) -> None:
    from magentic.cli import _overrides, build_parser
    from magentic.config import load_config

    args = build_parser().parse_args(["run", "a task", "--step", "--yes"])
    config = load_config(None, overrides=_overrides(args), environ={})
    assert (config.approval.web_action, config.approval.yes) == ("ask", True)
    plain = load_config(
        None, overrides=_overrides(build_parser().parse_args(["run", "t"])), environ={}
    )
    assert (plain.approval.web_action, plain.approval.yes) == ("allow", False)
    # An older config's `[web] step_mode` still means "ask before every web action".
    old = tmp_path / "old.toml"
    old.write_text("[web]\nstep_mode = true\n")
    assert load_config(old, environ={}).approval.web_action == "ask"


async def test_record_keeps_an_allow_in_the_trace_without_making_attachments() -> None:
    made: list[int] = []

    async def screenshot() -> list[Attachment]:
        made.append(1)
        return []

    g, seen = gate(submit_form="allow")
    decision = await g.check(
        "submit_form",
        "WebSurfer",
        "POST /note",
        target="/note",
        record=True,
        attachments=screenshot,
    )
    assert decision.allowed and decision.by == "policy"
    assert [e.kind for e in seen] == ["control_requested", "control_decided"]
    assert getattr(seen[1], "reason", "") == "the [approval] rule submit_form is allow"
    assert made == []
