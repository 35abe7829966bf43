"""The argument models of the WebSurfer's tools. Every word of their schemas is sent with
every call, so fields carry no descriptions: the prompt says once what `target_id` is.

The tools themselves (name, description, handler) are declared with `@tool` on the methods
that run them: browser actions in `actions.py`, whole-page reading in `reading.py`.
"""

from __future__ import annotations

from typing import Literal

from magentic.agents.tools import ToolArgs, ToolRegistry, specs_of
from magentic.llm.messages import ToolSpec


class Url(ToolArgs):
    url: str


class Query(ToolArgs):
    query: str


class Target(ToolArgs):
    target_id: int


class TypeText(Target):
    text: str
    submit: bool = False


class Choose(Target):
    option: str


class Keys(ToolArgs):
    keys: str


class Scroll(ToolArgs):
    direction: Literal["up", "down"]
    target_id: int | None = None


class Tab(ToolArgs):
    action: Literal["open", "switch", "close"]
    number: int | None = None
    url: str | None = None


class Upload(Target):
    path: str


class Wait(ToolArgs):
    seconds: float


class Question(ToolArgs):
    question: str | None = None


class Find(ToolArgs):
    text: str


def tool_specs(*, exclude: set[str] | None = None) -> list[ToolSpec]:
    """Every WebSurfer tool's schema, without a browser (for listings and size checks)."""
    from magentic.agents.web_surfer.actions import Actions
    from magentic.agents.web_surfer.reading import PageReader

    skip = exclude or set()
    return specs_of(Actions, exclude=skip) + specs_of(PageReader, exclude=skip)


def web_tools(*owners: object) -> ToolRegistry[object]:
    """One registry of the tools of `owners` (the session's Actions and its PageReader)."""
    registry: ToolRegistry[object] = ToolRegistry()
    for owner in owners:
        for t in ToolRegistry.of(owner):
            registry.add(t)
    return registry


def __getattr__(name: str) -> list[ToolSpec]:
    """`TOOLS`: the schemas, built on first use (the handlers' modules import this one)."""
    if name == "TOOLS":
        return tool_specs()
    raise AttributeError(name)
