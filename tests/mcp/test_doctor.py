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
