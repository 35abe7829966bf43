"""ModelClient: the one way magentic talks to a model.

Only this package imports `openai`. Any OpenAI-compatible endpoint works (OpenAI, Azure
OpenAI, Ollama, vLLM, llama.cpp's server). The client owns everything between "here are the
messages" and "here is a usable answer": fitting the request to the model's context, shaping
it to what the endpoint accepts (its `Capabilities`, learned from refusals and remembered),
one call at a time to a local endpoint, streaming, retries where they can help (see
`faults.py` for which), the record/replay cache, and token and cost accounting. Every failed
attempt is a `ModelCallFailed` event. `structured` and `choose_tool` (in `shaped.py`) add
lenient parsing and bounded re-asks on top of `chat`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from magentic.errors import ContextOverflow, ModelError, ModelTimeout, UnsupportedFeature
from magentic.events import ContextTrimmed, EventBus, ModelCalled, ModelCallFailed
from magentic.llm import shaped
from magentic.llm.cache import ModelCache
from magentic.llm.capabilities import Capabilities, CapabilityMemory
from magentic.llm.context import (
    context_limit_in,
    estimate_tokens,
    fit_messages,
    reply_reserve,
)
from magentic.llm.deltas import DeltaCoalescer
from magentic.llm.journal import CallJournal
from magentic.llm.limits import effective_limit, endpoint_slot
from magentic.llm.messages import Message, ToolCall, ToolSpec
from magentic.llm.servers import identify_server, starting_structured
from magentic.llm.settings import DEFAULT_PRICES, ModelSettings, Price, cost_of, price_of
from magentic.llm.transcribe import Transcript
from magentic.llm.transport import Transport
from magentic.llm.usage import Usage, UsageMeter, cap_reply
from magentic.llm.wire import (
    ChatResult,
    messages_to_wire,
    request_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)

_MAX_RETRY_AFTER_S = 60.0
_STRUCTURED_ORDER = ("json_schema", "json_object", "text")
# Features the client steps down from by itself; the others (response formats, tools) change
# the request's meaning, so the shaped helpers ask again in the simpler form.
_WIRE_FEATURES = ("list_content", "vision", "stream_usage", "stream")


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
        memory: CapabilityMemory | None = None,
        journal: CallJournal | None = None,
    ) -> None:
        self.settings = settings
        # The run's answered calls, so a resumed run is not asked again (llm/journal.py).
        self.journal = journal
        self.role = role
        self.events = events or EventBus()
        self.meter = meter or UsageMeter()
        self.cache = cache
        self.prices = prices if prices is not None else DEFAULT_PRICES
        # Shared by the clients of a run: what one role learns, the others use.
        self.memory = memory or CapabilityMemory()
        self.capabilities = Capabilities()  # replaced by the memory's on the first call
        self._ready_done = False
        self.transport = Transport(settings)

    # What to send, from the settings and what the endpoint turned out to accept ----------
    @property
    def structured_mode(self) -> str:
        wanted = self.settings.structured_mode
        floor = 0 if wanted == "auto" else _STRUCTURED_ORDER.index(wanted)
        learned = _STRUCTURED_ORDER.index(self.capabilities.structured)
        return _STRUCTURED_ORDER[max(floor, learned)]

    @property
    def server_kind(self) -> str | None:
        """The kind of server (`servers.py`), which spells schema-constrained requests."""
        return self.capabilities.server

    @property
    def tools_supported(self) -> bool:
        return self.settings.tool_mode != "json" and self.capabilities.tools

    @property
    def vision(self) -> bool:
        """Images go only as list content, so an endpoint refusing lists gets none."""
        caps = self.capabilities
        return self.settings.vision and caps.vision and caps.list_content

    @property
    def streaming(self) -> bool:
        s = self.settings
        wanted = s.stream
        if wanted is None:
            own = s.base_url is None or "api.openai.com" in s.base_url or s.provider == "azure"
            wanted = not own
        return wanted and self.capabilities.stream

    @property
    def context_tokens(self) -> int | None:
        """The setting, unless the server proved it smaller; else what the server said."""
        known = [n for n in (self.settings.context_tokens, self.capabilities.context_tokens) if n]
        return min(known) if known else None

    async def close(self) -> None:
        await self.transport.close()

    async def warm_up(self) -> None:
        """Get ready for the first call while something else waits (a resumed run reopening
        its browser): the SDK client, made in a worker thread (its TLS setup costs a few
        hundred ms of CPU), and the endpoint's capabilities (`ready`)."""
        await asyncio.gather(self.transport.warm_up(), self.ready())

    async def ready(self) -> None:
        """Take this endpoint's capabilities from the memory; once a run, ask the server's
        informational routes (no model call) what kind it is, if not known yet, and its
        context size.

        Clients sharing a memory share one probe: the first starts it, the others wait."""
        if self._ready_done:
            return
        s = self.settings
        self.capabilities = caps = await self.memory.get(s.base_url, s.model)
        replaying = self.cache is not None and self.cache.mode == "replay"
        if (
            (s.context_tokens is None or caps.server is None)
            and not caps.recorded  # a known endpoint costs no requests before its first call
            and not caps.context_probed
            and s.base_url
            and s.provider == "openai"
            and "api.openai.com" not in s.base_url
            and not replaying
        ):
            caps.context_probed = True
            caps.probing = asyncio.ensure_future(self._probe_endpoint(caps))
        if caps.probing is not None and not caps.probing.done():
            await asyncio.shield(caps.probing)
        self._ready_done = True

    async def _probe_endpoint(self, caps: Capabilities) -> None:
        """What kind of server this is and its context size; a server that fails or hangs
        costs one short deadline and changes nothing."""
        s = self.settings
        assert s.base_url is not None
        try:
            info = await identify_server(
                s.base_url,
                s.model,
                api_key=s.resolved_key(),
                timeout_s=min(s.timeout_s, 5.0),
                known=caps.server,
            )
        except Exception as error:  # never a reason to fail the run
            log.info("could not ask %s what it is: %s", s.base_url, error)
            return
        changed = False
        if caps.server is None and (info.conclusive or info.kind != "unknown"):
            caps.server, caps.server_checked = info.kind, time.time()
            start = starting_structured(info)
            if start is not None and _STRUCTURED_ORDER.index(
                caps.structured
            ) < _STRUCTURED_ORDER.index(start):
                caps.structured = start  # type: ignore[assignment]
            log.info("the endpoint at %s is a %s server", s.base_url, info.kind)
            changed = True
        if info.context_tokens:
            log.info(
                "context of %s at %s: %d tokens (from %s)",
                s.model,
                s.base_url,
                info.context_tokens,
                info.context_from,
            )
            changed = changed or caps.context_tokens != info.context_tokens
            caps.context_tokens = info.context_tokens
        if changed:
            await self.memory.save()

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
            "messages": messages_to_wire(
                messages, vision=self.vision, list_content=self.capabilities.list_content
            ),
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

    def _fit(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        response_format: dict[str, Any] | None,
    ) -> list[Message]:
        """The messages cut to the context window (noted in the trace), or ContextOverflow."""
        window = self.context_tokens
        if not window:
            return list(messages)
        extra = len(json.dumps([t.to_openai() for t in tools])) if tools else 0
        extra += len(json.dumps(response_format)) if response_format else 0
        budget = window - reply_reserve(window, self.settings.max_tokens)
        try:
            fitted = fit_messages(messages, budget, extra_chars=extra)
        except ContextOverflow as error:
            self.events.emit(
                ModelCallFailed(
                    role=self.role,
                    model=self.settings.model,
                    attempt=0,
                    reason=error.reason,
                    next="give_up",
                    feature="context",
                )
            )
            raise
        if fitted.changed:
            self.events.emit(
                ContextTrimmed(
                    role=self.role,
                    context_tokens=window,
                    tokens_before=fitted.tokens_before,
                    tokens_after=fitted.tokens_after,
                    dropped_messages=fitted.dropped,
                    clipped=fitted.clipped,
                )
            )
        return fitted.messages

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult:
        """One completion, retried on passing faults, served from the cache when recorded.

        A refused content shape (list content, images, streaming) or a context overflow the
        server reports is stepped down here and asked again at once. A refused response
        format or tools raise UnsupportedFeature (already recorded in the capabilities) for
        the shaped helpers to ask in the simpler form; anything else retries did not cure is
        a ModelError.
        """
        await self.ready()
        started = time.perf_counter()
        shrinks = 0
        while True:
            fitted = self._fit(messages, tools, response_format)
            body = self.build_request(
                fitted, tools=tools, tool_choice=tool_choice, response_format=response_format
            )
            keyed = self.cache is not None or self.journal is not None
            key = request_key(body) if keyed else ""
            if self.journal is not None and (journaled := self.journal.take(key)) is not None:
                result = ChatResult.from_record(journaled)
                result.cache_hit = False  # paid for before the resume; counted now
                self._account(result, started, attempts=0, replayed=True)
                return result
            if self.cache is not None:
                record = await self.cache.get(key)
                if record is not None:
                    result = ChatResult.from_record(record)
                    self._account(result, started, attempts=0)
                    return result
            self._cap_to_budget(body, fitted)  # or BudgetExceeded: the call is not made
            try:
                result, attempts = await self._call_with_retries(body)
            except UnsupportedFeature as refused:
                if refused.feature in _WIRE_FEATURES:
                    continue
                if refused.feature == "context" and shrinks < 3:
                    # The server knows better: take the size it names, else halve ours.
                    shrinks += 1
                    named = context_limit_in(refused.reason)
                    used = estimate_tokens(fitted)
                    window = min(self.context_tokens or used, used)
                    self.capabilities.context_tokens = named if named else window // 2
                    await self.memory.save()
                    continue
                raise
            if not (result.usage.prompt_tokens or result.usage.completion_tokens):
                # Some servers report no usage (llama.cpp when streaming): estimate it.
                result.usage = Usage(
                    prompt_tokens=estimate_tokens(fitted),
                    completion_tokens=max(1, len(result.text) // 4),
                )
                result.usage_estimated = True
            if self.cache is not None:
                await self.cache.put(key, result.to_record())
            if self.journal is not None:
                await self.journal.record(key, result.to_record())
            self._account(result, started, attempts=attempts)
            return result

    def _cap_to_budget(self, body: dict[str, Any], fitted: Sequence[Message]) -> None:
        """Ask for no longer a reply than the run's token and cost budgets leave room for."""
        s = self.settings
        prompt = estimate_tokens(fitted)
        room = self.meter.reply_room(prompt, price_of(self.prices, s.model))
        own = s.base_url is None or "api.openai.com" in s.base_url or s.provider == "azure"
        cap_reply(body, room, prompt, self.context_tokens, openai_own=own)

    def _account(
        self, result: ChatResult, started: float, *, attempts: int, replayed: bool = False
    ) -> None:
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
        self.meter.add(self.role, u)  # a cache hit costs nothing: u.cost is 0 then
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
                usage_estimated=result.usage_estimated,
                replayed=replayed,
            )
        )

    def _failed(
        self,
        attempt: int,
        error: ModelError,
        next_step: str,
        started: float,
        feature: str | None = None,
    ) -> None:
        self.meter.failed_calls += 1
        self.events.emit(
            ModelCallFailed(
                role=self.role,
                model=self.settings.model,
                attempt=attempt,
                reason=error.reason,
                status=error.status,
                next=next_step,  # type: ignore[arg-type]
                feature=feature,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        )

    async def _call_with_retries(self, body: dict[str, Any]) -> tuple[ChatResult, int]:
        s = self.settings
        limit = effective_limit(s.base_url, s.max_concurrency)
        attempt = 0
        timeout_s: float | None = None
        while True:
            attempt += 1
            started = time.perf_counter()
            streaming = self.streaming
            deltas = DeltaCoalescer(self.events, self.role) if streaming else None
            try:
                async with endpoint_slot(s.base_url, limit):
                    try:
                        result = await self.transport.send(
                            body,
                            stream=streaming,
                            usage=self.capabilities.stream_usage,
                            timeout_s=timeout_s,
                            on_text=deltas.add if deltas is not None else None,
                        )
                    finally:
                        if deltas is not None:
                            deltas.flush()
                    return result, attempt
            except UnsupportedFeature as refused:
                if refused.feature == "context":
                    self._failed(attempt, refused, "step_down", started, "context")
                    raise
                stepped = self.capabilities.step_down(refused.feature)
                next_step = "step_down" if stepped else "give_up"
                self._failed(attempt, refused, next_step, started, refused.feature)
                if not stepped:
                    raise ModelError(refused.reason, status=refused.status) from None
                await self.memory.save()
                raise
            except ModelError as error:
                tries = s.max_retries + 1
                if error.max_tries is not None:
                    tries = min(tries, error.max_tries)
                if not error.retryable or attempt >= tries:
                    self._failed(attempt, error, "give_up", started)
                    if error.retryable and attempt > 1:
                        raise ModelError(
                            f"{error.reason} (gave up after {attempt} attempts)",
                            status=error.status,
                        ) from None
                    raise
                self._failed(attempt, error, "retry", started)
                if isinstance(error, ModelTimeout):
                    # A local server may finish the abandoned attempt before it starts this
                    # one: give the retry the time of both.
                    timeout_s = 2 * s.timeout_s
                backoff = min(s.retry_backoff_s * 2 ** (attempt - 1), 20.0) * (
                    0.75 + random.random() / 2
                )
                wait = backoff
                if error.retry_after is not None:
                    wait = min(error.retry_after, _MAX_RETRY_AFTER_S)
                log.info("model call failed (%s); retry %d in %.2fs", error.reason, attempt, wait)
                await asyncio.sleep(wait)

    async def transcribe(self, audio: bytes, filename: str) -> Transcript:
        """Speech to text for one upload (at most 25 MB) through `/audio/transcriptions`.

        Accounted like a chat call (a `ModelCalled` event, the run's meter and budgets):
        priced by its tokens when the endpoint reports them, else by the audio's minutes."""
        from magentic.llm.transcribe import transcribe

        self.meter.reply_room(0, None)  # BudgetExceeded when the run's budget is used up
        started = time.perf_counter()
        transcript = await transcribe(self, audio, filename)
        usage = Usage(
            prompt_tokens=transcript.input_tokens, completion_tokens=transcript.output_tokens
        )
        price = price_of(self.prices, self.settings.model)
        if price is not None and (usage.prompt_tokens or usage.completion_tokens):
            usage.cost = cost_of(
                self.prices, self.settings.model, usage.prompt_tokens, usage.completion_tokens, 0
            )
        elif price is not None and price.per_minute and transcript.seconds:
            usage.cost = transcript.seconds / 60 * price.per_minute
        self.meter.add(self.role, usage)
        self.events.emit(
            ModelCalled(
                role=self.role,
                model=self.settings.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_ms=(time.perf_counter() - started) * 1000,
                cost=usage.cost,
            )
        )
        return transcript

    # Shaped answers (validated, re-asked) live in shaped.py; these keep call sites short.
    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, max_repairs: int | None = None
    ) -> T:
        return await shaped.structured(self, messages, schema, max_repairs=max_repairs)

    async def choose_tool(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        max_repairs: int | None = None,
        require_tool: bool = False,
    ) -> ToolCall | str:
        return await shaped.choose_tool(
            self, messages, tools, max_repairs=max_repairs, require_tool=require_tool
        )
