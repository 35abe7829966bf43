"""Reading what a small model meant, and telling it plainly what we need.

Small models get the gist of a JSON shape and miss details: a flat `true` where
`{"reason": ..., "answer": true}` was asked, `"yes"` for a boolean, `"7"` for a number, a key
in another case, a lone string where a list was asked, the whole object wrapped in one more
key. `coerce` repairs those against the JSON schema before validation, so a right answer in a
slightly wrong shape is accepted without a re-ask. When a reply still does not fit, `plain_reason`
and `example_of` make the re-ask: what is wrong in a few words, and a short example of the
expected shape, never a validator's dump.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

_TRUE = {"true", "yes", "y", "1", "satisfied", "done", "correct"}
_FALSE = {"false", "no", "n", "0", "not satisfied", "none", "incorrect"}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref and unwrap a single-branch anyOf/allOf (pydantic emits both)."""
    seen = 0
    while seen < 10:
        seen += 1
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            node: Any = root
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        for combo in ("allOf", "anyOf"):
            branches = schema.get(combo)
            if isinstance(branches, list):
                real = [b for b in branches if b.get("type") != "null"]
                if len(real) == 1:
                    schema = {**real[0], **{k: v for k, v in schema.items() if k != combo}}
                    break
        else:
            return schema
    return schema


def _is_reason_answer(schema: dict[str, Any]) -> bool:
    props = schema.get("properties")
    return isinstance(props, dict) and set(props) == {"reason", "answer"}


def coerce(
    value: Any,
    schema: dict[str, Any],
    root: dict[str, Any] | None = None,
    *,
    guess_keys: bool = True,
) -> Any:
    """`value` nudged towards `schema` where the intent is plain; anything else left as is.

    With `guess_keys`, one unknown key stands for the one required key that is missing
    (fine for a reply's shape; tool arguments pass False, since a wrong guess would act)."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _coerce_object(value, schema, root, guess_keys)
    if kind == "array":
        items = schema.get("items") or {}
        if isinstance(value, (str, dict)) and value != "":
            value = [value]
        if isinstance(value, list):
            return [coerce(v, items, root, guess_keys=guess_keys) for v in value]
        return value
    if kind == "boolean" and isinstance(value, str):
        word = value.strip().strip(".!").lower()
        if word in _TRUE or word.startswith("yes"):
            return True
        if word in _FALSE or word.startswith("no"):
            return False
        return value
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if kind == "number" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "string":
        if isinstance(value, (int, float, bool)):
            return json.dumps(value) if isinstance(value, bool) else str(value)
        if isinstance(value, dict) and len(value) == 1:
            inner = next(iter(value.values()))
            return inner if isinstance(inner, str) else value
        enum = schema.get("enum")
        if isinstance(value, str) and isinstance(enum, list):
            by_key = {_key(str(e)): e for e in enum}
            return by_key.get(_key(value), value)
    return value


def _coerce_object(
    value: Any, schema: dict[str, Any], root: dict[str, Any], guess_keys: bool = True
) -> Any:
    props: dict[str, Any] = schema.get("properties") or {}
    if _is_reason_answer(schema) and not isinstance(value, dict):
        # A flat value where {reason, answer} was asked: the value is the answer.
        return {"reason": "", "answer": coerce(value, props["answer"], root)}
    if isinstance(value, str) and ":" in value:
        # "Coder: write the code" where {"agent": ..., "action": ...} was asked.
        strings = [n for n, sub in props.items() if _resolve(sub, root).get("type") == "string"]
        if len(strings) >= 2:
            head, _, tail = value.partition(":")
            return {strings[0]: head.strip(), strings[1]: tail.strip()}
    if isinstance(value, list):
        # The list alone where {"steps": [...]} (one list property) was asked.
        lists = [n for n, sub in props.items() if _resolve(sub, root).get("type") == "array"]
        if len(lists) == 1:
            return _coerce_object({lists[0]: value}, schema, root, guess_keys)
    if not isinstance(value, dict):
        return value
    if _is_reason_answer(schema) and "answer" not in value:
        for alias in ("value", "result", "decision", "choice", "name", "agent"):
            if alias in value:
                value = {**value, "answer": value[alias]}
                break
    by_key = {_key(name): name for name in props}
    known = [k for k in value if _key(k) in by_key]
    if props and not known and len(value) == 1:
        inner = next(iter(value.values()))
        if isinstance(inner, dict):  # {"ProgressLedger": {...}}: one wrapper too many
            return _coerce_object(inner, schema, root, guess_keys)
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = by_key.get(_key(key), key)
        out[name] = (
            coerce(item, props[name], root, guess_keys=guess_keys) if name in props else item
        )
    # One required key missing and one unknown key given ("task" for "action"): the same.
    missing = [n for n in schema.get("required", []) if n not in out]
    unknown = [k for k in out if k not in props]
    if guess_keys and len(missing) == 1 and len(unknown) == 1:
        out[missing[0]] = coerce(out.pop(unknown[0]), props[missing[0]], root)
    return out


def plain_reason(error: ValidationError, limit: int = 4) -> str:
    """A validation error in a few plain words, the way a person would say it."""
    said: list[str] = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        kind = item["type"]
        message = str(item.get("msg", ""))
        if kind == "missing":
            text = f'the key "{where}" is missing'
        elif kind.startswith("bool"):
            text = f'"{where}" must be true or false'
        elif kind.startswith(("int", "float")):
            text = f'"{where}" must be a number'
        elif kind.startswith("string"):
            text = f'"{where}" must be a string'
        elif kind.startswith("list"):
            text = f'"{where}" must be a list'
        elif kind.startswith(("dict", "model")):
            text = f'"{where}" must be an object' if where else "the reply must be a JSON object"
        elif kind == "value_error":
            text = message.removeprefix("Value error, ")
        elif kind == "too_short":
            text = f'"{where}" must not be empty'
        else:
            text = f'"{where}": {message}' if where else message
        if text not in said:
            said.append(text)
        if len(said) >= limit:
            break
    return "; ".join(said) or "the reply does not have the expected shape"


def example_of(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A short example value of the schema's shape, for a re-ask."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if depth > 6:
        return "..."
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: example_of(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [example_of(schema.get("items") or {}, root, depth + 1)]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return 0
    if kind == "string":
        return "..."
    return "..."
