"""ModelClient: the one way magentic talks to a model.

Only this package imports `openai`. Any OpenAI-compatible endpoint works (OpenAI, Azure
OpenAI, Ollama, vLLM, llama.cpp's server). The client owns everything between "here are the
messages" and "here is a usable answer": retries with backoff (honouring Retry-After), the
record/replay cache, token and cost accounting, and stepping down to simpler request shapes
when an endpoint lacks tools or JSON modes. `structured` and `choose_tool` (in
`magentic.llm.shaped`) add validation and bounded re-asks on top of `chat`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from magentic.errors import ModelError
from magentic.events import EventBus, ModelCalled
from magentic.llm.cache import ModelCache
from magentic.llm.messages import Message, ToolCall, ToolSpec
from magentic.llm.settings import DEFAULT_PRICES, ModelSettings, Price, cost_of
from magentic.llm.transcribe import Transcript
from magentic.llm.usage import UsageMeter
from magentic.llm.wire import (
    ChatResult,
    StreamAccumulator,
    messages_to_wire,
    parse_completion,
    request_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
_MAX_RETRY_AFTER_S = 60.0


class UnsupportedFeature(ModelError):
    """The endpoint refused a request shape (tools, a response format); step down and retry."""


def _retry_after_seconds(response: Any) -> float | None:
    """Seconds the server asked us to wait (Retry-After or retry-after-ms), if it said."""
    if response is None:
        return None
    header = response.headers.get("retry-after-ms")
    if header:
        try:
            return float(header) / 1000
        except ValueError:
            pass
    header = response.headers.get("retry-after")
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(header)
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def _looks_unsupported(message: str) -> bool:
    lowered = message.lower()
    markers = (
        "not support",
        "unsupported",
        "response_format",
        "tool",
        "json_schema",
        "unknown parameter",
    )
    return any(marker in lowered for marker in markers)


class ModelClient:
    """A model for one role, with retries, cache, accounting and graceful degradation."""

    def __init__(
        self,
        settings: ModelSettings,
        *,
        role: str,
        events: EventBus | None = None,
        meter: UsageMeter | None = None,
        cache: ModelCache | None = None,
        prices: dict[str, Price] | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.events = events or EventBus()
        self.meter = meter or UsageMeter()
        self.cache = cache
        self.prices = prices if prices is not None else DEFAULT_PRICES
        # What the endpoint turned out to support; learned on the first refusal.
        self.tools_supported = settings.tool_mode != "json"
        self.structured_mode = (
            "json_schema" if settings.structured_mode == "auto" else settings.structured_mode
        )
        self._sdk: openai.AsyncOpenAI | None = None

    # The SDK client is made on first use: no network or key lookup at construction.
    def _client(self) -> openai.AsyncOpenAI:
        if self._sdk is None:
            s = self.settings
            if s.provider == "azure":
                self._sdk = openai.AsyncAzureOpenAI(
                    api_key=s.resolved_key(),
                    azure_endpoint=s.base_url or "",
                    api_version=s.api_version or "2024-10-21",
                    timeout=s.timeout_s,
                    max_retries=0,
                )
            else:
                self._sdk = openai.AsyncOpenAI(
                    api_key=s.resolved_key(),
                    base_url=s.base_url,
                    timeout=s.timeout_s,
                    max_retries=0,
                )
        return self._sdk

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None

    # -------------------------------------------------------------------------------------
    def build_request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": messages_to_wire(messages, vision=s.vision),
        }
        if tools:
            body["tools"] = [t.to_openai() for t in tools]
            if tool_choice:
                body["tool_choice"] = tool_choice
        if response_format is not None:
            body["response_format"] = response_format
        if s.temperature is not None:
            body["temperature"] = s.temperature
        if s.max_tokens is not None:
            body["max_tokens"] = s.max_tokens
        return body

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult:
        """One completion, retried on passing faults, served from the cache when recorded.

        Raises UnsupportedFeature when the endpoint refuses the request's shape (the
        structured and tool helpers catch it and step down), ModelError on anything else
        that retries did not cure.
        """
        body = self.build_request(
            messages, tools=tools, tool_choice=tool_choice, response_format=response_format
        )
        key = request_key(body) if self.cache is not None else ""
        started = time.perf_counter()
        if self.cache is not None:
            record = await self.cache.get(key)
            if record is not None:
                result = ChatResult.from_record(record)
                self._account(result, started, attempts=0)
                return result
        result, attempts = await self._call_with_retries(body)
        if self.cache is not None:
            await self.cache.put(key, result.to_record())
        self._account(result, started, attempts=attempts)
        return result

    def _account(self, result: ChatResult, started: float, *, attempts: int) -> None:
        u = result.usage
        model = result.model or self.settings.model
        u.cost = (
            0.0
            if result.cache_hit
            else cost_of(
                self.prices,
                self.settings.model,
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens,
            )
        )
        self.meter.add(self.role, u)  # a replayed call costs nothing: u.cost is 0 then
        self.events.emit(
            ModelCalled(
                role=self.role,
                model=model,
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                cached_tokens=u.cached_tokens,
                latency_ms=(time.perf_counter() - started) * 1000,
                cache_hit=result.cache_hit,
                cost=u.cost,
                attempts=attempts,
            )
        )

    async def _call_with_retries(self, body: dict[str, Any]) -> tuple[ChatResult, int]:
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._call_once(body), attempt
            except UnsupportedFeature:
                raise
            except ModelError as error:
                if not error.retryable or attempt > s.max_retries:
                    if error.retryable:
                        raise ModelError(
                            f"{error.reason} (gave up after {attempt} attempts)",
                            status=error.status,
                        ) from None
                    raise
                backoff = min(s.retry_backoff_s * 2 ** (attempt - 1), 20.0) * (
                    0.75 + random.random() / 2
                )
                wait = backoff
                if error.retry_after is not None:
                    wait = min(error.retry_after, _MAX_RETRY_AFTER_S)
                log.info("model call failed (%s); retry %d in %.2fs", error.reason, attempt, wait)
                await asyncio.sleep(wait)

    async def _call_once(self, body: dict[str, Any]) -> ChatResult:
        """One HTTP exchange, its failures translated into our errors."""
        s = self.settings
        where = s.display_url()
        try:
            # `post` sends our body as it is: the typed `create` re-walks every message
            # through the SDK's TypedDict transform, which costs ~10 ms a call on a long
            # conversation. The body is already in the wire shape (see wire.py).
            if s.stream:
                stream = await self._client().post(
                    "/chat/completions",
                    body={**body, "stream": True, "stream_options": {"include_usage": True}},
                    cast_to=ChatCompletion,
                    stream=True,
                    stream_cls=openai.AsyncStream[ChatCompletionChunk],
                )
                accumulator = StreamAccumulator()
                async for chunk in stream:
                    accumulator.add(chunk)
                return accumulator.finish()
            response = await self._client().post(
                "/chat/completions", body=body, cast_to=ChatCompletion
            )
            if not isinstance(response, ChatCompletion):
                raise ModelError(f"{where} returned a malformed response", retryable=True)
            return parse_completion(response)
        except openai.APIStatusError as error:
            raise self._translate_status(error) from None
        except openai.APITimeoutError:
            raise ModelError(
                f"the model at {where} did not answer within {s.timeout_s:g}s", retryable=True
            ) from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise ModelError(
                f"cannot reach the model endpoint at {where} ({type(cause).__name__})",
                retryable=True,
            ) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError, ValueError):
            raise ModelError(f"{where} returned a malformed response", retryable=True) from None

    def _translate_status(self, error: openai.APIStatusError) -> ModelError:
        s = self.settings
        status = error.status_code
        detail = _error_message(error)
        if status in (401, 403):
            return ModelError(
                f"the endpoint {s.display_url()} refused the API key ({status}): check "
                f"{s.api_key_env}",
                status=status,
            )
        if status == 404:
            return ModelError(
                f"model '{s.model}' not found at {s.display_url()} ({detail})", status=status
            )
        if status in (400, 422) and _looks_unsupported(detail):
            return UnsupportedFeature(f"the endpoint refused the request: {detail}", status=status)
        if status in _RETRYABLE_STATUS:
            return ModelError(
                f"{s.display_url()} answered {status}: {detail}",
                status=status,
                retryable=True,
                retry_after=_retry_after_seconds(error.response),
            )
        return ModelError(f"{s.display_url()} answered {status}: {detail}", status=status)

    async def transcribe(self, audio: bytes, filename: str) -> Transcript:
        """Speech to text for one upload (at most 25 MB) through `/audio/transcriptions`."""
        from magentic.llm.transcribe import transcribe

        return await transcribe(self, audio, filename)

    # Shaped answers (validated, re-asked) live in shaped.py; these keep call sites short.
    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, max_repairs: int | None = None
    ) -> T:
        from magentic.llm.shaped import structured

        return await structured(self, messages, schema, max_repairs=max_repairs)

    async def choose_tool(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        max_repairs: int | None = None,
        require_tool: bool = False,
    ) -> ToolCall | str:
        from magentic.llm.shaped import choose_tool

        return await choose_tool(
            self, messages, tools, max_repairs=max_repairs, require_tool=require_tool
        )


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(error.message or error)
