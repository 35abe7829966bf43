"""The one way to talk to a model. Only this package imports `openai`.

Names are imported lazily: `magentic.llm.settings` (read by every config load) must not pay
for the openai SDK, which only a run that calls a model needs.
"""

from __future__ import annotations

from magentic.lazy import lazy_exports

_EXPORTS = {
    "ChatResult": "magentic.llm.wire",
    "ImagePart": "magentic.llm.messages",
    "Message": "magentic.llm.messages",
    "ModelClient": "magentic.llm.client",
    "ModelSettings": "magentic.llm.settings",
    "ToolCall": "magentic.llm.messages",
    "ToolSpec": "magentic.llm.messages",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(_EXPORTS)
