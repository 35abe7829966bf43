"""The model's context window: how big it is, and fitting every request into it.

The size comes from the settings (`context_tokens`) or from the server where it says so:
llama.cpp's `/props` (`n_ctx`), Ollama's `/api/show` (`num_ctx`, else the model's
`context_length`), vLLM's `max_model_len` in `/v1/models`.

A request that is too big is fitted before it is sent, in this order: the oldest messages of
the conversation are left out (with a note saying so), then the observations (tool results,
agents' reports) are shortened, then the longest remaining text (a page's text). Token counts
are estimated from characters, on the safe side, since no tokenizer is at hand for a local
model. What cannot fit even then is a `ContextOverflow`, and nothing is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from magentic.errors import ContextOverflow
from magentic.llm import tls
from magentic.llm.messages import ImagePart, Message, user
from magentic.text import clip

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.2  # small models' tokenizers give fewer characters a token than GPT's
MESSAGE_OVERHEAD = 6
IMAGE_TOKENS = 800
MIN_KEEP_CHARS = 300
OMITTED_NOTE = "[{count} earlier message(s) left out to fit the model's context window.]"


def estimate_tokens(messages: Sequence[Message], extra_chars: int = 0) -> int:
    """Tokens the messages will take, estimated generously from their characters."""
    chars = extra_chars
    images = 0
    for message in messages:
        chars += len(message.text)
        for call in message.tool_calls:
            chars += len(call.name) + len(str(call.arguments))
        images += len(message.images)
    return int(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD * len(messages) + IMAGE_TOKENS * images


def reply_reserve(context_tokens: int, max_tokens: int | None) -> int:
    """Room kept for the reply: `max_tokens` when set, else a quarter of the window (<= 2048)."""
    if max_tokens:
        return min(max_tokens, context_tokens // 2)
    return min(2048, context_tokens // 4)


@dataclass
class Fitted:
    messages: list[Message]
    tokens_before: int
    tokens_after: int
    dropped: int = 0
    clipped: list[str] = field(default_factory=list)  # which kinds of text were shortened

    @property
    def changed(self) -> bool:
        return self.dropped > 0 or bool(self.clipped)


KEEP_LAST = 4  # the question of the moment, with a format note or a re-ask around it


def _is_protected(index: int, messages: Sequence[Message]) -> bool:
    """System messages, the first user message (the task) and the last few messages stay
    whole in step 1; only the conversation between them is left out."""
    message = messages[index]
    if message.role == "system" or index >= len(messages) - KEEP_LAST:
        return True
    first_user = next((i for i, m in enumerate(messages) if m.role == "user"), -1)
    return index == first_user


def _is_observation(message: Message) -> bool:
    return message.role == "tool" or (
        message.role == "user" and message.text.startswith("[") and bool(message.name)
    )


def _shorten(message: Message, chars: int) -> Message:
    text = clip(message.text, chars)
    content: str | list[str | ImagePart] = text
    return Message(
        message.role,
        content,
        name=message.name,
        tool_calls=list(message.tool_calls),
        tool_call_id=message.tool_call_id,
    )


def fit_messages(messages: Sequence[Message], budget: int, *, extra_chars: int = 0) -> Fitted:
    """The messages, trimmed to `budget` tokens; raises ContextOverflow when impossible."""
    work = list(messages)
    before = estimate_tokens(work, extra_chars)
    fitted = Fitted(work, before, before)
    if before <= budget:
        return fitted

    def size() -> int:
        return estimate_tokens(work, extra_chars)

    # 1. The oldest conversation, one message at a time (a tool call with its results).
    index = 0
    while size() > budget and index < len(work):
        if _is_protected(index, work) or _is_note(work[index]):
            index += 1
            continue
        dropped = work.pop(index)
        fitted.dropped += 1
        if dropped.tool_calls:
            ids = {c.id for c in dropped.tool_calls}
            while index < len(work) and work[index].tool_call_id in ids:
                work.pop(index)
                fitted.dropped += 1
    if fitted.dropped:
        first_user = next((i for i, m in enumerate(work) if m.role == "user"), len(work) - 1)
        at = min(first_user + 1, len(work) - 1)
        work.insert(at, user(OMITTED_NOTE.format(count=fitted.dropped)))
    # 2. Observations, then 3. the longest texts, halved until they fit or are short.
    for kind, pick in (("observations", _is_observation), ("page text", _is_not_system)):
        spent: set[int] = set()  # messages that cannot get shorter
        while size() > budget:
            candidates = [
                i
                for i, m in enumerate(work)
                if pick(m) and len(m.text) > MIN_KEEP_CHARS and i not in spent
            ]
            if not candidates:
                break
            longest = max(candidates, key=lambda i: len(work[i].text))
            before_chars = len(work[longest].text)
            over_chars = int((size() - budget) * CHARS_PER_TOKEN) + 50
            target = max(MIN_KEEP_CHARS, before_chars - over_chars)
            if kind == "observations":  # several observations share the cut
                target = max(target, before_chars // 2)
            shorter = _shorten(work[longest], target)
            if len(shorter.text) >= before_chars:
                spent.add(longest)  # the cut note would cost more than it saves
                continue
            work[longest] = shorter
            if kind not in fitted.clipped:
                fitted.clipped.append(kind)
    # Images go last of all: a screenshot is worth more than old text, but not a failed call.
    if size() > budget and any(m.images for m in work):
        work = [_shorten(m, len(m.text) + 1) if m.images else m for m in work]
        fitted.clipped.append("images")
    fitted.messages = work
    fitted.tokens_after = size()
    if fitted.tokens_after > budget:
        raise ContextOverflow(
            f"the request needs about {fitted.tokens_after} tokens even after trimming, more "
            f"than the {budget} the model's context leaves for it; use a model with a larger "
            "context (or raise context_tokens if the server allows more)"
        )
    return fitted


def _is_not_system(message: Message) -> bool:
    return message.role != "system"  # the instructions are never cut


def context_limit_in(text: str) -> int | None:
    """The context size a server's refusal names, when it names one."""
    match = re.search(
        r"(?:context (?:size|length|window)|n_ctx|max_model_len)\D{0,24}(\d{3,7})", text, re.I
    )
    return int(match.group(1)) if match else None


def _is_note(message: Message) -> bool:
    return message.role == "user" and message.text.startswith("[") and "left out" in message.text


# Reading the size from the server ----------------------------------------------------------


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _from_llama_props(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    for source in (settings, data):
        if isinstance(source, dict) and isinstance(source.get("n_ctx"), int):
            return int(source["n_ctx"])
    return None


OLLAMA_DEFAULT_CTX = 4096  # Ollama's window when the model sets no num_ctx (older: 2048)


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


def _from_vllm_models(data: Any, model: str) -> int | None:
    items = data.get("data") if isinstance(data, dict) else None
    for item in items or []:
        if isinstance(item, dict) and item.get("id") == model:
            value = item.get("max_model_len")
            return int(value) if isinstance(value, int) else None
    return None


async def probe_context_tokens(
    base_url: str, model: str, *, api_key: str = "", timeout_s: float = 5.0
) -> tuple[int | None, str]:
    """(context size, where it was read) from a llama.cpp, Ollama or vLLM server, or None."""
    root = _server_root(base_url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(
        timeout=timeout_s, headers=headers, verify=tls.httpx_context()
    ) as http:
        probes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", f"{base_url.rstrip('/')}/models", None),
            ("GET", f"{root}/props", None),
            ("POST", f"{root}/api/show", {"model": model}),
        ]
        for method, url, payload in probes:
            try:
                response = await http.request(method, url, json=payload)
                if response.status_code != 200:
                    continue
                data = response.json()
            except (httpx.HTTPError, ValueError):
                continue
            if url.endswith("/models"):
                found = _from_vllm_models(data, model)
            elif url.endswith("/props"):
                found = _from_llama_props(data)
            else:
                found = _from_ollama_show(data)
            if found:
                return found, url
    return None, ""
