"""Requests before a run's first model call, and the time to it, for a new and a known endpoint.

Against a llama.cpp-like scripted server: a first client identifies the server from its
informational routes (no model call), then calls; a second client, as a later run would,
starts from the capability file the first one wrote. One JSON line:
- `first_info_requests` / `known_info_requests`: identification requests before each
  client's first call (a known, recorded endpoint asks none);
- `first_call_ms` / `known_call_ms`: from the client's first `chat` to its reply;
- `dead_then_up_server`: what a client against a port nobody listens on left in the file
  (nothing), and the kind the next client found once the server came up there.

    .venv/bin/python benchmarks/first_call.py
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import emit

from magentic.errors import ModelError
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.client import ModelClient
from magentic.llm.messages import user
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer


def _client(url: str, memory: Path) -> ModelClient:
    settings = ModelSettings(model="qwen", base_url=url, max_retries=0, timeout_s=10.0)
    return ModelClient(settings, role="bench", memory=CapabilityMemory(memory))


async def _timed_call(client: ModelClient) -> float:
    started = time.perf_counter()
    await client.chat([user("Say OK.")])
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    record: dict[str, object] = {"benchmark": "first_call"}
    with tempfile.TemporaryDirectory() as tmp:
        memory = Path(tmp) / "endpoints.json"
        async with ScriptedLLMServer.llama_cpp_like([Reply.text("OK")] * 4) as server:
            first = _client(server.base_url, memory)
            record["first_call_ms"] = round(await _timed_call(first), 1)
            record["first_info_requests"] = len(server.info_requests)
            known = _client(server.base_url, memory)
            record["known_call_ms"] = round(await _timed_call(known), 1)
            record["known_info_requests"] = len(server.info_requests) - int(
                record["first_info_requests"]  # type: ignore[call-overload]
            )
            for client in (first, known):
                await client.close()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url, dead_file = f"http://127.0.0.1:{port}/v1", Path(tmp) / "dead.json"
        dead = _client(url, dead_file)
        try:
            await dead.chat([user("Say OK.")])
        except ModelError:
            pass
        await dead.close()
        left = json.loads(dead_file.read_text()) if dead_file.exists() else {}
        async with ScriptedLLMServer.llama_cpp_like([Reply.text("OK")], port=port) as server:
            later = _client(server.base_url, dead_file)
            await later.chat([user("Say OK.")])
            await later.close()
        record["dead_then_up_server"] = {
            "left_in_file": left.get(f"{url}|qwen", {}).get("server"),
            "found_once_up": later.server_kind,
        }
    emit(record)


if __name__ == "__main__":
    asyncio.run(main())
