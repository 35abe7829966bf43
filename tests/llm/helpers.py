from __future__ import annotations

from magentic.events import Event, EventBus
from magentic.llm.capabilities import CapabilityMemory
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings

OPEN_CLIENTS: list[ModelClient] = []


def make_client(
    base_url: str, *, memory: CapabilityMemory | None = None, **settings: object
) -> tuple[ModelClient, list[Event]]:
    events: list[Event] = []
    bus = EventBus("test")
    bus.subscribe(events.append)
    defaults: dict[str, object] = {
        "model": "gpt-4o",
        "base_url": base_url,
        "api_key": "test-key",
        "retry_backoff_s": 0.01,
        "timeout_s": 5.0,
    }
    defaults.update(settings)
    client = ModelClient(ModelSettings(**defaults), role="tester", events=bus, memory=memory)  # type: ignore[arg-type]
    OPEN_CLIENTS.append(client)
    return client, events
