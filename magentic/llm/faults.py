"""What an endpoint's error answer means: a refused feature, a fault that will pass, or one
that will not.

One place decides, so every call site treats the same answer the same way:
- a 4xx or 5xx whose text points at a feature the request used (JSON schema, JSON mode,
  tools, list content, images, streaming) is `UnsupportedFeature`: step down, never retry;
- 401/403/404 and other 4xx (but 408 and 429) will not change: no retry;
- a 5xx whose text names a validation or type error is deterministic too: one retry at most;
- other 5xx, 408, 429, time-outs and dropped connections pass: retried with backoff.
The reason kept is one line; a server's traceback never reaches the stop reason.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from typing import Any

from magentic.errors import ModelError, UnsupportedFeature

_PASSING_STATUS = {408, 429}
_DETERMINISTIC_5XX = (
    "validation error",
    "validationerror",
    "typeerror",
    "type error",
    "valueerror",
    "keyerror",
    "attributeerror",
    "can only concatenate",
    "not subscriptable",
    "unexpected keyword",
    "invalid type",
)
_GENERIC_REFUSAL = ("not support", "unsupported", "unknown parameter", "not implemented")
_MAX_REASON = 240


@dataclass(frozen=True)
class Used:
    """The features a request body uses, so an error can be pinned on one of them."""

    json_schema: bool = False
    json_object: bool = False
    tools: bool = False
    list_content: bool = False
    images: bool = False
    stream: bool = False

    @classmethod
    def of(cls, body: dict[str, Any]) -> Used:
        form = body.get("response_format") or {}
        kind = form.get("type")
        # llama.cpp and TGI take a schema inside a json_object format: that asks for a
        # schema-constrained reply, and a refusal of it steps down to plain JSON mode.
        constrained = kind == "json_schema" or (
            kind == "json_object" and ("schema" in form or "value" in form)
        )
        lists = [m.get("content") for m in body.get("messages", [])]
        lists = [c for c in lists if isinstance(c, list)]
        return cls(
            json_schema=constrained,
            json_object=kind == "json_object" and not constrained,
            tools=bool(body.get("tools")),
            list_content=bool(lists),
            images=any(p.get("type") == "image_url" for c in lists for p in c),
            stream=bool(body.get("stream")),
        )


def one_line(text: str) -> str:
    """The telling line of a server's error text: the exception line of a traceback, else
    the first non-empty line, clipped."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return "(no detail)"
    if any(line.startswith("Traceback") for line in lines):
        exception_lines = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)", ln)]
        line = exception_lines[-1] if exception_lines else lines[-1]
    else:
        line = lines[0]
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def refused_feature(status: int, detail: str, used: Used) -> str | None:
    """The feature an error answer points at, or None when it names none the request used."""
    if status < 400:
        return None
    text = detail.lower()
    if (
        status < 500
        and "context" in text
        and any(w in text for w in ("exceed", "too long", "too large", "length", "size", "maximum"))
    ):
        return "context"
    if used.list_content and (
        "concatenate" in text
        or 'not "list"' in text
        or "not 'list'" in text
        or ("content" in text and ("list" in text or "array" in text or "string" in text))
    ):
        return "images" if used.images and "image" in text else "list_content"
    if used.images and any(w in text for w in ("image", "vision", "multimodal")):
        return "vision"
    if used.json_schema and any(
        w in text for w in ("json_schema", "json_object", "response_format", "schema", "grammar")
    ):
        return "json_schema"
    if used.json_object and any(w in text for w in ("json_object", "response_format")):
        return "json_object"
    if used.tools and any(w in text for w in ("tool", "function")):
        return "tools"
    if used.stream and "stream_options" in text:
        return "stream_usage"
    if used.stream and "stream" in text:
        return "stream"
    if any(marker in text for marker in _GENERIC_REFUSAL):
        # A refusal that names no feature: blame the most demanding one the request used.
        for name, on in (
            ("json_schema", used.json_schema),
            ("tools", used.tools),
            ("json_object", used.json_object),
        ):
            if on:
                return name
    return None


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asked us to wait (Retry-After or retry-after-ms), if it said."""
    if headers is None:
        return None
    header = headers.get("retry-after-ms")
    if header:
        try:
            return float(header) / 1000
        except ValueError:
            pass
    header = headers.get("retry-after")
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def status_error(
    status: int,
    detail: str,
    used: Used,
    *,
    where: str,
    model: str,
    key_env: str,
    headers: Any = None,
) -> ModelError:
    """Our error for an HTTP error answer. `retryable` and `max_tries` say what to do next."""
    line = one_line(detail)
    feature = refused_feature(status, detail, used)
    if feature == "images":
        feature = "vision"
    if feature == "context":
        return UnsupportedFeature(
            f"the request is larger than the model's context ({status}: {line})",
            feature=feature,
            status=status,
        )
    if feature is not None:
        return UnsupportedFeature(
            f"the endpoint refused {feature.replace('_', ' ')} ({status}: {line})",
            feature=feature,
            status=status,
        )
    if status in (401, 403):
        return ModelError(
            f"the endpoint {where} refused the API key ({status}): check {key_env}",
            status=status,
        )
    if status == 404:
        return ModelError(f"model '{model}' not found at {where} ({line})", status=status)
    if 400 <= status < 500 and status not in _PASSING_STATUS:
        return ModelError(f"{where} answered {status}: {line}", status=status)
    deterministic = status >= 500 and any(m in detail.lower() for m in _DETERMINISTIC_5XX)
    return ModelError(
        f"{where} answered {status}: {line}",
        status=status,
        retryable=True,
        retry_after=retry_after_seconds(headers),
        max_tries=2 if deterministic else None,
    )
