"""How many calls may be in flight to one endpoint at once.

A local server (llama.cpp, a one-GPU Ollama) computes one request at a time and keeps
computing a request whose client gave up, so a second call only queues behind the first and
a retry queues behind the abandoned attempt. Calls to one endpoint therefore pass through a
per-endpoint semaphore: `max_concurrency`, by default 1 for a loopback address and no limit
elsewhere. The semaphores are per event loop (an asyncio primitive belongs to one loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlparse

_SLOTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Semaphore]
]
_SLOTS = weakref.WeakKeyDictionary()


def is_loopback(base_url: str | None) -> bool:
    """Whether the endpoint is on this machine (localhost, 127.x, ::1)."""
    if not base_url:
        return False
    host = (urlparse(base_url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def effective_limit(base_url: str | None, max_concurrency: int | None) -> int:
    """The limit to apply: the setting, else 1 for loopback, else 0 (no limit)."""
    if max_concurrency is not None:
        return max(0, max_concurrency)
    return 1 if is_loopback(base_url) else 0


def _endpoint(base_url: str | None) -> str:
    parsed = urlparse(base_url or "https://api.openai.com/v1")
    return f"{parsed.scheme}://{parsed.netloc}"


@contextlib.asynccontextmanager
async def endpoint_slot(base_url: str | None, limit: int) -> AsyncIterator[None]:
    """Hold one of the endpoint's `limit` slots for the duration of one HTTP exchange."""
    if limit <= 0:
        yield
        return
    loop = asyncio.get_running_loop()
    slots = _SLOTS.setdefault(loop, {})
    key = (_endpoint(base_url), limit)
    semaphore = slots.get(key)
    if semaphore is None:
        semaphore = slots[key] = asyncio.Semaphore(limit)
    async with semaphore:
        yield
