"""Translation between our messages and the OpenAI chat-completions wire shape.

Kept apart from the client so the cache can build its key from exactly what is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from magentic.llm.messages import ImagePart, Message, ToolCall
from magentic.llm.usage import Usage
from magentic.text import escape_surrogates


@dataclass
class ChatResult:
    """One model reply: text and/or tool calls, with what it cost."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    cache_hit: bool = False
    usage_estimated: bool = False  # no counts from the server: estimated from characters
    # Arguments that were not valid JSON, kept so the caller can show the model its mistake.
    bad_tool_arguments: list[tuple[str, str]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The JSON form stored in the record/replay cache."""
        return {
            "text": self.text,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ],
            "refusal": self.refusal,
            "finish_reason": self.finish_reason,
            "usage": [
                self.usage.prompt_tokens,
                self.usage.completion_tokens,
                self.usage.cached_tokens,
            ],
            "model": self.model,
            "bad_tool_arguments": [list(pair) for pair in self.bad_tool_arguments],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ChatResult:
        prompt, completion, cached = record.get("usage") or [0, 0, 0]
        return cls(
            text=record.get("text") or "",
            tool_calls=[
                ToolCall(c["id"], c["name"], c["arguments"]) for c in record.get("tool_calls", [])
            ],
            refusal=record.get("refusal"),
            finish_reason=record.get("finish_reason"),
            usage=Usage(prompt, completion, cached),
            model=record.get("model", ""),
            cache_hit=True,
            bad_tool_arguments=[
                (name, args) for name, args in record.get("bad_tool_arguments", [])
            ],
        )


def _content_to_wire(content: str | list[str | ImagePart]) -> str | list[dict[str, Any]]:
    """Text goes with lone surrogates (an undecodable file name that slipped through) written
    as visible escapes: they cannot be encoded, and the request would never be sent."""
    if isinstance(content, str):
        return escape_surrogates(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": escape_surrogates(part)})
        else:
            image = {"url": part.data_url(), "detail": part.detail}
            parts.append({"type": "image_url", "image_url": image})
    return parts


def message_to_wire(
    message: Message, *, vision: bool = True, list_content: bool = True
) -> dict[str, Any]:
    """One message in OpenAI's shape.

    Content goes as a plain string whenever no image is sent: many local servers take only
    strings, and a list of text parts says nothing more. Without vision (or when the endpoint
    takes no list content) images become a short note.
    """
    content = message.content
    if not isinstance(content, str):
        images = sum(1 for p in content if isinstance(p, ImagePart))
        if not images:
            content = message.text
        elif not vision or not list_content:
            content = message.text + f"\n[{images} image(s) omitted: this model reads text only]"
    wire: dict[str, Any] = {"role": message.role, "content": _content_to_wire(content)}
    if message.name and message.role in ("user", "assistant"):
        wire["name"] = _safe_name(message.name)
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
        if not message.text:
            wire["content"] = None
    if message.tool_call_id:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _safe_name(name: str) -> str:
    """OpenAI accepts names of letters, digits, '_' and '-' only."""
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)[:64]


def messages_to_wire(
    messages: Sequence[Message], *, vision: bool = True, list_content: bool = True
) -> list[dict[str, Any]]:
    return [message_to_wire(m, vision=vision, list_content=list_content) for m in messages]


def _hash_images(value: Any) -> Any:
    """Replace image data URLs by their hash: cache keys stay small and exact."""
    if isinstance(value, dict):
        if value.get("type") == "image_url":
            url = value.get("image_url", {}).get("url", "")
            digest = hashlib.sha256(url.encode()).hexdigest()
            return {"type": "image_url", "sha256": digest}
        return {k: _hash_images(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hash_images(v) for v in value]
    return value


def request_key(body: dict[str, Any]) -> str:
    """A stable key for a request: what the model sees, not where it is served from."""
    canonical = json.dumps(_hash_images(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_completion(response: Any) -> ChatResult:
    """Our ChatResult from an openai ChatCompletion object."""
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice is not None else None
    result = ChatResult(
        text=(message.content or "") if message is not None else "",
        refusal=getattr(message, "refusal", None) if message is not None else None,
        finish_reason=choice.finish_reason if choice is not None else None,
        model=getattr(response, "model", "") or "",
    )
    for call in (message.tool_calls or []) if message is not None else []:
        function = getattr(call, "function", None)
        if function is None:
            continue
        _add_tool_call(
            result, call.id or f"call_{len(result.tool_calls)}", function.name, function.arguments
        )
    usage = getattr(response, "usage", None)
    if usage is not None:
        details = getattr(usage, "prompt_tokens_details", None)
        result.usage = Usage(
            prompt_tokens=usage.prompt_tokens or 0,
            completion_tokens=usage.completion_tokens or 0,
            cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        )
    return result


def _add_tool_call(result: ChatResult, call_id: str, name: str, raw_arguments: str | None) -> None:
    try:
        arguments = json.loads(raw_arguments or "{}")
    except json.JSONDecodeError:
        result.bad_tool_arguments.append((name, raw_arguments or ""))
        return
    if not isinstance(arguments, dict):
        result.bad_tool_arguments.append((name, raw_arguments or ""))
        return
    result.tool_calls.append(ToolCall(call_id, name, arguments))


class StreamAccumulator:
    """Builds a ChatResult from streamed chunks (text deltas and tool-call fragments)."""

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.result = ChatResult()

    def add(self, chunk: Any) -> None:
        if getattr(chunk, "model", None):
            self.result.model = chunk.model
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            self.result.usage = Usage(
                usage.prompt_tokens or 0,
                usage.completion_tokens or 0,
                (getattr(details, "cached_tokens", 0) or 0) if details else 0,
            )
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta.content:
                self.text_parts.append(delta.content)
            if getattr(delta, "refusal", None):
                self.result.refusal = (self.result.refusal or "") + delta.refusal
            for call in delta.tool_calls or []:
                slot = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                self.result.finish_reason = choice.finish_reason

    def finish(self) -> ChatResult:
        self.result.text = "".join(self.text_parts)
        for index in sorted(self.calls):
            slot = self.calls[index]
            _add_tool_call(
                self.result, slot["id"] or f"call_{index}", slot["name"], slot["arguments"]
            )
        return self.result
