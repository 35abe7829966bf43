"""`magentic doctor` starts each configured MCP server as a run would and says what it got."""

from __future__ import annotations

from magentic.doctor import check_mcp_servers
from magentic.mcp.settings import McpSettings
from tests.mcp.helpers import RAW_SERVER, stdio


async def test_doctor_starts_each_server_and_names_its_tools_or_its_failure() -> None:
    settings = McpSettings(
        servers={"calc": stdio(allowed_tools=["add", "echo"]), "broken": stdio(RAW_SERVER, "die")}
    )
    calc, broken = await check_mcp_servers(settings)
    assert (calc.name, calc.ok) == ("mcp calc", True) and "2 tools: add, echo" in calc.detail
    assert not broken.ok and "cannot open its database" in broken.detail
    assert "[mcp.servers.broken]" in broken.fix
    assert await check_mcp_servers(McpSettings()) == []


async def test_an_address_the_url_policy_refuses_is_fixed_in_the_policy_table() -> None:
    settings = McpSettings.model_validate(
        {"servers": {"remote": {"url": "http://127.0.0.1:9/mcp"}}}
    )
    [remote] = await check_mcp_servers(settings)
    assert not remote.ok and "private or local address" in remote.detail
    assert "[mcp.url_policy]" in remote.fix and '"127.0.0.1:9"' in remote.fix
