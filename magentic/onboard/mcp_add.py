"""`magentic mcp add` and `magentic mcp import`: MCP servers into the config file, as tables.

`add NAME -- COMMAND ARGS...` (or `--url URL`) writes one `[mcp.servers.NAME]`; `import
FILE.json` reads the `mcpServers` JSON that MCP servers' READMEs give and writes a table per
server. Both check each server with the settings model a run uses, refuse names the file
has already unless told to replace them, and leave the rest of the file as it was written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from magentic.errors import ConfigError
from magentic.mcp.settings import McpSettings
from magentic.onboard import tomlfile

Say = Callable[[str], None]
# What a server's JSON entry may say that we take over, under our names.
_TAKEN = ("command", "args", "env", "cwd", "url", "headers", "description")
_HTTP_TYPES = {"http", "streamable-http", "streamablehttp", "streamable_http"}
# Said in READMEs' JSON for other clients; meaningless here, so left out without a word.
_IGNORED = {"type", "transport", "autoApprove", "alwaysAllow", "disabledTools", "timeout"}
_PLACEHOLDER = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


@dataclass
class Entry:
    """One server to write: its name, its table, and what to tell the person about it."""

    name: str
    table: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if "url" in self.table:
            return f"http: {self.table['url']}"
        return "stdio: " + " ".join([self.table["command"], *self.table.get("args", [])])


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` flags as a table."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--env {pair!r}: write it as KEY=VALUE")
        out[key.strip()] = value
    return out


def entry_from_flags(
    name: str,
    argv: list[str],
    url: str | None,
    env: list[str],
    env_from: list[str],
    description: str | None,
) -> Entry:
    """The table `mcp add` writes, from its flags."""
    if bool(argv) == bool(url):
        raise ConfigError("give the server's command after `--`, or --url URL, not both")
    table: dict[str, Any] = {}
    if argv:
        table["command"], args = argv[0], argv[1:]
        if args:
            table["args"] = args
    else:
        table["url"] = url
    values = parse_pairs(env)
    if values:
        table["env"] = values
    if env_from:
        table["env_from"] = list(dict.fromkeys(env_from))
    if description:
        table["description"] = description
    entry = Entry(name, table)
    if values:
        entry.notes.append(_clear_note(name, sorted(values), "--env-from KEY"))
    return entry


def entries_from_json(text: str, shown: str, *, names_only: bool = False) -> list[Entry]:
    """The servers of an `mcpServers` JSON object (or the same object without the outer
    key). With `names_only`, env values are dropped and the names kept as `env_from`."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{shown} is not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("mcpServers"), dict):
        data = data["mcpServers"]
    elif isinstance(data, dict) and isinstance(data.get("servers"), dict):
        data = data["servers"]  # the shape some editors use
    if not isinstance(data, dict) or not data:
        raise ConfigError(f'{shown} has no servers: expected {{"mcpServers": {{NAME: {{...}}}}}}')
    return [_entry(name, spec, names_only) for name, spec in data.items()]


def _entry(name: str, spec: Any, names_only: bool) -> Entry:
    if not isinstance(spec, dict):
        raise ConfigError(f"server {name!r}: expected an object with `command` or `url`")
    kind = str(spec.get("type") or spec.get("transport") or "").lower()
    if kind == "sse" or (kind and kind != "stdio" and kind not in _HTTP_TYPES):
        raise ConfigError(
            f"server {name!r} uses the {kind!r} transport; magentic speaks stdio and "
            "streamable HTTP (give that server's /mcp address instead)"
        )
    table = {k: spec[k] for k in _TAKEN if spec.get(k) not in (None, "", [], {})}
    if "serverUrl" in spec and "url" not in table:
        table["url"] = spec["serverUrl"]
    entry = Entry(name, table)
    unknown = sorted(set(spec) - set(_TAKEN) - _IGNORED - {"serverUrl", "disabled"})
    if unknown:
        entry.notes.append(f"{name}: left out what magentic has no use for: {', '.join(unknown)}")
    if spec.get("disabled"):
        entry.notes.append(f"{name}: marked disabled in the JSON; added all the same")
    env = table.pop("env", None)
    if isinstance(env, dict):
        kept, named = {}, []
        for key, value in env.items():
            found = _PLACEHOLDER.match(str(value))
            if names_only or (found and found.group(1) == key):
                named.append(str(key))  # `${KEY}`: the same variable, from our environment
            else:
                kept[str(key)] = str(value)
        if kept:
            table["env"] = kept
            entry.notes.append(_clear_note(name, sorted(kept), "--env-names-only"))
        if named:
            table["env_from"] = named
            entry.notes.append(f"{name}: export {', '.join(named)} before a run; it is passed on")
    elif env is not None:
        table["env"] = env  # not an object: the settings model says what is wrong
    if isinstance(table.get("headers"), dict) and table["headers"]:
        keys = ", ".join(sorted(map(str, table["headers"])))
        entry.notes.append(
            f"warning: {name}'s headers ({keys}) are stored in the config file in clear; "
            "keep that file to yourself (it is written readable by you only)"
        )
    return entry


def _clear_note(name: str, keys: list[str], instead: str) -> str:
    return (
        f"warning: {name}'s env values ({', '.join(keys)}) are stored in the config file in "
        f"clear; use {instead} to store only the names and keep the values in your environment"
    )


def check(entries: list[Entry]) -> None:
    """Each table as a run would read it: names and settings, in one line if wrong."""
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ConfigError(f"server {entry.name!r} is given twice")
        seen.add(entry.name)
        try:
            McpSettings.model_validate({"servers": {entry.name: entry.table}})
        except ValidationError as error:
            item = error.errors()[0]
            where = ".".join(str(p) for p in item["loc"] if p not in ("servers", entry.name))
            what = item["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"server {entry.name!r}: {where + ': ' if where else ''}{what}"
            ) from None


def write_servers(path: Path, entries: list[Entry], *, replace: bool, say: Say = print) -> None:
    """Append a table per entry to the config file (replacing same-named ones if told),
    after checking that the edit changes nothing else in the file."""
    check(entries)
    text = tomlfile.read_text(path)
    tree = tomlfile.parse(text, str(path))
    servers = tree.get("mcp", {}).get("servers", {}) if isinstance(tree.get("mcp"), dict) else {}
    taken = [e.name for e in entries if e.name in servers]
    if taken and not replace:
        raise ConfigError(
            f"{path} has MCP server(s) {', '.join(taken)} already: use --replace to overwrite"
        )
    expected = json.loads(json.dumps(tree))  # a deep copy
    for name in taken:
        text = tomlfile.cut_section(text, f"mcp.servers.{name}")
        del expected["mcp"]["servers"][name]
        if tomlfile.pruned(tomlfile.parse(text, str(path))) != tomlfile.pruned(expected):
            raise ConfigError(
                f"cannot replace {name}: it is not written as one [mcp.servers.{name}] table "
                f"in {path}; edit that file by hand"
            )
    for entry in entries:
        header = f"mcp.servers.{entry.name}"
        text = tomlfile.append(text, tomlfile.render_table(header, entry.table))
        expected.setdefault("mcp", {}).setdefault("servers", {})[entry.name] = entry.table
    try:
        written = tomlfile.parse(text, str(path))
    except ConfigError:
        written = None
    if written is None or tomlfile.pruned(written) != tomlfile.pruned(expected):
        raise ConfigError(
            f"cannot add to {path}: its [mcp] table is written in a form a new "
            "[mcp.servers.NAME] table cannot follow (inline?); edit that file by hand"
        )
    tomlfile.write_checked(path, text)
    refused = _refused_addresses(written, entries)
    for entry in entries:
        verb = "replaced" if entry.name in taken else "added"
        say(f"{verb} MCP server {entry.name} ({entry.describe()}) in {path}")
        for note in [*entry.notes, *refused.get(entry.name, [])]:
            say(note)


def _refused_addresses(tree: dict[str, Any], entries: list[Entry]) -> dict[str, list[str]]:
    """A note for each HTTP server whose address the file's [mcp.url_policy] refuses (a
    local or private one, by default), saying what to allow: a run would leave it out."""
    from urllib.parse import urlsplit

    from magentic.agents.web_surfer.url_policy import UrlPolicy

    policy = UrlPolicy(McpSettings.model_validate(tree.get("mcp", {})).url_policy)
    notes: dict[str, list[str]] = {}
    for entry in entries:
        url = entry.table.get("url")
        reason = policy.check_url(url) if url else None
        if url and reason:
            parts = urlsplit(url)
            where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
            notes[entry.name] = [
                f"note: a run would leave {entry.name} out ({reason}); to allow it, add "
                f'"{where}" to `allow` in the [mcp.url_policy] table'
            ]
    return notes
