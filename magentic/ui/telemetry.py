"""OpenTelemetry export of a run, in the GenAI semantic conventions (the `otel` extra).

One more subscriber to the run's events, like the trace writer: a root span for the run,
`invoke_agent {agent}` per delegation, `chat {model}` per model call (and per failed
attempt, with `error.type`), `execute_tool {action}` per agent action, and `plan`/`replan`
spans. Spans are built from the events' own times (a call's start is its end less its
latency), so nothing is timed twice. Prompt and completion content is left out unless
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, as the conventions ask. Every span
name and attribute passes through `secrets.redact` on its way in (`_clean`), content or not:
a collector is one more sink, and a task can carry a key as easily as a reply can.

It is on when the standard variables name an endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or when the config has a `[telemetry]` table (see
`telemetry_settings`). Export is batched on the SDK's thread with a short time-out: a
collector that is down or slow costs the run nothing; its spans are dropped with the SDK's
one warning. In a bench each task's run gets its own `for_run` subscriber, sharing one
exporter, so each task is one trace carrying the suite and task id.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from magentic import secrets
from magentic.errors import ConfigError
from magentic.events import Event
from magentic.ui.telemetry_settings import TelemetrySettings

log = logging.getLogger(__name__)
_NS = 1_000_000_000
CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


def telemetry_from_env(environ: Mapping[str, str] | None = None) -> Telemetry | None:
    """A Telemetry exporting over OTLP/HTTP when the environment names an endpoint; None
    when it does not, or when the `otel` extra is not installed (said once in the log)."""
    return telemetry_for(None, environ)


def telemetry_for(
    settings: TelemetrySettings | None, environ: Mapping[str, str] | None = None
) -> Telemetry | None:
    """The run's Telemetry, or None when it is off: on with a `[telemetry]` table (unless
    `enabled = false`) or when the standard variables name an endpoint.

    A table that asks for telemetry without the `otel` extra installed, or that reads a
    header from a variable that is not set, is a ConfigError: the person asked for spans and
    would otherwise get none without a word."""
    env = os.environ if environ is None else environ
    named = bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if settings is not None and not settings.enabled:
        return None
    if settings is None and not named:
        return None
    chosen = settings or TelemetrySettings()
    missing = chosen.missing_header_variables(env)
    if missing:
        raise ConfigError(
            f"[telemetry] headers_env names {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not set in the environment"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError:
        if settings is not None:
            raise ConfigError(
                "the [telemetry] table needs the `otel` extra: pip install 'magentic-team[otel]'"
            ) from None
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the `otel` extra is not installed")
        return None
    headers = chosen.header_values(env)
    secrets.register([*headers.values(), *_env_header_values(env)])
    service = chosen.service_name or env.get("OTEL_SERVICE_NAME") or "magentic"
    sampler = None  # the SDK's default, or OTEL_TRACES_SAMPLER
    if chosen.sample_ratio < 1.0:
        sampler = ParentBased(TraceIdRatioBased(chosen.sample_ratio))
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    exporter = OTLPSpanExporter(
        endpoint=chosen.traces_url(), headers=headers or None, timeout=chosen.timeout_s
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    capture = chosen.capture_content
    if capture is None:
        capture = env.get(CAPTURE_VARIABLE, "").lower() == "true"
    return Telemetry(provider, capture_content=capture)


def _env_header_values(env: Mapping[str, str]) -> list[str]:
    """The values in OTEL_EXPORTER_OTLP_[TRACES_]HEADERS (`k=v,k2=v2`): tokens, mostly."""
    values = []
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for pair in env.get(name, "").split(","):
            _, _, value = pair.partition("=")
            if value.strip():
                values.append(unquote(value.strip()))
    return values


def _clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes with every string (and every string in a sequence) redacted."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, str):
            value = secrets.redact(value)
        elif isinstance(value, (list, tuple)):
            value = [secrets.redact(v) if isinstance(v, str) else v for v in value]
        out[secrets.redact(key)] = value
    return out


class Telemetry:
    """Turns a run's events into spans on `provider` (an SDK TracerProvider)."""

    def __init__(
        self,
        provider: Any,
        *,
        capture_content: bool = False,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.provider = provider
        self.tracer = provider.get_tracer("magentic")
        self.capture_content = capture_content
        self.attributes = dict(attributes or {})  # e.g. a bench's suite and task id
        self._root: Any = None
        self._agent: Any = None

    def for_run(self, attributes: dict[str, Any]) -> Telemetry:
        """A subscriber for one more run on the same exporter, its root span carrying
        `attributes` too (a bench's suite and task id). Close only the first."""
        return Telemetry(
            self.provider,
            capture_content=self.capture_content,
            attributes={**self.attributes, **attributes},
        )

    def _context(self, span: Any) -> Any:
        return self._trace.set_span_in_context(span) if span is not None else None

    def _start(self, name: str, start: float, parent: Any, attrs: dict[str, Any]) -> Any:
        """The one way a span begins here: its name and attributes redacted."""
        return self.tracer.start_span(
            secrets.redact(name),
            context=self._context(parent),
            start_time=_ns(start),
            attributes=_clean(attrs),
        )

    def _span(self, name: str, start: float, end: float, parent: Any, attrs: dict[str, Any]) -> Any:
        span = self._start(name, start, parent, attrs)
        span.end(end_time=_ns(max(end, start)))
        return span

    def _set(self, span: Any, key: str, value: Any) -> None:
        span.set_attributes(_clean({key: value}))

    def __call__(self, event: Event) -> None:
        e: Any = event
        kind = event.kind
        if kind == "run_started":
            attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "magentic",
                     "magentic.run_id": e.run_id, **self.attributes}  # fmt: skip
            if self.capture_content:
                attrs["magentic.task"] = e.task
            self._root = self._start("invoke_agent magentic", e.t, None, attrs)
        elif self._root is None:
            return
        elif kind == "ledger_updated":
            name = "plan" if e.replan == 0 else "replan"
            self._span(name, e.t, e.t, self._root, {"magentic.replan": e.replan})
        elif kind == "delegated":
            self._end_agent(e.t)
            attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": e.agent,
                     "magentic.round": e.round}  # fmt: skip
            self._agent = self._start(f"invoke_agent {e.agent}", e.t, self._root, attrs)
        elif kind == "agent_acted":
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": e.action}
            if e.error:
                attrs["error.type"] = "ToolError"
            parent = self._agent or self._root
            self._span(f"execute_tool {e.action}", e.t - e.duration_ms / 1000, e.t, parent, attrs)
        elif kind in ("model_called", "model_call_failed"):
            attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": e.model,
                     "gen_ai.provider.name": "openai", "magentic.role": e.role}  # fmt: skip
            if kind == "model_called":
                attrs["gen_ai.usage.input_tokens"] = e.prompt_tokens
                attrs["gen_ai.usage.output_tokens"] = e.completion_tokens
            else:
                attrs["error.type"] = str(e.status) if e.status else "ModelError"
            parent = self._root if e.role == "orchestrator" else (self._agent or self._root)
            self._span(f"chat {e.model}", e.t - e.latency_ms / 1000, e.t, parent, attrs)
        elif kind == "agent_replied":
            self._end_agent(e.t)
        elif kind == "run_finished":
            self._end_agent(e.t)
            self._set(self._root, "magentic.status", e.status)
            self._set(self._root, "magentic.rounds", e.rounds)
            if e.status != "answered":
                self._set(self._root, "error.type", e.status)
            self._root.end(end_time=_ns(e.t))
            self._root = None

    def _end_agent(self, t: float) -> None:
        if self._agent is not None:
            self._agent.end(end_time=_ns(t))
            self._agent = None

    def close(self, timeout_s: float = 3.0) -> None:
        """Send what is batched, waiting at most `timeout_s`; then stop the exporter."""
        try:
            self.provider.force_flush(timeout_millis=int(timeout_s * 1000))
            self.provider.shutdown()
        except Exception as error:  # telemetry must never fail a run
            log.warning("telemetry export failed: %s", error)
