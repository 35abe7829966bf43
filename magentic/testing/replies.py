"""What a ScriptedLLMServer script returns: a reply, or a fault to inject.

A script is a plain function from the parsed request to a `Reply`. Faults (rate limits,
server errors, slow or dropped replies, malformed bodies) are replies too, so one script can
fail on its third call and answer on its fourth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["none", "http_error", "drop", "malformed"]


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refusal: str | None = None
    finish_reason: str | None = None
    # Token counts to report; estimated from the request and reply when left None.
    usage: tuple[int, int, int] | None = None  # (prompt, completion, cached)
    delay_s: float = 0.0
    fault: FaultKind = "none"
    status: int = 200
    error_message: str = ""
    retry_after: float | None = None

    # Answers -----------------------------------------------------------------------------
    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json(cls, obj: Any, **kw: Any) -> Reply:
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return cls(tool_calls=[(name, arguments or {})], **kw)

    @classmethod
    def tool_calls_of(cls, calls: list[tuple[str, dict[str, Any]]], **kw: Any) -> Reply:
        return cls(tool_calls=list(calls), **kw)

    @classmethod
    def refuse(cls, message: str = "I can't help with that.") -> Reply:
        return cls(content=None, refusal=message)

    # Faults ------------------------------------------------------------------------------
    @classmethod
    def http_error(
        cls, status: int, message: str = "scripted failure", retry_after: float | None = None
    ) -> Reply:
        return cls(
            fault="http_error", status=status, error_message=message, retry_after=retry_after
        )

    @classmethod
    def rate_limited(cls, retry_after: float = 0.2) -> Reply:
        return cls.http_error(429, "rate limit reached (scripted)", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls.http_error(status, "internal error (scripted)")

    @classmethod
    def drop(cls) -> Reply:
        """Close the connection without answering."""
        return cls(fault="drop")

    @classmethod
    def malformed(cls) -> Reply:
        """Answer 200 with a body that is not JSON."""
        return cls(fault="malformed")

    def slow(self, seconds: float) -> Reply:
        """This reply, sent after `seconds`."""
        self.delay_s = seconds
        return self
