"""Small text helpers shared by the orchestrator, the agents and the trace."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """Keep the head and the tail of a long text, saying how much was cut.

    The head gets two thirds: it usually says what the text is; the tail says how it ended.
    """
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[-tail:]}"
