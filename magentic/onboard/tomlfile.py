"""Writing the person's config file without disturbing what they wrote in it.

No TOML writer is installed with magentic (tomlkit is not a dependency), so a change is a
text edit: a new table appended at the end, or one `[mcp.servers.NAME]` section cut out.
Every edit is checked by parsing the result and comparing it with what the edit meant to
do, then by loading it as a `Config`; only then does the file change, in one rename, so a
failed edit leaves the file as it was.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from magentic.config import load_config
from magentic.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters (DEL too) escaped."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04X}" if code < 0xD800 else "\\uFFFD")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    """A value as TOML: strings, numbers, booleans, lists of them, flat string tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def render_table(header: str, values: dict[str, Any], comment: str = "") -> str:
    """`[header]` and its keys, each on a line; None values left out."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines.append(f"[{header}]")
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def parse(text: str, shown: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {shown} is not valid TOML: {error}") from None


def read_text(path: Path) -> str:
    """The file's text; empty when there is no file yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None


def append(text: str, table: str) -> str:
    """`table` after the file's text, one blank line between."""
    if not text.strip():
        return table
    return text.rstrip("\n") + "\n\n" + table


def cut_section(text: str, header: str) -> str:
    """The text without the `[header]` section and its sub-tables (`[header.x]`): from the
    header line to the next table header, less the comments just above that next header
    (they are about it). The caller checks the result by parsing it."""
    parts = [re.escape(p) for p in header.split(".")]
    own = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(parts) + r"\s*(\.[^\]]*)?\]\s*(#.*)?$")
    other = re.compile(r"^\s*\[")
    kept: list[str] = []
    cut: list[str] = []
    cutting = False
    for line in text.splitlines(keepends=True):
        if own.match(line):
            cutting = True
            continue
        if cutting and other.match(line):
            cutting = False
            tail: list[str] = []
            while cut and (not cut[-1].strip() or cut[-1].lstrip().startswith("#")):
                tail.insert(0, cut.pop())
            kept += tail
            cut = []
        if cutting:
            cut.append(line)
        else:
            kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "".join(kept))


def pruned(tree: Any) -> Any:
    """A parsed TOML tree without empty tables: `[mcp.servers]` emptied by a cut, and no
    `[mcp]` at all, are the same configuration."""
    if not isinstance(tree, dict):
        return tree
    out = {k: pruned(v) for k, v in tree.items()}
    return {k: v for k, v in out.items() if v != {}}


def write_checked(path: Path, text: str) -> None:
    """Write `text` to `path` only if it loads as a Config: through a file beside it, renamed
    over the old one. A new file is readable by its owner only (it may hold an MCP server's
    env values); an existing file keeps its mode."""
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        load_config(Path(tmp), environ={})  # the whole file, as a run would read it
        os.replace(tmp, path)
    except ConfigError as error:
        raise ConfigError(f"{path} was left as it was: {error.reason}") from None
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
