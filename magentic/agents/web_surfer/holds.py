"""Decisions the browser is waiting on, so the clocks of an action stop meanwhile.

A POST an action sent, or a file it started to download, may be held until a person says
yes or no (approval.py). A person takes seconds or minutes; the per-action deadline
(guard.py) and the settle wait (actions.py) must not count that time, or the page would be
called runaway, or observed before it reacted. `Holds` counts the holds under way and the
seconds spent in them; the clocks read it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Holds:
    def __init__(self) -> None:
        self.active = 0
        self.started = 0  # holds begun in all (an action compares before and after)
        self.held_s = 0.0  # seconds spent with at least one hold under way
        self._since: float | None = None
        self._changed: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self.active == 0:
            self._since = loop.time()
        self.active += 1
        self.started += 1
        self._signal()
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0 and self._since is not None:
                self.held_s += loop.time() - self._since
                self._since = None
            self._signal()

    def changed(self) -> asyncio.Event:
        """An event set at the next change (a hold begun or ended); take it before waiting."""
        if self._changed is None or self._changed.is_set():
            self._changed = asyncio.Event()
        return self._changed

    async def drain(self) -> None:
        """Wait until no hold is under way."""
        while self.active:
            await self.changed().wait()

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
