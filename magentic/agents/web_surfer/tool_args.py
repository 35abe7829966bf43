"""The argument models of the WebSurfer's tools. Every word of their schemas is sent with
every call, so fields carry no descriptions: the prompt says once what `target_id` is.

The tools themselves (name, description, handler) are declared with `@tool` on the methods
that run them: browser actions in `actions.py`, whole-page reading in `reading.py`; `tools.py`
gathers their schemas. This module imports neither, so both can import it.
"""

from __future__ import annotations

from typing import Literal

from magentic.agents.tools import ToolArgs


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
