"""The WebSurfer's tools as the model sees them. Every word here is sent with every call,
so descriptions are short and the schemas plain."""

from __future__ import annotations

from typing import Any

from magentic.llm.messages import ToolSpec

_ID = {"type": "integer"}  # an element id from the list; the prompt says so once


def _tool(
    name: str, description: str, properties: dict[str, Any] | None = None, *required: str
) -> ToolSpec:
    schema: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required:
        schema["required"] = list(required)
    return ToolSpec(name, description, schema)


TOOLS: list[ToolSpec] = [
    _tool("visit_url", "Open a web address.", {"url": {"type": "string"}}, "url"),
    _tool("web_search", "Search the web.", {"query": {"type": "string"}}, "query"),
    _tool("click", "Click an element.", {"target_id": _ID}, "target_id"),
    _tool(
        "input_text",
        "Replace the text of an input; submit=true then presses Enter.",
        {"target_id": _ID, "text": {"type": "string"}, "submit": {"type": "boolean"}},
        "target_id",
        "text",
    ),
    _tool(
        "select_option",
        "Pick an option of a drop-down list by its text.",
        {"target_id": _ID, "option": {"type": "string"}},
        "target_id",
        "option",
    ),
    _tool(
        "press_key",
        "Press a key or combination: Enter, Escape, Tab, Control+A...",
        {"keys": {"type": "string"}},
        "keys",
    ),
    _tool("hover", "Move the mouse over an element.", {"target_id": _ID}, "target_id"),
    _tool(
        "scroll",
        "Scroll the page, or the scrollable area target_id, by most of a screen.",
        {"direction": {"type": "string", "enum": ["up", "down"]}, "target_id": _ID},
        "direction",
    ),
    _tool("history_back", "Go back to the previous page."),
    _tool("refresh", "Reload the page."),
    _tool(
        "tab",
        "Open a tab (at url), or switch to or close tab number.",
        {
            "action": {"type": "string", "enum": ["open", "switch", "close"]},
            "number": {"type": "integer"},
            "url": {"type": "string"},
        },
        "action",
    ),
    _tool(
        "upload_file",
        "Put a workspace file into a file input.",
        {"target_id": _ID, "path": {"type": "string"}},
        "target_id",
        "path",
    ),
    _tool(
        "download",
        "Click an element that downloads a file to the workspace.",
        {"target_id": _ID},
        "target_id",
    ),
    _tool("read_page", "Get the whole page as Markdown."),
    _tool(
        "answer_question",
        "Answer a question from the whole page, not only the view.",
        {"question": {"type": "string"}},
        "question",
    ),
    _tool("summarize_page", "Summarize the whole page."),
    _tool(
        "sleep",
        "Wait for the page to change (seconds).",
        {"seconds": {"type": "number"}},
        "seconds",
    ),
]

READING_TOOLS = {"read_page", "answer_question", "summarize_page"}


def tool_specs(*, exclude: set[str] | None = None) -> list[ToolSpec]:
    return [t for t in TOOLS if t.name not in (exclude or set())]
