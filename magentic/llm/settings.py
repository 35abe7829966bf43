"""Model settings per role, and the price table that turns tokens into money."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from magentic.errors import ConfigError

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input: float = 0.0  # dollars per million prompt tokens
    output: float = 0.0  # dollars per million reply tokens
    cached_input: float | None = None  # defaults to `input` when a provider gives no discount
    # Speech models priced by the audio's length (whisper-1) rather than by tokens.
    per_minute: float | None = None


# Published list prices at the time of writing; a config file's [prices] table overrides them.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input=2.5, output=10.0, cached_input=1.25),
    "gpt-4o-mini": Price(input=0.15, output=0.6, cached_input=0.075),
    "gpt-4.1": Price(input=2.0, output=8.0, cached_input=0.5),
    "gpt-4.1-mini": Price(input=0.4, output=1.6, cached_input=0.1),
    "gpt-4.1-nano": Price(input=0.1, output=0.4, cached_input=0.025),
    "o3": Price(input=2.0, output=8.0, cached_input=0.5),
    "o4-mini": Price(input=1.1, output=4.4, cached_input=0.275),
    # Speech to text: by audio tokens in and text tokens out, or by the minute.
    "gpt-4o-transcribe": Price(input=6.0, output=10.0),
    "gpt-4o-mini-transcribe": Price(input=3.0, output=5.0),
    "whisper-1": Price(per_minute=0.006),
}


def price_of(prices: dict[str, Price], model: str) -> Price | None:
    """The model's price; "gpt-4o-2024-08-06" is priced as "gpt-4o" (the longest known
    prefix); None for a model with no known price (a local model, say)."""
    price = prices.get(model)
    if price is None:
        matches = [name for name in prices if model.startswith(name)]
        if not matches:
            return None
        price = prices[max(matches, key=len)]
    return price


def cost_of(
    prices: dict[str, Price], model: str, prompt: int, completion: int, cached: int
) -> float:
    """Dollars for one call; 0 for a model with no known price."""
    price = price_of(prices, model)
    if price is None:
        return 0.0
    cached_rate = price.input if price.cached_input is None else price.cached_input
    uncached = max(prompt - cached, 0)
    return (uncached * price.input + cached * cached_rate + completion * price.output) / 1e6


class ModelSettings(BaseModel):
    """How one role talks to its model. Any OpenAI-compatible endpoint works."""

    model_config = ConfigDict(extra="forbid")
    model: str = "gpt-4o"  # the model name the endpoint knows (`--model`)
    base_url: str | None = None  # None: OpenAI's own
    provider: Literal["openai", "azure"] = "openai"  # azure: Azure OpenAI's client
    api_version: str | None = None  # Azure only
    # The environment variable holding the key (`--api-key-env`); "": send no key.
    api_key_env: str = "OPENAI_API_KEY"
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    temperature: float | None = None  # None: the endpoint's default
    # Cap on the reply's tokens; also the room kept free when fitting a request to the context.
    max_tokens: int | None = None
    # False: never send images (they become a note); the endpoint may also turn it off.
    vision: bool = True
    # Seconds without a byte from the server before an attempt is abandoned. Streamed calls
    # count it from the last token received, so a slow but working model is never cut off.
    timeout_s: float = 120.0
    # Further attempts after a passing fault (5xx, 429, dropped connection). A time-out gets at
    # most one, a 5xx naming a validation or type error one, other 4xx none.
    max_retries: int = 4
    retry_backoff_s: float = 0.5  # first wait; doubles each retry (a Retry-After header wins)
    # None: stream from any endpoint but OpenAI's and Azure's own (stepped down if refused).
    stream: bool | None = None
    # What the endpoint supports; "auto" starts with the best and steps down on refusal.
    structured_mode: Literal["auto", "json_schema", "json_object", "text"] = "auto"
    # Native tool calls, or a JSON action in the reply's text; "auto" starts native.
    tool_mode: Literal["auto", "native", "json"] = "auto"
    # How many times a reply of the wrong shape is re-asked before giving up.
    max_repairs: int = 2
    # Calls in flight to this endpoint at once (0: no limit); None: 1 for a loopback address,
    # else no limit.
    max_concurrency: int | None = Field(default=None, ge=0)
    # The model's context window in tokens; None: read it from the server where it says so.
    context_tokens: int | None = Field(default=None, ge=256)

    def resolved_key(self) -> str:
        """The API key to send; a local endpoint that needs none gets a placeholder."""
        key = self.api_key or os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url is None or "api.openai.com" in self.base_url:
            raise ConfigError(
                f"no API key: set {self.api_key_env} (or point --base-url at an endpoint "
                "that needs none)"
            )
        return "not-needed"

    def display_url(self) -> str:
        return self.base_url or DEFAULT_OPENAI_URL
