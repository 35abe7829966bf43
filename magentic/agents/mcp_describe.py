"""How an MCP tool is described to a model: the server's words fenced as untrusted data.

A server writes its tools' descriptions and its parameters' descriptions, and a hostile
server writes instructions there ("ignore previous instructions", a fake end of fence).
So each such text reaches the model cut short, cleaned of control characters and fence
look-alikes, and fenced as data (`base.fence`, the same helper as for pages and results);
a title, being a name, is only cleaned and cut. The person's own description of a tool
(`[mcp.servers.NAME.tools.TOOL] description`) replaces the server's, unfenced: it is ours.
"""

from __future__ import annotations

from typing import Any

from magentic.agents.base import fence, neutralise
from magentic.mcp.settings import McpServerSettings
from magentic.text import clip

TOOL_CHARS = 500  # of a server's description of one tool
PARAMETER_CHARS = 200  # of a server's description of one parameter
TITLE_CHARS = 80
# Schema keys whose values are data (examples, defaults), not descriptions to rewrite.
_DATA_KEYS = frozenset({"default", "const", "enum", "examples", "example"})
# Schema keys whose values map names (of parameters, of definitions) to schemas.
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def tool_description(server: str, tool: str, described: str, settings: McpServerSettings) -> str:
    """The description the model sees for one tool of `server`."""
    own = settings.description_of(tool)
    if own is not None:
        return f"[MCP server {server}] {own}"
    text = described.strip()
    if not text:
        return f"[MCP server {server}] (the server gives no description)"
    return f"[MCP server {server}] " + fence(f"MCP server {server}", clip(text, TOOL_CHARS).strip())


def fenced_schema(server: str, schema: Any) -> Any:
    """The schema with every description fenced and every title cleaned, recursively."""
    source = f"MCP server {server}"

    def walk(node: Any, names: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if names:  # the keys of `properties` are parameter names: keep them, walk values
                out[key] = walk(value)
            elif key == "description" and isinstance(value, str):
                text = clip(value.strip(), PARAMETER_CHARS).strip()
                out[key] = fence(source, text) if text else text
            elif key == "title" and isinstance(value, str):
                out[key] = neutralise(value)[:TITLE_CHARS]
            elif key in _DATA_KEYS:
                out[key] = value
            else:
                out[key] = walk(value, names=key in _NAMED)
        return out

    return walk(schema)
