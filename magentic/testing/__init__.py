"""Test offline with the real openai client: a scripted OpenAI-compatible server.

See `ScriptedLLMServer`; `python -m magentic.testing --script FILE` serves a script from the
command line so `magentic run --base-url ...` can be tried without a paid model.
"""

from magentic.testing.replies import Reply
from magentic.testing.server import ChatRequest, Script, ScriptedLLMServer, sequence

__all__ = ["ChatRequest", "Reply", "Script", "ScriptedLLMServer", "sequence"]
