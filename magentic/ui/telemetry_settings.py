"""The `[telemetry]` table: where a run's OpenTelemetry spans go, and what they may carry.

A leaf module (pydantic only), so `magentic.config` reads it without importing the
OpenTelemetry SDK. Telemetry is on when this table is given (unless `enabled = false`) or
when the standard variables name an endpoint; a field left out here falls back to its
standard variable, as any OpenTelemetry user expects:

    [telemetry]
    endpoint = "https://collector.example.com:4318"  # /v1/traces is added to a bare host
    headers = { "x-team" = "search" }
    headers_env = { "authorization" = "OTEL_AUTH_HEADER" }  # the value read from the env
    service_name = "magentic-bench"
    sample_ratio = 0.25      # share of runs traced, decided per run
    capture_content = false  # prompts and completions stay out unless true (GenAI opt-in)

Header values are secrets: they are registered with `magentic.secrets` (redacted from every
sink) and never appear in the config summary the trace and the bench manifest record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

TRACES_PATH = "/v1/traces"


class TelemetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True  # false: the table is kept but nothing is exported
    # The collector: a base URL (http://host:4318, to which /v1/traces is added) or the full
    # traces URL. None: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else http://localhost:4318.
    endpoint: str | None = None
    protocol: Literal["http/protobuf"] = "http/protobuf"  # OTLP over HTTP (the only one)
    # Headers sent with each export; values are secrets (redacted, never in the trace).
    headers: dict[str, str] = Field(default_factory=dict)
    # Header name -> the environment variable holding its value (keeps tokens out of files).
    headers_env: dict[str, str] = Field(default_factory=dict)
    service_name: str | None = None  # None: OTEL_SERVICE_NAME, else "magentic"
    capture_content: bool | None = None  # None: OTEL_INSTRUMENTATION_GENAI_CAPTURE_...
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)  # share of runs traced
    timeout_s: float = Field(default=2.0, gt=0)  # per export; a slow collector drops spans

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL (like http://127.0.0.1:4318)")
        return value.strip()

    def traces_url(self) -> str | None:
        """The URL spans are posted to, or None to let the standard variables decide."""
        if self.endpoint is None:
            return None
        parts = urlsplit(self.endpoint)
        if parts.path in ("", "/"):
            return self.endpoint.rstrip("/") + TRACES_PATH
        return self.endpoint

    def header_values(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Every header to send: the table's own, then those read from the environment."""
        found = dict(self.headers)
        for name, variable in self.headers_env.items():
            value = environ.get(variable)
            if value:
                found[name] = value
        return found

    def missing_header_variables(self, environ: Mapping[str, str]) -> list[str]:
        return [v for v in self.headers_env.values() if not environ.get(v)]
