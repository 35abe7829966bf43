"""The WebSurfer's tools as the model sees them, gathered from the two classes that declare
them with `@tool`: `Actions` (browser actions) and `PageReader` (whole-page reading). Their
argument models are in `tool_args.py`."""

from __future__ import annotations

from magentic.agents.tools import specs_of
from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.reading import PageReader
from magentic.llm.messages import ToolSpec


def tool_specs(*, exclude: set[str] | None = None) -> list[ToolSpec]:
    """Every WebSurfer tool's schema, without a browser (for listings and size checks)."""
    skip = exclude or set()
    return specs_of(Actions, exclude=skip) + specs_of(PageReader, exclude=skip)


TOOLS: list[ToolSpec] = tool_specs()
