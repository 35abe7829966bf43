"""Reading the context size the way llama.cpp, Ollama and vLLM servers say it, from a real
local HTTP server that answers as each of them does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from magentic.llm.context import probe_context_tokens

ANSWERS: dict[str, dict[tuple[str, str], Any]] = {
    "llama.cpp": {("GET", "/props"): {"default_generation_settings": {"n_ctx": 8192}}},
    "ollama": {
        ("POST", "/api/show"): {
            "parameters": "stop <|im_end|>\nnum_ctx 16384",
            "model_info": {"qwen2.context_length": 32768},
        }
    },
    "ollama-default": {("POST", "/api/show"): {"model_info": {"llama.context_length": 131072}}},
    "vllm": {
        ("GET", "/v1/models"): {"data": [{"id": "qwen", "max_model_len": 32768}]},
    },
    "none": {},
}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(kind: str) -> str:
        answers = ANSWERS[kind]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, method: str) -> None:
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
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("llama.cpp", 8192),
        ("ollama", 16384),
        ("ollama-default", 4096),
        ("vllm", 32768),
        ("none", None),
    ],
)
async def test_each_server_kind_says_its_context(serve: Any, kind: str, expected: int) -> None:
    found, where = await probe_context_tokens(serve(kind), "qwen")
    assert found == expected
    assert bool(where) == (expected is not None)
