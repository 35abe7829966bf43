"""Identifying the kind of server and reading its context size the way llama.cpp,
llama-cpp-python, Ollama, vLLM, LM Studio and TGI servers say them, from a real local HTTP
server that answers their informational routes as each of them does; never a model call."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from magentic.llm.servers import (
    identify_server,
    probe_context_tokens,
    schema_format,
    starting_structured,
)

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
OPENAI_SPELLING = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}


def _models(owner: str, **extra: Any) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": "qwen", "object": "model", "owned_by": owner, **extra}],
    }


SHOW = {
    "parameters": "stop <|im_end|>\nnum_ctx 16384",
    "model_info": {"qwen2.context_length": 32768},
}
# What each kind of server answers on its informational routes (paths as the real ones).
ANSWERS: dict[str, dict[tuple[str, str], Any]] = {
    "llama.cpp": {
        ("GET", "/props"): {"default_generation_settings": {"n_ctx": 8192}, "total_slots": 1},
        ("GET", "/v1/models"): _models("llamacpp"),
    },
    "llama-cpp-python": {("GET", "/v1/models"): _models("me", permissions=[])},
    "ollama": {
        ("GET", "/api/version"): {"version": "0.6.2"},
        ("GET", "/v1/models"): _models("library"),
        ("POST", "/api/show"): SHOW,
    },
    "ollama-old": {
        ("GET", "/api/version"): {"version": "0.4.7"},
        ("POST", "/api/show"): {"model_info": {"llama.context_length": 131072}},
    },
    "vllm": {
        ("GET", "/v1/models"): _models("vllm", max_model_len=32768),
        ("GET", "/version"): {"version": "0.6.3"},
    },
    "lmstudio": {("GET", "/v1/models"): _models("organization_owner")},
    "tgi": {
        ("GET", "/info"): {
            "model_id": "Qwen/Qwen2.5-0.5B-Instruct",
            "max_input_tokens": 4095,
            "max_total_tokens": 4096,
            "router": "text-generation-router",
            "version": "3.0.1",
        }
    },
    "none": {},
}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []
    released = threading.Event()  # a "hang" server answers nothing until the test ends

    def start(kind: str) -> str:
        answers = ANSWERS.get(kind, {})

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, method: str) -> None:
                if kind == "hang":
                    released.wait()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                found = answers.get((method, self.path))
                body = json.dumps(found if found is not None else {"error": "no"}).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    released.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("llama.cpp", 8192),
        ("ollama", 16384),
        ("ollama-old", 4096),
        ("vllm", 32768),
        ("tgi", 4096),
        ("none", None),
    ],
)
async def test_each_server_kind_says_its_context(serve: Any, kind: str, expected: int) -> None:
    found, where = await probe_context_tokens(serve(kind), "qwen")
    assert found == expected
    assert bool(where) == (expected is not None)


@pytest.mark.parametrize(
    ("kind", "found", "spelling", "start"),
    [
        ("llama.cpp", "llama.cpp", {"type": "json_object", "schema": SCHEMA}, None),
        ("llama-cpp-python", "llama-cpp-python", {"type": "json_object", "schema": SCHEMA}, None),
        ("ollama", "ollama", OPENAI_SPELLING, None),
        ("ollama-old", "ollama", OPENAI_SPELLING, "json_object"),
        ("vllm", "vllm", OPENAI_SPELLING, None),
        ("lmstudio", "lmstudio", OPENAI_SPELLING, None),
        ("tgi", "tgi", {"type": "json_object", "value": SCHEMA}, None),
        ("none", "unknown", OPENAI_SPELLING, None),
    ],
)
async def test_each_server_kind_is_identified_and_asked_in_its_own_spelling(
    serve: Any, kind: str, found: str, spelling: dict[str, Any], start: str | None
) -> None:
    info = await identify_server(serve(kind), "qwen")
    assert (info.kind, info.conclusive) == (found, True)
    assert schema_format(info.kind, "answer", SCHEMA) == spelling
    assert starting_structured(info) == start


async def test_a_server_whose_routes_hang_costs_one_short_deadline_and_concludes_nothing(
    serve: Any,
) -> None:
    info = await identify_server(serve("hang"), "qwen", timeout_s=0.3)
    assert (info.kind, info.conclusive, info.context_tokens) == ("unknown", False, None)


async def test_a_known_kind_is_asked_only_for_its_context(serve: Any) -> None:
    info = await identify_server(serve("none"), "qwen", known="llama.cpp")
    assert info.kind == "llama.cpp" and info.context_tokens is None
