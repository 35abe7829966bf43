"""How small models mangle the JSON they were asked for, to test that we read it anyway.

A `ScriptedLLMServer` with `reply_style="small"` passes every JSON object reply of its script
through `small_model_style`, which writes the same content the way small local models do,
a different way each request: flat values instead of `{"reason", "answer"}` pairs, "yes" and
"no" for booleans, names in lower case, the object inside prose or a code fence, trailing
commas, single quotes. The meaning never changes, so a reader that understands it gets the
scripted answer exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any

STYLES = ("flat", "yes_no", "lower_names", "fenced_trailing_comma", "prose", "python_dict")


def _flatten(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"reason", "answer"}:
            return value["answer"]
        return {k: _flatten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    return value


def _yes_no(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return {k: _yes_no(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yes_no(v) for v in value]
    return value


def _lower_names(value: Any) -> Any:
    """Names ("ComputerTerminal") in lower case; sentences are left alone."""
    if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Za-z]+", value):
        return value.lower()
    if isinstance(value, dict):
        return {k: _lower_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_names(v) for v in value]
    return value


def _python_repr(value: Any) -> str:
    return repr(value)


def small_model_style(content: str, index: int) -> str:
    """The JSON object in `content` rewritten in style number `index` (others left as is)."""
    try:
        value = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return content
    if not isinstance(value, dict):
        return content
    style = STYLES[index % len(STYLES)]
    if style == "flat":
        return json.dumps(_flatten(value))
    if style == "yes_no":
        return json.dumps(_yes_no(_flatten(value)))
    if style == "lower_names":
        return json.dumps(_lower_names(_flatten(value)))
    if style == "fenced_trailing_comma":
        body = json.dumps(_flatten(value), indent=2)
        body = body[: body.rfind("}")].rstrip() + ",\n}"
        return f"```json\n{body}\n```"
    if style == "prose":
        return f"Here is my assessment.\n{json.dumps(value)}\nI hope this helps."
    return _python_repr(_flatten(value))
