"""What a resumed run takes from the config its folder recorded, and what from today's.

A run folder is data, and a folder can come from someone else. The settings that decide
where our key goes and what runs on this machine are therefore never taken from it
unasked: the model endpoints and key variables, the MCP servers, the sandbox, the approval
rules, the cache, the browser's executable and URL policy. For these a resume uses the
config of today (file, environment, flags). Where the recording says otherwise and the
person did not state the setting today, the difference is shown and the resume stops,
unless the person accepts the recorded values (`--accept-recorded-config`, or "yes" at a
terminal). Everything else (budgets, the team, prompts' sizes) goes on as recorded.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from magentic.config import ROLES, Config
from magentic.errors import ConfigError

# Per role, the fields that choose an endpoint or a key.
MODEL_FIELDS = ("base_url", "provider", "api_version", "api_key_env")
# Whole tables (or one setting of a table) taken from today's config, by dotted path.
TABLE_FIELDS = ("sandbox", "approval", "cache", "web.executable_path", "web.url_policy")
TABLE_FIELDS += ("web.search_url", "mcp.url_policy")
_UNSET = object()


@dataclass
class Difference:
    key: str
    recorded: Any
    today: Any

    def render(self) -> str:
        return f"{self.key}: recorded {_show(self.recorded)}, yours {_show(self.today)}"


class RecordedConfigDiffers(ConfigError):
    """The folder recorded settings of trust that differ from today's unstated ones."""

    def __init__(self, run_dir: str, differences: list[Difference]) -> None:
        self.differences = differences
        shown = "; ".join(d.render() for d in differences)
        super().__init__(
            f"{run_dir} was made with settings that differ from yours ({shown}); a resume "
            "uses yours: give them again (--config, --base-url, --api-key-env, --sandbox), "
            "or pass --accept-recorded-config if you trust whoever wrote this folder"
        )


def _show(value: Any) -> str:
    if value is _UNSET or value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def _get(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _UNSET
        node = node[part]
    return node


def _put(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    if value is _UNSET:
        node.pop(leaf, None)
    else:
        node[leaf] = copy.deepcopy(value)


def _stated(given: dict[str, Any] | None, dotted: str) -> bool:
    """Whether the person stated this setting today: for a model field, the field itself
    (of the role or the default); for the rest, its top table (a person's [sandbox] table
    is their whole sandbox). None: the whole config is the person's word (a bench)."""
    if given is None:
        return True
    if dotted.startswith("models."):
        field = dotted.rsplit(".", 1)[1]
        default = f"models.default.{field}"
        return _get(given, dotted) is not _UNSET or _get(given, default) is not _UNSET
    return dotted.split(".", 1)[0] in given


def _units(recorded: dict[str, Any], today: Config) -> list[tuple[str, Any, Any]]:
    """(dotted key, recorded value, today's value) of every setting of trust."""
    now = today.record()
    units: list[tuple[str, Any, Any]] = []
    try:
        past = Config.model_validate(recorded)
    except Exception:  # validity is checked before; a bad recording compares as raw data
        past = None
    # The roles the recording has tables for (a role of today's alone would add, say,
    # transcription to a run that had none; it inherits today's default instead).
    roles = {"default", *recorded.get("models", {})} & {"default", *ROLES}
    for role in sorted(roles):
        for field in MODEL_FIELDS:
            before = getattr(past.model_for(role), field) if past is not None else _UNSET
            units.append((f"models.{role}.{field}", before, getattr(today.model_for(role), field)))
    servers = _get(recorded, "mcp.servers")
    names = {*(servers if isinstance(servers, dict) else {}), *today.mcp.servers}
    for name in sorted(names):
        key = f"mcp.servers.{name}"
        units.append((key, _get(recorded, key), _get(now, key)))
    for dotted in TABLE_FIELDS:
        units.append((dotted, _get(recorded, dotted), _get(now, dotted)))
    return units


def resumed_tree(
    run_dir: str,
    recorded: dict[str, Any],
    today: Config,
    given: dict[str, Any] | None,
    *,
    accept_recorded: bool = False,
) -> tuple[dict[str, Any], list[Difference]]:
    """The config tree a resume runs with: the recording, its settings of trust replaced
    by today's. Returns it with the differences the recorded values won (accepted) or
    the person stated over (noted); raises RecordedConfigDiffers for the rest."""
    tree = copy.deepcopy(recorded)
    refused: list[Difference] = []
    shown: list[Difference] = []
    for key, before, now in _units(recorded, today):
        difference = Difference(key, before, now)
        if before == now or (before is _UNSET and now is _UNSET):
            _put(tree, key, now)
            continue
        if _stated(given, key):
            _put(tree, key, now)
            shown.append(difference)
        elif accept_recorded:
            shown.append(difference)  # the recorded value stays in the tree
        else:
            refused.append(difference)
    if refused:
        raise RecordedConfigDiffers(run_dir, refused)
    # The recording has no MCP env or headers: a server of today's config, the same
    # program or address, gets its values from there.
    servers = today.mcp.model_dump(mode="json")["servers"]
    for name, server in tree.get("mcp", {}).get("servers", {}).items():
        mine = servers.get(name)
        if mine and (mine["command"], mine["url"]) == (server.get("command"), server.get("url")):
            server["env"], server["headers"] = mine["env"], mine["headers"]
    return tree, shown
