"""`magentic init`: the first-run set-up. Which endpoint, which model, which variable holds
the key; checked the way `doctor --model` checks them; written where every command reads it.

At a terminal it asks; each question also has a flag, and without a terminal the flags (or
their defaults) are all there is. The key itself is never asked for nor written: only the
name of the environment variable that holds it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from magentic.config import CONFIG_ENV, default_config_path
from magentic.errors import ConfigError
from magentic.onboard import tomlfile

OPENAI_URL = "https://api.openai.com/v1"
# The endpoints a person most often has: (label, base URL, the key variable it wants).
ENDPOINTS: list[tuple[str, str, str]] = [
    ("OpenAI", OPENAI_URL, "OPENAI_API_KEY"),
    ("Ollama on this machine", "http://127.0.0.1:11434/v1", ""),
    ("vLLM on this machine", "http://127.0.0.1:8000/v1", ""),
    ("llama.cpp server on this machine", "http://127.0.0.1:8080/v1", ""),
]
DEFAULT_OPENAI_MODEL = "gpt-4o"


@dataclass
class InitOptions:
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    path: Path | None = None
    force: bool = False
    check: bool = True  # --no-check: write without asking the endpoint
    interactive: bool = False  # a person at a terminal answers the questions


Ask = Callable[[str], str]
Say = Callable[[str], None]


def target_path(path: Path | None) -> Path:
    if path is not None:
        return path.expanduser()
    found = default_config_path()
    if found is None:
        raise ConfigError(
            f"no home folder to put the config in: give --path FILE or set {CONFIG_ENV}"
        )
    return found


def _answer(question: str) -> str:
    try:
        return input(question)
    except EOFError:  # Ctrl-D, or the input ended
        print()
        raise ConfigError("no answer (the input ended): nothing written") from None


def init_main(options: InitOptions, ask: Ask = _answer, say: Say = print) -> int:
    """Ask, check, write; the exit code (0 written, 1 not written after a failed check)."""
    path = target_path(options.path)
    if path.exists() and not options.force:
        raise ConfigError(f"{path} exists already: edit it, or run init again with --force")
    base_url, key_env = _endpoint(options, ask, say)
    model = _model(options, base_url, key_env, ask, say)
    if options.check and not _checked(base_url, model, key_env, options, ask, say):
        say(f"nothing written to {path}")
        return 1
    text = render_config(base_url, model, key_env)
    if path.exists():  # --force: the old file is kept beside the new one
        backup = path.with_name(path.name + ".bak")
        try:
            backup.write_bytes(path.read_bytes())
        except OSError as error:
            raise ConfigError(f"cannot keep a copy of {path}: {error.strerror or error}") from None
        say(f"the old config is kept in {backup}")
        text = _with_new_models(tomlfile.read_text(path), base_url, model, key_env) or text
    tomlfile.write_checked(path, text)
    say(f"wrote {path}")
    if path != default_config_path():
        say(f"use it with --config {path}, or set {CONFIG_ENV}={path}")
    if key_env and not os.environ.get(key_env):
        say(f"note: {key_env} is not set in this shell; export it before `magentic run`")
    return 0


def _with_new_models(old: str, base_url: str | None, model: str, key_env: str) -> str | None:
    """The old config with only its `[models.default]` table replaced, so the MCP servers
    and the rest stay; None when that table cannot be cut out cleanly (then the file is
    written anew, the old one kept as .bak)."""
    try:
        tree = tomlfile.parse(old, "the old config")
    except ConfigError:
        return None
    rest = tomlfile.cut_section(old, "models.default")
    expected = json.loads(json.dumps(tree))
    expected.get("models", {}).pop("default", None)
    try:
        if tomlfile.pruned(tomlfile.parse(rest, "")) != tomlfile.pruned(expected):
            return None
    except ConfigError:
        return None
    return tomlfile.append(rest, render_config(base_url, model, key_env, comment=False))


def render_config(base_url: str | None, model: str, key_env: str, *, comment: bool = True) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    values: dict[str, Any] = {"model": model}
    if base_url and base_url != OPENAI_URL:
        values["base_url"] = base_url
    # "" is no key at all: a server of one's own is not sent OPENAI_API_KEY by default
    values["api_key_env"] = key_env
    note = (
        f"Written by `magentic init` on {stamp}. Every magentic command reads this file;\n"
        "the API key itself stays in the environment variable named by api_key_env."
    )
    return tomlfile.render_table("models.default", values, note if comment else "")


def _endpoint(options: InitOptions, ask: Ask, say: Say) -> tuple[str | None, str]:
    """(base URL, key variable). The key variable defaults to OPENAI_API_KEY for OpenAI's
    own endpoint and to none for a server on this machine."""
    base_url = options.base_url
    if base_url is None and options.interactive:
        say("Where is the model served?")
        for number, (label, url, _) in enumerate(ENDPOINTS, 1):
            say(f"  {number}. {label}: {url}")
        say("  or type the base URL of any OpenAI-compatible endpoint")
        while base_url is None:
            answer = ask("endpoint [1]> ").strip() or "1"
            if answer.isdigit() and 1 <= int(answer) <= len(ENDPOINTS):
                base_url = ENDPOINTS[int(answer) - 1][1]
            elif answer.startswith(("http://", "https://")):
                base_url = answer
            else:
                say(f"{answer!r} is neither a number from the list nor an http(s) URL")
    base_url = (base_url or OPENAI_URL).strip().rstrip("/")
    _check_url(base_url)
    suggested = next((key for _, url, key in ENDPOINTS if url == base_url), None)
    if suggested is None:  # a server on this machine seldom wants a key; others mostly do
        suggested = "" if _on_this_machine(base_url) else "OPENAI_API_KEY"
    key_env = options.api_key_env
    if key_env is None and options.interactive:
        hint = suggested or "none"
        answer = ask(f"environment variable holding the API key [{hint}]> ").strip()
        key_env = "" if answer.lower() in ("none", "-") else answer or suggested
    if key_env is None:
        key_env = suggested
    if key_env and not key_env.replace("_", "").isalnum():
        raise ConfigError(f"{key_env!r} is not an environment variable's name")
    return base_url, key_env


def _on_this_machine(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not an http(s) URL (like http://127.0.0.1:8000/v1)")


def _model(options: InitOptions, base_url: str | None, key_env: str, ask: Ask, say: Say) -> str:
    if options.model:
        return options.model.strip()
    default = DEFAULT_OPENAI_MODEL if base_url == OPENAI_URL else ""
    if not options.interactive:
        if default:
            return default
        raise ConfigError("give the model's name with --model (a local server has no default)")
    offered = list_models(base_url, key_env) if base_url != OPENAI_URL else []
    if offered:
        say("The endpoint serves:")
        for number, name in enumerate(offered, 1):
            say(f"  {number}. {name}")
        default = default or offered[0]
    while True:
        answer = ask(f"model [{default}]> " if default else "model> ").strip() or default
        if answer.isdigit() and 1 <= int(answer) <= len(offered):
            return offered[int(answer) - 1]
        if answer:
            return answer
        say("the model's name, as the endpoint knows it")


def list_models(base_url: str | None, key_env: str, limit: int = 20) -> list[str]:
    """The names `GET /models` gives, or none when the endpoint does not answer: a hint for
    the question, never a requirement."""
    if not base_url:
        return []
    request = urllib.request.Request(base_url.rstrip("/") + "/models")
    key = os.environ.get(key_env) if key_env else None
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.loads(response.read(1 << 20))
    except (OSError, ValueError):
        return []
    items = data.get("data") if isinstance(data, dict) else None
    names = [str(m["id"]) for m in items or [] if isinstance(m, dict) and m.get("id")]
    return names[:limit]


def _checked(
    base_url: str | None, model: str, key_env: str, options: InitOptions, ask: Ask, say: Say
) -> bool:
    """`doctor --model`'s probe of the endpoint. A failure is shown row by row; at a
    terminal the person may write the config anyway, elsewhere nothing is written."""
    from magentic.doctor import check_endpoint, format_probe_row
    from magentic.llm.settings import ModelSettings

    values: dict[str, Any] = {"model": model, "base_url": base_url, "api_key_env": key_env}
    settings = ModelSettings.model_validate(values)
    say(f"checking {model} at {settings.display_url()} ...")
    rows: list[Any] = []

    def on_row(row: Any) -> None:
        rows.append(row)
        say("  " + format_probe_row(row))

    try:
        asyncio.run(check_endpoint(settings, None, on_row))
    except ConfigError as error:  # no key for OpenAI's endpoint, and the like
        rows.append(None)
        say(f"  FAIL {error.reason}")
    failed = [r for r in rows if r is None or r.status == "error"]
    if not failed:
        say("the endpoint answers as a run needs")
        return True
    say("the endpoint did not answer as a run needs (see the FAIL lines above)")
    if not options.interactive:
        say("run init again when it is up, or with --no-check to write the config anyway")
        return False
    answer = ask("write the config anyway? [y/N]> ").strip().lower()
    return answer in ("y", "yes")


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
