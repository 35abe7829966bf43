"""Finding and checking JSON in what a model wrote.

Models that lack a JSON mode still answer in JSON when asked, but wrap it in prose or code
fences, or add trailing commas. This module pulls out the object they meant, and checks tool
arguments against their JSON schema so a mistake goes back to the model, not into the code.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import jsonschema

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def extract_json(text: str) -> Any:
    """The JSON value in `text`: the whole text, a fenced block, or the first balanced object.

    Raises ValueError with a message fit to show the model when there is none.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply was empty; a JSON object was expected")
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    candidates.extend(_balanced_objects(text))
    for candidate in candidates:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(attempt)
            except json.JSONDecodeError:
                continue
    for candidate in candidates:
        found = _python_literal(candidate)
        if isinstance(found, (dict, list)):
            return found
    raise ValueError("no JSON object was found in the reply; answer with one JSON object only")


def _python_literal(text: str) -> Any:
    """A dict written the Python way ('single quotes', True, None), which small models do."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    words = {"true": "True", "false": "False", "null": "None"}
    text = re.sub(r"\b(true|false|null)\b", lambda m: words[m.group(1)], text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _balanced_objects(text: str) -> list[str]:
    """Every top-level {...} span in text, honouring strings and escapes."""
    spans: list[str] = []
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : index + 1])
    return spans


def schema_errors(instance: Any, schema: dict[str, Any], limit: int = 5) -> list[str]:
    """Human-readable reasons `instance` does not fit `schema` (empty when it fits)."""
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in error.path) or "(top level)"
        messages.append(f"{where}: {error.message}")
        if len(messages) >= limit:
            break
    return messages
