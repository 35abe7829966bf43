"""Answers of a required shape: a JSON object fitting a schema, or one valid tool call.

Both are one idea, `ask_shaped`: send the request in the best form the endpoint takes, read
the reply leniently, and when it still does not fit, show the model its reply with the reason
in plain words and a short example, a bounded number of times, then a ModelOutputError. A
`Shape` says how to request, read and repair one kind of answer.

The forms step down with the endpoint's capabilities (owned by the client, which records
every refusal): JSON schema (in the spelling of the server's kind, see `servers.py`), else
JSON object mode, else plain text with the schema in the
prompt; native tool calls, else a JSON action reply. This module imports no client: it works
with anything that has the few members of `ShapedClient`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from magentic.errors import ModelOutputError, UnsupportedFeature
from magentic.events import EventBus, ModelOutputRejected
from magentic.llm import prompts
from magentic.llm.jsonout import extract_json, schema_errors
from magentic.llm.lenient import coerce, example_of, plain_reason
from magentic.llm.messages import Message, ToolCall, ToolSpec, assistant, user
from magentic.llm.servers import schema_format
from magentic.llm.settings import ModelSettings
from magentic.llm.wire import ChatResult

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
_MAX_STEP_DOWNS = 6


class ShapedClient(Protocol):
    """What the shaped helpers need of a model client."""

    role: str
    events: EventBus
    settings: ModelSettings

    async def ready(self) -> None: ...

    @property
    def structured_mode(self) -> str: ...

    @property
    def server_kind(self) -> str | None: ...

    @property
    def tools_supported(self) -> bool: ...

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult: ...


@dataclass
class Read(Generic[R]):
    """What a shape made of one reply: a value, or the reason it is unusable."""

    ok: bool
    value: R | None = None
    reason: str = ""


class Shape(Protocol[R]):
    what: str  # "a valid Plan", for the final error

    def request(
        self, client: ShapedClient, conversation: list[Message]
    ) -> tuple[list[Message], dict[str, Any]]: ...

    def read(self, result: ChatResult) -> Read[R]: ...

    def repair(self, result: ChatResult, reason: str) -> list[Message]: ...


async def ask_shaped(
    client: ShapedClient,
    messages: Sequence[Message],
    shape: Shape[R],
    *,
    max_repairs: int | None = None,
) -> R:
    """One answer of the shape, re-asked at most `max_repairs` times."""
    repairs = client.settings.max_repairs if max_repairs is None else max_repairs
    await client.ready()  # the endpoint's known capabilities decide the request's form
    conversation = list(messages)
    attempt = step_downs = 0
    reason = last_output = ""
    while attempt <= repairs:
        request, options = shape.request(client, conversation)
        try:
            result = await client.chat(request, **options)
        except UnsupportedFeature:
            # The client recorded the refusal; the next request takes the simpler form.
            step_downs += 1
            if step_downs > _MAX_STEP_DOWNS:
                raise
            continue
        attempt += 1
        last_output = result.text
        read = shape.read(result)
        if read.ok:
            return read.value  # type: ignore[return-value]
        reason = read.reason
        client.events.emit(
            ModelOutputRejected(
                role=client.role,
                error=reason,
                output=(result.text or result.refusal or json.dumps(_call_names(result)))[:2000],
                attempt=attempt,
            )
        )
        conversation += shape.repair(result, reason)
    why = " ".join(reason.split())
    why = why if len(why) <= 300 else why[:299] + "…"
    raise ModelOutputError(
        f"the {client.role} model did not give {shape.what} after {repairs + 1} tries ({why})",
        last_output=last_output,
    )


def _call_names(result: ChatResult) -> list[str]:
    return [c.name for c in result.tool_calls]


# Structured answers ------------------------------------------------------------------------

_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a model, made once: pydantic takes milliseconds to build it."""
    found = _SCHEMAS.get(schema)
    if found is None:
        found = _SCHEMAS[schema] = schema.model_json_schema()
    return found


def _schema_name(schema: type[BaseModel]) -> str:
    title = schema.model_config.get("title") or schema.__name__
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in title)[:64]


class StructuredShape(Generic[T]):
    """A JSON object that validates as `schema`, read leniently."""

    def __init__(self, schema: type[T]) -> None:
        self.schema = schema
        self.json_schema = _json_schema(schema)
        self.example = json.dumps(example_of(self.json_schema))
        self.what = f"a valid {schema.__name__}"

    def request(
        self, client: ShapedClient, conversation: list[Message]
    ) -> tuple[list[Message], dict[str, Any]]:
        mode = client.structured_mode
        if mode == "json_schema":  # schema-constrained, spelled the way this server takes it
            response_format = schema_format(
                client.server_kind, _schema_name(self.schema), self.json_schema
            )
            return conversation, {"response_format": response_format}
        note = prompts.JSON_REPLY.format(
            example=self.example, schema=json.dumps(self.json_schema, separators=(",", ":"))
        )
        options = {"response_format": {"type": "json_object"}} if mode == "json_object" else {}
        return [*conversation, user(note)], options

    def read(self, result: ChatResult) -> Read[T]:
        if result.refusal:
            return Read(False, reason=f"the reply was a refusal ({result.refusal[:200]})")
        try:
            value = coerce(extract_json(result.text), self.json_schema)
            return Read(True, self.schema.model_validate(value))
        except ValidationError as error:
            return Read(False, reason=plain_reason(error))
        except ValueError as error:
            return Read(False, reason=str(error))

    def repair(self, result: ChatResult, reason: str) -> list[Message]:
        return [
            assistant(result.text or "(empty reply)"),
            user(prompts.REPAIR_JSON.format(reason=reason, example=self.example)),
        ]


async def structured(
    client: ShapedClient,
    messages: Sequence[Message],
    schema: type[T],
    *,
    max_repairs: int | None = None,
) -> T:
    return await ask_shaped(client, messages, StructuredShape(schema), max_repairs=max_repairs)


# Tool choice -------------------------------------------------------------------------------


def _match_tool(name: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
    """The tool of that name, matched without regard to case, spaces or dashes."""
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    for tool in tools:
        if tool.name == name or "".join(ch for ch in tool.name.lower() if ch.isalnum()) == key:
            return tool
    return None


def _check_call(call: ToolCall, tools: Sequence[ToolSpec]) -> tuple[ToolCall, str]:
    """The call with its name and arguments tidied, and why it cannot run ('' when it can)."""
    spec = _match_tool(call.name, tools)
    if spec is None:
        names = ", ".join(t.name for t in tools)
        return call, f"there is no tool named '{call.name}'; the tools are: {names}"
    arguments = coerce(call.arguments, spec.parameters, guess_keys=False)
    call = ToolCall(call.id, spec.name, arguments if isinstance(arguments, dict) else {})
    problems = schema_errors(call.arguments, spec.parameters)
    if problems:
        return call, f"the arguments of {call.name} do not fit its schema: " + "; ".join(problems)
    return call, ""


def _describe_tools(tools: Sequence[ToolSpec]) -> str:
    return "\n".join(
        f"- {t.name}: {t.description} Arguments schema: {json.dumps(t.parameters)}" for t in tools
    )


def _action_parts(value: dict[str, Any]) -> tuple[Any, Any]:
    """(name, arguments) from the ways small models write an action."""
    function = value.get("function")
    inner: dict[str, Any] = function if isinstance(function, dict) else value
    names = ("tool", "name", "tool_name", "action", "function")
    name = next((inner[k] for k in names if k in inner), None)
    keys = ("arguments", "args", "parameters", "input")
    arguments: Any = next((inner[k] for k in keys if k in inner), {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            pass
    return name, arguments


class ToolShape:
    """One runnable tool call, or (unless a tool is required) the model's words."""

    def __init__(self, tools: Sequence[ToolSpec], require_tool: bool) -> None:
        self.tools = list(tools)
        self.require_tool = require_tool
        self.native = True
        self.call: ToolCall | None = None
        self.what = "a valid action"
        first = self.tools[0] if self.tools else None
        self.example = json.dumps(
            {"tool": first.name, "arguments": example_of(first.parameters)} if first else {}
        )

    def request(
        self, client: ShapedClient, conversation: list[Message]
    ) -> tuple[list[Message], dict[str, Any]]:
        self.native = client.tools_supported
        if self.native:
            return conversation, {"tools": self.tools}
        note = prompts.JSON_ACTION.format(tools=_describe_tools(self.tools))
        return [*conversation, user(note)], {}

    def read(self, result: ChatResult) -> Read[ToolCall | str]:
        self.call = None
        if self.native:
            if result.tool_calls:
                self.call, reason = _check_call(result.tool_calls[0], self.tools)
                return Read(not reason, self.call, reason)
            if result.bad_tool_arguments:
                name, raw = result.bad_tool_arguments[0]
                return Read(
                    False, reason=f"the arguments of {name} were not valid JSON: {raw[:200]}"
                )
            if result.refusal:
                return Read(False, reason=f"the reply was a refusal ({result.refusal[:200]})")
            if not result.text.strip():
                return Read(False, reason="the reply was empty; call one of the tools")
            # Some servers put a JSON action in the text even when tools were offered.
            action = self._json_action(result.text)
            if action.ok or self.require_tool:
                return (
                    action
                    if action.ok
                    else Read(False, reason="a tool call was required; call one of the tools")
                )
            return Read(True, result.text.strip())
        return self._json_action(result.text, strict=True)

    def _json_action(self, text: str, *, strict: bool = False) -> Read[ToolCall | str]:
        try:
            value = extract_json(text)
        except ValueError as error:
            return Read(False, reason=str(error))
        if not isinstance(value, dict):
            return Read(False, reason="the reply must be one JSON object")
        name, arguments = _action_parts(value)
        if name is None and isinstance(value.get("answer"), str):
            if self.require_tool:
                return Read(
                    False, reason="a tool call was required; reply with a tool, not an answer"
                )
            return Read(True, value["answer"])
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return Read(False, reason='use {"tool": NAME, "arguments": {...}} or {"answer": "..."}')
        self.call, reason = _check_call(ToolCall("json_action", name, arguments), self.tools)
        if reason and not strict and _match_tool(name, self.tools) is None:
            return Read(False, reason="not a tool call")
        return Read(not reason, self.call, reason)

    def repair(self, result: ChatResult, reason: str) -> list[Message]:
        if self.native and self.call is not None and result.tool_calls:
            return [
                Message("assistant", result.text, tool_calls=[self.call]),
                Message("tool", f"Error: {reason}", tool_call_id=self.call.id),
            ]
        return [
            assistant(result.text or "(empty reply)"),
            user(prompts.REPAIR_TOOL.format(reason=reason, example=self.example)),
        ]


async def choose_tool(
    client: ShapedClient,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_repairs: int | None = None,
    require_tool: bool = False,
) -> ToolCall | str:
    """One runnable tool call, or the model's words when it answered without a tool.

    With `require_tool`, words are not an answer: the model is asked again to pick a tool.
    """
    return await ask_shaped(
        client, messages, ToolShape(tools, require_tool), max_repairs=max_repairs
    )
