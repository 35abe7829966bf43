"""Streamed model text turned into a few `ModelDelta` events instead of one per chunk.

A long reply arrives in hundreds of small chunks; a watcher needs to see it grow, not every
chunk. Text is held until enough has gathered (`max_chars`) or enough time has passed since
the last delta (`interval_s`), then emitted as one event; `flush` sends the rest when the
stream ends. The time check runs as chunks arrive, so no timer task is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from magentic.events import EventBus, ModelDelta

DELTA_INTERVAL_S = 0.1
DELTA_MAX_CHARS = 200


class DeltaCoalescer:
    """Collects one call's streamed text and emits it as coalesced `ModelDelta` events."""

    def __init__(
        self,
        events: EventBus,
        role: str,
        *,
        interval_s: float = DELTA_INTERVAL_S,
        max_chars: int = DELTA_MAX_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.role = role
        self.interval_s = interval_s
        self.max_chars = max_chars
        self.clock = clock
        self._held: list[str] = []
        self._held_chars = 0
        self._sent_chars = 0
        self._last = clock()

    def add(self, text: str) -> None:
        if not text:
            return
        self._held.append(text)
        self._held_chars += len(text)
        if self._held_chars >= self.max_chars or self.clock() - self._last >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        if not self._held:
            return
        text = "".join(self._held)
        self._held.clear()
        self._held_chars = 0
        self._sent_chars += len(text)
        self._last = self.clock()
        self.events.emit(ModelDelta(role=self.role, text=text, chars=self._sent_chars))
