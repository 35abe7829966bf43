"""One HTTP exchange with the endpoint, through the openai SDK, its failures turned into ours.

The SDK client is made on first use (no network or key lookup at construction) and never
retries by itself: what to do about a failure is decided by the model client, from the
error this module raises (see `faults.py` for what each answer means).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from magentic.errors import ModelError, ModelTimeout
from magentic.llm import tls
from magentic.llm.faults import Used, status_error
from magentic.llm.settings import ModelSettings
from magentic.llm.wire import ChatResult, StreamAccumulator, parse_completion


def _http_client() -> Any:
    """The SDK's own default HTTP client, but with the process's one TLS context (see
    `tls.py`); None (the SDK makes its own) when that context is not available."""
    context = tls.sdk_context()
    return None if context is None else openai.DefaultAsyncHttpxClient(verify=context)


class Transport:
    """Sends request bodies, as they are, to one endpoint."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self._sdk: openai.AsyncOpenAI | None = None

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
                    http_client=_http_client(),
                )
            else:
                self._sdk = openai.AsyncOpenAI(
                    api_key=s.resolved_key(),
                    base_url=s.base_url,
                    timeout=s.timeout_s,
                    max_retries=0,
                    http_client=_http_client(),
                )
        return self._sdk

    async def warm_up(self) -> None:
        """Make the SDK client off the event loop (no network: nothing is sent)."""
        if self._sdk is None:
            await asyncio.to_thread(self._client)

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None

    async def send(
        self,
        body: dict[str, Any],
        *,
        stream: bool,
        usage: bool = True,
        timeout_s: float | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """One HTTP exchange, its failures translated into our errors. A stream asks for
        usage counts at its end unless `usage` is False (a server that refuses the option);
        `timeout_s` replaces the settings' time-out for this exchange; `on_text` is handed
        each piece of streamed reply text as it arrives (the result is the same without it)."""
        s = self.settings
        wait = timeout_s or s.timeout_s
        sdk = self._client() if timeout_s is None else self._client().with_options(timeout=wait)
        where = s.display_url()
        streaming = stream
        try:
            # `post` sends our body as it is: the typed `create` re-walks every message
            # through the SDK's TypedDict transform, which costs ~10 ms a call on a long
            # conversation. The body is already in the wire shape (see wire.py).
            if streaming:
                options = {"stream_options": {"include_usage": True}} if usage else {}
                chunks_in = await sdk.post(
                    "/chat/completions",
                    body={**body, "stream": True, **options},
                    cast_to=ChatCompletion,
                    stream=True,
                    stream_cls=openai.AsyncStream[ChatCompletionChunk],
                )
                accumulator = StreamAccumulator()
                chunks = 0
                async for chunk in chunks_in:
                    accumulator.add(chunk)
                    chunks += 1
                    if on_text is not None:
                        for choice in chunk.choices or []:
                            if choice.delta.content:
                                on_text(choice.delta.content)
                if not chunks:
                    raise ModelError(f"{where} sent an empty or malformed stream", retryable=True)
                return accumulator.finish()
            response = await sdk.post("/chat/completions", body=body, cast_to=ChatCompletion)
            if not isinstance(response, ChatCompletion):
                raise ModelError(f"{where} returned a malformed response", retryable=True)
            return parse_completion(response)
        except openai.APIStatusError as error:
            used = Used.of({**body, "stream": streaming})
            raise status_error(
                error.status_code,
                _error_message(error),
                used,
                where=where,
                model=s.model,
                key_env=s.api_key_env,
                headers=error.response.headers if error.response is not None else None,
            ) from None
        except openai.APITimeoutError:
            what = (
                f"sent nothing for {wait:g}s" if streaming else f"did not answer within {wait:g}s"
            )
            # A server that computes one request at a time is still busy with this one: a
            # second try queues behind it, so one is all it gets.
            raise ModelTimeout(
                f"the model at {where} {what}", retryable=True, max_tries=2
            ) from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise ModelError(
                f"cannot reach the model endpoint at {where} ({type(cause).__name__})",
                retryable=True,
            ) from None
        except UnicodeEncodeError as error:  # our request, not the server's answer
            raise ModelError(
                f"the request to {where} could not be encoded as UTF-8 ({error.reason} at "
                f"character {error.start}); nothing was sent"
            ) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError, ValueError):
            raise ModelError(f"{where} returned a malformed response", retryable=True) from None


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(error.message or error)
