"""One typed Config, read from a TOML file, then the environment, then the command line.

Later sources win. Per-role model settings inherit from `[models.default]`, so a cheap model
can serve the specialists while a strong one orchestrates:

    [models.default]
    model = "gpt-4o-mini"
    [models.orchestrator]
    model = "gpt-4o"
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from magentic import secrets
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.attachments import AttachmentSettings
from magentic.control.settings import ApprovalSettings
from magentic.errors import ConfigError
from magentic.execution.settings import SandboxSettings
from magentic.llm.settings import DEFAULT_PRICES, ModelSettings, Price
from magentic.mcp.settings import McpSettings
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.text import escape_surrogates
from magentic.ui.telemetry_settings import TelemetrySettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# `transcribe` is the speech-to-text model (e.g. whisper-1) the FileSurfer sends audio to;
# audio is transcribed only when a [models.transcribe] table is given.
# `mcp` is the model of the agents that call MCP servers' tools.
ROLES = ("orchestrator", "web_surfer", "file_surfer", "coder", "transcribe", "mcp")
DEFAULT_AGENTS = ["WebSurfer", "FileSurfer", "Coder", "ComputerTerminal"]


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # read_write stores every model call; replay answers only from the store (`--cache`).
    mode: Literal["off", "read_write", "replay"] = "off"
    path: Path = Path(".magentic/model-cache.sqlite")  # the store (`--cache-path`)


class SandboxConfig(SandboxSettings):
    """The `[sandbox]` table: where code runs, and how the sandbox is sized."""

    # Where code runs: a Docker container, bubblewrap, or this machine itself (no isolation).
    kind: Literal["docker", "bwrap", "local"] = "docker"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"default": dict[str, Any]()})
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)
    # The team the orchestrator delegates to (`--agents`); `User` adds the person.
    agents: list[str] = Field(default_factory=lambda: list(DEFAULT_AGENTS))
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    web: WebSurferSettings = Field(default_factory=WebSurferSettings)
    file_surfer: FileSurferSettings = Field(default_factory=FileSurferSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    trace_dir: Path = Path("runs")  # where run folders go (`--trace-dir`)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    # Dollars per million tokens, per model name; yours are added to the built-in ones.
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    # None: no [telemetry] table (telemetry then follows the standard OTEL_* variables alone).
    telemetry: TelemetrySettings | None = None

    @model_validator(mode="after")
    def _step_mode_asks(self) -> Config:
        """`[web] step_mode` (older configs) is `[approval] web_action = "ask"`."""
        if self.web.step_mode and self.approval.web_action == "allow":
            self.approval.web_action = "ask"
        return self

    def model_for(self, role: str) -> ModelSettings:
        """The settings of one role: the default's, overlaid with the role's own."""
        merged = {**self.models.get("default", {}), **self.models.get(role, {})}
        try:
            return ModelSettings.model_validate(merged)
        except ValidationError as error:
            raise ConfigError(f"bad [models.{role}] settings: {_first_error(error)}") from None

    def api_keys(self) -> list[str]:
        """The API keys this config would send (for redaction), from the config or the env."""
        values = []
        for role in ("default", *ROLES):
            settings = self.model_for(role)
            for value in (settings.api_key, os.environ.get(settings.api_key_env)):
                if value:
                    values.append(value)
        return values

    def record(self) -> dict[str, Any]:
        """The whole config as JSON data, for a checkpoint to resume with; API keys written
        in the config are left out (a resumed run reads them from `api_key_env` again), and so
        is `[telemetry]`, whose headers are secrets (a resumed run follows the OTEL_* variables
        of its own environment). MCP servers' `env` and `headers` are left out too: a
        resumed run takes its MCP servers from the config of its day, values included."""
        tree = self.model_dump(mode="json", exclude={"telemetry"})
        for table in tree["models"].values():
            table.pop("api_key", None)
        for server in tree["mcp"]["servers"].values():
            server.pop("env", None)
            server.pop("headers", None)
        return tree

    def summary(self) -> dict[str, Any]:
        """What a trace records of the config: everything but secrets. Telemetry is left
        out: its headers are secrets, and where spans go does not change what a run does (a
        bench resumed with another collector is the same run)."""
        return {
            "models": {role: self.model_for(role).model_dump() for role in ("default", *ROLES)},
            "orchestrator": self.orchestrator.model_dump(),
            "agents": self.agents,
            "sandbox": self.sandbox.model_dump(),
            "web": self.web.model_dump(),
            "file_surfer": self.file_surfer.model_dump(),
            "max_attachment_mb": self.attachments.max_mb,
            "mcp": self.mcp.summary(),
            "cache": self.cache.model_dump(mode="json"),
            "approval": self.approval.model_dump(),
        }


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item["loc"])
    return f"{where}: {item['msg']}" if where else item["msg"]


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


# Environment variables and where they land in the config tree.
ENV_KEYS: dict[str, str] = {
    "OPENAI_BASE_URL": "models.default.base_url",
    "MAGENTIC_BASE_URL": "models.default.base_url",
    "MAGENTIC_MODEL": "models.default.model",
    "MAGENTIC_API_KEY_ENV": "models.default.api_key_env",
    "MAGENTIC_MAX_ROUNDS": "orchestrator.budgets.max_rounds",
    "MAGENTIC_MAX_SECONDS": "orchestrator.budgets.max_seconds",
    "MAGENTIC_MAX_TOKENS": "orchestrator.budgets.max_tokens",
    "MAGENTIC_MAX_COST": "orchestrator.budgets.max_cost",
    "MAGENTIC_TRACE_DIR": "trace_dir",
    "MAGENTIC_CACHE": "cache.mode",
    "MAGENTIC_CACHE_PATH": "cache.path",
    "MAGENTIC_SANDBOX": "sandbox.kind",
}


# Names the config file every command reads when no --config is given (and `init` writes).
CONFIG_ENV = "MAGENTIC_CONFIG"


def default_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the person's own config lives: $MAGENTIC_CONFIG, else
    $XDG_CONFIG_HOME/magentic/config.toml, else ~/.config/magentic/config.toml.

    Never a file in the current folder: a config names the endpoint the API key is sent to,
    and a folder someone else made (a clone, an unpacked archive) must not choose that.
    Found from `environ` alone, so a caller that passes an empty environment reads no file."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    if env.get("XDG_CONFIG_HOME", "").startswith("/"):  # a relative one is ignored (XDG)
        return Path(env["XDG_CONFIG_HOME"]) / "magentic" / "config.toml"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".config" / "magentic" / "config.toml"
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    """The config file's table, or a ConfigError that says what is wrong with the file."""
    shown = escape_surrogates(str(path))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {shown}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {shown} is a folder, not a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {shown} is not UTF-8 text (a TOML file is)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {shown} is not valid TOML: {error}") from None
    except (OSError, ValueError) as error:  # unreadable, a NUL in the name, ...
        raise ConfigError(f"cannot read config file {shown}: {error}") from None


def _check_base_url(role: str, url: str | None) -> None:
    """Refuse an endpoint that is not an http(s) URL now, not after five retries."""
    if url is None:
        return
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {url!r} of [models.{role}] is not an http(s) URL "
            "(like http://127.0.0.1:8000/v1)"
        )


def _flag_tree(overrides: dict[str, Any] | None) -> dict[str, Any]:
    flag_tree: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(flag_tree, dotted, value)
    return flag_tree


def given_tree(
    path: Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What the person gave, before defaults: the file, then the environment, then the
    flags. A resume tells by it which settings the person stated today."""
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    if path is not None:
        tree = _read_toml(Path(path))
    else:  # the person's own config, where it exists (never one in the current folder)
        own = default_config_path(env)
        if own is not None and (bool(env.get(CONFIG_ENV)) or own.is_file()):
            tree = _read_toml(own)
    env_tree: dict[str, Any] = {}
    for name, dotted in ENV_KEYS.items():
        if env.get(name):
            _set(env_tree, dotted, env[name])
    return _deep_merge(_deep_merge(tree, env_tree), _flag_tree(overrides))


def load_config(
    path: Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    recorded: dict[str, Any] | None = None,
) -> Config:
    """File, then environment, then `overrides` (dotted keys, from the command line).

    With no `path`, the person's own config (`default_config_path`) is read when it exists;
    a $MAGENTIC_CONFIG that names no file is an error, not silently nothing.

    A resumed run passes the config it `recorded` instead of a file and the environment:
    it goes on as it was made, and only the command line's flags change it (what it may
    take from a recording is decided in `magentic.recorded`)."""
    env = os.environ if environ is None else environ
    if recorded is not None:
        tree = _deep_merge(copy.deepcopy(recorded), _flag_tree(overrides))
    else:
        tree = given_tree(path, overrides=overrides, environ=env)
    tree.setdefault("models", {}).setdefault("default", {})
    try:
        config = Config.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(f"bad configuration: {_first_error(error)}") from None
    for role in ("default", *ROLES):
        _check_base_url(role, config.model_for(role).base_url)  # fail now, with its role
    secrets.register(config.api_keys())  # redacted from every sink from now on
    secrets.register(config.mcp.secrets())  # MCP servers' env values and headers too
    if config.telemetry is not None:  # collector tokens, likewise
        secrets.register(config.telemetry.header_values(env).values())
    unknown = set(config.models) - {"default", *ROLES}
    if unknown:
        raise ConfigError(
            f"unknown model role(s) {sorted(unknown)}; the roles are: default, {', '.join(ROLES)}"
        )
    return config
