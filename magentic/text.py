"""Small text helpers shared by the orchestrator, the agents and the trace."""

from __future__ import annotations

import re

# Python hands a file name's undecodable bytes over as lone surrogates (U+DC80..U+DCFF,
# "surrogateescape"). They cannot be encoded as UTF-8, so one such name in a prompt makes
# every later JSON request fail, and in an event it makes the event unwritable.
_SURROGATE = re.compile("[\ud800-\udfff]")
_BYTE_ESCAPE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")


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


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def escape_surrogates(text: str) -> str:
    """`text` with every lone surrogate written as a visible escape (`\\xe9`), so it is
    valid UTF-8 everywhere (prompts, JSON, the trace, the console)."""
    return _SURROGATE.sub(_escape, text) if _SURROGATE.search(text) else text


def unescape_bytes(text: str) -> str:
    """The inverse for file names: `caf\\xe9.txt` back to the name the file system holds."""
    return _BYTE_ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text)
