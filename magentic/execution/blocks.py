"""Code blocks out of a model's markdown, and which languages a sandbox can run.

Only fences with a language tag count: an untagged fence in a Coder's reply is usually
sample output or a file's contents, and running it would be a guess.
"""

from __future__ import annotations

import re

from magentic.execution.base import CodeBlock

PYTHON = "python"
SH = "sh"
BASH = "bash"
_ALIASES = {
    "python": PYTHON,
    "python3": PYTHON,
    "py": PYTHON,
    "sh": SH,
    "bash": BASH,
    "shell": BASH,
    "console": BASH,
}
# Tags that mark data or prose, never something to run; the ComputerTerminal skips them.
DATA_LANGUAGES = frozenset(
    {"text", "txt", "plaintext", "plain", "output", "json", "csv", "tsv", "markdown", "md"}
    | {"yaml", "yml", "xml", "html", "log", "diff", "ini", "toml"}
)

_OPEN = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


def normalize_language(language: str) -> str | None:
    """The interpreter family for a tag ("py" -> "python"), or None when we cannot run it."""
    return _ALIASES.get(language.strip().lower())


def code_blocks_from_markdown(text: str) -> list[CodeBlock]:
    """Every fenced block that carries a language tag, in order, tags lowercased."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group("fence")
        info = opening.group("info").strip()
        language = info.split()[0].lower() if info else ""
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[i])
            i += 1
        i += 1  # past the closing fence (or the end of an unclosed block)
        if language:
            blocks.append(CodeBlock(language=language, code="\n".join(body) + "\n"))
    return blocks
