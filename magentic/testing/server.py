"""ScriptedLLMServer: a real OpenAI-compatible HTTP server on 127.0.0.1, driven by a script.

Tests (ours and our users') talk to it with the real `openai` client, so everything between
the agent and the wire is exercised: request shapes, streaming, tool calls, JSON modes,
usage counts, retries on injected faults. It runs in its own thread so sync code, async code
and subprocesses (the CLI) can all reach it.

    def script(request: ChatRequest) -> Reply: ...
    async with ScriptedLLMServer(script) as server:   # or `with`
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import jsonschema

from magentic.testing.replies import Reply
from magentic.testing.styles import small_model_style
from magentic.testing.transcription import (
    TranscribeScript,
    TranscriptionRequest,
    parse_multipart,
    reply_body,
)

Script = Callable[["ChatRequest"], "Reply | str"]


@dataclass
class ChatRequest:
    """One parsed /chat/completions request, as the script sees it."""

    body: dict[str, Any]
    index: int  # 0 for the first request the server received
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", {}).get("name", "") for t in self.tools]

    @property
    def response_format(self) -> dict[str, Any] | None:
        rf = self.body.get("response_format")
        return rf if isinstance(rf, dict) else None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @staticmethod
    def content_text(message: dict[str, Any]) -> str:
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        return ""

    def image_count(self) -> int:
        count = 0
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                count += sum(1 for p in content if p.get("type") == "image_url")
        return count

    def system_text(self) -> str:
        return "\n".join(self.content_text(m) for m in self.messages if m.get("role") == "system")

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return self.content_text(message)
        return ""

    def all_text(self) -> str:
        return "\n".join(self.content_text(m) for m in self.messages)

    def wants(self, word: str) -> bool:
        """Whether the last user message mentions `word` (case-insensitive): scripts branch on it."""
        return word.lower() in self.last_user_text().lower()


def sequence(*replies: Reply | str) -> Script:
    """A script that answers the n-th request with the n-th reply, then repeats the last."""
    items = list(replies)

    def script(request: ChatRequest) -> Reply | str:
        return items[min(request.index, len(items) - 1)]

    return script


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet, like a test double should be
        return

    # Routing -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        owner = self.server.owner
        with owner._lock:
            owner.info_requests.append(path)
        if owner.info_delay_s and owner.wait_or_stop(owner.info_delay_s):
            return
        if path == "/props" and owner.llama_cpp:
            # llama.cpp's server says its context size here.
            settings = {"n_ctx": owner.context_tokens}
            self._send_json(200, {"default_generation_settings": settings, "total_slots": 1})
        elif path.endswith("/models"):
            models = self.server.owner.models or ["scripted"]
            owner_name = "llamacpp" if owner.llama_cpp else "magentic"
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": owner_name} for m in models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].rstrip("/").endswith("/audio/transcriptions"):
            self._transcribe(raw)
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_error(404, f"no route {self.path}", "not_found")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_error(400, "request body is not JSON", "invalid_request_error")
            return
        owner = self.server.owner
        refusal = owner.check_request(body, dict(self.headers))
        if refusal is not None:
            status, message, code = refusal
            owner.refused.append((status, message, body))
            self._send_error(status, message, code)
            return
        with owner.slot():
            request = owner.record(body, dict(self.headers))
            try:
                reply = owner.script(request)
            except Exception as exc:  # a broken script is the test's bug: say it loudly
                owner.script_errors.append(exc)
                self._send_error(500, f"script raised {type(exc).__name__}: {exc}", "script_error")
                return
            if isinstance(reply, str):
                reply = Reply.text(reply)
            self._answer(request, owner.styled(request, reply))

    def _transcribe(self, raw: bytes) -> None:
        """The transcription route; a 404 like a chat-only endpoint's when none is scripted."""
        owner = self.server.owner
        if owner.transcribe is None:
            self._send_error(404, f"no route {self.path}", "not_found")
            return
        try:
            fields, filename, audio, part_type = parse_multipart(
                self.headers.get("Content-Type", ""), raw
            )
        except ValueError as exc:
            self._send_error(400, str(exc), "invalid_request_error")
            return
        with owner._lock:
            request = TranscriptionRequest(
                len(owner.transcriptions),
                fields,
                filename,
                audio,
                part_type,
                {k.lower(): v for k, v in self.headers.items()},
            )
            owner.transcriptions.append(request)
        try:
            answer = owner.transcribe(request)
        except Exception as exc:  # the test's bug: loudly, as a 500
            owner.script_errors.append(exc)
            self._send_error(500, f"script raised {type(exc).__name__}: {exc}", "script_error")
            return
        body = reply_body(request, answer)
        if isinstance(body, str):
            self._send_raw(200, body.encode(), "text/plain; charset=utf-8")
        else:
            self._send_json(200, body)

    # Answers -------------------------------------------------------------------------------
    def _answer(self, request: ChatRequest, reply: Reply) -> None:
        if reply.delay_s and self.server.owner.wait_or_stop(reply.delay_s):
            return
        if reply.fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if reply.fault == "malformed":
            self._send_raw(200, b"{this is not json", "application/json")
            return
        if reply.fault == "http_error":
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            self._send_error(reply.status, reply.error_message, "scripted", headers)
            return
        completion = self._completion(request, reply)
        if request.stream:
            self._stream(request, completion)
            return
        owner = self.server.owner
        if owner.token_delay_s:
            tokens = completion["usage"]["completion_tokens"]
            if owner.wait_or_stop(owner.token_delay_s * tokens):
                return
        try:
            self._send_json(200, completion)
        except OSError:  # the client gave up meanwhile; the work was done all the same
            self.close_connection = True

    def _completion(self, request: ChatRequest, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        if reply.usage is not None:
            prompt, completion, cached = reply.usage
        else:
            prompt = _estimate_tokens(json.dumps(request.messages)) + 85 * request.image_count()
            completion = _estimate_tokens((reply.content or "") + json.dumps(reply.tool_calls))
            cached = 0
        limit = request.body.get("max_completion_tokens") or request.body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < completion:  # a real server stops there
            completion, finish = limit, "length"
            if reply.content:
                message["content"] = reply.content[: limit * 4]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def _stream(self, request: ChatRequest, completion: dict[str, Any]) -> None:
        """Send the completion as server-sent events, a few characters a chunk."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {k: completion[k] for k in ("id", "created", "model")}
        base["object"] = "chat.completion.chunk"
        message = completion["choices"][0]["message"]
        owner = self.server.owner
        gone = False

        def send(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> None:
            nonlocal gone
            if owner.token_delay_s and (delta.get("content") or delta.get("tool_calls")):
                owner.wait_or_stop(owner.token_delay_s * 4)  # about 4 tokens a chunk
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
            if usage is not None:
                chunk = dict(base, choices=[], usage=usage)
            if gone:  # like llama.cpp, keep computing a request whose client gave up
                return
            try:
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            except OSError:
                gone = True

        send({"role": "assistant", "content": ""})
        if message.get("refusal"):
            send({"refusal": message["refusal"]})
        content = message.get("content") or ""
        for start in range(0, len(content), 16):
            send({"content": content[start : start + 16]})
        for index, call in enumerate(message.get("tool_calls") or []):
            head = {"index": index, "id": call["id"], "type": "function"}
            args = call["function"]["arguments"]
            send(
                {
                    "tool_calls": [
                        dict(head, function={"name": call["function"]["name"], "arguments": ""})
                    ]
                }
            )
            for start in range(0, len(args), 16):
                piece = {"index": index, "function": {"arguments": args[start : start + 16]}}
                send({"tool_calls": [piece]})
        send({}, completion["choices"][0]["finish_reason"])
        if (request.body.get("stream_options") or {}).get("include_usage"):
            send({}, usage=completion["usage"])
        if not gone:
            try:
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except OSError:
                pass

    # Wire helpers --------------------------------------------------------------------------
    def _send_raw(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(obj).encode(), "application/json", headers)

    def _send_error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        error = {"message": message, "type": phrase.lower().replace(" ", "_"), "code": code}
        self._send_json(status, {"error": error}, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedLLMServer


class ScriptedLLMServer:
    """An OpenAI-compatible endpoint whose every answer comes from `script`.

    Capability switches imitate weaker endpoints: with `supports_tools=False` a request that
    offers tools is refused, and likewise for JSON schema and JSON object response formats
    and (`supports_list_content=False`) message content given as a list of parts. Refusals
    are 400s unless `refusal_status` says otherwise (llama.cpp's server sends 500s with a
    traceback). `models` (when given) makes unknown model names a 404, and `api_key` (when
    given) makes a wrong key a 401.

    Local-server behaviour: `serial=True` computes one request at a time, and finishes a
    request whose client gave up before taking the next; `token_delay_s` paces the reply's
    tokens; `context_tokens` is the context size (said at `/props`, like llama.cpp), past
    which a request gets a 400; `reply_style="small"` rewrites the script's JSON replies the
    way small models write them (see `styles.py`), except where a schema constrains them.
    `llama_cpp_like` sets them all.

    A server with `context_tokens` is llama.cpp-like in what its informational routes say
    (`/props`, `owned_by: "llamacpp"`) and in taking llama.cpp's own schema spelling,
    `{"type": "json_object", "schema": {...}}`, which every llama.cpp server with
    `response_format` turns into a grammar. `info_delay_s` makes those routes slow (a busy or
    hung server); `info_requests` records the paths asked.
    """

    def __init__(
        self,
        script: Script | Sequence[Reply | str],
        *,
        supports_tools: bool = True,
        supports_json_schema: bool = True,
        supports_json_object: bool = True,
        supports_list_content: bool = True,
        supports_stream_options: bool = True,
        refusal_status: int = 400,
        models: Sequence[str] | None = None,
        api_key: str | None = None,
        port: int = 0,
        transcribe: TranscribeScript | None = None,
        serial: bool = False,
        token_delay_s: float = 0.0,
        context_tokens: int | None = None,
        reply_style: Literal["exact", "small"] = "exact",
        info_delay_s: float = 0.0,
    ) -> None:
        self.transcribe = transcribe  # None: no /audio/transcriptions route (a 404)
        self.transcriptions: list[TranscriptionRequest] = []
        self.script: Script = script if callable(script) else sequence(*script)
        self.supports_tools = supports_tools
        self.supports_json_schema = supports_json_schema
        self.supports_json_object = supports_json_object
        self.supports_list_content = supports_list_content
        self.supports_stream_options = supports_stream_options
        self.refusal_status = refusal_status
        self.serial = serial
        self.token_delay_s = token_delay_s
        self.context_tokens = context_tokens
        self.reply_style = reply_style
        self.info_delay_s = info_delay_s
        self.info_requests: list[str] = []  # paths of the informational GETs, in order
        self.styled_replies = 0  # JSON replies rewritten in a small model's style
        self._serial_lock = threading.Lock()
        self.models = list(models or [])
        self.api_key = api_key
        self.requests: list[ChatRequest] = []
        # (status, message, body) of each request refused before the script saw it.
        self.refused: list[tuple[int, str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it held at once (queued ones included)
        self.script_errors: list[Exception] = []
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def llama_cpp_like(cls, script: Script | Sequence[Reply | str], **kw: Any) -> ScriptedLLMServer:
        """A server that behaves like llama.cpp's with a small model and default settings,
        as measured: `/props` with an 8k context, HTTP 500s with a traceback for
        `json_schema` (llama-cpp-python's server and llama-server builds before it took
        that spelling), tools and list content; llama.cpp's own `json_object` + `schema`
        spelling is accepted and constrains the reply."""
        options: dict[str, Any] = {
            "supports_json_schema": False,
            "supports_tools": False,
            "supports_list_content": False,
            "refusal_status": 500,
            "serial": True,
            "token_delay_s": 0.0005,
            "context_tokens": 8192,
            "reply_style": "small",
        }
        options.update(kw)
        return cls(script, **options)

    # Lifecycle -----------------------------------------------------------------------------
    def start(self) -> ScriptedLLMServer:
        self._httpd = _Server(("127.0.0.1", self._port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedLLMServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # Used by the handler -------------------------------------------------------------------
    def record(self, body: dict[str, Any], headers: dict[str, str]) -> ChatRequest:
        with self._lock:
            lowered = {key.lower(): value for key, value in headers.items()}
            request = ChatRequest(body=body, index=len(self.requests), headers=lowered)
            self.requests.append(request)
        return request

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One request at a time when `serial`; any number otherwise."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if not self.serial:
                yield
                return
            with self._serial_lock:
                yield
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def llama_cpp(self) -> bool:
        """A server that says its context at `/props` behaves as llama.cpp's does."""
        return self.context_tokens is not None

    def constraining_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON schema this server would constrain the reply to (its grammar), if any:
        `json_schema` where supported, and on a llama.cpp-like server also llama.cpp's own
        spelling, `{"type": "json_object", "schema": {...}}`."""
        form = body.get("response_format")
        if not isinstance(form, dict):
            return None
        if form.get("type") == "json_schema" and self.supports_json_schema:
            schema = (form.get("json_schema") or {}).get("schema")
        elif form.get("type") == "json_object" and self.llama_cpp and self.supports_json_object:
            schema = form.get("schema")
        else:
            return None
        return schema if isinstance(schema, dict) and schema else None

    def styled(self, request: ChatRequest, reply: Reply) -> Reply:
        """The reply as this server's model would write it. Under a schema the server
        constrains decoding to, only what fits the schema can be written: a small model's
        mangled variant that does not fit is never produced."""
        if self.reply_style != "small" or not reply.content or reply.fault != "none":
            return reply
        with self._lock:
            index = self.styled_replies
        rewritten = small_model_style(reply.content, index)
        schema = self.constraining_schema(request.body)
        if schema is not None and not _fits(rewritten, schema):
            return reply
        if rewritten != reply.content:
            with self._lock:
                self.styled_replies += 1
            reply = dataclasses.replace(reply, content=rewritten)
        return reply

    def wait_or_stop(self, seconds: float) -> bool:
        """Sleep for a slow reply; True when the server is stopping meanwhile."""
        return self._stopping.wait(seconds)

    def check_request(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, str, str] | None:
        """The refusal a real endpoint of this kind would send, or None to answer."""
        if self.api_key is not None:
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            if auth != f"Bearer {self.api_key}":
                return 401, "Incorrect API key provided.", "invalid_api_key"
        if self.models and body.get("model") not in self.models:
            return 404, f"The model `{body.get('model')}` does not exist.", "model_not_found"
        status = self.refusal_status
        if not self.supports_list_content and any(
            isinstance(m.get("content"), list) for m in body.get("messages", [])
        ):
            return (
                status,
                _traceback('TypeError: can only concatenate str (not "list") to str'),
                "server_error",
            )
        if "stream_options" in body and not self.supports_stream_options:
            return 422, "stream_options: Extra inputs are not permitted", "extra_forbidden"
        if body.get("tools") and not self.supports_tools:
            return status, _refusal(status, "This model does not support tools."), "unsupported"
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and not self.supports_json_schema:
            text = "response_format json_schema is not supported."
            return status, _refusal(status, text), "unsupported_format"
        if kind == "json_object" and not self.supports_json_object:
            text = "response_format json_object is not supported."
            return status, _refusal(status, text), "unsupported_format"
        if self.context_tokens is not None:
            needed = sum(
                _estimate_tokens(ChatRequest.content_text(m)) + 4 for m in body.get("messages", [])
            )
            if needed > self.context_tokens:
                return (
                    400,
                    f"the request ({needed} tokens) exceeds the available context size "
                    f"({self.context_tokens} tokens)",
                    "exceed_context_size_error",
                )
        return None


def _fits(text: str, schema: dict[str, Any]) -> bool:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _traceback(last_line: str) -> str:
    """An error body the way a Python server leaks one: a traceback ending in the error."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/server.py", line 1432, in create_chat_completion\n'
        "    prompt = format_messages(body.messages)\n"
        '  File "/srv/app/chat_format.py", line 211, in format_messages\n'
        "    text += message.content\n"
        f"{last_line}"
    )


def _refusal(status: int, text: str) -> str:
    return _traceback(f"ValueError: {text}") if status >= 500 else text
