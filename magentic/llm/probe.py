"""Probing an endpoint: which request shapes it accepts, and the settings that follow.

`magentic doctor --model M --base-url U` runs these probes one after the other (a local
server computes one request at a time), each a tiny request with a short reply, and stores
what it learned in the capability memory so the next run starts from it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magentic.errors import ModelError, UnsupportedFeature
from magentic.llm.capabilities import Capabilities, CapabilityMemory
from magentic.llm.client import ModelClient
from magentic.llm.limits import effective_limit
from magentic.llm.servers import (
    UNKNOWN,
    ServerInfo,
    has_own_schema_spelling,
    identify_server,
    schema_format,
)
from magentic.llm.settings import ModelSettings

# A 1x1 PNG: enough to see whether image parts are accepted.
_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
_ASK = "Reply with the word OK."


@dataclass
class ProbeRow:
    feature: str
    status: str  # "yes", "no", "error", or a value (the context size)
    detail: str = ""


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


_SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("plain text", {"messages": [{"role": "user", "content": _ASK}]}),
    ("list content", {"messages": [{"role": "user", "content": _text(_ASK)}]}),
    (
        "images",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        *_text(_ASK),
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64," + base64.b64encode(_PIXEL).decode(),
                            },
                        },
                    ],
                }
            ]
        },
    ),
    (
        "JSON mode",
        {
            "messages": [{"role": "user", "content": 'Reply with the JSON {"ok": true}.'}],
            "response_format": {"type": "json_object"},
        },
    ),
    (
        "native tools",
        {
            "messages": [{"role": "user", "content": "Call the tool ok."}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "ok",
                        "description": "Say ok.",
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
            ],
        },
    ),
]
_PROBE_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _schema_shape(kind: str | None) -> dict[str, Any]:
    """The JSON schema probe, spelled the way this kind of server takes it."""
    return {
        "messages": [{"role": "user", "content": 'Reply with {"ok": true}.'}],
        "response_format": schema_format(kind, "probe", _PROBE_SCHEMA),
    }


_LEARNS = {
    "list content": "list_content",
    "images": "vision",
    "JSON schema": "json_schema",
    "JSON mode": "json_object",
    "native tools": "tools",
}


async def probe_endpoint(
    settings: ModelSettings,
    memory: CapabilityMemory | None = None,
    on_row: Callable[[ProbeRow], None] | None = None,
) -> tuple[list[ProbeRow], dict[str, Any]]:
    """(one row per probe, the settings a run will use). Rows are also handed to `on_row`
    as they come, so an interrupted probe still shows what it found."""
    memory = memory or CapabilityMemory()
    quick = settings.model_copy(
        update={"max_retries": 0, "max_tokens": 16, "timeout_s": min(settings.timeout_s, 90.0)}
    )
    client = ModelClient(quick, role="doctor", memory=memory)
    caps = await memory.get(settings.base_url, settings.model)
    fresh = Capabilities()
    rows: list[ProbeRow] = []
    reached = True  # whether the endpoint answered the plain-text probe at all

    def add(row: ProbeRow) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    try:
        info = ServerInfo()
        if settings.base_url:
            info = await identify_server(
                settings.base_url, settings.model, api_key=settings.resolved_key()
            )
        window, where = info.context_tokens, info.context_from
        version = f" {info.version}" if info.version else ""
        add(ProbeRow("server", info.kind + version, "asked its informational routes"))
        add(
            ProbeRow(
                "context size",
                str(window) if window else "unknown",
                f"from {where}" if where else "the server does not say; set context_tokens",
            )
        )
        shapes = list(_SHAPES)
        spelled = info.kind if has_own_schema_spelling(info.kind) else ""
        shapes.insert(3, ("JSON schema", _schema_shape(info.kind)))
        for feature, shape in shapes:
            body = {"model": settings.model, "max_tokens": 16, **shape}
            try:
                await client.transport.send(body, stream=False)
                form = f"{spelled}'s form" if spelled and feature == "JSON schema" else ""
                add(ProbeRow(feature, "yes", form))
            except UnsupportedFeature as refused:
                add(ProbeRow(feature, "no", refused.reason))
                fresh.step_down(refused.feature)
                if feature in _LEARNS:
                    fresh.step_down(_LEARNS[feature])
            except ModelError as error:
                if feature == "plain text":
                    add(ProbeRow(feature, "error", error.reason))
                    reached = False
                    break  # nothing else can be learned from an endpoint that fails this
                add(ProbeRow(feature, "no", error.reason))
                if feature in _LEARNS:
                    fresh.step_down(_LEARNS[feature])
        if reached:
            await _probe_streaming(settings, fresh, add)
    finally:
        await client.close()
    if reached:  # only an endpoint that answered taught anything worth keeping
        await _learn(caps, fresh, info, window, memory)
    used = ModelClient(settings, role="doctor", memory=memory)
    await used.ready()
    chosen = {
        "server": used.server_kind,
        "structured_mode": used.structured_mode,
        "tool_mode": "native" if used.tools_supported else "json",
        "vision": used.vision,
        "stream": used.streaming,
        "max_concurrency": effective_limit(settings.base_url, settings.max_concurrency) or None,
        "context_tokens": used.context_tokens,
        "timeout_s": settings.timeout_s,
        "max_retries": settings.max_retries,
    }
    return rows, chosen


async def _probe_streaming(
    settings: ModelSettings, fresh: Capabilities, add: Callable[[ProbeRow], None]
) -> None:
    """Whether a streamed reply comes back; only a server's refusal (an HTTP status) counts
    as "no": a connection that failed says nothing about streaming."""
    streamed = settings.model_copy(update={"stream": True, "max_retries": 0, "max_tokens": 16})
    stream_client = ModelClient(streamed, role="doctor")
    try:
        await stream_client.transport.send(
            {"model": settings.model, "max_tokens": 16, **_SHAPES[0][1]}, stream=True
        )
        add(ProbeRow("streaming", "yes"))
    except ModelError as error:
        refused = isinstance(error, UnsupportedFeature) or error.status is not None
        add(ProbeRow("streaming", "no" if refused else "error", error.reason))
        if refused:
            fresh.step_down("stream")
    finally:
        await stream_client.close()


async def _learn(
    caps: Capabilities,
    fresh: Capabilities,
    info: ServerInfo,
    window: int | None,
    memory: CapabilityMemory,
) -> None:
    """Keep what the probes found, for the next run."""
    caps.structured, caps.tools, caps.vision = fresh.structured, fresh.tools, fresh.vision
    caps.list_content, caps.stream = fresh.list_content, fresh.stream
    if info.conclusive or info.kind != UNKNOWN:
        caps.server, caps.server_checked = info.kind, time.time()
    if window:
        caps.context_tokens = window
    caps.context_probed = True
    await memory.save()
