"""Which kind of server an endpoint is, learned without a model call, and what follows.

Local servers differ in how they take a schema-constrained reply, and the cheapest way to
learn which one we face is to ask the small informational routes each kind answers, never a
chat completion:
- llama.cpp's server (`llama-server`) answers `GET /props` (`default_generation_settings`,
  `n_ctx`), and its `/v1/models` says `owned_by: "llamacpp"`. Every version that has
  `response_format` turns `{"type": "json_object", "schema": {...}}` into a grammar; the
  OpenAI spelling (`json_schema`) came later, and llama-cpp-python's server refuses it with
  an HTTP 500 to this day, though it takes the `json_object` + `schema` spelling too. Its
  `/v1/models` items read `owned_by: "me"` with a `permissions` list.
- Ollama answers `GET /api/version`. From 0.5.0 it constrains `json_schema`; older versions
  ignore it silently, so they start with JSON mode. Its window is read from `/api/show`.
- vLLM's `/v1/models` says `owned_by: "vllm"` and `max_model_len`; it constrains
  `json_schema` (guided decoding), the OpenAI spelling.
- LM Studio's `/v1/models` says `owned_by: "organization_owner"`; it takes `json_schema`.
- Text Generation Inference answers `GET /info` (`model_id`, `max_total_tokens`); its chat
  route takes a schema as `{"type": "json_object", "value": {...}}`.
Anything else is "unknown": it starts with the OpenAI spelling and steps down on refusal.

All routes are asked at once, under one short deadline: a server that does not answer (or
is down: the connection is refused) costs that deadline once, and nothing is concluded from
it (the next run asks again). Only an answer, even a 404, is a finding.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from magentic.llm import tls

log = logging.getLogger(__name__)

LLAMA_CPP = "llama.cpp"
LLAMA_CPP_PYTHON = "llama-cpp-python"
OLLAMA = "ollama"
VLLM = "vllm"
LM_STUDIO = "lmstudio"
TGI = "tgi"
UNKNOWN = "unknown"
KINDS = (LLAMA_CPP, LLAMA_CPP_PYTHON, OLLAMA, VLLM, LM_STUDIO, TGI, UNKNOWN)

_OWNED_BY = {"llamacpp": LLAMA_CPP, "vllm": VLLM, "organization_owner": LM_STUDIO}
OLLAMA_DEFAULT_CTX = 4096  # Ollama's window when the model sets no num_ctx (older: 2048)
OLLAMA_SCHEMA_VERSION = (0, 5, 0)  # the first Ollama that constrains `json_schema`


@dataclass
class ServerInfo:
    """What the informational routes said about an endpoint."""

    kind: str = UNKNOWN
    version: str = ""
    context_tokens: int | None = None
    context_from: str = ""  # the URL the context size was read from
    # Every route answered (even with a 404) in time: an "unknown" kind is then a finding,
    # not a time-out, and is worth remembering.
    conclusive: bool = False


def has_own_schema_spelling(kind: str | None) -> bool:
    """Whether this kind of server is asked for a schema otherwise than OpenAI's way."""
    return kind in (LLAMA_CPP, LLAMA_CPP_PYTHON, TGI)


def schema_format(kind: str | None, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` that asks this kind of server for a reply fitting `schema`."""
    if kind in (LLAMA_CPP, LLAMA_CPP_PYTHON):
        return {"type": "json_object", "schema": schema}
    if kind == TGI:
        return {"type": "json_object", "value": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def starting_structured(info: ServerInfo) -> str | None:
    """A simpler structured mode to start from than schema-constrained replies, when the
    server is known not to constrain them (None: start from the best)."""
    if info.kind == OLLAMA and info.version and _version(info.version) < OLLAMA_SCHEMA_VERSION:
        return "json_object"
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text.split("-")[0])[:3]) or (0,)


def server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


# Reading each route's answer ----------------------------------------------------------------


def _from_llama_props(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    for source in (settings, data):
        if isinstance(source, dict) and isinstance(source.get("n_ctx"), int):
            return int(source["n_ctx"])
    return None


def _is_llama_props(data: Any) -> bool:
    return isinstance(data, dict) and (
        "default_generation_settings" in data or "total_slots" in data
    )


def _kind_from_models(data: Any) -> str | None:
    items = data.get("data") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        owner = item.get("owned_by")
        if owner in _OWNED_BY:
            return _OWNED_BY[owner]
        if owner == "me" and isinstance(item.get("permissions"), list):
            return LLAMA_CPP_PYTHON
    return None


def _from_vllm_models(data: Any, model: str) -> int | None:
    items = data.get("data") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("id") == model:
            value = item.get("max_model_len")
            return int(value) if isinstance(value, int) else None
    return None


def _from_ollama_show(data: Any) -> int | None:
    """The window Ollama runs the model with: its num_ctx, else Ollama's default (never
    more than the model was trained for). Ollama cuts an overlong prompt silently."""
    if not isinstance(data, dict):
        return None
    for line in str(data.get("parameters") or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "num_ctx" and parts[1].isdigit():
            return int(parts[1])
    info = data.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                return min(int(value), OLLAMA_DEFAULT_CTX)
    return None


def _is_tgi_info(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("model_id"), str)
        and ("max_total_tokens" in data or str(data.get("router", "")).startswith("text-gen"))
    )


# Asking ---------------------------------------------------------------------------------------

_MISSING = object()  # a route that did not answer in time


async def identify_server(
    base_url: str,
    model: str,
    *,
    api_key: str = "",
    timeout_s: float = 5.0,
    known: str | None = None,
) -> ServerInfo:
    """The kind of server at `base_url` and its context size, from informational routes only.

    With `known` (a kind remembered from an earlier run) only that kind's context route is
    asked. Never raises; a route that fails or hangs is simply not heard from."""
    root = server_root(base_url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    asking_all = known in (None, UNKNOWN)
    routes: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
    if asking_all or known in (VLLM, LM_STUDIO, LLAMA_CPP_PYTHON):
        routes["models"] = ("GET", f"{base_url.rstrip('/')}/models", None)
    if asking_all or known == LLAMA_CPP:
        routes["props"] = ("GET", f"{root}/props", None)
    if asking_all or known == OLLAMA:
        routes["ollama"] = ("GET", f"{root}/api/version", None)
    if asking_all or known == TGI:
        routes["tgi"] = ("GET", f"{root}/info", None)
    info = ServerInfo(kind=known or UNKNOWN)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        async with httpx.AsyncClient(
            timeout=timeout_s, headers=headers, verify=tls.httpx_context()
        ) as http:
            answers = await _ask_all(http, routes, timeout_s)
            info.conclusive = all(a is not _MISSING for a in answers.values())
            _read(info, answers, model, asking_all, routes)
            left = deadline - loop.time()
            if info.kind == OLLAMA and info.context_tokens is None and left > 0:
                url = f"{root}/api/show"
                shown = await _ask_all(http, {"show": ("POST", url, {"model": model})}, left)
                found = _from_ollama_show(shown["show"])
                if found:
                    info.context_tokens, info.context_from = found, url
    except Exception as error:  # asking is a courtesy; it never fails a run
        log.info("could not identify the server at %s: %s", base_url, error)
        info.conclusive = False
    return info


async def _ask_all(
    http: httpx.AsyncClient,
    routes: dict[str, tuple[str, str, dict[str, Any] | None]],
    timeout_s: float,
) -> dict[str, Any]:
    """Each route's JSON answer (None for an error or a non-200), asked at once; `_MISSING`
    for a route still silent after `timeout_s`."""

    async def one(method: str, url: str, payload: dict[str, Any] | None) -> Any:
        try:
            response = await http.request(method, url, json=payload)
            return response.json() if response.status_code == 200 else None
        except httpx.TransportError:  # refused, reset, timed out: not heard from at all
            return _MISSING
        except (httpx.HTTPError, ValueError):
            return None

    tasks = {name: asyncio.ensure_future(one(*route)) for name, route in routes.items()}
    if not tasks:
        return {}
    done, pending = await asyncio.wait(tasks.values(), timeout=max(timeout_s, 0.01))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    return {name: task.result() if task in done else _MISSING for name, task in tasks.items()}


def _read(
    info: ServerInfo,
    answers: dict[str, Any],
    model: str,
    asking_all: bool,
    routes: dict[str, tuple[str, str, dict[str, Any] | None]],
) -> None:
    props, models = answers.get("props"), answers.get("models")
    ollama, tgi = answers.get("ollama"), answers.get("tgi")
    if asking_all:
        listed = _kind_from_models(models)
        if _is_llama_props(props):
            info.kind = LLAMA_CPP
        elif listed:
            info.kind = listed
        elif isinstance(ollama, dict) and isinstance(ollama.get("version"), str):
            info.kind = OLLAMA
        elif _is_tgi_info(tgi):
            info.kind = TGI
    if info.kind == OLLAMA and isinstance(ollama, dict):
        info.version = str(ollama.get("version") or "")
    if info.kind == TGI and isinstance(tgi, dict):
        info.version = str(tgi.get("version") or "")
    for name, found in (
        ("props", _from_llama_props(props) if _is_llama_props(props) else None),
        ("models", _from_vllm_models(models, model)),
        ("tgi", tgi.get("max_total_tokens") if _is_tgi_info(tgi) else None),
    ):
        if isinstance(found, int) and found > 0 and info.context_tokens is None:
            info.context_tokens, info.context_from = found, routes[name][1]


async def probe_context_tokens(
    base_url: str, model: str, *, api_key: str = "", timeout_s: float = 5.0
) -> tuple[int | None, str]:
    """(context size, where it was read) from a llama.cpp, Ollama, vLLM or TGI server."""
    info = await identify_server(base_url, model, api_key=api_key, timeout_s=timeout_s)
    return info.context_tokens, info.context_from
