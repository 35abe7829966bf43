"""The one way to talk to a model. Only this package imports `openai`."""

from magentic.llm.client import ModelClient
from magentic.llm.messages import ImagePart, Message, ToolCall, ToolSpec
from magentic.llm.settings import ModelSettings
from magentic.llm.wire import ChatResult

__all__ = [
    "ChatResult",
    "ImagePart",
    "Message",
    "ModelClient",
    "ModelSettings",
    "ToolCall",
    "ToolSpec",
]
