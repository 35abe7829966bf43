"""The tool registry: one declaration per tool, schemas derived from it, dispatch through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from magentic.agents.file_surfer import FileSurfer
from magentic.agents.tools import (
    BadToolArguments,
    NoArgs,
    Tool,
    ToolArgs,
    ToolRegistry,
    UnknownTool,
    compact_schema,
    specs_of,
    tool,
)
from magentic.agents.web_surfer.actions import ActionResult, Actions
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from magentic.agents.web_surfer.tools import tool_specs
from magentic.errors import MagenticError
from tests.web.conftest import web_settings


class Move(ToolArgs):
    direction: Literal["up", "down"]
    steps: int = Field(default=1, ge=1, description="how far")
    target_id: int | None = None


def test_schema_is_derived_small() -> None:
    schema = compact_schema(Move)
    assert schema == {
        "type": "object",
        "properties": {
            "direction": {"enum": ["up", "down"], "type": "string"},
            "steps": {"description": "how far", "minimum": 1, "type": "integer"},
            "target_id": {"type": "integer"},
        },
        "required": ["direction"],
    }
    assert compact_schema(NoArgs) == {"type": "object", "properties": {}}


async def test_bad_arguments_are_told_apart_from_handler_failures() -> None:
    calls: list[Move] = []

    async def move(args: Move) -> str:
        calls.append(args)
        if args.steps > 5:
            raise ValueError("too far for this handler")
        return f"moved {args.direction} {args.steps}"

    registry: ToolRegistry[str] = ToolRegistry([Tool("move", "Move.", Move, move)])
    assert (
        await registry.call("move", {"direction": "up", "steps": "2", "extra": 1}) == "moved up 2"
    )
    with pytest.raises(BadToolArguments, match="bad arguments for move: direction"):
        await registry.call("move", {"direction": "sideways"})
    with pytest.raises(BadToolArguments, match="steps"):
        await registry.call("move", {"direction": "up", "steps": 0})
    assert len(calls) == 1  # the handler never ran on bad arguments
    # A ValueError raised by the handler is the handler's own failure, not "bad arguments".
    with pytest.raises(ValueError, match="too far") as raised:
        await registry.call("move", {"direction": "up", "steps": 9})
    assert not isinstance(raised.value, MagenticError)
    with pytest.raises(UnknownTool, match="the tools are: move"):
        await registry.call("jump", {})


def test_methods_declared_once_give_schema_and_handler() -> None:
    class Owner:
        @tool("ping", "Ping.")
        async def ping(self, a: NoArgs) -> str:
            return "pong"

        @tool("move", "Move.")
        async def go(self, a: Move) -> str:
            return a.direction

    assert [s.name for s in specs_of(Owner)] == ["ping", "move"]
    registry = ToolRegistry.of(Owner())
    assert registry.names() == ["ping", "move"]
    with pytest.raises(TypeError, match="pydantic model"):

        class Wrong:
            @tool("bad", "Bad.")
            async def bad(self, x: int) -> None: ...


def test_both_surfers_declare_through_the_registry() -> None:
    web = {s.name: s for s in tool_specs()}
    assert web["click"].parameters == {
        "type": "object",
        "properties": {"target_id": {"type": "integer"}},
        "required": ["target_id"],
    }
    size = sum(len(json.dumps(s.to_openai())) for s in web.values())
    assert size < 4200, size
    files = {s.name for s in specs_of(FileSurfer)}
    assert files == {
        "open_path",
        "page_down",
        "page_up",
        "go_to_page",
        "find_on_page",
        "find_next",
        "list_directory",
        "zoom",  # the media tools (issue 12)
        "view_frame",
        "next_frame",
    }


class FaultyActions(Actions):
    """Actions with one tool whose handler has a bug (a real subclass, no patching)."""

    @tool("faulty", "A tool with a bug.")
    async def faulty(self, a: NoArgs) -> ActionResult:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_web_actions_report_bad_arguments_and_tool_faults_differently(
    pool: BrowserPool, site_host: str, tmp_path: Path
) -> None:
    settings = web_settings(site_host)
    session = BrowserSession(pool, settings, downloads_dir=tmp_path)
    await session.start()
    try:
        actions = FaultyActions(session, settings, workspace=tmp_path)
        bad = await actions.run("click", {"target_id": "the blue button"})
        assert bad.error is not None and bad.error.startswith("bad arguments for click: target_id")
        missing = await actions.run("input_text", {"target_id": 3})
        assert missing.error is not None and "text: Field required" in missing.error
        fault = await actions.run("faulty", {})
        assert fault.error is not None
        assert "bad arguments" not in fault.error
        assert fault.error.startswith("the faulty tool failed (TypeError")
        unknown = await actions.run("fly", {})
        assert unknown.error is not None and "there is no tool named 'fly'" in unknown.error
    finally:
        await session.close()


async def test_the_file_surfer_dispatches_through_its_registry(tmp_path: Path) -> None:
    from magentic.agents.base import StepContext
    from magentic.events import EventBus
    from magentic.llm.client import ModelClient
    from magentic.llm.messages import ToolCall
    from magentic.llm.settings import ModelSettings

    (tmp_path / "notes.txt").write_text("tide tables\n")
    settings = ModelSettings(model="unused", base_url="http://127.0.0.1:9/v1", api_key="t")
    client = ModelClient(settings, role="file_surfer", events=EventBus())
    surfer = FileSurfer(client, [tmp_path])
    ctx = StepContext(task="read", conversation=[], workspace=tmp_path, events=EventBus())
    try:
        # The client repairs calls that break the schema; what still reaches the surfer
        # unfit for the argument model is an observation, and the viewer is not touched.
        low = await surfer._act(ToolCall("1", "go_to_page", {"page": 0}), ctx)
        assert "Did not run go_to_page: bad arguments for go_to_page: page:" in low.text
        extra = await surfer._act(ToolCall("2", "open_path", {"path": "notes.txt", "x": 1}), ctx)
        assert "bad arguments for open_path: x: Extra inputs are not permitted" in extra.text
        assert surfer.viewer.document is None
        opened = await surfer._act(ToolCall("3", "open_path", {"path": "notes.txt"}), ctx)
        assert "tide tables" in opened.text
    finally:
        await surfer.close()  # its conversion worker process
        await client.close()
