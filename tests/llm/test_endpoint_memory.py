"""What `.magentic/endpoints.json` keeps: only what a server that answered taught us.

A server that is down when `doctor` or a run first meets it must not be remembered as one
that cannot stream or as a server of no known kind: once it comes up on the same port, it
streams and is identified as what it is. And a kind already recorded costs no requests.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from magentic.errors import ModelError
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.messages import user
from magentic.llm.probe import probe_endpoint
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer

from .helpers import make_client


def _free_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _saved(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


async def _comes_up_as_llama_cpp(port: int, memory_file: Path) -> None:
    """The server, now up on the port, is identified and streamed to by a new run."""
    async with ScriptedLLMServer.llama_cpp_like(
        [Reply.text("OK")], port=port, token_delay_s=0
    ) as server:
        client, _ = make_client(server.base_url, memory=CapabilityMemory(memory_file), stream=True)
        result = await client.chat([user("Hello?")])
    assert result.text == "OK"
    assert client.server_kind == "llama.cpp"
    assert [r.stream for r in server.requests] == [True]
    assert _saved(memory_file)[f"http://127.0.0.1:{port}/v1|gpt-4o"]["server"] == "llama.cpp"


async def test_doctor_against_a_dead_url_stores_nothing(tmp_path: Path) -> None:
    port, memory_file = _free_port(), tmp_path / "endpoints.json"
    url = f"http://127.0.0.1:{port}/v1"
    settings = ModelSettings(model="gpt-4o", base_url=url, api_key="k", timeout_s=5.0)
    rows, chosen = await probe_endpoint(settings, CapabilityMemory(memory_file))
    assert rows[2].feature == "plain text" and rows[2].status == "error"
    assert not any(r.status == "no" for r in rows)  # nothing was refused: nothing answered
    assert chosen["stream"] is True
    assert f"{url}|gpt-4o" not in _saved(memory_file)
    await _comes_up_as_llama_cpp(port, memory_file)


async def test_a_run_against_a_dead_url_stores_no_server_kind(tmp_path: Path) -> None:
    port, memory_file = _free_port(), tmp_path / "endpoints.json"
    url = f"http://127.0.0.1:{port}/v1"
    client, _ = make_client(url, memory=CapabilityMemory(memory_file), max_retries=0, stream=True)
    with pytest.raises(ModelError):
        await client.chat([user("Hello?")])
    assert _saved(memory_file).get(f"{url}|gpt-4o", {}).get("server") is None
    await _comes_up_as_llama_cpp(port, memory_file)


async def test_an_unknown_kind_recorded_by_an_older_version_is_asked_again(
    tmp_path: Path,
) -> None:
    port, memory_file = _free_port(), tmp_path / "endpoints.json"
    url = f"http://127.0.0.1:{port}/v1"
    poisoned = {"server": "unknown", "stream": True, "structured": "json_schema"}
    memory_file.write_text(json.dumps({f"{url}|gpt-4o": poisoned}))
    await _comes_up_as_llama_cpp(port, memory_file)


async def test_a_recorded_endpoint_is_not_identified_again(tmp_path: Path) -> None:
    memory_file = tmp_path / "endpoints.json"
    async with ScriptedLLMServer.llama_cpp_like([Reply.text("OK")], token_delay_s=0) as server:
        first, _ = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        await first.chat([user("Hello?")])
        asked = len(server.info_requests)
        later, _ = make_client(server.base_url, memory=CapabilityMemory(memory_file))
        await later.chat([user("Again?")])
    assert asked >= 1 and len(server.info_requests) == asked  # nothing asked the second time
    assert later.server_kind == "llama.cpp" and later.context_tokens == 8192
