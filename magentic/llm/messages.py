"""The provider-neutral chat messages that agents build and the ModelClient sends.

Plain dataclasses: they live inside the process. Conversion to the OpenAI wire shape happens
only in `magentic.llm.client`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ImagePart:
    """An image in a message. `data` is the encoded file (PNG, JPEG or WebP)."""

    data: bytes
    mime: str = "image/png"
    detail: Literal["auto", "low", "high"] = "auto"
    width: int = 0
    height: int = 0

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


ContentPart = str | ImagePart


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for. `arguments` is already parsed JSON."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Message:
    role: Role
    content: str | list[ContentPart]
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The message's text parts joined; images are left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p for p in self.content if isinstance(p, str))

    @property
    def images(self) -> list[ImagePart]:
        if isinstance(self.content, str):
            return []
        return [p for p in self.content if isinstance(p, ImagePart)]


def system(text: str) -> Message:
    return Message("system", text)


def user(content: str | list[ContentPart], name: str | None = None) -> Message:
    return Message("user", content, name=name)


def assistant(text: str, name: str | None = None) -> Message:
    return Message("assistant", text, name=name)


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: a name, what it is for, and a JSON schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }
