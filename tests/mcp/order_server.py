"""A real MCP server (stdio) whose tool changes the world: `place_order` appends a line to
the file named by ORDERS_FILE; `count_orders` only reads it (declared read-only)."""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("test-orders")


@server.tool()
def place_order(item: str) -> str:
    """Order one item."""
    with Path(os.environ["ORDERS_FILE"]).open("a") as orders:
        orders.write(f"{item}\n")
    return f"ordered {item}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def count_orders() -> str:
    """How many orders there are."""
    path = Path(os.environ["ORDERS_FILE"])
    return str(len(path.read_text().splitlines()) if path.exists() else 0)


if __name__ == "__main__":
    server.run("stdio")
