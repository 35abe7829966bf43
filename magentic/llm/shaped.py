"""Answers of a required shape: a JSON object fitting a schema, or one valid tool call.

Every endpoint gets the best request shape it supports: JSON schema, else JSON object mode,
else plain text with the schema in the prompt; native tool calls, else a JSON action reply.
A reply that does not fit is shown back to the model with the reason, a bounded number of
times, and then a ModelOutputError says what went wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from magentic.errors import ModelOutputError
from magentic.events import ModelOutputRejected
from magentic.llm import prompts
from magentic.llm.jsonout import extract_json, schema_errors
from magentic.llm.messages import Message, ToolCall, ToolSpec, assistant, user

if TYPE_CHECKING:
    from magentic.llm.client import ModelClient

T = TypeVar("T", bound=BaseModel)

_STEP_DOWN: dict[str, Literal["json_object", "text"]] = {
    "json_schema": "json_object",
    "json_object": "text",
}


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


def _validation_reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _reject(client: ModelClient, error: str, output: str, attempt: int) -> None:
    client.events.emit(
        ModelOutputRejected(role=client.role, error=error, output=output[:2000], attempt=attempt)
    )


async def structured(
    client: ModelClient,
    messages: Sequence[Message],
    schema: type[T],
    *,
    max_repairs: int | None = None,
) -> T:
    from magentic.llm.client import UnsupportedFeature

    repairs = client.settings.max_repairs if max_repairs is None else max_repairs
    json_schema = _json_schema(schema)
    conversation = list(messages)
    last_output = ""
    attempt = 0
    while attempt <= repairs:
        mode = client.structured_mode
        request = list(conversation)
        response_format: dict[str, Any] | None = None
        if mode == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": _schema_name(schema), "schema": json_schema},
            }
        else:
            request.append(user(prompts.JSON_REPLY.format(schema=json.dumps(json_schema))))
            if mode == "json_object":
                response_format = {"type": "json_object"}
        try:
            result = await client.chat(request, response_format=response_format)
        except UnsupportedFeature:
            if mode not in _STEP_DOWN:
                raise
            client.structured_mode = _STEP_DOWN[mode]
            continue
        attempt += 1
        last_output = result.text
        if result.refusal:
            reason = f"the reply was a refusal ({result.refusal[:200]})"
        else:
            try:
                return schema.model_validate(extract_json(result.text))
            except ValueError as error:  # ValidationError is a ValueError too
                reason = (
                    _validation_reason(error) if isinstance(error, ValidationError) else str(error)
                )
        _reject(client, reason, result.text or (result.refusal or ""), attempt)
        conversation += [
            assistant(result.text or "(empty reply)"),
            user(prompts.REPAIR_JSON.format(reason=reason)),
        ]
    raise ModelOutputError(
        f"the {client.role} model did not give a valid {schema.__name__} after "
        f"{repairs + 1} tries ({reason})",
        last_output=last_output,
    )


def _check_call(call: ToolCall, tools: Sequence[ToolSpec]) -> str | None:
    """Why this tool call cannot be run, or None when it can."""
    spec = next((t for t in tools if t.name == call.name), None)
    if spec is None:
        names = ", ".join(t.name for t in tools)
        return f"there is no tool named '{call.name}'; the tools are: {names}"
    problems = schema_errors(call.arguments, spec.parameters)
    if problems:
        return f"the arguments of {call.name} do not fit its schema: " + "; ".join(problems)
    return None


async def choose_tool(
    client: ModelClient,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    max_repairs: int | None = None,
    require_tool: bool = False,
) -> ToolCall | str:
    """One runnable tool call, or the model's words when it answered without a tool.

    With `require_tool`, words are not an answer: the model is asked again to pick a tool.
    """
    from magentic.llm.client import UnsupportedFeature

    repairs = client.settings.max_repairs if max_repairs is None else max_repairs
    conversation = list(messages)
    attempt = 0
    reason = ""
    last_output = ""
    while attempt <= repairs:
        native = client.tools_supported
        request = list(conversation)
        if not native:
            request.append(user(prompts.JSON_ACTION.format(tools=_describe_tools(tools))))
        try:
            result = await client.chat(request, tools=tools if native else ())
        except UnsupportedFeature:
            if not native:
                raise
            client.tools_supported = False
            continue
        attempt += 1
        last_output = result.text
        call: ToolCall | None = None
        if native:
            if result.tool_calls:
                call = result.tool_calls[0]
                reason = _check_call(call, tools) or ""
            elif result.bad_tool_arguments:
                name, raw = result.bad_tool_arguments[0]
                reason = f"the arguments of {name} were not valid JSON: {raw[:200]}"
            elif result.refusal:
                reason = f"the reply was a refusal ({result.refusal[:200]})"
            elif not result.text.strip():
                reason = "the reply was empty; call one of the tools"
            elif require_tool:
                reason = "a tool call was required; call one of the tools"
            else:
                return result.text.strip()
        else:
            call, words, reason = _parse_json_action(result.text, tools)
            if words is not None:
                if not require_tool:
                    return words
                reason = "a tool call was required; reply with a tool, not an answer"
        if call is not None and not reason:
            return call
        _reject(
            client, reason, result.text or json.dumps([c.name for c in result.tool_calls]), attempt
        )
        if native and call is not None:
            conversation += [
                Message("assistant", result.text, tool_calls=[call]),
                Message("tool", f"Error: {reason}", tool_call_id=call.id),
            ]
        else:
            conversation += [
                assistant(result.text or "(empty reply)"),
                user(prompts.REPAIR_TOOL.format(reason=reason)),
            ]
    raise ModelOutputError(
        f"the {client.role} model did not choose a valid action after {repairs + 1} tries ({reason})",
        last_output=last_output,
    )


def _describe_tools(tools: Sequence[ToolSpec]) -> str:
    return "\n".join(
        f"- {t.name}: {t.description} Arguments schema: {json.dumps(t.parameters)}" for t in tools
    )


def _parse_json_action(
    text: str, tools: Sequence[ToolSpec]
) -> tuple[ToolCall | None, str | None, str]:
    """(call, words, reason) from a JSON action reply; reason is empty when usable."""
    try:
        value = extract_json(text)
    except ValueError as error:
        return None, None, str(error)
    if not isinstance(value, dict):
        return None, None, "the reply must be a JSON object"
    if "tool" not in value and isinstance(value.get("answer"), str):
        return None, value["answer"], ""
    name = value.get("tool")
    arguments = value.get("arguments", {})
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None, None, 'use {"tool": NAME, "arguments": {...}} or {"answer": "..."}'
    call = ToolCall(id="json_action", name=name, arguments=arguments)
    return call, None, _check_call(call, tools) or ""
