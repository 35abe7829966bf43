"""Starting the test MCP servers and checking on their processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from magentic.mcp.settings import McpServerSettings

HERE = Path(__file__).parent
TOOL_SERVER = HERE / "tool_server.py"
RAW_SERVER = HERE / "raw_server.py"


def stdio(script: Path = TOOL_SERVER, *args: str, **settings: Any) -> McpServerSettings:
    return McpServerSettings(command=sys.executable, args=[str(script), *args], **settings)


def alive(pid: int) -> bool:
    """Whether a process is running (a zombie waiting to be reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
